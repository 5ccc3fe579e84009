// The `llama` backend type: a GGUF model run in this process through llama.cpp.
//
// Each backend owns its model and a FIFO request queue served by `slots` workers, each with
// its own llama.cpp context (KV cache); several backends in one process are independent.
// The prompt is the request's messages through the model's chat template (ChatML when it has
// none). Request fields honoured: max_tokens / max_completion_tokens, temperature, top_p,
// top_k, seed, stop, ignore_eos. Replies carry OpenAI `usage` and llama-server-style `timings`.
// A stream request's text goes out as it is generated (generation/token_stream.h).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>
#include <vector>

#include "api/openai_api.h"
#include "core/error.h"
#include "core/utf8.h"
#include "generation/backend.h"
#include "generation/token_stream.h"
#include "llama.h"
#include "llama/runtime.h"

namespace smacs {

using nlohmann::json;
using StreamSink = Backend::StreamSink;

namespace {

// What one request asks for, with the backend's defaults filled in.
struct Generation {
  std::vector<ChatTurn> turns;
  int max_tokens = 0;
  float temperature = 0, top_p = 1;
  int top_k = 0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // generate max_tokens whatever comes (llama-server's flag; benchmarks)
  bool logprobs = false;    // OpenAI's: each token's log-probability in the reply
  int top_logprobs = 0;     // and the n most likely alternatives (0..20)
};

constexpr size_t kMaxStopStrings = 16, kMaxStopBytes = 1024;

// Throws smacs::Error for a request this backend cannot run.
Generation read_request(const json& body, const LlamaBackendConfig& c) {
  Generation g;
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    throw Error("'messages' must be a non-empty array");
  for (const auto& m : *messages) {
    const auto role = m.find("role"), content = m.find("content");
    if (!m.is_object() || role == m.end() || !role->is_string() || content == m.end())
      throw Error("each message needs a 'role' and a 'content'");
    if (content->is_array())  // a text model: an image or audio part would go unseen
      for (const auto& part : *content)
        if (part.is_object() && part.value("type", "text") != "text")
          throw Error("this model takes text only: a content part of type '" +
                      part.value("type", std::string()) + "'");
    const auto text = content_text(*content);
    if (!text) throw Error("a message's 'content' must be a string or text parts");
    g.turns.push_back({role->get<std::string>(), *text});
  }
  // Clamped before any cast: a client's 1e300 or -5 must not be undefined behaviour.
  auto number = [&](const char* key, double fallback, double lo, double hi) {
    const auto it = body.find(key);
    const double v = it != body.end() && it->is_number() ? it->get<double>() : fallback;
    return std::isfinite(v) ? std::clamp(v, lo, hi) : fallback;
  };
  const double max_tokens = number("max_completion_tokens", c.max_tokens, -1, 1e9);
  g.max_tokens = static_cast<int>(number("max_tokens", max_tokens, -1, 1e9));
  g.temperature = static_cast<float>(number("temperature", c.temperature, 0, 100));
  g.top_p = static_cast<float>(number("top_p", c.top_p, 0, 1));
  g.top_k = static_cast<int>(number("top_k", c.top_k, 0, 1e9));
  g.seed = static_cast<uint64_t>(number("seed", static_cast<double>(c.seed), 0, 1e18));
  if (g.max_tokens < 1) throw Error("'max_tokens' must be at least 1");
  if (number("n", 1, 0, 1e9) != 1) throw Error("'n' must be 1: this model writes one choice");
  // Tools are not offered to the model (it answers in text); a call it must make cannot be.
  if (const auto choice = body.find("tool_choice");
      choice != body.end() && (choice->is_object() || *choice == "required"))
    throw Error("'tool_choice' asks for a tool call: this model answers in text only");
  if (const auto e = body.find("ignore_eos"); e != body.end() && e->is_boolean()) g.ignore_eos = *e;
  if (const auto l = body.find("logprobs"); l != body.end() && l->is_boolean()) g.logprobs = *l;
  g.top_logprobs = static_cast<int>(number("top_logprobs", 0, 0, 20));
  if (g.top_logprobs > 0 && !g.logprobs) throw Error("'top_logprobs' needs 'logprobs': true");
  if (const auto s = body.find("stop"); s != body.end()) {
    const json strings = s->is_string() ? json::array({*s}) : *s;
    if (strings.is_array())  // "" would stop before the first token: no stop string
      for (const auto& x : strings)
        if (x.is_string() && !x.get_ref<const std::string&>().empty()) g.stop.push_back(x);
  }
  // Every stop string is looked for after each token: bounded, so that no request can make
  // each token cost seconds (OpenAI takes at most 4).
  if (g.stop.size() > kMaxStopStrings)
    throw Error("'stop' takes at most " + std::to_string(kMaxStopStrings) + " strings");
  for (const auto& stop : g.stop)
    if (stop.size() > kMaxStopBytes)
      throw Error("a 'stop' string takes at most " + std::to_string(kMaxStopBytes) + " bytes");
  return g;
}

struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};

std::unique_ptr<llama_sampler, SamplerDeleter> make_sampler(const Generation& g) {
  std::unique_ptr<llama_sampler, SamplerDeleter> chain(
      llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (g.temperature <= 0) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (g.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(g.top_k));
  if (g.top_p < 1) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(g.top_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(g.temperature));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(static_cast<uint32_t>(g.seed)));
  return chain;
}

struct Job {
  Job(json r, Deadline d) : request(std::move(r)), deadline(d) {}
  json request;
  Deadline deadline;
  Clock::time_point start = Clock::now();
  std::promise<BackendReply> reply;        // complete(): the caller waits on it
  std::function<void(BackendReply)> done;  // complete_async(): called instead
  std::atomic<bool> abandoned{false};      // complete()'s caller stopped waiting
  AbandonFlag client_left;                 // *_async(): the client it was for left
  StreamSink sink;                         // stream_async(): where the events go
  std::atomic<bool> reader_gone{false};    // stream_async(): the sink could not write
  bool expired() const { return abandoned || left() || Clock::now() >= deadline; }
  bool left() const { return reader_gone || smacs::abandoned(client_left); }
  void finish(BackendReply r) {  // the call's wall time, queued and generating, stamped here
    (r.ok() ? r->latency_ms : r.error().latency_ms) = ms_since(start);
    if (done)
      done(std::move(r));
    else
      reply.set_value(std::move(r));
  }
};

class LlamaBackend final : public Backend {
 public:
  explicit LlamaBackend(const LlamaBackendConfig& c) : config_(c) {
    model_ = load_gguf_model(c.gguf);
    vocab_ = llama_model_get_vocab(model_.get());
    for (size_t i = 0; i < std::max<size_t>(c.slots, 1); ++i) slots_.push_back(new_slot());
    for (auto& s : slots_) workers_.emplace_back([this, slot = s.get()] { serve(*slot); });
    watcher_ = std::thread([this] { watch_queue(); });
  }

