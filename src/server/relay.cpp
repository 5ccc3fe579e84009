// Pass-through at the HTTP front: a request naming a pool model goes to it and its reply comes
// back without a thread waiting — relayed as it came for chat completions, re-spoken for the
// Responses and Messages doors — and a backend's failure as the client should see it.
#include "api/api_stream.h"
#include "server/gateway_server.h"
#include "server/http_util.h"

namespace smacs {

using nlohmann::json;

// Relayed without a thread waiting: the backend's reply bytes as they came (validated), or its
// events as they arrive; a failure as backend_error says.
void GatewayServer::pass_through(size_t backend, std::shared_ptr<const ChatRequest> request,
                                 std::shared_ptr<const FrontDoor> door, Deadline deadline,
                                 HttpResponse& res) {
  const std::string name = request->model;
  if (request->stream) {
    res.content_type = "text/event-stream";
    res.set_header("Cache-Control", "no-cache");
    HttpResponse head = res;
    auto out = res.stream_later();
    gateway_.pass_through_stream(
        backend, request, deadline,
        [out](std::string piece, std::function<void(bool)> resume) {
          out->write(std::move(piece), std::move(resume));
        },
        [out, name, head](BackendReply r) mutable {
          if (r.ok()) return out->end(true);
          fail_stream(*out, std::move(head), backend_error(name, r.error()));
        },
        res.client_gone_flag());
    return;
  }
  HttpResponse::Reply reply = res.answer_later();
  AbandonFlag client_gone = res.client_gone_flag();
  gateway_.pass_through(
      backend, std::move(request), deadline,
      [this, reply, name, door, head = res](BackendReply r) mutable {
        HttpResponse out = std::move(head);
        if (!r.ok()) {
          send_error(out, backend_error(name, r.error()));
        } else if (door->api != FrontDoor::Api::kChat) {  // re-spoken for its door
          const auto translator = door->translator(nullptr, false);
          feed_completion(*translator, std::move(r->body));
          send_json(out, translator->object());
          store_response(responses_, *door, translator->object(), &out.body);
        } else if (!r->raw.empty()) {
          out.content_type = "application/json";
          out.body = std::move(r->raw);
        } else {
          send_json(out, r->body);
        }
        reply(std::move(out));
      },
      std::move(client_gone));
}

void fail_stream(StreamReply& out, HttpResponse head, const ApiError& e, ApiStream* translator) {
  send_error(head, e);
  head.content_type = "application/json";
  out.respond(std::move(head), translator
                                   ? translator->error(e)
                                   : "data: " + dump_safe(error_body(e)) + "\n\ndata: [DONE]\n\n");
}

// A backend failure as clients should see it: the backend's own refusal (4xx) as it came, a
// 429 with the backend's Retry-After, an open circuit as 503, a timeout as 504, anything
// else a retry could fix as 502.
ApiError backend_error(const std::string& name, const BackendError& e) {
  if (e.refused())
    return {e.status, "invalid_request_error", name + " refused the request: " + e.message, "",
            "backend_refused"};
  if (e.status == 429)
    return {.status = 429,
            .type = "rate_limit_error",
            .message = name + " is rate limited: " + e.message,
            .code = "rate_limit_exceeded",
            .retry_after_s = std::max(1.0, e.retry_after_s)};
  if (e.kind == FailureKind::kCircuitOpen)
    return {.status = 503,
            .type = "server_error",
            .message = name + ": " + e.message,
            .code = "backend_unavailable",
            .retry_after_s = std::max(1.0, e.retry_after_s)};
  if (e.timed_out)
    return {.status = 504,
            .type = "server_error",
            .message = name + ": " + e.message,
            .code = "backend_timeout"};
  return {.status = 502,
          .type = "server_error",
          .message = name + ": " + e.message,
          .code = "backend_failed"};
}

// The backend's chat events, read as they arrive and re-spoken as the door's own events; a
// malformed stream ends in the door's error event.
void GatewayServer::pass_through_translated(size_t backend,
                                            std::shared_ptr<const ChatRequest> request,
                                            std::shared_ptr<const FrontDoor> door,
                                            Deadline deadline, HttpResponse& res) {
  res.content_type = "text/event-stream";
  res.set_header("Cache-Control", "no-cache");
  HttpResponse head = res;
  auto out = res.stream_later();
  struct Relay {
    SseChunkReader reader;
    std::unique_ptr<ApiStream> translator;
    bool broken = false;  // the backend's stream was malformed: the error event went out
  };
  auto relay = std::make_shared<Relay>();
  relay->translator = door->translator(nullptr, true);
  const std::string name = request->model;
  gateway_.pass_through_stream(
      backend, request, deadline,
      [out, relay, name](std::string piece, std::function<void(bool)> resume) {
        std::string events;
        const bool ok = relay->reader.feed(
            piece, [&](const json& chunk) { events += relay->translator->chunk(chunk); });
        if (!ok) {
          relay->broken = true;
          events += relay->translator->error({.status = 502,
                                              .type = "server_error",
                                              .message = name + ": " + relay->reader.error(),
                                              .code = "backend_failed"});
        }
        if (events.empty()) return resume(ok);
        out->write(std::move(events), [resume, ok](bool written) { resume(written && ok); });
      },
      [this, out, relay, door, name, head](BackendReply r) mutable {
        if (relay->broken) return out->end(true);
        if (!r.ok())
          return fail_stream(*out, std::move(head), backend_error(name, r.error()),
                             relay->translator.get());
        out->write(relay->translator->end());
        store_response(responses_, *door, relay->translator->object());
        out->end(true);
      },
      res.client_gone_flag());
}

}  // namespace smacs
