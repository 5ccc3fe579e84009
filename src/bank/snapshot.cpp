#include "bank/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>

#include "core/cache_dir.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/parallel.h"
#include "core/temp_file.h"
#include "embedding/tfidf.h"

namespace smacs {

namespace {

// Layout (native little-endian, x86-64): kMagic, bank id, revision, then the models, the
// records and the index: the TF-IDF table and the postings, or (a pretrained embedder's dense
// bank) the embedder's key, the index kind and width and the size and checksum of the side file
// the index saved itself to; then a checksum of all that, then kEnd (a file cut short lacks
// it). Parsing is bounds-checked as well, so even a damaged file whose checksum happened to
// match could not make the reader run past the end.
constexpr char kMagic[8] = {'S', 'M', 'A', 'C', 'S', 'N', 'P', '3'};
constexpr char kEnd[8] = {'S', 'N', 'P', '3', '-', 'E', 'N', 'D'};
enum : uint8_t { kHasResponses = 1, kHasCosts = 2 };
enum : uint8_t { kTfidfIndex = 0, kDenseIndex = 1 };
constexpr size_t kAlign = 16;

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
    written_ += n;
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
  // Its elements start at a multiple of kAlign from the file's start: a reader may use them in
  // place (the mapping is page-aligned).
  template <typename T>
  void aligned_array(std::span<const T> v) {
    pod(static_cast<uint64_t>(v.size()));
    static constexpr char kZeros[kAlign] = {};
    bytes(kZeros, (kAlign - written_ % kAlign) % kAlign);
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
  size_t written_ = 0;  // appending writers start after a whole body: only arrays use it
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
  void str(std::string& s) {  // into `s`, whose memory is used again where it suffices
    const auto n = pod<uint32_t>();
    need(n);
    s.assign(p, n);
    p += n;
  }
  std::string str() {
    std::string s;
    str(s);
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
  // What Writer::aligned_array wrote, in place.
  template <typename T>
  std::span<const T> aligned_array(const char* file_start) {
    const auto n = pod<uint64_t>();
    const size_t pad = (kAlign - static_cast<size_t>(p - file_start) % kAlign) % kAlign;
    need(pad);
    p += pad;
    if (n > static_cast<size_t>(end - p) / sizeof(T)) throw Error("snapshot cut short");
    const std::span<const T> out(reinterpret_cast<const T*>(p), n);
    p += n * sizeof(T);
    return out;
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

// Into `r`, a row read before or a new one: every member is overwritten, in its own memory
// where that is large enough.
void read_record(Reader& in, size_t models, Record& r) {
  for (std::string* s : {&r.id, &r.task, &r.question, &r.gold, &r.tests, &r.grader}) in.str(*s);
  in.array(r.scores, models);
  const auto flags = in.pod<uint8_t>();
  r.responses.resize(flags & kHasResponses ? models : 0);
  for (std::string& s : r.responses) in.str(s);
  if (flags & kHasCosts)
    in.array(r.costs, models);
  else
    r.costs.clear();
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

// Snapshots whose checksum matched, by file identity and stored checksum: a reload of an
// unchanged snapshot (each /admin/reload of an unchanged bank) does not read it all again. Every
// rewrite is a new file renamed into place, and a change in place moves its size or its
// modification time, unless it falls in the same clock tick as the write before it: so only
// files last modified over two seconds ago are remembered (git's "racily clean" rule).
class VerifiedFiles {
 public:
  bool contains(const struct stat& st, uint64_t sum) const {
    std::lock_guard lock(mutex_);
    return std::find(files_.begin(), files_.end(), key(st, sum)) != files_.end();
  }
  void add(const struct stat& st, uint64_t sum) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec - st.st_mtim.tv_sec < 2) return;
    std::lock_guard lock(mutex_);
    if (files_.size() >= 64) files_.erase(files_.begin());  // bounded: the oldest go first
    files_.push_back(key(st, sum));
  }

 private:
  using Key = std::array<uint64_t, 6>;
  static Key key(const struct stat& st, uint64_t sum) {
    return {st.st_dev,
            st.st_ino,
            static_cast<uint64_t>(st.st_size),
            static_cast<uint64_t>(st.st_mtim.tv_sec),
            static_cast<uint64_t>(st.st_mtim.tv_nsec),
            sum};
  }
  mutable std::mutex mutex_;
  std::vector<Key> files_;
};

VerifiedFiles& verified_files() {
  static VerifiedFiles files;
  return files;
}

// Whether the first `size` bytes of `file` hash to `sum`: skipped for a file verified before.
bool checksum_matches(const MappedFile& file, size_t size, uint64_t sum) {
  if (verified_files().contains(file.st, sum)) return true;
  if (checksum(file.data, size) != sum) return false;
  verified_files().add(file.st, sum);
  return true;
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

void read_tfidf_index(Reader& in, PriorBank& bank, const std::shared_ptr<const MappedFile>& file) {
  const auto documents = in.pod<uint64_t>();
  const auto max_df = in.pod<double>();
  const std::vector<uint32_t> df = read_df(in);
  Postings postings;  // used in place: the mapping outlives the bank that holds it
  postings.n_rows = in.pod<uint32_t>();
  postings.terms = in.aligned_array<uint32_t>(file->data);
  postings.offsets = in.aligned_array<uint64_t>(file->data);
  postings.rows = in.aligned_array<uint32_t>(file->data);
  postings.weights = in.aligned_array<float>(file->data);
  postings.owner = file;
  if (postings.n_rows != bank.size()) throw Error("snapshot index does not match its rows");
  auto tfidf = std::make_shared<TfidfEmbedder>(max_df);
  tfidf->restore(documents, std::move(df));
  bank.embedder = std::move(tfidf);
  bank.index = make_exact_index(std::move(postings));
}

// What a dense bank's snapshot says of its side file.
struct SideFile {
  uint64_t size = 0, sum = 0;
};

SideFile describe_side_file(const std::string& path) {
  const auto mapped = map_file(path);
  if (!mapped) throw Error(path + ": cannot read back the saved index");
  return {mapped->size, checksum(mapped->data, mapped->size)};
}

// The side file is opened once: checked, then read through that descriptor, so that another
// writer renaming a new one into place meanwhile cannot slip an unchecked file in.
std::unique_ptr<NeighborIndex> read_side_file(const std::string& path, const SideFile& want,
                                              IndexKind kind, size_t dim) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": missing");
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } closer{fd};
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  {
    const auto mapped = map_file(self);
    if (!mapped || mapped->size != want.size || !checksum_matches(*mapped, want.size, want.sum))
      throw Error(path + ": does not match the snapshot");
  }
  return kind == IndexKind::kExact ? load_dense_exact_index(self, dim)
                                   : load_dense_hnsw_index(self, dim);
}

void read_dense_index(Reader& in, PriorBank& bank, const std::string& path,
                      const BankOptions& options) {
  const std::string key = in.str();
  const auto kind = static_cast<IndexKind>(in.pod<uint8_t>());
  const auto dim = in.pod<uint64_t>();
  const SideFile side{in.pod<uint64_t>(), in.pod<uint64_t>()};
  if (!options.embedder || options.embedder->cache_key() != key || options.index != kind)
    throw Error("snapshot of another embedder or index");
  bank.index = read_side_file(path + ".index", side, kind, dim);
  if (bank.index->size() != bank.size()) throw Error("snapshot index does not match its rows");
  bank.embedder = bank.pretrained = options.embedder;
  bank.index_kind = kind;
}

PriorBank read_bank(Reader& in, const std::shared_ptr<const MappedFile>& file,
                    const std::string& path, const BankOptions& options) {
  PriorBank bank;
  const auto n_models = in.pod<uint64_t>();
  for (uint64_t m = 0; m < n_models; ++m) bank.data.models.push_back(in.str());
  const auto n_records = in.pod<uint64_t>();
  // Into the rows of a bank no longer used where given: fresh memory is what a reload costs
  // most (a million questions: 436 MB, every page zeroed by the kernel while requests wait).
  // With the headroom at once: reserving it after the rows were read moved every row again.
  auto& records = bank.data.records;
  if (options.reuse_rows) records = std::move(*options.reuse_rows);
  records.reserve(capacity_with_headroom(std::min<uint64_t>(n_records, 1u << 26)));
  if (records.size() > n_records) records.resize(n_records);
  // Grown row by row, not resized at once to a count that a damaged file could make huge.
  for (uint64_t i = 0; i < n_records; ++i) {
    if (i == records.size()) records.emplace_back();
    read_record(in, n_models, records[i]);
  }
  compute_bank_stats(bank);
  const auto kind = in.pod<uint8_t>();
  if (kind == kTfidfIndex && !options.embedder)
    read_tfidf_index(in, bank, file);
  else if (kind == kDenseIndex)
    read_dense_index(in, bank, path, options);
  else
    throw Error("snapshot of another embedder");
  return bank;
}

}  // namespace

std::string snapshot_path(const std::string& bank_path, const BankOptions& options) {
  // A pretrained embedder's snapshot is named by the embedder and the index kind, so that the
  // TF-IDF one and those of other embedders beside it are not replaced by each other.
  std::string variant;
  if (options.embedder) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (char c : options.embedder->cache_key() + (options.index == IndexKind::kHnsw ? "|h" : "|e"))
      h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    char hex[24];
    std::snprintf(hex, sizeof hex, ".dense-%016llx", static_cast<unsigned long long>(h));
    variant = hex;
  }
  if (!is_postgres_url(bank_path)) return bank_path + variant + ".snapshot";
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
  return dir + "/" + name + variant + ".snapshot";
}

