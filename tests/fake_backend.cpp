#include "fake_backend.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "answers/extract.h"
#include "test_label.h"

namespace smacs::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep)
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

std::string completion(const std::string& content, const std::string& model) {
  // dump() would refuse a Latin-1 byte: the body is put together by hand around it.
  const std::string marker = "@@CONTENT@@";
  std::string body =
      json{{"id", "chatcmpl-fake"},
           {"object", "chat.completion"},
           {"created", 0},
           {"model", model},
           {"choices", json::array({{{"index", 0},
                                     {"message", {{"role", "assistant"}, {"content", marker}}},
                                     {"finish_reason", "stop"}}})},
           {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5}, {"total_tokens", 15}}}}
          .dump();
  return body.replace(body.find(marker), marker.size(), content);
}

// About `bytes` of varied words: text whose scoring costs what a real long answer's does.
std::string huge_words(size_t bytes) {
  std::string out;
  out.reserve(bytes + 16);
  for (uint64_t i = 1; out.size() < bytes; ++i)
    out.append("w").append(std::to_string((i * 2654435761u) % 100003)).append(i % 17 ? " " : ". ");
  return out;
}

// The references an aggregator request carries: the system message's "Responses from models:"
// list, split at "\n1. ", "\n2. ", ... in turn.
std::vector<std::string> references_in(const json& body) {
  std::string system;
  for (const auto& m : body.value("messages", json::array()))
    if (m.is_object() && m.value("role", "") == "system" && m["content"].is_string())
      system = m["content"].get<std::string>();
  const std::string header = "Responses from models:";
  size_t at = system.find(header);
  if (at == std::string::npos) return {};
  std::vector<std::string> out;
  at = system.find("\n1. ", at);
  for (size_t i = 1; at != std::string::npos; ++i) {
    const size_t begin = at + 3 + std::to_string(i).size();
    std::string next = "\n";
    next.append(std::to_string(i + 1)).append(". ");
    at = system.find(next, begin);
    out.push_back(system.substr(begin, at == std::string::npos ? at : at - begin));
  }
  return out;
}

// vote-aggregator: the first reference whose extracted answer is the most common, with
// log-probabilities whose mean is log(that answer's share of the votes).
std::string vote_completion(const json& body, const std::string& model) {
  const auto refs = references_in(body);
  std::map<std::string, int> votes;
  for (const auto& r : refs) ++votes[smacs::extract_answer(smacs::AnswerKind::kMath, r)];
  std::string content = refs.empty() ? "no references" : refs[0];
  int top = 0;
  for (const auto& r : refs)
    if (const int v = votes[smacs::extract_answer(smacs::AnswerKind::kMath, r)]; v > top) {
      top = v;
      content = r;
    }
  const double share = refs.empty() ? 0.5 : static_cast<double>(top) / refs.size();
  json tokens = json::array();
  for (const char* t : {"The", " answer", "."})
    tokens.push_back({{"token", t}, {"logprob", std::log(share)}, {"top_logprobs", json::array()}});
  return json{{"id", "chatcmpl-fake"},
              {"object", "chat.completion"},
              {"created", 0},
              {"model", model},
              {"choices", json::array({{{"index", 0},
                                        {"message", {{"role", "assistant"}, {"content", content}}},
                                        {"logprobs", {{"content", tokens}}},
                                        {"finish_reason", "stop"}}})},
              {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 20}, {"total_tokens", 120}}}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string events(const std::vector<std::string>& contents) {
  std::string out;
  for (const auto& c : contents)
    out +=
        "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":0,"
        "\"model\":\"fake\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" +
        c + "\"},\"finish_reason\":null}]}\n\n";
  out +=
      "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":0,"
      "\"model\":\"fake\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
      "\n\ndata: [DONE]\n\n";
  return out;
}

std::string reply(int status, const std::string& type, const std::string& body,
                  const std::string& extra = "") {
  const char* reason = status == 200 ? "OK" : status == 429 ? "Too Many Requests" : "Error";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

}  // namespace