  ~LlamaBackend() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    watch_cv_.notify_all();
    for (auto& w : workers_) w.join();
    watcher_.join();
  }

  const std::string& name() const override { return config_.name; }

  BackendReply complete(const json& request, Deadline deadline) override {
    auto job = std::make_shared<Job>(request, deadline);
    auto done = job->reply.get_future();
    if (auto busy = enqueue(job)) return std::move(*busy);
    if (done.wait_until(deadline) != std::future_status::ready) {
      job->abandoned = true;
      return failed(0, "timed out (deadline reached while queued or generating)", job->start);
    }
    return done.get();
  }

  // No thread of the caller's waits, and a client that leaves stops its generation at the next
  // token (llama.cpp's abort callback reads the flag), as it stops an HTTP backend's call.
  bool complete_async(const json& request, std::string_view, Deadline deadline,
                      std::function<void(BackendReply)> done, AbandonFlag abandon) override {
    start_async(std::make_shared<Job>(request, deadline), std::move(done), std::move(abandon));
    return true;
  }

  // The text goes to `sink` as it is generated; the slot waits for each event to be handed to
  // the connection (a client that stops reading holds it once the connection's buffers are
  // full), and stops once its client left, its connection failed or its time ran out.
  bool stream_async(const json& request, Deadline deadline, StreamSink sink,
                    std::function<void(BackendReply)> done, AbandonFlag abandon) override {
    auto job = std::make_shared<Job>(request, deadline);
    job->sink = std::move(sink);
    start_async(std::move(job), std::move(done), std::move(abandon));
    return true;
  }

 private:
  // complete_async's and stream_async's start: the job answers `done` (at once when the queue
  // is full) and stops for a client that left.
  void start_async(std::shared_ptr<Job> job, std::function<void(BackendReply)> done,
                   AbandonFlag abandon) {
    job->done = std::move(done);
    job->client_left = std::move(abandon);
    if (auto busy = enqueue(job)) job->finish(std::move(*busy));
  }