namespace {

void write_tfidf_index(Writer& w, const TfidfEmbedder& tfidf, const Postings& postings) {
  w.pod(kTfidfIndex);
  w.pod(tfidf.documents());
  w.pod(tfidf.max_df());
  write_df(w, tfidf.document_frequency());
  w.pod(postings.n_rows);
  w.aligned_array(postings.terms);
  w.aligned_array(postings.offsets);
  w.aligned_array(postings.rows);
  w.aligned_array(postings.weights);
}

// The index saves itself to `side` (a matrix or a graph of gigabytes has no business in the
// records' file); the snapshot names it by size and checksum.
void write_dense_index(Writer& w, const PriorBank& bank, const std::string& side) {
  bank.index->save_dense(side);
  const SideFile file = describe_side_file(side);
  w.pod(kDenseIndex);
  w.str(bank.pretrained->cache_key());
  w.pod(static_cast<uint8_t>(bank.index_kind));
  w.pod(static_cast<uint64_t>(bank.index->dense_width()));
  w.pod(file.size);
  w.pod(file.sum);
}

}  // namespace

void save_snapshot(const PriorBank& bank, const BankFile::Version& version,
                   const std::string& path) {
  const auto* tfidf = dynamic_cast<const TfidfEmbedder*>(bank.embedder.get());
  const Postings* postings = bank.index ? bank.index->postings() : nullptr;
  const bool dense = bank.pretrained && bank.index && bank.index->dense_width() > 0;
  if (!dense && (!tfidf || bank.pretrained || !postings))
    throw Error("only dense banks and TF-IDF banks with the exact index can be snapshotted");
  // A name of its own: replicas and `prior` commands on one database share its snapshot path,
  // and a writer that truncated another's temporary file while that one read it back (mapped)
  // killed it with SIGBUS (seen in CI: `prior add-model` beside two replicas).
  const std::string tmp = unique_temp_path(path);
  const std::string side_tmp = tmp + ".index";
  RemoveUnlessRenamed cleanup{{tmp, side_tmp}};
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
    if (dense)
      write_dense_index(w, bank, side_tmp);
    else
      write_tfidf_index(w, *tfidf, *postings);
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
  // The side file first: a reader between the two renames finds the old snapshot naming
  // another side file, and rebuilds.
  if (dense) std::filesystem::rename(side_tmp, path + ".index");
  std::filesystem::rename(tmp, path);
}

std::optional<PriorBank> load_snapshot(const std::string& path, const BankFile::Version& version,
                                       const BankOptions& options) {
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
  if (!checksum_matches(*mapped, static_cast<size_t>(body_end - mapped->data), sum))
    return std::nullopt;
  try {
    PriorBank bank = read_bank(in, mapped, path, options);
    if (in.p != in.end) return std::nullopt;
    reserve_headroom(bank);
    return bank;
  } catch (const Error&) {
    return std::nullopt;  // damaged, or another embedder's: the caller rebuilds from the bank
  }
}

}  // namespace smacs
