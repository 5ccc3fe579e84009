// The /v1/embeddings embedder against a real HTTP server on loopback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "bank/bank_store.h"
#include "bank/prior_bank.h"
#include "core/error.h"
#include "data/load.h"
#include "embedding/embedder.h"
#include "embedding/embedding_cache.h"
#include "server/config.h"
#include "server/gateway_server.h"
#include "test_util.h"

namespace smacs {
namespace {

using nlohmann::json;

// An embeddings server: each text becomes a 32-wide bag of hashed words. It counts requests
// and can fail the first calls, answer with the wrong width, or with garbage.
struct EmbeddingServer {
  std::atomic<int> requests{0}, texts{0}, largest_batch{0}, fail_first{0};
  std::atomic<int> model{0};  // another value: another model behind the same name
  std::atomic<bool> wrong_width{false}, garbage{false};
  httplib::Server server;
  std::optional<test::Listening> listening;
  int port = 0;

  static std::vector<float> vec(const std::string& text) {
    std::vector<float> v(32, 0.0f);
    std::istringstream words(text);
    for (std::string w; words >> w;) v[std::hash<std::string>{}(w) % 32] += 1.0f;
    v[0] += 0.01f;  // never all zero
    return v;
  }

  EmbeddingServer() {
    server.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      if (fail_first > 0) {
        --fail_first;
        res.status = 503;
        return;
      }
      const json body = json::parse(req.body);
      const auto& input = body.at("input");
      largest_batch = std::max<int>(largest_batch, static_cast<int>(input.size()));
      texts += static_cast<int>(input.size());
      json data = json::array();
      for (size_t i = 0; i < input.size(); ++i) {
        auto v = vec(input[i]);
        if (model) v[static_cast<size_t>(model) % 32] += 7.0f;
        if (wrong_width && i == 1) v.pop_back();
        data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", v}});
      }
      res.set_content(garbage ? "{\"data\": 5}" : json{{"data", data}}.dump(), "application/json");
    });
    server.set_keep_alive_max_count(1);  // no idle keep-alive connection delays stop()
    port = listening.emplace(server).port;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
};

TEST(HttpEmbedder, EmbedsABankInBatchesAndRetrievesByIt) {
  EmbeddingServer srv;
  const Dataset data = load_file(test::data_file("routerbench/arc_challenge_train.csv"));
  BankOptions options;
  options.embedder = make_http_embedder({.base_url = srv.url(), .model = "bag", .batch = 50});
  size_t reported = 0;
  options.progress = [&](size_t done, size_t total) {
    EXPECT_EQ(total, data.records.size());
    reported = done;
  };
  const PriorBank bank = build_bank(data, options);
  EXPECT_EQ(reported, data.records.size());
  EXPECT_EQ(srv.largest_batch, 50);
  const int n = static_cast<int>(data.records.size());  // batches of 50 within chunks of 256
  EXPECT_GE(srv.requests, (n + 49) / 50);
  EXPECT_LE(srv.requests, (n + 49) / 50 + (n + 255) / 256);
  // a bank question finds itself first: retrieval runs on the served vectors
  const std::string& q = bank.data.records[123].question;
  const auto near = bank.index->search(bank.embedder->embed(q), 3);
  ASSERT_FALSE(near.empty());
  EXPECT_NEAR(near[0].sim, 1.0, 1e-5);
  EXPECT_EQ(bank.data.records[near[0].row].question, q);
  const SparseVec v = bank.embedder->embed("anything at all");
  EXPECT_EQ(v.idx.size(), 32u);
  EXPECT_NEAR(std::sqrt(dot(v, v)), 1.0, 1e-5);
}

TEST(HttpEmbedder, RetriesFailuresAndNamesWhatWentWrong) {
  EmbeddingServer srv;
  auto embedder = make_http_embedder({.base_url = srv.url(), .model = "bag", .retries = 2});
  srv.fail_first = 2;  // two 503s, then an answer: within the retries
  EXPECT_EQ(embedder->embed("a b c").idx.size(), 32u);
  EXPECT_EQ(srv.requests, 3);
  srv.fail_first = 5;  // more than the retries
  EXPECT_NE(test::error_of([&] { embedder->embed("x"); }).find("HTTP 503"), std::string::npos);
  srv.fail_first = 0;
  srv.wrong_width = true;
  EXPECT_NE(test::error_of([&] {
              embedder->embed_all({"a", "b", "c"});
            }).find("malformed reply"),
            std::string::npos);
  srv.wrong_width = false;
  srv.garbage = true;
  EXPECT_NE(test::error_of([&] { embedder->embed("a"); }).find("malformed reply"),
            std::string::npos);
  auto nobody = make_http_embedder(
      {.base_url = "http://127.0.0.1:1/v1", .model = "m", .timeout_ms = 500, .retries = 0});
  const std::string down = test::error_of([&] { nobody->embed("a"); });
  EXPECT_NE(down.find("embedder http://127.0.0.1:1/v1 (m): connection failed"), std::string::npos)
      << down;
}

TEST(HttpEmbedder, AGatewayWhoseEmbedderFailsAnswers502) {
  auto srv = std::make_unique<EmbeddingServer>();
  const Dataset data = load_file(test::data_file("routerbench/arc_challenge_train.csv"));
  BankOptions options;
  options.embedder = make_http_embedder({.base_url = srv->url(), .model = "bag", .retries = 0});
  PriorBank bank = build_bank(data, options);
  srv.reset();  // the embeddings server goes away
  ServerConfig config;
  config.port = 0;
  config.threads = 4;
  Metrics metrics;
  std::vector<std::unique_ptr<Backend>> backends;
  backends.push_back(
      make_http_backend({.name = "zero-one-ai/Yi-34B-Chat", .base_url = "http://127.0.0.1:1/v1"}));
  Gateway gateway(std::move(bank), config.params, std::move(backends), metrics);
  test::Serving<GatewayServer> running(std::make_unique<GatewayServer>(config, gateway, metrics));
  httplib::Client c("127.0.0.1", running.port);
  const json ask = {{"model", "smacs"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  auto res = c.Post("/v1/chat/completions", ask.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "retrieval_failed");
}

// The same bank twice: the second time its vectors come from the cache (the only request is
// the probe that checks the model is the same), and they are the vectors the server gave.
TEST(EmbeddingCache, EmbedsABankOnceAndOnlyNewQuestionsLater) {
  EmbeddingServer srv;
  const std::string cache = test::temp_path("embeddings-once.sqlite");
  std::filesystem::remove(cache);
  const HttpEmbedderConfig http{.base_url = srv.url(), .model = "bag", .batch = 64};
  Dataset data = load_file(test::data_file("routerbench/arc_challenge_train.csv"));
  const size_t n = data.records.size();
  auto build = [&](const Dataset& d) {
    BankOptions options;
    options.embedder = with_embedding_cache(make_http_embedder(http), cache);
    return build_bank(d, options);
  };
  std::set<std::string> distinct;
  for (const auto& r : data.records) distinct.insert(r.question);
  ASSERT_LT(distinct.size(), n);  // the data repeats some questions: asked once each
  const PriorBank first = build(data);
  EXPECT_EQ(srv.texts, static_cast<int>(distinct.size()) + 1);  // each question, and the probe
  srv.texts = 0;
  const PriorBank second = build(data);
  EXPECT_EQ(srv.texts, 1);  // the probe only
  for (size_t i : {size_t{0}, size_t{7}, n - 1}) {
    const SparseVec direct = make_http_embedder(http)->embed(data.records[i].question);
    const auto near = second.index->search(direct, 1);
    ASSERT_FALSE(near.empty());
    EXPECT_NEAR(near[0].sim, 1.0, 1e-5);  // the cached vector is the served one
  }
  // Three new questions: only they are embedded.
  for (int i = 0; i < 3; ++i) {
    Record r = data.records[static_cast<size_t>(i)];
    r.id += "-new";
    r.question = "A brand new question number " + std::to_string(i) + "?";
    data.records.push_back(r);
  }
  srv.texts = 0;
  build(data);
  EXPECT_EQ(srv.texts, 1 + 3);
  // no cache: everything again
  srv.texts = 0;
  BankOptions uncached;
  uncached.embedder = with_embedding_cache(make_http_embedder(http), std::nullopt);
  build_bank(data, uncached);
  EXPECT_EQ(srv.texts, static_cast<int>(n) + 3);
}

TEST(EmbeddingCache, AnotherModelUnderTheSameNameDropsItsVectors) {
  EmbeddingServer srv;
  const std::string cache = test::temp_path("embeddings-model.sqlite");
  std::filesystem::remove(cache);
  const HttpEmbedderConfig http{.base_url = srv.url(), .model = "bag"};
  const std::vector<std::string> texts = {"red planet", "blue whale", "green tea"};
  with_embedding_cache(make_http_embedder(http), cache)->embed_all(texts);
  srv.model = 5;  // the server now runs another model as "bag"
  srv.texts = 0;
  const auto again = with_embedding_cache(make_http_embedder(http), cache)->embed_all(texts);
  EXPECT_EQ(srv.texts, 1 + 3);  // probe, then every text anew
  const auto served = make_http_embedder(http)->embed_all(texts);
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_NEAR(dot(again[i], served[i]), 1.0, 1e-5);
}

TEST(EmbeddingCache, ADamagedCacheFileIsBypassedNotFatal) {
  EmbeddingServer srv;
  const std::string cache =
      test::write_temp("embeddings-garbage.sqlite", std::string(8192, '\x5a') + "not a database");
  const HttpEmbedderConfig http{.base_url = srv.url(), .model = "bag"};
  const std::vector<std::string> texts = {"red planet", "blue whale"};
  testing::internal::CaptureStderr();
  const auto got = with_embedding_cache(make_http_embedder(http), cache)->embed_all(texts);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("embedding cache " + cache + " not used"), std::string::npos) << err;
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NEAR(dot(got[0], make_http_embedder(http)->embed("red planet")), 1.0, 1e-5);
  // a directory where the file should be: the same
  const std::string dir = test::temp_path("embeddings-dir.sqlite");
  std::filesystem::create_directories(dir);
  testing::internal::CaptureStderr();
  EXPECT_EQ(with_embedding_cache(make_http_embedder(http), dir)->embed_all(texts).size(), 2u);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("not used"), std::string::npos);
}

TEST(EmbeddingCache, TheServeConfigNamesTheFileOrNone) {
  EXPECT_EQ(
      parse_server_config("bank: b.csv\npool:\n  - {name: m, base_url: http://127.0.0.1:1/v1}\n"
                          "embedder: {type: http, base_url: http://127.0.0.1:2/v1, model: e,"
                          " cache: vectors.sqlite}\n",
                          "/srv/smacs")
          .embedder.cache,
      "/srv/smacs/vectors.sqlite");
  EXPECT_EQ(
      parse_server_config("bank: b.csv\npool:\n  - {name: m, base_url: http://127.0.0.1:1/v1}\n"
                          "embedder: {type: http, base_url: http://127.0.0.1:2/v1, model: e,"
                          " cache: none}\n",
                          "/srv/smacs")
          .embedder.cache,
      std::nullopt);
  const auto home = default_embedding_cache_path();
  EXPECT_TRUE(!home || home->ends_with("/smacs/embeddings.sqlite")) << home.value_or("");
}

}  // namespace
}  // namespace smacs