  // Queues the job for a free slot; the refusal when the queue is full.
  std::optional<BackendReply> enqueue(std::shared_ptr<Job> job) {
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= config_.max_queue)
        return failed(429, "busy: " + std::to_string(queue_.size()) + " requests waiting",
                      job->start);
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
    return std::nullopt;
  }

  // Fails queued jobs whose time ran out or whose client left (looked at every 100 ms and at
  // each one's deadline) without waiting for a slot: complete_async's caller has no thread of
  // its own that would stop waiting at the deadline.
  void watch_queue() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      Clock::time_point wake = Clock::now() + std::chrono::milliseconds(100);
      for (const auto& job : queue_) wake = std::min(wake, job->deadline);
      watch_cv_.wait_until(lock, wake);
      std::vector<std::shared_ptr<Job>> gone;
      std::erase_if(queue_, [&](const std::shared_ptr<Job>& job) {
        if (!job->expired()) return false;
        gone.push_back(job);
        return true;
      });
      lock.unlock();
      for (const auto& job : gone) job->finish(stopped(*job, " while queued"));
      lock.lock();
    }
  }

  // Why a job stopped before its answer: its client left, or its time ran out.
  BackendReply stopped(const Job& job, const char* when) const {
    if (job.left())
      return smacs::failure(BackendError{.message = "stopped: the client it was for left",
                                         .kind = FailureKind::kAbandoned,
                                         .latency_ms = ms_since(job.start),
                                         .attempts = 1});
    return failed(0, std::string("timed out") + when, job.start);
  }

  struct Slot {
    LlamaContext context;
    std::atomic<const Job*> running{nullptr};  // read by llama.cpp's abort callback
  };

  std::unique_ptr<Slot> new_slot() {
    auto slot = std::make_unique<Slot>();
    llama_context_params p = llama_context_default_params();
    p.n_ctx = config_.context;
    p.abort_callback = [](void* data) {
      const Job* job = static_cast<Slot*>(data)->running.load();
      return job != nullptr && job->expired();
    };
    p.abort_callback_data = slot.get();
    slot->context = new_context(model_.get(), p, config_.threads,
                                "llama backend '" + config_.name + "' (context " +
                                    std::to_string(config_.context) + " tokens)");
    return slot;
  }

  void serve(Slot& slot) {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      if (job->expired()) {
        job->finish(stopped(*job, " while queued"));
        continue;
      }
      slot.running = job.get();
      BackendReply r = [&]() -> BackendReply {
        try {
          return generate(slot, read_request(job->request, config_), *job);
        } catch (const Error& e) {
          return failed(400, e.what(), Clock::now());
        } catch (const std::exception& e) {  // out of memory, say: never out of this thread
          return failed(500, reason(e), Clock::now());
        }
      }();
      slot.running = nullptr;
      job->finish(std::move(r));
    }
    std::deque<std::shared_ptr<Job>> left;  // fail what is still queued at shutdown
    {
      std::lock_guard lock(mu_);
      left.swap(queue_);
    }
    for (auto& job : left) job->finish(failed(503, "backend stopped", job->start));
  }

  BackendReply generate(Slot& slot, const Generation& g, Job& job);

  BackendReply failed(int status, const std::string& why, Clock::time_point start) const {
    const bool timed_out = status == 0 && why.rfind("timed out", 0) == 0;
    return smacs::failure(BackendError{.status = status,
                                       .message = why,
                                       .timed_out = timed_out,
                                       .latency_ms = ms_since(start),
                                       .attempts = 1});
  }

  LlamaBackendConfig config_;
  LlamaModelPtr model_;
  const llama_vocab* vocab_ = nullptr;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> workers_;
  std::thread watcher_;  // watch_queue()
  std::mutex mu_;
  std::condition_variable cv_;        // a job queued, for the workers
  std::condition_variable watch_cv_;  // stopping, for the queue's watcher
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> served_{0};
};

namespace {

json token_entry(const llama_vocab* vocab, llama_token tok, double logprob) {
  // `bytes` are the token's own, as OpenAI sends them: a character split over several tokens
  // is whole again when their bytes are joined (the text of each alone is repaired for JSON).
  const std::string piece = token_piece(vocab, tok);
  json bytes = json::array();
  for (const unsigned char c : piece) bytes.push_back(c);
  return {{"token", valid_utf8(piece)}, {"logprob", logprob}, {"bytes", bytes}};
}

// The sampled token's log-probability under the model (the log-softmax of the last logits,
// before temperature and truncation, as OpenAI reports it) and the `top` most likely tokens,
// in OpenAI's `logprobs.content[i]` shape.
json logprob_entry(llama_context* ctx, const llama_vocab* vocab, llama_token tok, int top) {
  const float* logits = llama_get_logits_ith(ctx, -1);
  const int n = llama_vocab_n_tokens(vocab);
  const float most = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i] - most));
  const double lse = most + std::log(sum);
  json entry = token_entry(vocab, tok, logits[tok] - lse);
  std::vector<llama_token> best(static_cast<size_t>(n));
  std::iota(best.begin(), best.end(), 0);
  const size_t k = std::min<size_t>(static_cast<size_t>(top), best.size());
  std::partial_sort(best.begin(), best.begin() + static_cast<long>(k), best.end(),
                    [&](llama_token a, llama_token b) { return logits[a] > logits[b]; });
  json alternatives = json::array();
  for (size_t i = 0; i < k; ++i)
    alternatives.push_back(token_entry(vocab, best[i], logits[best[i]] - lse));
  entry["top_logprobs"] = std::move(alternatives);
  return entry;
}

