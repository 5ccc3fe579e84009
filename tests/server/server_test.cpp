// The gateway over real HTTP on loopback: replay-serve backends, failure injection, bad input.
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "core/error.h"
#include "data/load.h"
#include "eval/evaluate.h"
#include "eval/folds.h"
#include "gateway_fixture.h"
#include "server/config.h"
#include "server/gateway_server.h"
#include "server/replay_server.h"
#include "test_util.h"

using namespace smacs;
using nlohmann::json;

using namespace smacs::test;

TEST(Gateway, AccuracyThroughHttpEqualsEval) {
  auto replay = start_replay();
  std::vector<std::pair<std::string, std::string>> pool;
  for (const auto& m : kOpenPool) pool.emplace_back(m, url(replay->port));
  GatewayFixture gw(pool);
  const Dataset test = load_file(rb("test"));
  auto client = gw.client();
  double sum = 0;
  size_t n = 0, failed = 0;
  for (const auto& r : test.records) {
    bool any = false;
    for (const auto& m : kOpenPool) any |= !is_missing(r.scores[test.model_index(m)]);
    if (!any) continue;  // eval leaves these out as well
    auto res =
        client.Post("/v1/chat/completions", chat("smacs", r.question).dump(), "application/json");
    ASSERT_TRUE(res);
    ++n;
    if (res->status != 200) {
      ++failed;
      continue;  // every selected backend failed: a 0, as in eval
    }
    const json body = json::parse(res->body);
    const std::string chosen = body["smacs"]["chosen"];
    EXPECT_EQ(body["choices"][0]["message"]["content"], r.responses[test.model_index(chosen)]);
    sum += r.scores[test.model_index(chosen)];
  }
  const PriorBank bank = build_bank(load_file(rb("train")));
  const SmacsParams p = gw.config.params;
  const EvalReport rep =
      run_eval(prepare_eval(bank, test, kOpenPool, {}, p.rps.retrieval_depth()), p);
  EXPECT_EQ(n, rep.tasks.front().n);
  EXPECT_NEAR(100.0 * sum / static_cast<double>(n), rep.tasks.front().accuracy.at("smacs"), 1e-9);
  EXPECT_LT(failed, 3u);
}

TEST(Gateway, BadInputGetsOpenAiErrors) {
  auto replay = start_replay();
  GatewayFixture gw({{kOpenPool[0], url(replay->port)}}, 5000, 5000, {"secret"});
  auto c = gw.client();
  auto post = [&](const std::string& body, bool auth = true) {
    httplib::Headers h;
    if (auth) h.emplace("Authorization", "Bearer secret");
    return c.Post("/v1/chat/completions", h, body, "application/json");
  };
  auto expect_error = [](const httplib::Result& res, int status, const std::string& param) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status) << res->body;
    const json j = json::parse(res->body);
    ASSERT_TRUE(j.contains("error")) << res->body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    if (!param.empty()) {
      EXPECT_EQ(j["error"]["param"], param);
    }
  };
  expect_error(post("{not json"), 400, "");
  expect_error(post(R"({"messages":[{"role":"user","content":"x"}]})"), 400, "model");
  expect_error(post(R"({"model":"smacs","messages":"hi"})"), 400, "messages");
  expect_error(post(R"({"model":"smacs","messages":[{"role":"robot","content":"x"}]})"), 400,
               "messages[0].role");
  expect_error(post(R"({"model":"smacs","messages":[{"role":"user","content":5}]})"), 400,
               "messages[0].content");
  expect_error(
      post(R"({"model":"smacs","messages":[{"role":"user","content":"x"}],"stream":"yes"})"), 400,
      "stream");
  expect_error(post(chat("gpt-5", "x").dump()), 404, "model");
  expect_error(post(chat("smacs", std::string(100000, 'a')).dump()), 413, "");
  expect_error(post(chat("smacs", "x").dump(), /*auth=*/false), 401, "");
  expect_error(c.Get("/v1/models"), 401, "");
  expect_error(c.Get("/v1/nothing"), 404, "");
  auto health = c.Get("/health");  // open: for load balancers
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(Gateway, FailureInjectionAnswersWithinTheDeadline) {
  auto good = start_replay();
  auto slow = start_replay(/*latency_ms=*/3000);
  // A backend that answers 200 with garbage.
  auto garbage_server = std::make_unique<httplib::Server>();
  garbage_server->Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html>definitely not json", "text/html");
  });
  const int garbage_port = garbage_server->bind_to_any_port("127.0.0.1");
  std::thread garbage_thread([&] { garbage_server->listen_after_bind(); });
  // Port 1 on loopback: nothing listens there (connection refused).
  GatewayFixture gw({{kOpenPool[0], url(good->port)},
                     {kOpenPool[1], "http://127.0.0.1:1/v1"},
                     {kOpenPool[2], url(slow->port)},
                     {kOpenPool[3], url(garbage_port)}},
                    /*timeout_ms=*/1500, /*backend_timeout_ms=*/500);
  const Dataset test = load_file(rb("test"));
  auto c = gw.client();
  int answered = 0, errored = 0;
  for (size_t i = 0; i < 12; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto res = c.Post("/v1/chat/completions", chat("smacs", test.records[i].question).dump(),
                      "application/json");
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(res);
    EXPECT_LT(secs, 1.5 + 0.5) << "request outlived its deadline";
    const json j = json::parse(res->body);
    if (res->status == 200) {
      ++answered;
      EXPECT_FALSE(j["smacs"]["chosen"].get<std::string>().empty());
    } else {
      ++errored;
      EXPECT_EQ(res->status, 502);
      EXPECT_TRUE(j["error"]["message"].is_string());
    }
  }
  EXPECT_EQ(answered + errored, 12);
  EXPECT_GT(answered, 0);
  // Metrics saw the failures.
  const std::string metrics = c.Get("/metrics")->body;
  EXPECT_NE(metrics.find("outcome=\"error\""), std::string::npos);
  EXPECT_NE(metrics.find("smacs_model_events_total{event=\"chosen\""), std::string::npos);
  garbage_server->stop();
  garbage_thread.join();
}

