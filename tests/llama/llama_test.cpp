// The in-process llama.cpp backend and embedder, on random-weight GGUF models the tests write.
#include "llama.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "core/error.h"
#include "embedding/embedder.h"
#include "embedding/embedding_cache.h"
#include "generation/backend.h"
#include "llama/runtime.h"
#include "llama/tiny_gguf.h"
#include "llama_models.h"
#include "test_util.h"

namespace smacs {
namespace {

using nlohmann::json;

using test::small_model;
using test::tiny_model;

json chat(const std::string& text, int max_tokens, double temperature = 0) {
  return {{"model", "x"},
          {"messages", {{{"role", "user"}, {"content", text}}}},
          {"max_tokens", max_tokens},
          {"temperature", temperature}};
}

Deadline in_seconds(int s) { return Clock::now() + std::chrono::seconds(s); }

TEST(LlamaModel, LoadsTokenizesAndAppliesTheChatTemplate) {
  const LlamaModelPtr model = load_gguf_model(tiny_model());
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  EXPECT_EQ(llama_vocab_n_tokens(vocab), 512);
  EXPECT_EQ(llama_model_n_embd(model.get()), 64);
  const auto tokens = tokenize(vocab, "hello world, 42 €", /*special=*/false);
  EXPECT_GE(tokens.size(), 5u);
  EXPECT_EQ(detokenize(vocab, tokens), "hello world, 42 €");
  const std::string prompt = apply_chat_template(model.get(), {{"user", "hi"}});
  EXPECT_EQ(prompt, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  // the template's markers are single control tokens, not spelled out byte by byte
  const auto marked = tokenize(vocab, "<|im_start|>", /*special=*/true);
  ASSERT_EQ(marked.size(), 2u);  // BOS + the marker
  EXPECT_EQ(marked[1], 3);
}

TEST(LlamaModel, UsesTheChatTemplateTheGgufCarries) {
  const std::string llama3 = test::temp_path("llama3-template.gguf");
  write_tiny_gguf(llama3, {.chat_template = "{% for message in messages %}<|start_header_id|>{{ "
                                            "message['role'] }}<|end_header_id|>\n\n{{ "
                                            "message['content'] }}<|eot_id|>{% endfor %}"});
  EXPECT_EQ(apply_chat_template(load_gguf_model(llama3).get(), {{"user", "hi"}}),
            "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  const std::string odd = test::temp_path("odd-template.gguf");
  write_tiny_gguf(odd, {.chat_template = "{{ something llama.cpp does not know }}"});
  EXPECT_EQ(apply_chat_template(load_gguf_model(odd).get(), {{"user", "hi"}}),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");  // ChatML
}

// Before: `smacs llama tiny --layers 100000` (or --embd 100000000) ended in ggml's assertion
// and a gdb backtrace.
TEST(TinyGguf, AModelTooLargeToBeTinyIsRefusedBeforeAnythingIsAllocated) {
  const std::string path = test::temp_path("too_big.gguf");
  for (const TinyModelSpec& spec : {TinyModelSpec{.layers = 100000},
                                    TinyModelSpec{.embd = 100000000, .heads = 4, .kv_heads = 2},
                                    TinyModelSpec{.vocab = 4000000000u}}) {
    const std::string why = test::error_of([&] { write_tiny_gguf(path, spec); });
    EXPECT_NE(why.find("MiB of weights; a tiny model is at most 4096 MiB"), std::string::npos)
        << why;
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(LlamaModel, MissingCorruptAndTruncatedFilesGiveClearErrors) {
  EXPECT_NE(test::error_of([] { load_gguf_model("/nonexistent/m.gguf"); }).find("does not exist"),
            std::string::npos);
  const std::string text = test::write_temp("not-a-model.gguf", "hello, I am not a model\n");
  EXPECT_NE(test::error_of([&] { load_gguf_model(text); }).find("is not a GGUF file"),
            std::string::npos);
  std::ifstream in(tiny_model(), std::ios::binary);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const std::string cut = test::write_temp("truncated.gguf", head);
  const std::string why = test::error_of([&] { load_gguf_model(cut); });
  EXPECT_NE(why.find("cannot load GGUF model '" + cut + "'"), std::string::npos) << why;
  EXPECT_NE(test::error_of([] {
              make_llama_backend({"m", "/nonexistent.gguf"});
            }).find("does not exist"),
            std::string::npos);
}

TEST(LlamaBackend, GeneratesExactlyTheRequestedTokensDeterministically) {
  auto backend =
      make_llama_backend({.name = "tiny", .gguf = tiny_model(), .context = 256, .threads = 2});
  const BackendReply a = backend->complete(chat("Say something.", 12), in_seconds(60));
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->body["usage"]["completion_tokens"], 12);
  EXPECT_GT(a->body["usage"]["prompt_tokens"].get<int>(), 5);
  EXPECT_EQ(a->body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(a->body["model"], "tiny");
  EXPECT_GT(a->body["timings"]["predicted_per_second"].get<double>(), 0);
  EXPECT_FALSE(a->content.empty());
  EXPECT_NO_THROW((void)json(a->content).dump());  // valid UTF-8 even from random byte tokens
  const BackendReply b = backend->complete(chat("Say something.", 12), in_seconds(60));
  EXPECT_EQ(a->content, b->content);  // greedy: same prompt, same reply
  json sampled = chat("Say something.", 12, 1.0);
  sampled["seed"] = 7;
  const BackendReply c = backend->complete(sampled, in_seconds(60));
  const BackendReply d = backend->complete(sampled, in_seconds(60));
  ASSERT_TRUE(c.ok() && d.ok());
  EXPECT_EQ(c->content, d->content);  // sampling is seeded
}

// An aggregator's confidence term needs token log-probabilities: OpenAI's `logprobs.content`,
// each the log-softmax of the model's logits, with the most likely alternatives.
TEST(LlamaBackend, RepliesCarryTokenLogProbabilities) {
  auto backend =
      make_llama_backend({.name = "tiny", .gguf = tiny_model(), .context = 256, .threads = 1});
  json req = chat("Say something.", 8);
  req["logprobs"] = true;
  req["top_logprobs"] = 3;
  const BackendReply r = backend->complete(req, in_seconds(60));
  ASSERT_TRUE(r.ok()) << r.error().message;
  const json& content = r->body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 8u);
  std::string text;
  for (const auto& t : content) {
    const double lp = t["logprob"].get<double>();
    EXPECT_LE(lp, 1e-9);
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    double mass = 0, previous = 1;
    for (const auto& alt : t["top_logprobs"]) {
      const double a = alt["logprob"].get<double>();
      EXPECT_LE(a, previous + 1e-12);  // most likely first
      previous = a;
      mass += std::exp(a);
    }
    EXPECT_LE(mass, 1 + 1e-6);
    // Greedy: the sampled token is the most likely one.
    EXPECT_NEAR(lp, t["top_logprobs"][0]["logprob"].get<double>(), 1e-6);
    text += t["token"].get<std::string>();
  }
  EXPECT_EQ(text, r->content);
  // Each entry's bytes are the token's own: a byte token that is half a character is that
  // byte, not the U+FFFD its text shows (OpenAI's `bytes` join split characters again). The
  // tiny vocabulary has 128 such tokens; this greedy reply's alternatives hold some.
  size_t byte_tokens = 0;
  for (const auto& t : content)
    for (const auto& alt : t["top_logprobs"])
      if (alt["token"] == "\xEF\xBF\xBD") {
        ++byte_tokens;
        ASSERT_EQ(alt["bytes"].size(), 1u) << alt.dump();
        EXPECT_GE(alt["bytes"][0].get<int>(), 0x80);
      }
  EXPECT_GT(byte_tokens, 0u);
  const BackendReply plain = backend->complete(chat("Say something.", 8), in_seconds(60));
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->body["choices"][0].contains("logprobs") &&
               !plain->body["choices"][0]["logprobs"].is_null());
  json bad = chat("Say something.", 8);
  bad["top_logprobs"] = 2;  // without logprobs: true
  EXPECT_FALSE(backend->complete(bad, in_seconds(60)).ok());
}

TEST(LlamaBackend, RejectsBadRequestsAndPromptsLongerThanTheContext) {
  auto backend =
      make_llama_backend({.name = "tiny", .gguf = tiny_model(), .context = 64, .threads = 1});
  const BackendReply too_long = backend->complete(chat(std::string(400, 'x'), 4), in_seconds(30));
  EXPECT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().status, 400);
  // llama.cpp rounds the context up to 256 tokens
  EXPECT_NE(too_long.error().message.find("the context holds 256"), std::string::npos)
      << too_long.error().message;
  const BackendReply no_messages = backend->complete({{"model", "x"}}, in_seconds(30));
  EXPECT_EQ(no_messages.error().status, 400);
  const BackendReply zero = backend->complete(chat("hi", 0), in_seconds(30));
  EXPECT_EQ(zero.error().status, 400);
  json wild = chat("hi", 3);  // out-of-range numbers are clamped, never undefined behaviour
  wild["seed"] = -5;
  wild["top_k"] = 1e300;
  wild["top_p"] = 7;
  wild["temperature"] = -1;
  EXPECT_TRUE(backend->complete(wild, in_seconds(30)).ok());
  wild["max_tokens"] = 1e300;  // more than the context: cut to what fits
  const BackendReply capped = backend->complete(wild, in_seconds(30));
  ASSERT_TRUE(capped.ok()) << capped.error().message;
  EXPECT_LE(capped->body["usage"]["total_tokens"].get<int>(), 256);
  EXPECT_TRUE(backend->complete(chat("hi", 3), in_seconds(30)).ok());  // still serving

  // Stop strings are looked for after every token: 17 of them, or one of 1,025 bytes, is a
  // 400 (a megabyte of them made every token cost a scan of them all); "" is no stop string
  // (it stopped before the first token, with an empty answer).
  json stops = chat("hi", 3);
  stops["stop"] = json::array();
  for (int i = 0; i < 17; ++i) stops["stop"].push_back("stop" + std::to_string(i));
  const BackendReply many = backend->complete(stops, in_seconds(30));
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.error().status, 400);
  EXPECT_NE(many.error().message.find("at most 16"), std::string::npos) << many.error().message;
  stops["stop"] = std::string(1025, 'x');
  const BackendReply long_stop = backend->complete(stops, in_seconds(30));
  ASSERT_FALSE(long_stop.ok());
  EXPECT_EQ(long_stop.error().status, 400);
  // What a text model cannot do is said, not done silently: an image part, n > 1, a forced
  // tool call (each went unseen: the answer came as if asked without it).
  json image = chat("hi", 3);
  image["messages"][0]["content"] = {{{"type", "text"}, {"text", "what is this?"}},
                                     {{"type", "image_url"}, {"image_url", {{"url", "x"}}}}};
  json several = chat("hi", 3);
  several["n"] = 3;
  json forced = chat("hi", 3);
  forced["tools"] = {{{"type", "function"}, {"function", {{"name", "f"}}}}};
  forced["tool_choice"] = "required";
  for (const json& request : {image, several, forced}) {
    const BackendReply r = backend->complete(request, in_seconds(30));
    ASSERT_FALSE(r.ok()) << request.dump();
    EXPECT_EQ(r.error().status, 400) << r.error().message;
  }
  forced["tool_choice"] = "auto";  // offered, not forced: answered in text
  EXPECT_TRUE(backend->complete(forced, in_seconds(30)).ok());
  several["n"] = 1;
  EXPECT_TRUE(backend->complete(several, in_seconds(30)).ok());

  stops["stop"] = "";
  const BackendReply empty_stop = backend->complete(stops, in_seconds(30));
  ASSERT_TRUE(empty_stop.ok()) << empty_stop.error().message;
  EXPECT_EQ(empty_stop->body["usage"]["completion_tokens"], 3);
}

TEST(LlamaBackend, ServesConcurrentRequestsFromItsQueue) {
  auto backend = make_llama_backend(
      {.name = "tiny", .gguf = tiny_model(), .context = 256, .threads = 1, .slots = 2});
  std::vector<std::future<BackendReply>> replies;
  for (int i = 0; i < 6; ++i)
    replies.push_back(std::async(std::launch::async, [&, i] {
      return backend->complete(chat("question " + std::to_string(i), 8), in_seconds(120));
    }));
  std::set<std::string> contents;
  for (auto& f : replies) {
    const BackendReply r = f.get();
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body["usage"]["completion_tokens"], 8);
    contents.insert(r->content);
  }
  EXPECT_GT(contents.size(), 1u);  // each request got its own prompt, not a neighbour's
}

TEST(LlamaBackend, RefusesWhenTheQueueIsFullAndHonoursTheDeadline) {
  auto backend = make_llama_backend(
      {.name = "small", .gguf = small_model(), .context = 2048, .threads = 1, .max_queue = 1});
  // one long request generating, one waiting: the third is refused at once
  auto long_one = std::async(std::launch::async,
                             [&] { return backend->complete(chat("a", 900), in_seconds(60)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto waiting = std::async(std::launch::async,
                            [&] { return backend->complete(chat("b", 4), in_seconds(60)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const BackendReply refused = backend->complete(chat("c", 4), in_seconds(60));
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().status, 429);
  EXPECT_TRUE(long_one.get().ok());
  EXPECT_TRUE(waiting.get().ok());
  // a deadline shorter than the generation stops it
  const auto start = Clock::now();
  const BackendReply late =
      backend->complete(chat("d", 1000), Clock::now() + std::chrono::milliseconds(50));
  EXPECT_FALSE(late.ok());
  EXPECT_NE(late.error().message.find("timed out"), std::string::npos);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(backend->complete(chat("e", 2), in_seconds(30)).ok());  // the slot is free again
}

// A client that left stopped its HTTP backends' calls, but the in-process model generated on
// to its deadline (it had no asynchronous path to hear of it). Now a job asked through
// complete_async stops at the next token once the flag is set, and a queued one is failed
// without waiting for a slot; both as "abandoned", as an HTTP backend's call is.
TEST(LlamaBackend, AClientThatLeavesStopsItsGenerationAndItsQueuedCall) {
  auto backend = make_llama_backend(
      {.name = "small", .gguf = small_model(), .context = 2048, .threads = 1, .max_queue = 4});
  auto left = std::make_shared<std::atomic<bool>>(false);
  std::promise<BackendReply> generating_reply, queued_reply;
  const auto start = Clock::now();
  ASSERT_TRUE(backend->complete_async(
      chat("a", 1500), "", in_seconds(120),
      [&](BackendReply r) { generating_reply.set_value(std::move(r)); }, left));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // generating by now
  ASSERT_TRUE(backend->complete_async(
      chat("b", 4), "", in_seconds(120),
      [&](BackendReply r) { queued_reply.set_value(std::move(r)); }, left));
  left->store(true);
  const auto left_at = Clock::now();
  for (auto* reply : {&generating_reply, &queued_reply}) {
    auto f = reply->get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    const BackendReply r = f.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, FailureKind::kAbandoned) << r.error().message;
  }
  EXPECT_LT(Clock::now() - left_at, std::chrono::seconds(3)) << "not the 1,500 tokens' time";
  // The slot is free again, and an async call whose client stays gets its answer.
  std::promise<BackendReply> answered;
  ASSERT_TRUE(backend->complete_async(
      chat("c", 3), "", in_seconds(60), [&](BackendReply r) { answered.set_value(std::move(r)); },
      nullptr));
  const BackendReply r = answered.get_future().get();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body["usage"]["completion_tokens"], 3);
  EXPECT_GT(r->latency_ms, 0);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(30));
}

// With nobody waiting on a deadline, a call queued behind a long generation still ends at its
// own deadline, not when a slot frees.
TEST(LlamaBackend, AnAsyncCallQueuedPastItsDeadlineEndsAtIt) {
  auto backend = make_llama_backend(
      {.name = "small", .gguf = small_model(), .context = 2048, .threads = 1, .max_queue = 4});
  std::promise<BackendReply> long_reply, queued_reply;
  auto done_with_it = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(backend->complete_async(
      chat("a", 1500), "", Clock::now() + std::chrono::seconds(8),
      [&](BackendReply r) { long_reply.set_value(std::move(r)); }, done_with_it));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto queued_at = Clock::now();
  ASSERT_TRUE(backend->complete_async(
      chat("b", 4), "", queued_at + std::chrono::milliseconds(300),
      [&](BackendReply r) { queued_reply.set_value(std::move(r)); }, nullptr));
  auto f = queued_reply.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const BackendReply r = f.get();
  const auto ended_after = Clock::now() - queued_at;
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().timed_out) << r.error().message;
  EXPECT_LT(ended_after, std::chrono::seconds(4)) << "not when the long call ended (8 s)";
  done_with_it->store(true);
  long_reply.get_future().wait();
}

// A stream request's events, collected; `on_event` says whether the client reads on.
struct StreamedReply {
  std::vector<std::string> events;
  std::promise<BackendReply> reply;
  bool stream(
      Backend& backend, const json& request, Deadline deadline,
      std::function<bool(size_t)> reads_on = [](size_t) { return true; },
      AbandonFlag left = nullptr) {
    return backend.stream_async(
        request, deadline,
        [this, reads_on](std::string piece, std::function<void(bool)> resume) {
          events.push_back(std::move(piece));
          resume(reads_on(events.size()));
        },
        [this](BackendReply r) { reply.set_value(std::move(r)); }, std::move(left));
  }
  std::string content() const {
    std::string text;
    for (const auto& e : events) {
      if (e == "data: [DONE]\n\n") continue;
      const json chunk = json::parse(e.substr(6));
      if (!chunk["choices"].empty()) text += chunk["choices"][0]["delta"].value("content", "");
    }
    return text;
  }
};

// A streamed request to an in-process model was generated whole, then cut into events (the
// Backend default): the client saw nothing until the end and leaving did not stop it. Now its
// text goes out as it is generated, and the generation ends with the client's reading.
TEST(LlamaBackend, AStreamSendsTheTextAsItIsGeneratedAndStopsWithItsReader) {
  auto backend = make_llama_backend({.name = "tiny", .gguf = tiny_model(), .threads = 1});
  const BackendReply whole = backend->complete(chat("hello there", 24), in_seconds(60));
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  json request = chat("hello there", 24);
  request["stream"] = true;
  request["stream_options"] = {{"include_usage", true}};
  StreamedReply streamed;
  ASSERT_TRUE(streamed.stream(*backend, request, in_seconds(60))) << "no streaming path";
  const BackendReply r = streamed.reply.get_future().get();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(streamed.content(), whole->content) << "the same greedy text, in pieces";
  ASSERT_GE(streamed.events.size(), 4u);
  const json last = json::parse(streamed.events[streamed.events.size() - 2].substr(6));
  EXPECT_EQ(last["usage"]["completion_tokens"], 24);
  EXPECT_EQ(streamed.events.back(), "data: [DONE]\n\n");
  // Piece by piece: about a chunk per token (a few held back to complete a character).
  EXPECT_GE(streamed.events.size(), 12u);

  // With logprobs: each token's entry rides on the chunk its text starts in.
  request["logprobs"] = true;
  StreamedReply with_logprobs;
  ASSERT_TRUE(with_logprobs.stream(*backend, request, in_seconds(60)));
  ASSERT_TRUE(with_logprobs.reply.get_future().get().ok());
  size_t entries = 0;
  for (const auto& e : with_logprobs.events)
    if (e != "data: [DONE]\n\n")
      if (const json c = json::parse(e.substr(6)); !c["choices"].empty())
        entries +=
            c["choices"][0].value("logprobs", json{{"content", json::array()}})["content"].size();
  EXPECT_EQ(entries, 24u);

  // A client that stops reading at the fifth event stops a 1,500-token generation there.
  auto small =
      make_llama_backend({.name = "small", .gguf = small_model(), .context = 2048, .threads = 1});
  json long_request = chat("a", 1500);
  long_request["stream"] = true;
  long_request["ignore_eos"] = true;
  StreamedReply left;
  const auto start = Clock::now();
  ASSERT_TRUE(left.stream(*small, long_request, in_seconds(120), [](size_t n) { return n < 5; }));
  auto f = left.reply.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const BackendReply stopped = f.get();
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().kind, FailureKind::kAbandoned) << stopped.error().message;
  EXPECT_EQ(left.events.size(), 5u);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5)) << "not the 1,500 tokens' time";
}

