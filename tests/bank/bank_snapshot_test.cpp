// The bank snapshot: a cache beside a .sqlite bank that is used only while it matches it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "bank/bank_store.h"
#include "bank/snapshot.h"
#include "data/load.h"
#include "test_util.h"

namespace smacs {
namespace {

// RouterBench's ARC-C train split, its first 400 questions (read once: it is 20 MB of replies).
Dataset arc() {
  static const Dataset first = [] {
    Dataset d = load_file(test::data_file("routerbench/arc_challenge_train.csv"));
    d.records.resize(std::min<size_t>(d.records.size(), 400));
    return d;
  }();
  return first;
}

std::string fresh_bank(const std::string& name, const Dataset& data) {
  const std::string path = test::temp_path(name);
  std::filesystem::remove(snapshot_path(path));
  save_bank(data, path);
  return path;
}

BankFile::Version version_of(const std::string& path) {
  return *BankFile::open(path, BankFile::Mode::kRead)->version();
}

// Same rows, statistics, embeddings and neighbours.
void expect_same_bank(const PriorBank& a, const PriorBank& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a.data.models, b.data.models);
  EXPECT_EQ(a.tasks, b.tasks);
  for (size_t i = 0; i < a.size(); i += 37) {
    EXPECT_EQ(a.data.records[i].question, b.data.records[i].question);
    EXPECT_EQ(a.data.records[i].responses, b.data.records[i].responses);
  }
  for (const char* q : {"Which gas do plants absorb?", "What causes the seasons on Earth?", ""}) {
    const auto x = a.index->search(a.embedder->embed(q), 20),
               y = b.index->search(b.embedder->embed(q), 20);
    ASSERT_EQ(x.size(), y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(x[i].row, y[i].row);
      EXPECT_FLOAT_EQ(x[i].sim, y[i].sim);
    }
  }
}

TEST(BankSnapshot, SecondOpenReadsTheSnapshotAndGetsTheSameBank) {
  const std::string path = fresh_bank("snap.sqlite", arc());
  const PriorBank built = open_bank(path);  // builds, then leaves the snapshot
  ASSERT_TRUE(std::filesystem::exists(snapshot_path(path)));
  const auto cached = load_snapshot(snapshot_path(path), version_of(path));
  ASSERT_TRUE(cached.has_value());
  expect_same_bank(built, *cached);
  EXPECT_EQ(built.global_mean.size(), cached->global_mean.size());
  for (size_t m = 0; m < built.global_mean.size(); ++m)
    EXPECT_FLOAT_EQ(built.global_mean[m], cached->global_mean[m]);
  expect_same_bank(built, open_bank(path));
}

// Replicas and `prior` commands on one database share one snapshot path and may save it at the
// same time: each writes a temporary file of its own (a shared one was truncated by one writer
// while another read it back: SIGBUS in CI, or a rename of a file already renamed), and what is
// left is one whole snapshot and no temporary file.
TEST(BankSnapshot, WritersAtTheSamePathDoNotTrampleEachOther) {
  const std::string path = fresh_bank("snap-writers.sqlite", arc());
  const PriorBank bank = open_bank(path);
  const std::string snap = snapshot_path(path) + ".shared";
  std::vector<std::thread> writers;
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&] {
      for (int i = 0; i < 5; ++i) try {
          save_snapshot(bank, version_of(path), snap);
        } catch (const std::exception&) {
          ++failed;
        }
    });
  for (auto& w : writers) w.join();
  EXPECT_EQ(failed, 0);
  const auto cached = load_snapshot(snap, version_of(path));
  ASSERT_TRUE(cached.has_value());
  expect_same_bank(bank, *cached);
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(snap).parent_path()))
    EXPECT_EQ(entry.path().string().find(snap + ".tmp"), std::string::npos) << entry.path();
}

TEST(BankSnapshot, AnyWriteMakesItStale) {
  Dataset data = arc();
  const std::string path = fresh_bank("snap-write.sqlite", data);
  open_bank(path);
  const auto before = version_of(path);
  {
    auto file = BankFile::open(path, BankFile::Mode::kWrite);
    const int64_t q = file->add_question(data.records[0]);
    file->put_result(q, file->add_model("newcomer"), ResultRow{.score = 0.75f});
  }
  const auto after = version_of(path);
  EXPECT_EQ(after.bank_id, before.bank_id);
  EXPECT_GT(after.revision, before.revision);
  EXPECT_FALSE(load_snapshot(snapshot_path(path), after).has_value());
  const PriorBank reopened = open_bank(path);  // rebuilt from SQLite: sees the new model
  const int m = reopened.data.model_index("newcomer");
  ASSERT_GE(m, 0);
  EXPECT_FLOAT_EQ(reopened.data.records[0].scores[static_cast<size_t>(m)], 0.75f);
  EXPECT_TRUE(load_snapshot(snapshot_path(path), after).has_value());  // and a fresh snapshot
}