TEST(Gateway, StreamingAndPassThrough) {
  auto replay = start_replay();
  std::vector<std::pair<std::string, std::string>> pool;
  for (const auto& m : kOpenPool) pool.emplace_back(m, url(replay->port));
  GatewayFixture gw(pool);
  const Dataset test = load_file(rb("test"));
  auto c = gw.client();
  json req = chat("smacs", test.records[1].question);
  req["stream"] = true;
  auto res = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  EXPECT_NE(res->body.find("\"smacs\":"), std::string::npos);
  EXPECT_NE(res->body.find("data: [DONE]"), std::string::npos);
  auto direct = c.Post("/v1/chat/completions", chat(kOpenPool[0], test.records[1].question).dump(),
                       "application/json");
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->status, 200);
  EXPECT_EQ(json::parse(direct->body)["choices"][0]["message"]["content"],
            test.records[1].responses[test.model_index(kOpenPool[0])]);
}

// An upstream that answers "A" and reports fixed token counts, as a priced API would.
struct MeteredUpstream {
  httplib::Server server;
  std::optional<test::Listening> listening;
  int port = 0;
  MeteredUpstream() {
    server.set_keep_alive_max_count(1);
    server.Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(
          completion_body(
              "m", "x", "A",
              {{"prompt_tokens", 1000}, {"completion_tokens", 10}, {"total_tokens", 1010}})
              .dump(),
          "application/json");
    });
    port = listening.emplace(server).port;
  }
};

