// The PostgreSQL engine behind BankFile, against a real PostgreSQL 15 on loopback: the same
// contract as the SQLite file (so the rest of smacs never learns which), and what replicas and
// many builders need from it: changes since a revision, notices, claims with leases.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "bank/bank_store.h"
#include "bank/snapshot.h"
#include "data/load.h"
#include "postgres_fixture.h"
#include "test_util.h"

namespace smacs {
namespace {

test::PostgresServer& server() {
  static test::PostgresServer pg;  // one server for this file's tests, one database each
  return pg;
}

Record question(const std::string& id, const std::string& text) {
  Record r;
  r.id = id;
  r.task = "trivia";
  r.question = text;
  r.gold = "42";
  return r;
}

void expect_same(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.models, b.models);
  ASSERT_EQ(a.records.size(), b.records.size());
  for (size_t i = 0; i < a.records.size(); ++i) {
    EXPECT_EQ(a.records[i].id, b.records[i].id);
    EXPECT_EQ(a.records[i].question, b.records[i].question);
    EXPECT_EQ(a.records[i].task, b.records[i].task);
    EXPECT_EQ(a.records[i].gold, b.records[i].gold);
    for (size_t m = 0; m < a.models.size(); ++m) {
      const float x = a.records[i].scores[m], y = b.records[i].scores[m];
      EXPECT_TRUE((is_missing(x) && is_missing(y)) || x == y) << i << " " << m;
    }
  }
}

TEST(PostgresBank, KeepsWhatTheSqliteFileKeeps) {
  const std::string url = server().fresh_database("parity");
  auto bank = BankFile::open(url, BankFile::Mode::kCreate);
  EXPECT_TRUE(bank->shared());
  EXPECT_EQ(bank->location(), url);
  const auto v0 = bank->version();
  ASSERT_TRUE(v0);
  const int64_t q = bank->add_question(question("q1", "What is six times seven?\ttab\\slash"));
  EXPECT_EQ(bank->add_question(question("q1", "ignored")), q) << "the same id, the same row";
  const int64_t m = bank->add_model("model-a");
  bank->put_result(q, m, ResultRow{.score = 1.0f, .response = "42\nnewline", .latency_ms = 12});
  bank->put_result(q, m, ResultRow{.cost = 0.5f});  // NULLs never erase what is known
  EXPECT_GT(bank->version()->revision, v0->revision);
  EXPECT_EQ(bank->version()->bank_id, v0->bank_id);
  const Dataset d = bank->load();
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].question, "What is six times seven?\ttab\\slash");
  EXPECT_EQ(d.records[0].scores[0], 1.0f);
  EXPECT_EQ(d.records[0].responses[0], "42\nnewline");
  EXPECT_EQ(d.records[0].costs[0], 0.5f);
  EXPECT_EQ(bank->loaded_version()->revision, bank->version()->revision);
  EXPECT_EQ(bank->results_present(), (std::set<std::pair<int64_t, int64_t>>{{q, m}}));
  EXPECT_EQ(bank->questions().size(), 1u);
  bank->remove_model("model-a");
  EXPECT_TRUE(bank->load().models.empty());
  EXPECT_NE(
      test::error_of([&] { bank->remove_model("nobody"); }).find("'nobody' is not in the bank"),
      std::string::npos);

  // A whole data set in, as one change, and out again the same.
  const Dataset rb = load_file(test::data_file("routerbench/arc_challenge_train.csv"));
  save_bank(rb, url);
  const std::string file = test::temp_path("parity.sqlite");
  save_bank(rb, file);  // RouterBench repeats a question: both engines merge it alike
  auto reopened = BankFile::open(url, BankFile::Mode::kRead);
  expect_same(reopened->load(), load_bank_data(file));
  EXPECT_NE(reopened->version()->bank_id, v0->bank_id) << "a replaced bank is another bank";
  const PriorBank opened = open_bank(url);
  EXPECT_EQ(opened.size(), load_bank_data(file).records.size());
}