struct FakeBackend::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  mutable std::mutex mutex;
  std::map<std::string, int> calls;
  std::map<std::string, std::map<std::string, int>> by_prompt;  // mode -> prompt -> calls
  std::atomic<int> open{0};

  int count(const std::string& mode, const json& body) {
    std::lock_guard lock(mutex);
    std::string prompt;  // the last user message
    if (body.is_object() && body.contains("messages") && body["messages"].is_array())
      for (const auto& m : body["messages"])
        if (m.is_object() && m.value("role", "") == "user" && m["content"].is_string())
          prompt = m["content"].get<std::string>();
    ++by_prompt[mode][prompt];
    return ++calls[mode];
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
      if (ec) co_return;
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> wait_ms(int ms) {
    asio::steady_timer t(io);
    t.expires_after(std::chrono::milliseconds(ms));
    co_await t.async_wait(kNoThrow);
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    ++open;
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(socket, buffer, req, kNoThrow);
      if (ec) break;
      const bool keep = co_await answer(socket, req);
      if (!keep) break;
    }
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    --open;
  }

  // Writes the reply for `req`'s mode; false when the connection is to be closed.
  asio::awaitable<bool> answer(tcp::socket& socket, const http::request<http::string_body>& req) {
    std::string out;
    if (req.method() == http::verb::get && req.target() == "/calls") {
      std::lock_guard lock(mutex);
      out = reply(200, "application/json", json(calls).dump());
    } else {
      const json body = json::parse(req.body(), nullptr, false);
      const std::string mode =
          body.is_object() ? body.value("model", std::string("ok")) : std::string("ok");
      const bool stream = body.is_object() && body.value("stream", false);
      const int seen = count(mode, body);
      const auto parts = split(mode, ':');
      const std::string& name = parts[0];
      const auto arg = [&](size_t i, int fallback) {
        return parts.size() > i && !parts[i].empty() ? std::atoi(parts[i].c_str()) : fallback;
      };
      std::string content = name == "ok" && parts.size() > 1 ? parts[1] : "The answer is A.";
      if (name == "slow" || name == "vote-aggregator")
        co_await wait_ms(arg(1, name == "slow" ? 1000 : 0));
      if (name == "hang") {
        char byte;  // until the client gives up
        co_await socket.async_read_some(asio::buffer(&byte, 1), kNoThrow);
        co_return false;
      }
      if (name == "utf8") content = "caf\xe9";
      if (name == "huge") content = std::string(static_cast<size_t>(arg(1, 1)) << 20, 'x');
      if (name == "huge-words") content = huge_words(static_cast<size_t>(arg(1, 1)) << 20);
      if (name == "empty") content.clear();
      const std::string sse = "text/event-stream";
      if (name == "vote-aggregator") {
        out = reply(200, "application/json", vote_completion(body, mode));
      } else if (name == "null-content") {
        std::string c = completion("", mode);
        const std::string empty = R"("content":"")";
        out = reply(200, "application/json",
                    c.replace(c.find(empty), empty.size(), R"("content":null)"));
      } else if (name == "garbage") {
        out = reply(200, "application/json", "<html>not json</html>");
      } else if (name == "binary-error") {
        out = reply(500, "text/html", std::string("\x89PNG\r\n\x1a\n\xff\xfe\x00\x01", 12));
      } else if (name == "429" || (name == "429-then-ok" && seen <= arg(1, 1))) {
        const int after = name == "429" ? arg(1, 1) : arg(2, 1);
        out = reply(429, "application/json",
                    R"({"error":{"message":"rate limited","type":"rate_limit_error"}})",
                    "Retry-After: " + std::to_string(after) + "\r\n");
      } else if (name == "500") {
        out = reply(500, "application/json", R"({"error":{"message":"boom","type":"server"}})");
      } else if (name == "close-mid") {
        const std::string whole = reply(200, "application/json", completion(content, mode));
        co_await asio::async_write(socket, asio::buffer(whole.data(), whole.size() / 2), kNoThrow);
        co_await wait_ms(20);
        co_return false;
      } else if (stream && name == "sse-slow") {  // an event every MS milliseconds
        const std::string all = events({"The", " answer", " is", " A", "."});
        const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: " + sse +
                                 "\r\nContent-Length: " + std::to_string(all.size()) + "\r\n\r\n";
        auto [hec, hn] = co_await asio::async_write(socket, asio::buffer(head), kNoThrow);
        for (size_t at = 0; !hec && at < all.size();) {
          const size_t end = all.find("\n\n", at) + 2;
          auto [ec, n] =
              co_await asio::async_write(socket, asio::buffer(all.data() + at, end - at), kNoThrow);
          if (ec) co_return false;
          at = end;
          if (at < all.size()) co_await wait_ms(arg(1, 100));
        }
        co_return !hec && req.keep_alive();
      } else if (stream && name != "json-for-stream") {
        out = reply(200, sse,
                    events(name == "sse-utf8" ? std::vector<std::string>{"caf", "\xe9", "!"}
                                              : std::vector<std::string>{"The answer", " is A."}));
      } else {
        out = reply(200, "application/json", completion(content, mode));
      }
    }
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(out), kNoThrow);
    co_return !ec && req.keep_alive();
  }
};

FakeBackend::FakeBackend(int port) : impl_(std::make_unique<Impl>()) {
  test::integration_only("the fake backend");
  const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port));
  impl_->acceptor.open(at.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(at);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

FakeBackend::~FakeBackend() {
  impl_->io.stop();
  impl_->thread.join();
}

int FakeBackend::port() const { return impl_->acceptor.local_endpoint().port(); }

std::map<std::string, int> FakeBackend::calls_by_prompt(const std::string& mode) const {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->by_prompt.find(mode);
  return it == impl_->by_prompt.end() ? std::map<std::string, int>{} : it->second;
}

int FakeBackend::calls(const std::string& mode) const {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->calls.find(mode);
  return it == impl_->calls.end() ? 0 : it->second;
}

int FakeBackend::open_connections() const { return impl_->open; }

}  // namespace smacs::test