TEST(Gateway, TracePricesEachAnswerAndMetricsSumTheCost) {
  MeteredUpstream up;
  // Three models selected (k = 3 by default): two priced, one without a price.
  GatewayFixture gw(
      {{kOpenPool[0], url(up.port)}, {kOpenPool[1], url(up.port)}, {kOpenPool[2], url(up.port)}},
      5000, 5000, {}, {{.prompt = 2.0, .completion = 100.0}, {.prompt = 0.5, .completion = 1.5}});
  auto c = gw.client();
  double expected_total = 0;
  for (int i = 0; i < 2; ++i) {
    auto res = c.Post("/v1/chat/completions", chat("smacs", "Which gas do plants take in?").dump(),
                      "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json trace = json::parse(res->body)["smacs"];
    ASSERT_TRUE(trace.contains("cost_usd")) << trace.dump();
    const json& by_model = trace["cost_usd"]["by_model"];
    EXPECT_NEAR(by_model[kOpenPool[0]].get<double>(), (1000 * 2.0 + 10 * 100.0) / 1e6, 1e-12);
    EXPECT_NEAR(by_model[kOpenPool[1]].get<double>(), (1000 * 0.5 + 10 * 1.5) / 1e6, 1e-12);
    EXPECT_FALSE(by_model.contains(kOpenPool[2]));  // no price: no cost claimed
    EXPECT_NEAR(trace["cost_usd"]["total"].get<double>(), 0.003 + 0.000515, 1e-12);
    expected_total += 0.003;
  }
  const std::string metrics = c.Get("/metrics")->body;
  const std::string line = "smacs_backend_cost_usd_total{model=\"" + kOpenPool[0] + "\"} ";
  const auto at = metrics.find(line);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_NEAR(std::stod(metrics.substr(at + line.size())), expected_total, 1e-9);
}

TEST(ReplayServe, DuplicatePromptAnswersFromTheRecordWithAResult) {
  // Bug: a prompt recorded twice, first without results, made replay-serve answer 404.
  const auto path = test::write_temp(
      "dup.jsonl",
      R"({"id":"a","task":"t","question":"same?","results":{"m":{"score":null}}})"
      "\n"
      R"({"id":"b","task":"t","question":"same?","results":{"m":{"score":1,"response":"B"}}})"
      "\n");
  const auto replay = test::serve_replay(load_file(path));
  httplib::Client c("127.0.0.1", replay->port);
  auto res = c.Post("/v1/chat/completions", chat("m", "same?").dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["choices"][0]["message"]["content"], "B");
  auto unknown =
      c.Post("/v1/chat/completions", chat("m", "never asked").dump(), "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(json::parse(unknown->body)["error"]["code"], "unknown_prompt");
}

// The gateway over real responses: 200 MATH-L5 questions through `serve` over `replay-serve`
// (bank = the other questions) choose the same answers as `eval` on the same split.
TEST(Gateway, ZeroEvalMathThroughHttpEqualsEval) {
  const Dataset all = load_file(test::data_file("zeroeval/math-l5"));
  const std::vector<std::string> open_pool = {"Llama-3.1-405B-Inst@sambanova",
                                              "Mistral-Large-2",
                                              "deepseek-v2.5-0908",
                                              "Meta-Llama-3.1-70B-Instruct",
                                              "Qwen2-72B-Instruct",
                                              "Athene-70B",
                                              "gemma-2-9b-it"};
  Dataset bank_data{all.models, {}}, test{all.models, {}};
  for (const auto& r : all.records)
    (test.records.size() < 200 && fold_of(r.id, 3) == 0 ? test : bank_data).records.push_back(r);
  ASSERT_EQ(test.records.size(), 200u);
  auto replay = test::serve_replay(all);
  std::vector<std::pair<std::string, std::string>> pool;
  for (const auto& m : open_pool) pool.emplace_back(m, url(replay->port));
  GatewayFixture gw(pool, 5000, 5000, {}, {}, {}, &bank_data);
  auto client = gw.client();
  double sum = 0;
  for (const auto& r : test.records) {
    auto res =
        client.Post("/v1/chat/completions", chat("smacs", r.question).dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json body = json::parse(res->body);
    EXPECT_EQ(body["smacs"]["answer_kind"], "math");
    const std::string chosen = body["smacs"]["chosen"];
    EXPECT_EQ(body["choices"][0]["message"]["content"], r.responses[test.model_index(chosen)]);
    sum += r.scores[test.model_index(chosen)];
  }
  const PriorBank bank = build_bank(bank_data);
  const SmacsParams p = gw.config.params;
  const EvalReport rep =
      run_eval(prepare_eval(bank, test, open_pool, {}, p.rps.retrieval_depth()), p);
  ASSERT_EQ(rep.tasks.front().n, 200u);
  EXPECT_NEAR(sum / 2.0, rep.tasks.front().accuracy.at("smacs"), 1e-9);
  EXPECT_TRUE(rep.tasks.front().posterior_used);
}

TEST(Gateway, OperabilityDetails) {
  auto replay = start_replay();
  std::string log_path = test::temp_path("access.log");
  std::filesystem::remove(log_path);
  GatewayFixture gw({{kOpenPool[0], url(replay->port)}}, 5000, 5000, {"k1", "k2"}, {},
                    [&](ServerConfig& c) {
                      c.cors_origins = {"https://app.example"};
                      c.access_log = log_path;
                    });
  auto c = gw.client();
  const httplib::Headers k1 = {{"Authorization", "bearer k1"}};  // lower-case scheme (RFC 7235)
  const httplib::Headers k2 = {{"Authorization", "BEARER k2"}};
  // 405 with Allow on a known route.
  auto res = c.Get("/v1/chat/completions", k1);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "POST");
  // /admin/reload with no body.
  res = c.Post("/admin/reload", k1, "", "");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  // CORS: preflight answered, allowed origin echoed, others not.
  res = c.Options("/v1/chat/completions", {{"Origin", "https://app.example"},
                                           {"Access-Control-Request-Method", "POST"},
                                           {"Access-Control-Request-Headers", "authorization"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 204);
  EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(res->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  res = c.Get("/health", {{"Origin", "https://evil.example"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "");
  // A client's own x-request-id is echoed; feedback only from the key that asked.
  const Dataset test = load_file(rb("test"));
  httplib::Headers h = k1;
  h.emplace("x-request-id", "my-trace-42");
  res = c.Post("/v1/chat/completions", h, chat("smacs", test.records[0].question).dump(),
               "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("x-request-id"), "my-trace-42");
  const std::string id = json::parse(res->body)["id"];
  EXPECT_EQ(id.size(), std::string("chatcmpl-").size() + 32);
  const std::string fb = json{{"id", id}, {"score", 1}}.dump();
  res = c.Post("/v1/feedback", k2, fb, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404) << "another key's answer is not there to be scored";
  res = c.Post("/v1/feedback", k1, fb, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  // One access-log line per request, with the id and the chosen model.
  std::ifstream in(log_path);
  std::string line, chat_line;
  size_t lines = 0;
  while (std::getline(in, line))
    if (++lines; line.find(id) != std::string::npos) chat_line = line;
  EXPECT_GE(lines, 6u);
  ASSERT_FALSE(chat_line.empty());
  const json entry = json::parse(chat_line);
  EXPECT_EQ(entry["status"], 200);
  EXPECT_EQ(entry["chosen"], kOpenPool[0]);
  EXPECT_TRUE(entry["latency_ms"].is_number());
}

TEST(Gateway, AdminEndpointsMayNotRunOpenOnTheNetwork) {
  ServerConfig config;
  config.host = "0.0.0.0";
  config.access_log = "none";
  Metrics metrics;
  Gateway gateway(build_bank(load_file(rb("train"))), config.params, {}, metrics);
  EXPECT_NE(
      test::error_of([&] { GatewayServer s(config, gateway, metrics); }).find("allow_open_admin"),
      std::string::npos);
  config.api_keys = {"k"};
  EXPECT_EQ(test::error_of([&] { GatewayServer s(config, gateway, metrics); }), "(no error)");
  config.api_keys.clear();
  config.allow_open_admin = true;
  EXPECT_EQ(test::error_of([&] { GatewayServer s(config, gateway, metrics); }), "(no error)");
}

// SIGTERM while a keep-alive client is mid-request: the request is answered, the connection
// closed, and the process exits (it used to keep serving pooled connections).
// A log left by an earlier process (pids wrap, and the test folder is named by pid) names a
// port nobody listens on: the helpers must wait for this server's own line.
TEST(ReplayServe, AStaleLogIsNotTakenForTheServersPort) {
  const std::string log = test::write_temp(
      "replay-stale.log", "smacs replay-serve: listening on http://127.0.0.1:1/v1\n");
  const pid_t pid = test::spawn_smacs("replay-serve --port 0 --data " + rb("test"), log);
  const int port = test::wait_for_port(log);
  EXPECT_NE(port, 1) << "read the stale line";
  EXPECT_GT(port, 0);
  auto health = httplib::Client("127.0.0.1", port).Get("/health");
  EXPECT_TRUE(health && health->status == 200);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
}

TEST(ReplayServe, SigtermDrainsAndExits) {
  const std::string log = test::temp_path("replay-sigterm.log");
  const pid_t pid =
      test::spawn_smacs("replay-serve --port 0 --latency-ms 800 --data " + rb("test"), log);
  const int port = test::wait_for_port(log);
  ASSERT_GT(port, 0);
  httplib::Client c("127.0.0.1", port);
  c.set_keep_alive(true);
  const Dataset test = load_file(rb("test"));
  ASSERT_TRUE(c.Get("/health"));  // the keep-alive connection is open
  std::thread killer([&] {
    ::usleep(200 * 1000);
    ::kill(pid, SIGTERM);
  });
  auto res = c.Post("/v1/chat/completions", chat(kOpenPool[0], test.records[1].question).dump(),
                    "application/json");
  killer.join();
  ASSERT_TRUE(res) << "the request in flight was cut off";
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Connection"), "close");
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 100 && done == 0; ++i, ::usleep(100 * 1000))
    done = ::waitpid(pid, &status, WNOHANG);
  EXPECT_EQ(done, pid) << "still running 10 s after SIGTERM";
  if (done != pid) ::kill(pid, SIGKILL), ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