// Hostile run 3: COPY's \b, \f and \v came back as the letters b, f and v, so a question with
// a form feed reached the models (and other replicas) altered. Every byte but NUL round-trips,
// through single writes, feedback and the whole-bank import alike; NUL is refused, not cut.
TEST(PostgresBank, EveryByteASqliteBankKeepsComesBackUnchanged) {
  std::string controls;  // all of them, with backslash sequences COPY could misread
  for (int c = 1; c < 32; ++c) controls += static_cast<char>(c);
  controls += "\x7f \\b \\f \\v \\101 \\x41 \\N \x7f caf\xc3\xa9 \xe2\x82\xac";
  const std::string url = server().fresh_database("bytes");
  auto bank = BankFile::open(url, BankFile::Mode::kCreate);
  Record r = question("form\ffeed", controls);
  r.gold = controls;
  const int64_t m = bank->add_model("m");
  bank->put_result(bank->add_question(r), m, ResultRow{.score = 1, .response = controls});
  Record fb = question("feedback:x", "a\fb\vc\bd");
  bank->add_scored_question(fb, "m", ResultRow{.score = 0.5f});
  Dataset d = bank->load();
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_EQ(d.records[0].question, controls);
  EXPECT_EQ(d.records[0].gold, controls);
  EXPECT_EQ(d.records[0].id, "form\ffeed");
  EXPECT_EQ(d.records[0].responses[0], controls);
  EXPECT_EQ(d.records[1].question, "a\fb\vc\bd");
  // The import (COPY FROM) and back (COPY TO).
  save_bank(d, url);
  const Dataset again = BankFile::open(url, BankFile::Mode::kRead)->load();
  ASSERT_EQ(again.records.size(), 2u);
  EXPECT_EQ(again.records[0].question, controls);
  EXPECT_EQ(again.records[0].responses[0], controls);
  Record nul = question("nul", std::string("a\0b", 3));
  EXPECT_NE(test::error_of([&] { bank->add_question(nul); }).find("NUL byte"), std::string::npos);
}