namespace smacs {
namespace {

// A file in the shape of the SMACS authors' released bank, with 32-wide vectors (`width`) that
// differ from what the embedding server would give, so a hit is visibly the imported vector.
std::string write_smcs_bank(const std::string& name, size_t width) {
  json bank = json::object();
  const char* questions[] = {"What is 2 + 3?", "Name the capital of France.", "Sort [3, 1, 2]."};
  for (int i = 0; i < 3; ++i) {
    std::vector<float> v(width, 0.0f);
    v[static_cast<size_t>(i) + 5] = 1.0f;
    bank[std::to_string(i)] = {
        {"question", questions[i]},
        {"src", i == 1 ? "geo" : "math"},
        {"src_subject", "x"},
        {"model_res", {{"m1", {{"is_correct", i != 1}}}, {"m2", {{"is_correct", i == 1}}}}},
        {"embedding", v}};
  }
  const std::string path = test::temp_path(name);
  std::ofstream(path) << bank.dump();
  return path;
}

TEST(SmcsBank, ImportKeepsItsVectorsForTheEmbedderThatMadeThem) {
  EmbeddingServer srv;
  const std::string cache = test::temp_path("smcs-cache.sqlite"),
                    out = test::temp_path("smcs.sqlite");
  std::filesystem::remove(cache);
  const std::string flags =
      " --embedder-url " + srv.url() + " --embedder-model bag --embedding-cache " + cache;
  auto r = test::run_smacs("prior import --smcs-bank " + write_smcs_bank("smcs.json", 32) + flags +
                           " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3 questions, 2 models; their 32-dimensional vectors"), std::string::npos)
      << r.output;
  const Dataset d = load_bank_data(out);
  ASSERT_EQ(d.records.size(), 3u);
  EXPECT_EQ(d.records[1].task, "geo");
  EXPECT_EQ(d.records[0].scores, (std::vector<float>{1, 0}));
  // A bank built with that embedder finds the imported vectors: no question is embedded again.
  srv.texts = 0;
  BankOptions options;
  options.embedder =
      with_embedding_cache(make_http_embedder({.base_url = srv.url(), .model = "bag"}), cache);
  const PriorBank bank = build_bank(d, options);
  EXPECT_EQ(srv.texts, 1);  // the probe only
  SparseVec imported = dense_vector(std::vector<float>(32, 0.0f));
  imported.val[6] = 1.0f;
  const auto near = bank.index->search(imported, 1);
  ASSERT_FALSE(near.empty());
  EXPECT_EQ(near[0].row, 1u);
  EXPECT_NEAR(near[0].sim, 1.0, 1e-6);
  // Vectors of another width than the embedder's: a clear error, nothing written.
  const std::string other = test::temp_path("smcs-other.sqlite");
  std::filesystem::remove(other);
  r = test::run_smacs("prior import --smcs-bank " + write_smcs_bank("smcs-wide.json", 48) + flags +
                      " --out " + other);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("the bank's embeddings have 48 dimensions; the embedder"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(other));
  // No embedder named, or a file of another shape: one line each.
  EXPECT_NE(test::run_smacs("prior import --smcs-bank " + write_smcs_bank("s.json", 32) +
                            " --out " + other)
                .output.find("give the embedder its vectors came from"),
            std::string::npos);
  const std::string bad = test::write_temp("smcs-bad.json", R"({"0": {"question": "q"}})");
  EXPECT_NE(test::run_smacs("prior import --smcs-bank " + bad + flags + " --out " + other)
                .output.find("question \"0\": expected {question, src, model_res"),
            std::string::npos);
}

}  // namespace
}  // namespace smacs
