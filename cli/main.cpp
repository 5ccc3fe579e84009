// smacs: a pool of LLMs that answers better together (SMACS: RPS + EPE).
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>

#include "cli/commands.h"
#include "core/error.h"
#include "core/secrets.h"

// The program runs on jemalloc (linked in CMakeLists.txt): the gateway builds a request's JSON on
// the HTTP thread and frees it on the backends' I/O thread, which glibc serves behind an arena
// lock. A background thread hands memory freed a second ago back to the system, so RSS comes
// down after a burst (huge request bodies, thousands of closed connections) without a trim.
// Transparent huge pages for its extents: loading a million-question bank faults in about a
// gigabyte, and 4 KiB page faults were most of a reload's time (3.1-3.4 s -> 0.5-0.7 s; RSS
// +5 %), time in which a reload competed with requests.
extern "C" const char* malloc_conf;
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,thp:always";

int main(int argc, char** argv) {
  CLI::App app{
      "smacs: retrieval-based prior selection and posterior enhancement over a pool of LLMs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "smacs 0.1.0");
  // A bank URL's password is known before anything runs, so no message can show it.
  for (int i = 1; i < argc; ++i)  // `--out URL` or `--out=URL`
    if (const char* url = std::strstr(argv[i], "postgres"); url && std::strstr(url, "://"))
      smacs::register_url_secrets(url);
  smacs::cli::Commands commands;
  smacs::cli::add_eval_command(app, commands);
  smacs::cli::add_grade_command(app, commands);
  smacs::cli::add_prior_commands(app, commands);
  smacs::cli::add_serve_commands(app, commands);
  smacs::cli::add_llama_commands(app, commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (const auto& [command, run] : commands)
      if (command->parsed()) return run();
    throw smacs::Error("no command given (see smacs --help)");
  } catch (const smacs::Error& e) {
    std::fprintf(stderr, "smacs: error: %s\n", smacs::scrub(e.what()).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "smacs: error: out of memory (is the data larger than this machine?)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smacs: unexpected error: %s\n", smacs::scrub(e.what()).c_str());
    return 2;
  }
}
