// Aggregate mode against a misbehaving aggregator (the gateway's third hostile run): replies of
// 10 MB, empty and null replies, feedback on an aggregated answer, a pool model named as the
// aggregator, a client that leaves before the aggregator is asked. The aggregator is
// tests/fake_backend in the matching mode.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "aggregate_fixture.h"
#include "api/openai_api.h"
#include "fake_backend.h"
#include "generation/backend.h"
#include "raw_socket.h"

namespace smacs::test {
namespace {

double ms_since_start(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Before: 8 replies of ~10 MB were scored on the shared backend I/O thread (~8 s; a concurrent
// pass-through stalled 14.9 s) and the request ran 23.8 s past its 20 s deadline.
TEST(AggregateHostile, HugeRepliesNeitherStallOtherRequestsNorOutliveTheDeadline) {
  FakeBackend aggregator;
  constexpr int kTimeoutMs = 8000;
  AggregateGateway g(aggregator.url(), "huge-words:10", false, kTimeoutMs);
  std::atomic<bool> done{false};
  double worst_ms = 0;
  int passed = 0;
  std::thread other([&] {  // pass-through requests on the same gateway meanwhile
    auto client = g.gw->client();
    while (!done) {
      const auto start = std::chrono::steady_clock::now();
      auto r = client.Post("/v1/chat/completions",
                           chat(kZeroEvalOpen[0], math_l5().records[1].question).dump(),
                           "application/json");
      worst_ms = std::max(worst_ms, ms_since_start(start));
      if (r && r->status == 200) ++passed;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const auto start = std::chrono::steady_clock::now();
  const json r = g.ask(math_l5().records[3].question);
  const double wall_ms = ms_since_start(start);
  done = true;
  other.join();
  const json& a = r["smacs"]["aggregate"];
  ASSERT_TRUE(a.is_object()) << r.dump().substr(0, 2000);
  ASSERT_EQ(a["candidates"].size(), 8u);
  for (const auto& c : a["candidates"])
    EXPECT_NE(c.value("error", "").find("max_candidate_bytes"), std::string::npos) << c.dump();
  EXPECT_TRUE(a["fallback"].is_string()) << "no candidate was usable: the references' answer";
  EXPECT_NE(r["smacs"]["chosen"], "agg");
  EXPECT_LT(wall_ms, kTimeoutMs + 500) << "the request outlived its deadline";
  EXPECT_GT(passed, 0);
  EXPECT_LT(worst_ms, 1500) << "a pass-through stalled behind the aggregator's replies";
}

BackendReply complete_async(Backend& b, const json& request, int timeout_ms) {
  std::promise<BackendReply> done;
  auto reply = done.get_future();
  const std::string fields = fields_for_upstream(request);
  EXPECT_TRUE(b.complete_async(
      request, fields, Clock::now() + std::chrono::milliseconds(timeout_ms),
      [&done](BackendReply r) { done.set_value(std::move(r)); }, nullptr));
  return reply.get();
}

// Before: a dedicated aggregator's 10 MB reply was read, parsed and copied whole (fresh memory
// several times its size, on every request) before it was refused as over max_candidate_bytes.
// Now the read stops once the text is known to be longer: one attempt, no retry, and the next
// call (on a fresh connection) alike.
TEST(AggregateHostile, AReplyLongerThanACandidateMayBeIsReadNoFurther) {
  FakeBackend aggregator;
  auto capped = make_http_backend({.name = "agg",
                                   .base_url = aggregator.url(),
                                   .model = "huge-words:10",
                                   .retries = 2,
                                   .max_content_bytes = 1 << 20});
  const json request = {{"model", "agg"},
                        {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
  for (int call = 1; call <= 2; ++call) {
    const BackendReply r = complete_async(*capped, request, 20000);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, FailureKind::kTooLarge) << r.error().message;
    EXPECT_EQ(r.error().attempts, 1);  // the same request would get the same reply
    EXPECT_EQ(aggregator.calls("huge-words:10"), call);
    const std::string& m = r.error().message;
    const auto at = m.find("read no further than its first ");
    ASSERT_NE(at, std::string::npos) << m;
    const long read = std::stol(m.substr(at + 31));
    EXPECT_GT(read, 1 << 20);
    EXPECT_LT(read, 2 << 20) << "the reply was read on well past the limit";
  }
  // Without a limit (a pool model) the same reply is read whole, as before.
  auto plain = make_http_backend(
      {.name = "m", .base_url = aggregator.url(), .model = "huge-words:10", .retries = 0});
  const BackendReply whole = complete_async(*plain, request, 20000);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_GE(whole->content.size(), 10u << 20);
}

// Scoring candidates that are within the bound runs on a worker too, and a request whose
// deadline passed while its aggregator wrote answers from its references in time.
TEST(AggregateHostile, ADeadlineThatPassesWhileTheAggregatorWritesIsHonoured) {
  FakeBackend aggregator;
  constexpr int kTimeoutMs = 1500;
  AggregateGateway g(aggregator.url(), "vote-aggregator:5000", false, kTimeoutMs);
  const auto start = std::chrono::steady_clock::now();
  const json r = g.ask(math_l5().records[3].question);
  EXPECT_LT(ms_since_start(start), kTimeoutMs + 500);
  const json& a = r["smacs"]["aggregate"];
  ASSERT_TRUE(a.is_object()) << r.dump();
  EXPECT_TRUE(a["fallback"].is_string());
  EXPECT_NE(r["choices"][0]["message"]["content"], "");
}

// Before: all 8 replies empty (or null) gave a 200 with an empty answer and fallback null.
TEST(AggregateHostile, EmptyAndNullRepliesAreFailedCallsAndTheReferencesAnswer) {
  for (const std::string mode : {"empty", "null-content"}) {
    FakeBackend aggregator;
    AggregateGateway g(aggregator.url(), mode, false);
    const json r = g.ask(math_l5().records[3].question);
    const json& a = r["smacs"]["aggregate"];
    ASSERT_TRUE(a.is_object()) << r.dump();
    EXPECT_EQ(aggregator.calls(mode), 8) << mode;
    EXPECT_TRUE(a["fallback"].is_string()) << mode << ": " << a.dump();
    EXPECT_TRUE(a["chosen"].is_null()) << mode;
    EXPECT_EQ(a["candidates"][0]["error"], "the reply is empty") << a.dump();
    EXPECT_NE(r["smacs"]["chosen"], "agg");
    const json& content = r["choices"][0]["message"]["content"];
    ASSERT_TRUE(content.is_string()) << r.dump();
    EXPECT_FALSE(content.get<std::string>().empty()) << mode;
  }
}

// Before: every feedback on an aggregated answer was a 400 ('agg' did not answer).
TEST(AggregateHostile, FeedbackOnAnAggregatedAnswerIsRecordedInAColumnOfItsOwn) {
  FakeBackend aggregator;
  AggregateGateway g(aggregator.url(), "vote-aggregator", false);
  auto feedback = [&](const std::string& id, const std::string& model) {
    json body = {{"id", id}, {"score", 1.0}};
    if (!model.empty()) body["model"] = model;
    auto r = g.gw->client().Post("/v1/feedback", body.dump(), "application/json");
    EXPECT_TRUE(r);
    return r ? std::pair{r->status, json::parse(r->body)} : std::pair{0, json()};
  };
  std::vector<json> answers;
  for (size_t i = 3; i < 6; ++i) answers.push_back(g.ask(math_l5().records[i].question));
  for (const auto& r : answers) ASSERT_EQ(r["smacs"]["chosen"], "agg") << r.dump();
  auto [s1, b1] = feedback(answers[0]["id"], "");  // the answer the user saw
  EXPECT_EQ(s1, 200) << b1.dump();
  EXPECT_EQ(b1["model"], "aggregate:agg");
  auto [s2, b2] = feedback(answers[1]["id"], "agg");  // naming the aggregator: the same
  EXPECT_EQ(s2, 200) << b2.dump();
  EXPECT_EQ(b2["model"], "aggregate:agg");
  // A reference that answered scores its own reply.
  const std::string reference = answers[2]["smacs"]["aggregate"]["references"][0]["model"];
  auto [s3, b3] = feedback(answers[2]["id"], reference);
  EXPECT_EQ(s3, 200) << b3.dump();
  EXPECT_EQ(b3["model"], reference);
  const auto view = g.gw->gateway->view();
  std::shared_lock lock(view->mutex);
  EXPECT_GE(view->bank.data.model_index("aggregate:agg"), 0);
  EXPECT_LT(view->bank.data.model_index("agg"), 0) << "no column for the aggregator's own name";
}

// Before: a pool model named as the aggregator was asked as a reference too (6 of 6 requests).
TEST(AggregateHostile, APoolModelNamedAsTheAggregatorIsNeverAReference) {
  std::string top;  // a model select mode picks for these questions: the one most worth testing
  {
    FakeBackend aggregator;
    AggregateGateway plain(aggregator.url(), "vote-aggregator", false);
    top = plain.ask(math_l5().records[3].question)["smacs"]["selected"][0];
  }
  FakeBackend unused;
  AggregateGateway g(unused.url(), "vote-aggregator", false, 10000, [&](ServerConfig& c) {
    c.aggregators.clear();
    c.aggregator = top;
  });
  for (size_t i = 3; i < 9; ++i) {
    const json r = g.ask(math_l5().records[i].question);
    const json& selected = r["smacs"]["selected"];
    EXPECT_EQ(std::find(selected.begin(), selected.end(), json(top)), selected.end())
        << top << " was asked as a reference: " << selected.dump();
    EXPECT_EQ(r["smacs"]["aggregate"]["aggregator"], top);
  }
}

// Before: a client that disconnected still had all 15 calls made for it, and the access log
// said 200.
TEST(AggregateHostile, AClientThatLeavesGetsNoAggregatorCallsAndIsLoggedAs499) {
  FakeBackend aggregator;
  AggregateGateway g(aggregator.url(), "vote-aggregator", false, 10000, {}, 1500);
  const int fd = connect_to(g.gw->running->port);
  ASSERT_GE(fd, 0);
  const std::string body = chat("smacs", math_l5().records[3].question).dump();
  ASSERT_TRUE(send_all(fd,
                       "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                       "application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::close(fd);  // gone while the references (1.5 s each) think
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(aggregator.calls("vote-aggregator"), 0) << "8 calls made for nobody";
  EXPECT_NE(g.gw->metrics.render().find("code=\"499\""), std::string::npos)
      << g.gw->metrics.render().substr(0, 3000);
}

}  // namespace
}  // namespace smacs::test
