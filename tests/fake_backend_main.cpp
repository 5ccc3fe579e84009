// `smacs_fake_backend [--port P]`: the misbehaving backend of tests/fake_backend.h as a process,
// for the benchmarks and the Node.js client tests. Runs until SIGINT or SIGTERM.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fake_backend.h"

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: smacs_fake_backend [--port P]   (modes: tests/fake_backend.h)\n");
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the server's thread starts
  smacs::test::FakeBackend backend(port);
  std::printf("listening on http://127.0.0.1:%d/v1\n", backend.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  return 0;
}
