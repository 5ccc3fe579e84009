// A fake OpenAI-compatible backend that misbehaves on demand, for the hostile tests and the
// benchmarks: one Asio thread, so thousands of slow calls cost no thread each. Loopback only.
//
// The mode is the request's "model" (a pool entry's upstream `model`), "name[:arg[:arg]]":
//   ok               a chat completion (content "The answer is A.")     ok:TEXT: that content
//   slow:MS          ok after MS milliseconds
//   hang             never answers (until the client goes)
//   garbage          200 with a body that is not JSON
//   utf8             200 whose content holds a Latin-1 byte ("caf\xe9")
//   binary-error     500 with a binary (non-UTF-8) error page
//   close-mid        sends half of the reply, then closes the connection
//   429:S            429 with Retry-After: S
//   429-then-ok:N:S  429 with Retry-After: S for the mode's first N calls, then ok
//   500              500 with a JSON error
//   huge:MB          ok with MB MiB of content      huge-words:MB: MB MiB of varied words
//   empty            ok with an empty content       null-content: with "content": null
//   json-for-stream  answers stream requests with a plain JSON completion
//   sse-utf8         stream requests get events whose second holds a Latin-1 byte
//   sse-slow:MS      stream requests get their events one every MS milliseconds
//   vote-aggregator[:MS]  an aggregate-mode aggregator (after MS ms): reads the references
//                    from the system message and answers with the first whose extracted
//                    (math) answer is the most common, with logprobs of mean log(its share)
// Streaming requests ("stream": true) get the reply as Server-Sent Events in every mode that
// answers 200 (but json-for-stream). GET /calls: {"mode": calls so far}.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace smacs::test {

class FakeBackend {
 public:
  explicit FakeBackend(int port = 0);  // 0: any free loopback port
  ~FakeBackend();
  FakeBackend(const FakeBackend&) = delete;
  FakeBackend& operator=(const FakeBackend&) = delete;

  int port() const;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/v1"; }
  int calls(const std::string& mode) const;  // requests seen with this mode (the whole string)
  // The same per prompt (the last user message): how often each was asked of this mode.
  std::map<std::string, int> calls_by_prompt(const std::string& mode) const;
  int open_connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace smacs::test