TEST(PostgresBank, ClearErrorsForNoServerAndForADatabaseThatIsNoBank) {
  const std::string nowhere = "postgresql://smacs@127.0.0.1:1/none";
  const std::string e = test::error_of([&] { BankFile::open(nowhere, BankFile::Mode::kRead); });
  EXPECT_NE(e.find("postgresql://smacs@127.0.0.1:1/none: cannot connect to PostgreSQL"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << "one line";
  const std::string empty = server().fresh_database("not_a_bank");
  EXPECT_NE(test::error_of([&] {
              BankFile::open(empty, BankFile::Mode::kWrite);
            }).find("not a smacs prior bank"),
            std::string::npos);
  const std::string secret = "postgresql://smacs:hunter2@127.0.0.1:1/none";
  EXPECT_EQ(test::error_of([&] { BankFile::open(secret, BankFile::Mode::kRead); }).find("hunter2"),
            std::string::npos)
      << "no password in messages";
  // Nor in the local snapshot's name (a URL given to `prior` keeps its password).
  EXPECT_EQ(snapshot_path(secret).find("hunter2"), std::string::npos);
  EXPECT_EQ(snapshot_path(secret), snapshot_path("postgresql://127.0.0.1:1/none"));
}

TEST(PostgresBank, ChangesSinceARevisionAndTheNoticeOfThem) {
  const std::string url = server().fresh_database("follow");
  auto writer = BankFile::open(url, BankFile::Mode::kCreate);
  const int64_t a = writer->add_model("model-a");
  const int64_t old = writer->add_question(question("old", "An old question"));
  writer->put_result(old, a, ResultRow{.score = 0.0f});
  auto follower = BankFile::open(url, BankFile::Mode::kRead);
  (void)follower->load();
  const auto since = *follower->loaded_version();
  EXPECT_FALSE(follower->wait_for_change(50)) << "nothing written yet";

  writer->add_scored_question(question("feedback:1", "A new question"), "model-b",
                              ResultRow{.score = 1.0f});
  EXPECT_TRUE(follower->wait_for_change(5000)) << "NOTIFY woke the follower";
  const auto changes = follower->changes_since(since);
  ASSERT_TRUE(changes);
  EXPECT_FALSE(changes->rebuild);
  ASSERT_EQ(changes->questions.size(), 1u);
  EXPECT_EQ(changes->questions[0].id, "feedback:1");
  ASSERT_EQ(changes->models, (std::vector<std::string>{"model-a", "model-b"}));
  EXPECT_TRUE(is_missing(changes->questions[0].scores[0]));
  EXPECT_EQ(changes->questions[0].scores[1], 1.0f);
  EXPECT_GT(changes->revision, since.revision);
  EXPECT_TRUE(follower->changes_since({since.bank_id, changes->revision})->questions.empty());

  // A result of an older question, or a removed model: only a reload shows it.
  writer->put_result(old, a, ResultRow{.score = 1.0f});
  EXPECT_TRUE(follower->changes_since({since.bank_id, changes->revision})->rebuild);
  const uint64_t now = follower->version()->revision;
  writer->remove_model("model-b");
  EXPECT_TRUE(follower->changes_since({since.bank_id, now})->rebuild);
  EXPECT_TRUE(follower->changes_since({"another bank", now})->rebuild);
}

TEST(PostgresBank, ClaimsAreDisjointTakenOverAfterTheirLeaseAndNeverRedone) {
  const std::string url = server().fresh_database("claims");
  auto one = BankFile::open(url, BankFile::Mode::kCreate);
  auto two = BankFile::open(url, BankFile::Mode::kWrite);
  const int64_t m = one->add_model("model-a");
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (int i = 0; i < 6; ++i)
    pairs.emplace_back(
        one->add_question(question("q" + std::to_string(i), "Q" + std::to_string(i))), m);
  one->offer(pairs);
  two->offer(pairs);  // offered twice: still one claim each
  const auto a = one->claim({m}, 4, 60000);
  const auto b = two->claim({m}, 4, 60000);
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(b.size(), 2u);
  for (const auto& p : a) EXPECT_EQ(std::count(b.begin(), b.end(), p), 0);
  EXPECT_TRUE(two->claim({m}, 4, 60000).empty()) << "everything is held";
  for (const auto& p : b) two->put_result(p.first, p.second, ResultRow{.score = 1.0f});
  // `one` dies holding its four: with a short lease they go to the next claimant.
  auto three = BankFile::open(url, BankFile::Mode::kWrite);
  EXPECT_TRUE(three->claim({m}, 10, 60000).empty());
  (void)one->claim({m}, 0, 0);
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(
      c, "UPDATE smacs_claims SET lease_until = now() - interval '1 second' WHERE NOT done"));
  PQfinish(c);
  const auto taken = three->claim({m}, 10, 60000);
  EXPECT_EQ(taken.size(), 4u) << "the dead claims, and none of the done ones";
  for (const auto& p : taken) EXPECT_EQ(std::count(a.begin(), a.end(), p), 1);
  two->offer(pairs);  // offered again after some were done: they stay done
  for (const auto& p : taken) three->put_result(p.first, p.second, ResultRow{.score = 0.0f});
  EXPECT_TRUE(three->claim({m}, 10, 0).empty());
  EXPECT_EQ(three->results_present().size(), 6u);
}

TEST(PostgresBank, TheCliTakesADatabaseWhereverItTakesABankFile) {
  const std::string url = server().fresh_database("cli");
  const std::string train = test::data_file("routerbench/arc_challenge_train.csv");
  const std::string test_split = test::data_file("routerbench/arc_challenge_test.csv");
  auto r = test::run_smacs("prior import --data " + train + " --out " + url);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_smacs("prior info " + url);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("questions"), std::string::npos);
  const std::string file = test::temp_path("cli-bank.sqlite");
  ASSERT_EQ(test::run_smacs("prior import --data " + train + " --out " + file).exit_code, 0);
  const auto from_db =
      test::run_smacs("eval --bank " + url + " --test " + test_split + " --no-routers");
  const auto from_file =
      test::run_smacs("eval --bank " + file + " --test " + test_split + " --no-routers");
  ASSERT_EQ(from_db.exit_code, 0) << from_db.output;
  auto table = [](const std::string& out) {
    const size_t from = out.find("method / model");
    return out.substr(from, out.find("accuracy in %") - from);
  };
  EXPECT_EQ(table(from_db.output), table(from_file.output));
  r = test::run_smacs("prior remove-model meta/llama-2-70b-chat --bank " + url);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(server().scalar(
                url, "SELECT COUNT(*) FROM smacs_models WHERE name = 'meta/llama-2-70b-chat'"),
            "0");
}

}  // namespace
}  // namespace smacs
