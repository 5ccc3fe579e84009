// Where the outgoing HTTP calls run (core/http_client_async.cpp): the process's one I/O thread,
// and the threads a big reply is parsed on so that the I/O thread every call shares is not
// held up by it.
#pragma once
#include <boost/asio.hpp>
#include <thread>

namespace smacs {

// The process's one I/O thread for outgoing calls, started on first use.
class IoThread {
 public:
  static boost::asio::io_context& context() {
    static IoThread instance;
    return instance.io_;
  }

 private:
  IoThread() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

// A reply this large is checked and parsed (judge_reply) on these threads, not on the I/O
// thread every other call shares: parsing 10 MB of JSON takes tens of milliseconds.
inline constexpr size_t kParseElsewhereBytes = 256 << 10;
inline boost::asio::thread_pool& parse_pool() {
  static boost::asio::thread_pool pool(2);
  return pool;
}

}  // namespace smacs