// A stream whose client neither reads nor leaves ends at its deadline.
TEST(LlamaBackend, AStreamNobodyReadsEndsAtItsDeadline) {
  auto backend = make_llama_backend({.name = "tiny", .gguf = tiny_model(), .threads = 1});
  json request = chat("hello", 50);
  request["stream"] = true;
  std::vector<std::function<void(bool)>> never_resumed;
  std::promise<BackendReply> reply;
  const auto start = Clock::now();
  ASSERT_TRUE(backend->stream_async(
      request, Clock::now() + std::chrono::milliseconds(500),
      [&](std::string, std::function<void(bool)> resume) { never_resumed.push_back(resume); },
      [&](BackendReply r) { reply.set_value(std::move(r)); }, nullptr));
  auto f = reply.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const BackendReply r = f.get();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().timed_out) << r.error().message;
  EXPECT_EQ(never_resumed.size(), 1u) << "it waited on the first event";
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

TEST(LlamaEmbedder, GivesUnitVectorsOfTheModelsWidth) {
  auto embedder = make_llama_embedder({.gguf = tiny_model(), .context = 128, .threads = 2});
  const SparseVec a = embedder->embed("What is the capital of France?");
  ASSERT_EQ(a.idx.size(), 64u);
  EXPECT_NEAR(std::sqrt(dot(a, a)), 1.0, 1e-5);
  const SparseVec again = embedder->embed("What is the capital of France?");
  EXPECT_EQ(a.val, again.val);
  const SparseVec b = embedder->embed("Solve 3x + 5 = 11 for x.");
  EXPECT_LT(dot(a, b), 0.9999);
  EXPECT_EQ(embedder->embed(std::string(5000, 'y')).idx.size(), 64u);  // cut to the context
  EXPECT_EQ(embedder->embed("").idx.size(), 64u);
}

// The cache keys a GGUF embedder by its file: a model rewritten in place is embedded anew.
TEST(LlamaEmbedder, CachedVectorsFollowTheFile) {
  const std::string model = test::temp_path("embed-cache.gguf");
  const std::string cache = test::temp_path("embed-cache.sqlite");
  std::filesystem::remove(cache);
  write_tiny_gguf(model, {.seed = 1});
  const LlamaEmbedderConfig config{.gguf = model, .context = 64, .threads = 1};
  const std::vector<std::string> texts = {"What is the capital of France?", "Solve 3x = 9."};
  const auto first = with_embedding_cache(make_llama_embedder(config), cache)->embed_all(texts);
  const auto cached = with_embedding_cache(make_llama_embedder(config), cache)->embed_all(texts);
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(first[i].val, cached[i].val);
  write_tiny_gguf(model, {.seed = 2});  // other weights, same path
  const auto fresh = make_llama_embedder(config)->embed_all(texts);
  const auto after = with_embedding_cache(make_llama_embedder(config), cache)->embed_all(texts);
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(after[i].val, fresh[i].val);
    EXPECT_NE(after[i].val, first[i].val);
  }
}

}  // namespace
}  // namespace smacs