// One event to a streaming job's client, waiting until it went out, the client left or the
// job's time ran out (false then).
bool put_event(Job& job, std::string event) {
  auto went = std::make_shared<std::promise<bool>>();
  auto result = went->get_future();
  job.sink(std::move(event), [went](bool ok) { went->set_value(ok); });
  while (result.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready)
    if (job.expired()) return false;
  if (!result.get()) job.reader_gone = true;
  return !job.reader_gone;
}

}  // namespace

BackendReply LlamaBackend::generate(Slot& slot, const Generation& g, Job& job) {
  const auto start = Clock::now();
  std::string id = "chatcmpl-";
  id += config_.name;
  id += '-';
  id += std::to_string(++served_);
  llama_context* ctx = slot.context.get();
  std::vector<llama_token> prompt =
      tokenize(vocab_, apply_chat_template(model_.get(), g.turns), /*special=*/true);
  const int n_ctx = static_cast<int>(llama_n_ctx(ctx));
  const int n_prompt = static_cast<int>(prompt.size());
  if (n_prompt + 1 > n_ctx)
    return failed(400,
                  "the prompt is " + std::to_string(n_prompt) + " tokens; the context holds " +
                      std::to_string(n_ctx),
                  start);
  const int max_tokens = std::min(g.max_tokens, n_ctx - n_prompt);
  llama_memory_clear(llama_get_memory(ctx), true);
  const int n_batch = static_cast<int>(llama_n_batch(ctx));
  for (int i = 0; i < n_prompt; i += n_batch)
    if (llama_decode(ctx, llama_batch_get_one(prompt.data() + i, std::min(n_batch, n_prompt - i))))
      return job.expired() ? stopped(job, "") : failed(500, "prompt decoding failed", start);
  const double prompt_ms = ms_since(start);
  const auto gen_start = Clock::now();
  auto sampler = make_sampler(g);
  std::string text, finish = "length";
  int n_gen = 0;
  TokenLogprobs logprobs;
  std::optional<TokenStream> stream;
  if (job.sink)
    stream.emplace(id, config_.name, g.stop, g.logprobs,
                   [&job](std::string event) { return put_event(job, std::move(event)); });
  while (n_gen < max_tokens) {
    llama_token tok = llama_sampler_sample(sampler.get(), ctx, -1);
    if (!g.ignore_eos && llama_vocab_is_eog(vocab_, tok)) {
      finish = "stop";
      break;
    }
    ++n_gen;
    if (g.logprobs)
      logprobs.emplace_back(text.size(), logprob_entry(ctx, vocab_, tok, g.top_logprobs));
    text += token_piece(vocab_, tok);
    const auto hit = std::find_if(g.stop.begin(), g.stop.end(),
                                  [&](const std::string& s) { return text.find(s) != text.npos; });
    if (hit != g.stop.end()) {
      text.resize(text.find(*hit));
      finish = "stop";
      break;
    }
    if (stream && !stream->grow(text, logprobs)) return stopped(job, " while streaming");
    if (n_gen == max_tokens) break;
    if (llama_decode(ctx, llama_batch_get_one(&tok, 1)))
      return job.expired() ? stopped(job, "") : failed(500, "decoding failed", start);
  }
  const double gen_ms = ms_since(gen_start);
  Completion r;
  r.attempts = 1;
  r.content = valid_utf8(text);
  const json usage = {{"prompt_tokens", n_prompt},
                      {"completion_tokens", n_gen},
                      {"total_tokens", n_prompt + n_gen}};
  if (stream) {  // sent as it came: the reply has no body
    if (!stream->end(text, logprobs, finish, wants_usage(job.request) ? usage : json()))
      return stopped(job, " while streaming");
    return r;
  }
  r.body = completion_body(id, config_.name, r.content, usage);
  r.body["choices"][0]["finish_reason"] = finish;
  if (g.logprobs) {  // the tokens of the text returned (not those a stop string cut off)
    json content = json::array();
    for (auto& [at, entry] : logprobs)
      if (at < text.size()) content.push_back(std::move(entry));
    r.body["choices"][0]["logprobs"] = {{"content", std::move(content)}};
  }
  r.body["timings"] = {{"prompt_n", n_prompt},
                       {"prompt_ms", prompt_ms},
                       {"predicted_n", n_gen},
                       {"predicted_ms", gen_ms},
                       {"predicted_per_second", gen_ms > 0 ? n_gen * 1000.0 / gen_ms : 0.0}};
  return r;
}

}  // namespace

std::unique_ptr<Backend> make_llama_backend(const LlamaBackendConfig& config) {
  return std::make_unique<LlamaBackend>(config);
}

}  // namespace smacs
