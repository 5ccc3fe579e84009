#include "bank/snapshot.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/cache_dir.h"
#include "core/error.h"
#include "core/parallel.h"
#include "embedding/tfidf.h"

namespace smacs {

namespace {

// Layout (native little-endian, x86-64): kMagic, bank id, revision, then the models, the
// records, the TF-IDF table and the postings, then a checksum of all that, then kEnd (a file
// cut short lacks it). Parsing is bounds-checked as well, so even a damaged file whose
// checksum happened to match could not make the reader run past the end.
constexpr char kMagic[8] = {'S', 'M', 'A', 'C', 'S', 'N', 'P', '1'};
constexpr char kEnd[8] = {'S', 'N', 'P', '1', '-', 'E', 'N', 'D'};
enum : uint8_t { kHasResponses = 1, kHasCosts = 2 };

class Writer {
 public:
  explicit Writer(const std::string& path, bool append = false)
      : path_(path), f_(std::fopen(path.c_str(), append ? "ab" : "wb")) {
    if (!f_) throw Error(path + ": cannot write the bank snapshot");
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  }
  ~Writer() {
    if (f_) std::fclose(f_);
  }
  void bytes(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) throw Error(path_ + ": writing the snapshot failed");
  }
  template <typename T>
  void pod(T v) {
    bytes(&v, sizeof v);
  }
  void str(const std::string& s) {
    pod(static_cast<uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  template <typename T>
  void array(const std::vector<T>& v) {
    pod(static_cast<uint64_t>(v.size()));
    bytes(v.data(), v.size() * sizeof(T));
  }
  void close() {
    const bool ok = std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
    std::fclose(std::exchange(f_, nullptr));
    if (!ok) throw Error(path_ + ": writing the snapshot failed");
  }

 private:
  std::string path_;
  FILE* f_;
};

// Reads from the mapped file; any read past the end throws (a damaged snapshot).
struct Reader {
  const char* p;
  const char* end;
  void need(size_t n) const {
    if (static_cast<size_t>(end - p) < n) throw Error("snapshot cut short");
  }
  template <typename T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p, sizeof v);
    p += sizeof v;
    return v;
  }
  std::string str() {
    const auto n = pod<uint32_t>();
    need(n);
    std::string s(p, n);
    p += n;
    return s;
  }
  template <typename T>
  void array(std::vector<T>& v, size_t n) {
    if (n > static_cast<size_t>(end - p) / sizeof(T)) throw Error("snapshot cut short");
    v.resize(n);
    std::memcpy(v.data(), p, n * sizeof(T));
    p += n * sizeof(T);
  }
  template <typename T>
  void array(std::vector<T>& v) {
    array(v, pod<uint64_t>());
  }
};

void write_record(Writer& w, const Record& r, size_t models) {
  for (const std::string* s : {&r.id, &r.task, &r.question, &r.gold, &r.tests, &r.grader})
    w.str(*s);
  w.bytes(r.scores.data(), models * sizeof(float));
  const uint8_t flags =
      (r.responses.empty() ? 0 : kHasResponses) | (r.costs.empty() ? 0 : kHasCosts);
  w.pod(flags);
  if (flags & kHasResponses)
    for (const auto& s : r.responses) w.str(s);
  if (flags & kHasCosts) w.bytes(r.costs.data(), models * sizeof(float));
}

Record read_record(Reader& in, size_t models) {
  Record r;
  for (std::string* s : {&r.id, &r.task, &r.question, &r.gold, &r.tests, &r.grader}) *s = in.str();
  in.array(r.scores, models);
  const auto flags = in.pod<uint8_t>();
  if (flags & kHasResponses)
    for (size_t m = 0; m < models; ++m) r.responses.push_back(in.str());
  if (flags & kHasCosts) in.array(r.costs, models);
  return r;
}

// A 64-bit hash of 64 MiB chunks hashed on all cores, then of the chunk hashes: checking
// half a gigabyte costs about a tenth of a second.
uint64_t checksum(const char* data, size_t size) {
  constexpr size_t kChunk = size_t{64} << 20;
  const size_t chunks = (size + kChunk - 1) / kChunk;
  std::vector<uint64_t> parts(chunks);
  parallel_for(chunks, [&](size_t c) {
    const char* p = data + c * kChunk;
    const size_t n = std::min(kChunk, size - c * kChunk);
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, a = 0, b = 0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {  // two lanes: independent multiplies overlap
      uint64_t x, y;
      std::memcpy(&x, p + i, 8);
      std::memcpy(&y, p + i + 8, 8);
      a = (a ^ x) * 0xFF51AFD7ED558CCDULL;
      b = (b ^ y) * 0xC4CEB9FE1A85EC53ULL;
    }
    for (; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001B3ULL;
    parts[c] = (h ^ a ^ (b >> 1)) * 0x9E3779B97F4A7C15ULL;
  });
  uint64_t h = chunks;
  for (uint64_t x : parts) h = (h ^ x) * 0xFF51AFD7ED558CCDULL;
  return h ^ (h >> 33);
}

struct Mapped {
  const char* data = nullptr;
  size_t size = 0;
  ~Mapped() {
    if (data) ::munmap(const_cast<char*>(data), size);
  }
};

std::unique_ptr<Mapped> map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st {};
  auto m = std::make_unique<Mapped>();
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      m->data = static_cast<const char*>(p);
      m->size = static_cast<size_t>(st.st_size);
      ::madvise(p, m->size, MADV_SEQUENTIAL | MADV_WILLNEED);
    }
  }
  ::close(fd);
  return m->data ? std::move(m) : nullptr;
}