TEST(BankSnapshot, ABankReplacedAtTheSamePathIsNotConfusedWithTheOld) {
  Dataset data = arc();
  const std::string path = fresh_bank("snap-replace.sqlite", data);
  open_bank(path);
  data.records.resize(10);  // a different bank, saved over the first: revision starts again
  save_bank(data, path);
  EXPECT_EQ(open_bank(path).size(), 10u);
}

TEST(BankSnapshot, ADamagedSnapshotIsIgnoredAndReplaced) {
  const std::string path = fresh_bank("snap-damaged.sqlite", arc());
  const PriorBank built = open_bank(path);
  const std::string snap = snapshot_path(path);
  const auto size = std::filesystem::file_size(snap);
  std::filesystem::resize_file(snap, size / 2);  // cut short
  EXPECT_FALSE(load_snapshot(snap, version_of(path)).has_value());
  expect_same_bank(built, open_bank(path));
  EXPECT_EQ(std::filesystem::file_size(snap), size);  // rewritten whole
  {
    std::fstream f(snap, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 3));
    f.write("\xff\xff\xff\xff\xff\xff\xff\xff", 8);  // garbage in the middle
  }
  EXPECT_FALSE(load_snapshot(snap, version_of(path)).has_value());  // the checksum sees it
  expect_same_bank(built, open_bank(path));
  std::ofstream(snap, std::ios::trunc) << "not a snapshot";
  expect_same_bank(built, open_bank(path));
}

// The address range /proc/self/maps shows `file` mapped at, {0, 0} when it is not mapped.
std::pair<uintptr_t, uintptr_t> mapped_range(const std::string& file) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.size() > file.size() && line.ends_with(file))
      return {std::stoull(line.substr(0, line.find('-')), nullptr, 16),
              std::stoull(line.substr(line.find('-') + 1), nullptr, 16)};
  return {0, 0};
}

// A reload at a million questions copied half a gigabyte of postings into fresh memory, which
// this VM faults in slowly while requests wait: they are read where the snapshot is mapped.
TEST(BankSnapshot, PostingsAreUsedWhereTheSnapshotIsMapped) {
  const std::string path = fresh_bank("snap-in-place.sqlite", arc());
  open_bank(path);
  const auto bank = load_snapshot(snapshot_path(path), version_of(path));
  ASSERT_TRUE(bank.has_value());
  const Postings* postings = bank->index->postings();
  ASSERT_NE(postings, nullptr);
  ASSERT_FALSE(postings->rows.empty());
  const auto [from, to] = mapped_range(std::filesystem::canonical(snapshot_path(path)).string());
  const auto at = reinterpret_cast<uintptr_t>(postings->rows.data());
  EXPECT_TRUE(at >= from && at < to) << "the postings were copied out of the snapshot";
  EXPECT_EQ(at % 4, 0u);
}

// A reload skips the checksum of a snapshot it verified before, unchanged: one changed in place
// since then (same file, new modification time) is checked again and refused.
TEST(BankSnapshot, ASnapshotDamagedAfterItWasVerifiedIsCheckedAgain) {
  const std::string path = fresh_bank("snap-verified.sqlite", arc());
  open_bank(path);
  const std::string snap = snapshot_path(path);
  const auto old = std::filesystem::last_write_time(snap) - std::chrono::seconds(30);
  std::filesystem::last_write_time(snap, old);  // not written this very tick: remembered
  ASSERT_TRUE(load_snapshot(snap, version_of(path)).has_value());
  ASSERT_TRUE(load_snapshot(snap, version_of(path)).has_value());
  {
    std::fstream f(snap, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(snap) / 3));
    f.write("\xff\xff\xff\xff\xff\xff\xff\xff", 8);
  }
  EXPECT_FALSE(load_snapshot(snap, version_of(path)).has_value());
}

}  // namespace
}  // namespace smacs

namespace smacs {
namespace {

// Bug: the first feedback appended to a bank moved all of its rows to a larger buffer under the
// writer's lock (0.8 s at a million questions, every request waiting). Built or read from a
// snapshot, a bank now has room for a quarter more rows: appends move nothing.
TEST(BankSnapshot, BanksHaveRoomToGrowWithoutMovingTheirRows) {
  const std::string path = test::temp_path("headroom.sqlite");
  std::filesystem::remove(snapshot_path(path));
  save_bank(arc(), path);
  for (int open = 0; open < 2; ++open) {  // built, then read from its snapshot
    PriorBank bank = open_bank(path);
    ASSERT_GE(bank.data.records.capacity(), bank.size() + 1024);
    const Record* rows = bank.data.records.data();
    for (int i = 0; i < 1000; ++i) {
      Record r;
      r.id = "feedback:" + std::to_string(i);
      r.task = "arc_challenge";
      r.question = "a question asked later";
      append_row(bank, std::move(r), bank.embedder->embed("a question asked later"));
    }
    EXPECT_EQ(bank.data.records.data(), rows) << "the rows moved (open " << open << ")";
  }
}

// Every member, scores bit for bit (missing is NaN).
void expect_same_rows(const std::vector<Record>& a, const std::vector<Record>& b) {
  ASSERT_EQ(a.size(), b.size());
  const auto bits = [](const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  };
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].task, b[i].task);
    EXPECT_EQ(a[i].question, b[i].question);
    EXPECT_EQ(a[i].gold, b[i].gold);
    EXPECT_EQ(bits(a[i].scores), bits(b[i].scores));
    EXPECT_EQ(a[i].responses, b[i].responses);
    EXPECT_EQ(bits(a[i].costs), bits(b[i].costs));
    EXPECT_EQ(a[i].tests, b[i].tests);
    EXPECT_EQ(a[i].grader, b[i].grader);
  }
}

