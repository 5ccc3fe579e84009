// `smacs serve` over two in-process llama backends and one HTTP (replay) backend together,
// with the GGUF embedder choosing neighbours: the whole path through the real binary.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sqlite3.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/record.h"
#include "llama/tiny_gguf.h"
#include "llama_models.h"
#include "raw_socket.h"
#include "test_util.h"

namespace smacs {
namespace {

using nlohmann::json;

// Three questions; "recorded" is answered by the replay backend, tiny-a/tiny-b run in-process.
Dataset bank_data() {
  Dataset d;
  d.models = {"tiny-a", "tiny-b", "recorded"};
  const char* questions[] = {"Which planet is called the red planet?",
                             "What is the boiling point of water in Celsius?",
                             "Who wrote the play Hamlet?"};
  const char* answers[] = {"Mars", "100", "Shakespeare"};
  for (int i = 0; i < 3; ++i)
    d.records.push_back({std::string(1, 'q') += std::to_string(i),
                         "trivia",
                         questions[i],
                         answers[i],
                         {0.5f, 0.4f, 1.0f},
                         {"", "", answers[i]},
                         {},
                         "",
                         ""});
  return d;
}

std::string bank_jsonl(const Dataset& d) {
  std::string out;
  for (const auto& r : d.records) {
    json results;
    for (size_t m = 0; m < d.models.size(); ++m)
      results[d.models[m]] = {{"score", r.scores[m]}, {"response", r.responses[m]}};
    out += json{{"id", r.id}, {"task", r.task}, {"question", r.question}, {"results", results}}
               .dump() +
           "\n";
  }
  return out;
}

TEST(LlamaGateway, AnswersThroughTwoInProcessModelsAndOneHttpBackend) {
  const std::string a = test::temp_path("a.gguf"), b = test::temp_path("b.gguf");
  write_tiny_gguf(a, {.seed = 1});
  write_tiny_gguf(b, {.seed = 2});
  const auto replay = test::serve_replay(bank_data());
  const std::string bank = test::write_temp("llama-bank.jsonl", bank_jsonl(bank_data()));
  const std::string config = test::write_temp("llama.yaml", R"(
listen: 127.0.0.1:0
bank: llama-bank.jsonl
request_timeout_ms: 60000
smacs: {k: 3, p_drop: 0, seed: 1}
embedder: {type: llama, gguf: a.gguf, context: 128, threads: 1}
pool:
  - {name: tiny-a, type: llama, gguf: a.gguf, context: 256, threads: 1, max_tokens: 6, temperature: 0}
  - {name: tiny-b, type: llama, gguf: b.gguf, context: 256, threads: 1, max_tokens: 6, slots: 2}
  - {name: recorded, base_url: "http://127.0.0.1:)" + std::to_string(replay->port) +
                                                                R"(/v1"}
)");
  const test::ServeProcess server(config, "llama-serve.log");
  ASSERT_GT(server.port, 0) << "no port in the log";
  httplib::Client c = server.client();
  const std::string started = server.log_text();
  EXPECT_NE(started.find("embedder llama:" + a), std::string::npos) << started;

  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  std::set<std::string> ids;
  const json list = json::parse(models->body);
  for (const auto& m : list["data"]) ids.insert(m["id"]);
  EXPECT_EQ(ids, (std::set<std::string>{"smacs", "tiny-a", "tiny-b", "recorded"}));

  const json ask = {
      {"model", "smacs"},
      {"messages", {{{"role", "user"}, {"content", "Which planet is called the red planet?"}}}}};
  auto res = c.Post("/v1/chat/completions", ask.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json body = json::parse(res->body);
  std::set<std::string> answered;  // every selected model replied, none failed
  for (const auto& [name, scores] : body["smacs"]["posterior_scores"].items())
    answered.insert(name);
  EXPECT_EQ(answered, (std::set<std::string>{"tiny-a", "tiny-b", "recorded"})) << body.dump();
  EXPECT_TRUE(body["smacs"]["errors"].empty());
  // the recorded model scored 1.0 on this neighbourhood: the hybrid score picks its answer
  EXPECT_EQ(body["smacs"]["chosen"], "recorded");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Mars");
  // llama backends' tokens are counted in the summed usage: 6 each plus the replay's
  EXPECT_GE(body["usage"]["completion_tokens"].get<int>(), 12);

  // a pool model's name passes straight through to the in-process model
  json direct = ask;
  direct["model"] = "tiny-b";
  direct["max_tokens"] = 3;
  res = c.Post("/v1/chat/completions", direct.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json reply = json::parse(res->body);
  EXPECT_EQ(reply["model"], "tiny-b");
  EXPECT_EQ(reply["usage"]["completion_tokens"], 3);

  // streamed, the text goes out as the model generates it: the same greedy text, in chunks
  direct["temperature"] = 0;
  res = c.Post("/v1/chat/completions", direct.dump(), "application/json");
  ASSERT_TRUE(res && res->status == 200);
  const std::string greedy = json::parse(res->body)["choices"][0]["message"]["content"];
  direct["stream"] = true;
  direct["stream_options"] = {{"include_usage", true}};
  res = c.Post("/v1/chat/completions", direct.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/event-stream", 0), 0u);
  std::string streamed;
  json usage;
  size_t at = 0, events = 0;
  for (size_t end; (end = res->body.find("\n\n", at)) != std::string::npos;
       at = end + 2, ++events) {
    const std::string data = res->body.substr(at + 6, end - at - 6);
    if (data == "[DONE]") break;
    const json chunk = json::parse(data);
    if (chunk.contains("usage") && chunk["usage"].is_object()) usage = chunk["usage"];
    if (!chunk["choices"].empty()) streamed += chunk["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(streamed, greedy);
  EXPECT_EQ(usage["completion_tokens"], 3);
  EXPECT_NE(res->body.find("data: [DONE]"), std::string::npos);
}

// A client that hangs up on a streamed pass-through to an in-process model frees its slot at
// once: before, the model generated on to the end (the stream was made from the whole reply),
// and the next request waited for it.
TEST(LlamaGateway, AClientLeavingAStreamedPassThroughFreesTheModelsSlot) {
  test::write_temp("llama-bank.jsonl", bank_jsonl(bank_data()));
  const std::string config =
      test::write_temp("llama-leave.yaml", R"(
listen: 127.0.0.1:0
bank: llama-bank.jsonl
request_timeout_ms: 60000
access_log: none
pool:
  - {name: slow, type: llama, gguf: )" + test::small_model() +
                                               R"(, context: 2048, threads: 1, slots: 1}
)");
  const test::ServeProcess server(config, "llama-leave.log");
  ASSERT_GT(server.port, 0) << "no port in the log";
  const json long_stream = {{"model", "slow"},
                            {"messages", {{{"role", "user"}, {"content", "go on"}}}},
                            {"max_tokens", 1500},
                            {"ignore_eos", true},
                            {"stream", true}};
  const std::string body = long_stream.dump();
  const int fd = test::connect_to(server.port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(test::send_all(fd,
                             "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                             "Content-Type: application/json\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body));
  char first[256];  // the first tokens are out: it is generating
  pollfd p{fd, POLLIN, 0};
  const auto asked_at = Clock::now();
  ASSERT_EQ(::poll(&p, 1, 30000), 1);
  ASSERT_GT(::recv(fd, first, sizeof first, 0), 0);
  EXPECT_LT(Clock::now() - asked_at, std::chrono::seconds(5))
      << "the first bytes came only with the whole generation (about 14 s here)";
  ::close(fd);
  const auto left_at = Clock::now();
  httplib::Client c = server.client();
  json next = long_stream;
  next.erase("stream");
  next["max_tokens"] = 3;
  auto res = c.Post("/v1/chat/completions", next.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_LT(Clock::now() - left_at, std::chrono::seconds(3))
      << "the next request waited for the 1,500 tokens of a client that left";
  res = c.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("event=\"abandoned\""), std::string::npos);
}

// A tiny GGUF in-process as aggregate mode's aggregator: its replies carry log-probabilities,
// so every candidate's score has a ppl term.
TEST(LlamaGateway, ATinyGgufAggregatesWithLogProbabilities) {
  const std::string a = test::temp_path("agg-a.gguf"), agg = test::temp_path("agg.gguf");
  write_tiny_gguf(a, {.seed = 1});
  write_tiny_gguf(agg, {.seed = 4});
  const auto replay = test::serve_replay(bank_data());
  test::write_temp("llama-bank.jsonl", bank_jsonl(bank_data()));
  const std::string config = test::write_temp("llama-agg.yaml", R"(
listen: 127.0.0.1:0
bank: llama-bank.jsonl
request_timeout_ms: 60000
access_log: none
smacs: {k: 2, seed: 1, mode: aggregate, aggregator: tiny-agg, candidates: 3, keep: 2}
pool:
  - {name: tiny-a, type: llama, gguf: agg-a.gguf, context: 256, threads: 1, max_tokens: 6}
  - {name: recorded, base_url: "http://127.0.0.1:)" + std::to_string(replay->port) +
                                                                    R"(/v1"}
aggregators:
  - {name: tiny-agg, type: llama, gguf: agg.gguf, context: 512, threads: 1, max_tokens: 6, slots: 3}
)");
  const test::ServeProcess server(config, "llama-agg.log");
  ASSERT_GT(server.port, 0) << "no port in the log";
  httplib::Client c = server.client();
  const json ask = {{"model", "smacs"},
                    {"messages", {{{"role", "user"}, {"content", "Who wrote the play Hamlet?"}}}}};
  auto res = c.Post("/v1/chat/completions", ask.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json body = json::parse(res->body);
  const json& aggregate = body["smacs"]["aggregate"];
  ASSERT_EQ(aggregate["candidates"].size(), 3u) << body.dump();
  for (const auto& cand : aggregate["candidates"]) {
    EXPECT_EQ(cand["subset"].size(), 2u);
    ASSERT_TRUE(cand["ppl"].is_number()) << cand.dump();
    EXPECT_LE(cand["ppl"].get<double>(), 0.0);  // 1 - perplexity
    EXPECT_NEAR(cand["total"].get<double>(),
                cand["consensus"].get<double>() + cand["ppl"].get<double>(), 1e-9);
  }
  EXPECT_EQ(body["smacs"]["chosen"], "tiny-agg");
  EXPECT_TRUE(body["smacs"]["selected"].size() == 2u);
}

// `prior build` through an in-process model: every answer graded and stored with its tokens,
// and with the cost the config's prices give them.
TEST(LlamaGateway, PriorBuildStoresTokensAndCostFromPrices) {
  const std::string model = test::temp_path("build-model.gguf");
  write_tiny_gguf(model, {.seed = 3});
  const std::string config = test::write_temp("llama-build.yaml", R"(pool:
  - {name: tiny, type: llama, gguf: build-model.gguf, context: 256, threads: 1, max_tokens: 5,
     temperature: 0, price_prompt: 1000, price_completion: 3000}
)");
  std::string labelled;
  for (const char* n : {"0", "1", "2", "3"}) {
    std::string id(1, 'q'), question = "Question number ";
    id += n;
    question += n;
    question += '?';
    labelled += json{{"id", id}, {"task", "trivia"}, {"question", question}, {"gold", "42"}}.dump();
    labelled += '\n';
  }
  const std::string data = test::write_temp("llama-labelled.jsonl", labelled);
  const std::string bank = test::temp_path("llama-built.sqlite");
  std::filesystem::remove(bank);
  const auto r =
      test::run_smacs("prior build --config " + config + " --data " + data + " --out " + bank);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(bank.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "SELECT score, cost, prompt_tokens, completion_tokens FROM results", -1,
                     &q, nullptr);
  int rows = 0;
  while (sqlite3_step(q) == SQLITE_ROW) {
    ++rows;
    const int64_t prompt = sqlite3_column_int64(q, 2), completion = sqlite3_column_int64(q, 3);
    EXPECT_GT(prompt, 5);
    EXPECT_GE(completion, 1);
    EXPECT_LE(completion, 5);
    EXPECT_EQ(sqlite3_column_double(q, 0), 0.0);  // noise never says 42
    EXPECT_NEAR(sqlite3_column_double(q, 1), (prompt * 1000.0 + completion * 3000.0) / 1e6, 1e-6);
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  EXPECT_EQ(rows, 4);
}

TEST(LlamaGateway, ABadGgufPathStopsServeWithOneClearLine) {
  const std::string config = test::write_temp("llama-bad.yaml", R"(
bank: llama-bank.jsonl
pool:
  - {name: broken, type: llama, gguf: does-not-exist.gguf}
)");
  test::write_temp("llama-bank.jsonl", bank_jsonl(bank_data()));
  const auto r = test::run_smacs("serve --config " + config);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("does-not-exist.gguf' does not exist"), std::string::npos) << r.output;
  const auto no_gguf = test::run_smacs(
      "serve --config " +
      test::write_temp("llama-nogguf.yaml",
                       "bank: llama-bank.jsonl\npool:\n  - {name: x, type: llama}\n"));
  EXPECT_EQ(no_gguf.exit_code, 1);
  EXPECT_NE(no_gguf.output.find("pool[0] (x): key 'gguf' (the model file) is required"),
            std::string::npos)
      << no_gguf.output;
}

}  // namespace
}  // namespace smacs
