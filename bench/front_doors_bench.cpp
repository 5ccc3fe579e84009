// The CPU a door adds to a pass-through (`smacs_bench --benchmark_filter=Door`): the client's
// request to the ChatRequest sent upstream, and the backend's reply to the bytes the client
// gets, for /v1/chat/completions (the reply relayed as it came), /v1/responses (also stored
// for previous_response_id) and /v1/messages. No I/O: what bench/front_doors.sh measures end
// to end, taken apart.
#include <benchmark/benchmark.h>

#include "api/messages_api.h"
#include "api/responses_api.h"
#include "server/http_util.h"
#include "server/response_store.h"

using namespace smacs;
using nlohmann::json;

namespace {

const std::string kQuestion =
    "Which of these would best help a student find the mass of a rock? A) a ruler B) a balance "
    "C) a thermometer D) a graduated cylinder";
const std::string kReply =
    json{
        {"id", "replay-1"},
        {"object", "chat.completion"},
        {"created", 1},
        {"model", "m"},
        {"choices", json::array({{{"index", 0},
                                  {"message", {{"role", "assistant"}, {"content", "B) a balance"}}},
                                  {"finish_reason", "stop"}}})},
        {"usage", {{"prompt_tokens", 40}, {"completion_tokens", 4}, {"total_tokens", 44}}}}
        .dump();

void DoorChat(benchmark::State& state) {
  const std::string body =
      json{{"model", "m"}, {"messages", {{{"role", "user"}, {"content", kQuestion}}}}}.dump();
  for (auto _ : state) {
    auto chat = parse_chat_request(body);
    const json reply = parse_json_body(kReply);  // read_completion parses every reply
    std::string out = kReply;                    // relayed as it came
    benchmark::DoNotOptimize(chat);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(DoorChat);

void DoorResponses(benchmark::State& state) {
  const std::string body = json{{"model", "m"}, {"input", kQuestion}}.dump();
  ResponseStore store(64 << 20);
  size_t n = 0;
  for (auto _ : state) {
    auto parsed = parse_responses_request(body);
    auto messages = items_to_messages(parsed->instructions, parsed->input_items, 0);
    json chat_body = responses_chat_body(*parsed, std::move(*messages));
    auto chat = chat_request_from_json(chat_body, responses_chat_text(*parsed, chat_body));
    const json reply = parse_json_body(kReply);
    auto translator = make_responses_stream("resp_x", "m", parsed->echo, nullptr, false);
    feed_completion(*translator, reply);
    std::string out = dump_safe(translator->object());
    store.put("resp_" + std::to_string(n++ % 1000), "", {parsed->input_items_text, out});
    benchmark::DoNotOptimize(chat);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(DoorResponses);

void DoorMessages(benchmark::State& state) {
  const std::string body = json{{"model", "m"},
                                {"max_tokens", 256},
                                {"messages", {{{"role", "user"}, {"content", kQuestion}}}}}
                               .dump();
  for (auto _ : state) {
    auto parsed = parse_messages_request(body);
    auto chat = chat_request_from_json(std::move(parsed->chat), parsed->chat_text);
    const json reply = parse_json_body(kReply);
    auto translator = make_messages_stream("msg_x", "m", nullptr, false);
    feed_completion(*translator, reply);
    std::string out = dump_safe(translator->object());
    benchmark::DoNotOptimize(chat);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(DoorMessages);

}  // namespace

namespace {

// The store alone, filling up to its bound and evicting: one put per response.
void StorePut(benchmark::State& state) {
  ResponseStore store(64 << 20);
  const std::string input(200, 'i'), response(1100, 'r');
  size_t n = 0;
  for (auto _ : state) store.put("resp_" + std::to_string(n++), "", {input, response});
}
BENCHMARK(StorePut)->Iterations(200000);

}  // namespace