// Bug: save_bank wrote every bank through "<path>.tmp", so two saves to one path at once removed
// each other's file while it was written. Each save has a temporary file of its own now.
TEST(BankFile, SavesToOnePathAtOnceLeaveOneWholeBankAndNoTemporaryFile) {
  const std::string path = test::temp_path("saved-twice.sqlite");
  std::filesystem::remove(path);
  Dataset small = arc(), large = arc();
  small.records.resize(60);
  large.records.erase(large.records.begin(), large.records.begin() + 60);
  std::atomic<int> failed{0};
  std::string first_error;
  std::mutex error_mutex;
  std::vector<std::thread> savers;
  for (const Dataset* data : {&small, &large, &small, &large})
    savers.emplace_back([&, data] {
      for (int i = 0; i < 4; ++i) try {
          save_bank(*data, path);
        } catch (const std::exception& e) {
          std::lock_guard lock(error_mutex);
          if (failed++ == 0) first_error = e.what();
        }
    });
  for (auto& s : savers) s.join();
  EXPECT_EQ(failed, 0) << first_error;
  // Either bank whole, as one save alone leaves it (a bank keeps a repeated question once).
  const auto alone = [](const Dataset& data, const std::string& name) {
    const std::string one = test::temp_path(name);
    save_bank(data, one);
    return load_bank_data(one);
  };
  const Dataset saved = load_bank_data(path), small_saved = alone(small, "saved-small.sqlite"),
                large_saved = alone(large, "saved-large.sqlite");
  ASSERT_NE(small_saved.records.size(), large_saved.records.size());
  const Dataset& want =
      saved.records.size() == small_saved.records.size() ? small_saved : large_saved;
  ASSERT_EQ(saved.records.size(), want.records.size());
  for (size_t i = 0; i < want.records.size(); ++i)
    ASSERT_EQ(saved.records[i].id, want.records[i].id) << "rows of both banks";
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(path).parent_path()))
    EXPECT_EQ(entry.path().string().find(path + ".tmp"), std::string::npos) << entry.path();
}

// Hostile run 3: each reload of a million-question bank took 436 MB of fresh memory for its
// rows, which the kernel zeroes page by page (on this VM each page a fault to the host) while
// requests wait. A snapshot's rows can now be read into an old bank's rows: the same bank,
// in the same memory.
TEST(BankSnapshot, RowsReadIntoAnOldBanksRowsAreTheSameBankInTheSameMemory) {
  const std::string path = fresh_bank("reuse.sqlite", arc());
  const PriorBank built = open_bank(path);
  const std::vector<Record> fresh =
      load_snapshot(snapshot_path(path), version_of(path))->data.records;

  // As a reload finds them: the bank it replaces, with its headroom.
  auto old = std::make_shared<std::vector<Record>>(built.data.records);
  old->reserve(capacity_with_headroom(old->size()));
  const Record* rows = old->data();
  const char* question = (*old)[0].question.data();
  const auto held = old;  // alive throughout: equal addresses are its memory, not a new block
  BankOptions reuse;
  reuse.reuse_rows = old;
  const auto loaded = load_snapshot(snapshot_path(path), version_of(path), reuse);
  ASSERT_TRUE(loaded.has_value());
  expect_same_bank(built, *loaded);
  expect_same_rows(fresh, loaded->data.records);
  EXPECT_EQ(loaded->data.records.data(), rows) << "the rows were read into fresh memory";
  EXPECT_EQ(loaded->data.records[0].question.data(), question);

  // Rows of another shape: more of them, costs, responses, tests where the new rows have none
  // (or fewer), other models' scores. Nothing of them may be left over.
  auto other = std::make_shared<std::vector<Record>>();
  for (size_t i = 0; i < 450; ++i) {
    Record r;
    r.id = "other-" + std::to_string(i);
    r.question = std::string(300, 'q');
    r.scores.assign(40, 0.5f);
    r.costs.assign(40, 0.01f);
    r.responses.assign(40, "a reply of another bank");
    r.tests = "assert True";
    r.grader = "code";
    other->push_back(std::move(r));
  }
  reuse.reuse_rows = other;
  const auto reloaded = load_snapshot(snapshot_path(path), version_of(path), reuse);
  ASSERT_TRUE(reloaded.has_value());
  expect_same_rows(fresh, reloaded->data.records);
  expect_same_bank(built, *reloaded);
}

}  // namespace
}  // namespace smacs
