// A streamed answer of the HTTP server (server/http_session.h): its pieces are written in order
// by a queue on the event thread, so a slow reader holds the queue, not a thread.
#include <deque>

#include "server/http_session.h"

namespace smacs::http_detail {

// A StreamReply on one session: every call hops to the event thread, where a queue writes the
// pieces one at a time (a slow reader holds the queue, not a thread).
class Streamer : public StreamReply, public std::enable_shared_from_this<Streamer> {
 public:
  Streamer(std::shared_ptr<Session> session, std::shared_ptr<HttpRequest> req, HttpResponse head,
           std::shared_ptr<std::atomic<bool>> sent)
      : s_(std::move(session)),
        req_(std::move(req)),
        head_(std::move(head)),
        sent_(std::move(sent)),
        timer_(s_->stream_.get_executor()),
        watch_timer_(s_->stream_.get_executor()) {}

  // While the stream is open: every 250 ms, whether its client has left (the session's own
  // watch stops once a reply is claimed, which a stream is at its first piece), so that the
  // work for it (client_gone_flag) stops before the next write would fail.
  void watch_peer() {
    asio::post(s_->stream_.get_executor(), [me = shared_from_this()] { me->look_at_peer(); });
  }

  void write(std::string piece, std::function<void(bool)> written) override {
    on_loop([piece = std::move(piece), written = std::move(written)](Streamer& me) mutable {
      me.queue_.emplace_back(std::move(piece), std::move(written));
      me.pump();
    });
  }
  void end(bool ok) override {
    on_loop([ok](Streamer& me) {
      me.ending_ = true;
      me.end_ok_ = ok;
      me.pump();
    });
  }
  void respond(HttpResponse plain, std::string if_started) override {
    on_loop([plain = std::move(plain), if_started = std::move(if_started)](Streamer& me) mutable {
      if (!me.started_ && !me.writing_ && me.queue_.empty()) {
        me.done_ = true;
        me.timer_.cancel();
        me.watch_timer_.cancel();
        --me.s_->server_.queued;
        return me.s_->respond(*me.req_, std::move(plain));
      }
      me.head_.status = plain.status;  // for the log: the stream ended in this error
      me.queue_.emplace_back(std::move(if_started), nullptr);
      me.ending_ = true;
      me.pump();
    });
  }
  void keep_alive(int ms, std::string comment) override {
    on_loop([ms, comment = std::move(comment)](Streamer& me) mutable {
      me.keep_ms_ = ms;
      me.comment_ = std::move(comment);
      me.arm();
    });
  }

 private:
  // Runs `f` on the event thread; nothing once the worker answered for this request (its
  // handler threw) or the stream is over.
  template <class F>
  void on_loop(F f) {
    if (!claimed_.exchange(true) && sent_->exchange(true)) dropped_ = true;
    asio::post(s_->stream_.get_executor(), [me = shared_from_this(), f = std::move(f)]() mutable {
      if (me->dropped_ || me->done_) return me->fail_queue();
      f(*me);
    });
  }

  void look_at_peer() {
    if (done_ || !head_.client_gone_ || head_.client_gone_->load()) return;
    if (s_->peer_closed()) return head_.client_gone_->store(true);
    watch_timer_.expires_after(ms(250));
    watch_timer_.async_wait([me = shared_from_this()](beast::error_code ec) {
      if (!ec) me->look_at_peer();
    });
  }

  void fail_queue() {
    for (auto& [piece, written] : queue_)
      if (written) written(false);
    queue_.clear();
  }

  void arm() {
    if (keep_ms_ <= 0 || done_) return;
    timer_.expires_after(ms(keep_ms_));
    timer_.async_wait([me = shared_from_this()](beast::error_code ec) {
      if (ec || me->done_) return;
      if (!me->writing_ && me->queue_.empty() && ms_since(me->last_write_) >= me->keep_ms_ - 1) {
        me->queue_.emplace_back(me->comment_, nullptr);
        me->pump();
      }
      me->arm();
    });
  }

  // Writes the next thing due: the header, a queued piece, or the end.
  void pump() {
    if (writing_ || done_) return;
    Session& s = *s_;
    if (!started_ && (!queue_.empty() || (ending_ && end_ok_))) {
      msg_ = std::make_shared<http::response<http::empty_body>>(
          static_cast<http::status>(head_.status), 11);
      s.server_.add_cors(*req_, head_);
      set_head(*msg_, head_, s.keeps_alive());
      msg_->chunked(true);
      started_ = writing_ = true;
      auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*msg_);
      s.stream_.expires_after(ms(s.server_.limits.write_timeout_ms));
      http::async_write_header(
          s.stream_, *sr,
          [me = shared_from_this(), sr](beast::error_code ec, size_t) { me->wrote(!ec, nullptr); });
      return;
    }
    if (!queue_.empty()) {
      auto piece = std::make_shared<std::string>(std::move(queue_.front().first));
      auto written = std::move(queue_.front().second);
      queue_.pop_front();
      writing_ = true;
      s.stream_.expires_after(ms(s.server_.limits.write_timeout_ms));
      asio::async_write(s.stream_, http::make_chunk(asio::buffer(*piece)),
                        [me = shared_from_this(), piece, written = std::move(written)](
                            beast::error_code ec, size_t) { me->wrote(!ec, written); });
      return;
    }
    if (!ending_) return;
    if (!started_ || !end_ok_) return finish(false);
    writing_ = true;
    s.stream_.expires_after(ms(s.server_.limits.write_timeout_ms));
    asio::async_write(s.stream_, http::make_chunk_last(),
                      [me = shared_from_this()](beast::error_code ec, size_t) {
                        me->writing_ = false;
                        me->finish(!ec);
                      });
  }

  void wrote(bool ok, const std::function<void(bool)>& written) {
    writing_ = false;
    last_write_ = Clock::now();
    if (written) written(ok);
    if (!ok) head_.status = 499;  // the client is gone
    if (!ok && head_.client_gone_) head_.client_gone_->store(true);
    if (!ok) return finish(false);
    pump();
  }

  // The request is over: logged, counted, and the connection reused only after a whole stream.
  void finish(bool ok) {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    watch_timer_.cancel();
    fail_queue();
    Session& s = *s_;
    --s.server_.queued;
    if (!ok) head_.notes.emplace_back("stream", "cut");
    s.server_.answered(*req_, head_, s.start_);
    if (ok && msg_ && msg_->keep_alive()) return s.wait_for_request();
    s.close();
  }

  std::shared_ptr<Session> s_;
  std::shared_ptr<HttpRequest> req_;
  HttpResponse head_;
  std::shared_ptr<std::atomic<bool>> sent_;
  std::atomic<bool> claimed_{false};
  std::atomic<bool> dropped_{false};  // the worker answered first (its handler threw)
  // Event thread only:
  std::deque<std::pair<std::string, std::function<void(bool)>>> queue_;
  std::shared_ptr<http::response<http::empty_body>> msg_;
  bool started_ = false, writing_ = false, ending_ = false, end_ok_ = true, done_ = false;
  asio::steady_timer timer_, watch_timer_;
  int keep_ms_ = 0;
  std::string comment_;
  Clock::time_point last_write_ = Clock::now();
};

std::shared_ptr<StreamReply> make_streamer(std::shared_ptr<Session> session,
                                           std::shared_ptr<HttpRequest> req,
                                           const HttpResponse& head,
                                           std::shared_ptr<std::atomic<bool>> sent) {
  auto streamer =
      std::make_shared<Streamer>(std::move(session), std::move(req), head, std::move(sent));
  streamer->watch_peer();
  return streamer;
}

}  // namespace smacs::http_detail
