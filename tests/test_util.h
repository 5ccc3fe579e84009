// Helpers shared by the tests: temporary files and running the smacs binary.
#pragma once
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/error.h"
#include "server/replay_server.h"
#include "test_label.h"

namespace smacs::test {

// This process's folder for temporary files, emptied when the process first asks for it:
// pids wrap, and a folder an earlier process with the same pid left behind must not pass its
// files off as this one's (an old server log names a port nobody listens on any more).
inline std::filesystem::path temp_dir() {
  static std::mutex mutex;
  static pid_t made_for = 0;
  const pid_t pid = ::getpid();
  const auto dir = std::filesystem::temp_directory_path() / ("smacs-test-" + std::to_string(pid));
  std::lock_guard lock(mutex);
  if (made_for != pid) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    made_for = pid;
  }
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string temp_path(const std::string& name) { return (temp_dir() / name).string(); }

// The whole of a file ("" when it cannot be read).
inline std::string file_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::trunc) << content;
  return path;
}

// The text of `path` once `done(text)` holds, or after `seconds` whatever it is then. Access
// logs and metrics are written after the reply: a client may read its reply before they are.
inline std::string wait_for_text(const std::string& path,
                                 const std::function<bool(const std::string&)>& done,
                                 int seconds = 2) {
  std::string text;
  for (int i = 0; i < seconds * 50; ++i) {
    text = file_text(path);
    if (done(text)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return text;
}

struct RunResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// A shell command's exit code and output (stdout and stderr together).
inline RunResult run_command(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// `timeout_s` > 0: stopped after that long (exit code 124), for a command that may not end.
inline RunResult run_smacs(const std::string& args, int timeout_s = 0) {
  integration_only("running the smacs binary");
  const std::string limit = timeout_s > 0 ? "timeout " + std::to_string(timeout_s) + " " : "";
  return run_command(limit + std::string(SMACS_BINARY) + " " + args);
}

// The message of the smacs::Error `f` throws ("(no error)" when it throws none).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline std::string data_file(const std::string& rel) {
  return std::string(SMACS_SHARED_DATA) + "/" + rel;
}

}  // namespace smacs::test

namespace smacs::test {

// Starts `smacs ARGS` in the background; returns its pid. Output goes to `log` (default: nowhere).
inline pid_t spawn_smacs(const std::string& args, const std::string& log = "/dev/null") {
  integration_only("starting the smacs binary");
  // Emptied here, before the fork: the caller may read `log` at once (wait_for_port), before
  // the child's shell would have truncated it, and must not find an earlier run's lines there.
  std::ofstream(log, std::ios::trunc);
  const std::string cmd = "exec " + std::string(SMACS_BINARY) + " " + args + " >>" + log + " 2>&1";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

}  // namespace smacs::test

namespace smacs::test {

// Waits (up to 30 s) for "listening on http://127.0.0.1:PORT" in a server's log; 0 if never.
inline int wait_for_port(const std::string& log) {
  for (int i = 0; i < 300; ++i) {
    const std::string text = file_text(log);
    const auto at = text.find("listening on http://127.0.0.1:");
    const auto end = at == std::string::npos ? at : text.find_first_not_of("0123456789", at + 30);
    if (end != std::string::npos && end > at + 30)  // the whole number, not one half-written
      return std::atoi(text.c_str() + at + 30);
    ::usleep(100 * 1000);
  }
  return 0;
}

// `smacs serve --config CONFIG` in the background, its output in the temp file `log_name`;
// port 0: it did not start. Stopped (SIGTERM) when it goes.
struct ServeProcess {
  std::string log;
  pid_t pid;
  int port;
  ServeProcess(const std::string& config, const std::string& log_name)
      : log(temp_path(log_name)),
        pid(spawn_smacs("serve --config " + config, log)),
        port(wait_for_port(log)) {}
  ~ServeProcess() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c;
  }
  std::string log_text() const { return file_text(log); }
};

}  // namespace smacs::test

namespace smacs::test {

// Runs a server (anything with bind/run/stop) on its own thread while in scope.
template <typename Server>
struct Serving {
  std::unique_ptr<Server> server;
  int port;
  std::thread thread;
  explicit Serving(std::unique_ptr<Server> s)
      : server((integration_only("a server"), std::move(s))),
        port(server->bind()),
        thread([this] { server->run(); }) {}
  ~Serving() {
    server->stop();
    thread.join();
  }
};

// Runs an httplib server (plain or TLS; its routes registered first) on a free loopback port,
// on its own thread, while in scope.
class Listening {
 public:
  explicit Listening(httplib::Server& server)
      : server_((integration_only("an HTTP server"), server)),
        port(server.bind_to_any_port("127.0.0.1")),
        thread_([&server] { server.listen_after_bind(); }) {
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Listening() {
    server_.stop();
    thread_.join();
  }

 private:
  httplib::Server& server_;

 public:
  const int port;

 private:
  std::thread thread_;
};

// replay-serve over `data` on a free loopback port.
inline std::unique_ptr<Serving<ReplayServer>> serve_replay(Dataset data, int latency_ms = 0,
                                                           double fail_rate = 0) {
  ReplayOptions o;
  o.port = 0;
  o.latency_ms = latency_ms;
  o.fail_rate = fail_rate;
  o.threads = 64;
  return std::make_unique<Serving<ReplayServer>>(
      std::make_unique<ReplayServer>(std::move(data), o));
}

}  // namespace smacs::test
