// The code grader's sandbox: a child process with rlimits, its own process group, a temporary
// working directory and (via a new network namespace) no network.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "grading/grader.h"

namespace smacs {

namespace {

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  throw Error("code grader: '" + name + "' not found on PATH");
}

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_limited(const char* python, const char* dir, const CodeLimits& l) {
  ::setpgid(0, 0);
  if (::chdir(dir) != 0) ::_exit(125);
  if (::unshare(CLONE_NEWNET) != 0) ::_exit(126);  // refuse to run with network access
  rlimit cpu{static_cast<rlim_t>(l.cpu_seconds), static_cast<rlim_t>(l.cpu_seconds)};
  rlimit mem{static_cast<rlim_t>(l.memory_mb) << 20, static_cast<rlim_t>(l.memory_mb) << 20};
  rlimit fsize{16 << 20, 16 << 20}, core{0, 0};
  ::setrlimit(RLIMIT_CPU, &cpu);
  ::setrlimit(RLIMIT_AS, &mem);
  ::setrlimit(RLIMIT_FSIZE, &fsize);
  ::setrlimit(RLIMIT_CORE, &core);
  const int out = ::open("output.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int devnull = ::open("/dev/null", O_RDONLY);
  if (out < 0 || devnull < 0) ::_exit(125);
  ::dup2(devnull, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  const char* argv[] = {python, "-I", "-B", "main.py", nullptr};
  const char* envp[] = {"PATH=/usr/bin:/bin", "HOME=/nonexistent", "LANG=C.UTF-8", nullptr};
  ::execve(python, const_cast<char* const*>(argv), const_cast<char* const*>(envp));
  ::_exit(127);
}

}  // namespace

CodeRun run_python_sandboxed(const std::string& program, const CodeLimits& limits) {
  const std::string python = find_program(limits.python);
  std::string dir_template =
      (std::filesystem::temp_directory_path() / "smacs-code-XXXXXX").string();
  if (!::mkdtemp(dir_template.data()))
    throw Error("code grader: cannot create a temporary directory");
  const std::filesystem::path dir(dir_template);
  std::ofstream(dir / "main.py") << program;

  CodeRun run;
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("code grader: fork failed");
  if (pid == 0) exec_limited(python.c_str(), dir.c_str(), limits);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(limits.wall_ms);
  int status = 0;
  for (auto wait_ms = 1;; wait_ms = std::min(wait_ms * 2, 50)) {
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);  // the whole process group: children of the test too
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      run.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.passed = !run.timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::ifstream out(dir / "output.txt");
  std::stringstream ss;
  ss << out.rdbuf();
  run.output = ss.str().substr(0, 4000);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  if (run.exit_code == 126 && !run.timed_out)
    throw Error("code grader: cannot isolate the network (unshare needs root or user namespaces)");
  return run;
}

}  // namespace smacs