// The document frequencies: the whole table, or only its non-zero (bucket, df) pairs when
// that is smaller (a small bank uses few of the 4M buckets).
void write_df(Writer& w, const std::vector<uint32_t>& df) {
  std::vector<uint32_t> pairs;
  for (uint32_t t = 0; t < df.size() && pairs.size() < df.size(); ++t)
    if (df[t] != 0) pairs.insert(pairs.end(), {t, df[t]});
  const bool sparse = pairs.size() < df.size();
  w.pod(static_cast<uint8_t>(sparse));
  w.array(sparse ? pairs : df);
}

std::vector<uint32_t> read_df(Reader& in) {
  const bool sparse = in.pod<uint8_t>() != 0;
  std::vector<uint32_t> v;
  in.array(v);
  if (!sparse) return v;
  std::vector<uint32_t> df(kTermBuckets, 0);
  for (size_t i = 0; i + 1 < v.size(); i += 2) {
    if (v[i] >= kTermBuckets) throw Error("snapshot term out of range");
    df[v[i]] = v[i + 1];
  }
  return df;
}

PriorBank read_bank(Reader& in) {
  Dataset data;
  const auto n_models = in.pod<uint64_t>();
  for (uint64_t m = 0; m < n_models; ++m) data.models.push_back(in.str());
  const auto n_records = in.pod<uint64_t>();
  data.records.reserve(std::min<uint64_t>(n_records, 1u << 26));
  for (uint64_t i = 0; i < n_records; ++i) data.records.push_back(read_record(in, n_models));
  const auto documents = in.pod<uint64_t>();
  const auto max_df = in.pod<double>();
  const std::vector<uint32_t> df = read_df(in);
  Postings postings;
  postings.n_rows = in.pod<uint32_t>();
  in.array(postings.terms);
  in.array(postings.offsets);
  in.array(postings.rows);
  in.array(postings.weights);
  if (postings.n_rows != n_records) throw Error("snapshot index does not match its rows");

  PriorBank bank;
  bank.data = std::move(data);
  compute_bank_stats(bank);
  auto tfidf = std::make_shared<TfidfEmbedder>(max_df);
  tfidf->restore(documents, std::move(df));
  bank.embedder = std::move(tfidf);
  bank.index = make_exact_index(std::move(postings));
  return bank;
}

}  // namespace

std::string snapshot_path(const std::string& bank_path) {
  if (!is_postgres_url(bank_path)) return bank_path + ".snapshot";
  // A database's snapshot lives in the cache folder, named by its host, port and database:
  // never by its user and password, whether the URL carries them or not.
  std::string where = bank_path.substr(bank_path.find("://") + 3);
  if (const size_t at = where.rfind('@'); at != std::string::npos) where.erase(0, at + 1);
  std::string name;
  for (char c : where)
    name += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  const std::string dir = cache_dir().value_or("/tmp/smacs-cache") + "/snapshots";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return dir + "/" + name + ".snapshot";
}

void save_snapshot(const PriorBank& bank, const BankFile::Version& version,
                   const std::string& path) {
  const auto* tfidf = dynamic_cast<const TfidfEmbedder*>(bank.embedder.get());
  const Postings* postings = bank.index ? bank.index->postings() : nullptr;
  if (!tfidf || bank.pretrained || !postings)
    throw Error("only TF-IDF banks with the exact index can be snapshotted");
  // A name of its own: replicas and `prior` commands on one database share its snapshot path,
  // and a writer that truncated another's temporary file while that one read it back (mapped)
  // killed it with SIGBUS (seen in CI: `prior add-model` beside two replicas).
  static std::atomic<uint64_t> writes{0};
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(writes++);
  struct RemoveUnlessRenamed {  // a failed write leaves no temporary file behind
    const std::string& tmp;
    ~RemoveUnlessRenamed() {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
    }
  } cleanup{tmp};
  {
    Writer w(tmp);
    w.bytes(kMagic, sizeof kMagic);
    w.str(version.bank_id);
    w.pod(version.revision);
    const size_t models = bank.data.models.size();
    w.pod(static_cast<uint64_t>(models));
    for (const auto& m : bank.data.models) w.str(m);
    w.pod(static_cast<uint64_t>(bank.size()));
    for (const auto& r : bank.data.records) write_record(w, r, models);
    w.pod(tfidf->documents());
    w.pod(tfidf->max_df());
    write_df(w, tfidf->document_frequency());
    w.pod(postings->n_rows);
    w.array(postings->terms);
    w.array(postings->offsets);
    w.array(postings->rows);
    w.array(postings->weights);
    w.close();
  }
  {  // the trailer: checksum of everything written, then kEnd
    const auto mapped = map_file(tmp);
    if (!mapped) throw Error(tmp + ": cannot read back the snapshot");
    Writer w(tmp, /*append=*/true);
    w.pod(checksum(mapped->data, mapped->size));
    w.bytes(kEnd, sizeof kEnd);
    w.close();
  }
  std::filesystem::rename(tmp, path);
}

std::optional<PriorBank> load_snapshot(const std::string& path, const BankFile::Version& version) {
  const auto mapped = map_file(path);
  constexpr size_t kTrailer = sizeof(uint64_t) + sizeof kEnd;
  if (!mapped || mapped->size < sizeof kMagic + kTrailer) return std::nullopt;
  const char* body_end = mapped->data + mapped->size - kTrailer;
  uint64_t sum;
  std::memcpy(&sum, body_end, sizeof sum);
  if (std::memcmp(mapped->data, kMagic, sizeof kMagic) != 0 ||
      std::memcmp(body_end + sizeof sum, kEnd, sizeof kEnd) != 0)
    return std::nullopt;
  Reader in{mapped->data + sizeof kMagic, body_end};
  // the cheap identity check first: a stale snapshot is not worth checksumming
  try {
    if (in.str() != version.bank_id || in.pod<uint64_t>() != version.revision) return std::nullopt;
  } catch (const Error&) {
    return std::nullopt;
  }
  if (checksum(mapped->data, static_cast<size_t>(body_end - mapped->data)) != sum)
    return std::nullopt;
  try {
    PriorBank bank = read_bank(in);
    if (in.p != in.end) return std::nullopt;
    reserve_headroom(bank);
    return bank;
  } catch (const Error&) {
    return std::nullopt;  // damaged: the caller rebuilds from the bank
  }
}

}  // namespace smacs
