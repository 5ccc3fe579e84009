// `smacs serve` and `smacs replay-serve`.

#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include "bank/bank_store.h"
#include "cli/checks.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "core/error.h"
#include "core/secrets.h"
#include "data/load.h"
#include "eval/evaluate.h"
#include "server/admin_routes.h"
#include "server/config_schema.h"
#include "server/gateway_server.h"
#include "server/replay_server.h"
#include "server/wiring.h"

namespace smacs::cli {

namespace {

// Signal handlers only raise flags; a watcher thread acts on them (stopping a server is not
// async-signal-safe).
std::atomic<bool> g_stop{false};    // SIGINT, SIGTERM: stop gracefully
std::atomic<bool> g_reload{false};  // SIGHUP
extern "C" void on_signal(int) { g_stop = true; }
extern "C" void on_hangup(int) { g_reload = true; }

// Runs `server` until SIGINT/SIGTERM, then lets it drain; `on_reload` answers SIGHUP.
template <typename Server>
void serve_until_signal(Server& server, const std::function<void()>& on_reload) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_hangup);
  std::atomic<bool> serving{true};
  std::thread watcher([&] {
    while (serving) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (g_stop.exchange(false)) server.stop();
      if (g_reload.exchange(false) && on_reload) on_reload();
    }
  });
  server.run();
  serving = false;
  watcher.join();
}

// The default journal is best effort (a read-only config folder means memory-only feedback);
// a journal the config names must open.
void check_journal(ServerConfig& config) {
  if (config.feedback_journal.empty()) return;
  try {
    (void)BankFile::open(config.feedback_journal, BankFile::Mode::kCreate);
  } catch (const Error& e) {
    if (!config.feedback_journal_default) throw;
    std::cerr << "smacs serve: warning: feedback stays in memory (" << scrub(e.what()) << ")"
              << std::endl;
    config.feedback_journal.clear();
  }
}

int serve(const std::string& config_path) {
  ServerConfig config = load_server_config(config_path);
  check_journal(config);
  if (config.bank_files.empty())
    throw Error(config_path + ": key 'bank' is required (a .sqlite bank or data files)");
  BankOptions options;
  options.embedder = make_embedder(config.embedder);
  PriorBank bank = with_embedding_bar(options, [&](const BankOptions& o) {
    return load_bank_from(config.bank_files, o, config.feedback_journal);
  });
  SmacsParams params = config.params;
  std::vector<std::string> pool;
  for (const auto& b : config.pool) pool.push_back(b.name());
  if (config.tune != ServerConfig::Tune::kNo)
    params =
        tune_params(bank, pool, {}, params, {},
                    config.tune == ServerConfig::Tune::kUnseenTasks ? TuneSplit::kLeaveOneTaskOut
                                                                    : TuneSplit::kLeaveOneOut);
  Metrics metrics;
  const std::unique_ptr<Gateway> made = make_gateway(config, std::move(bank), params, metrics);
  Gateway& gateway = *made;
  if (gateway.bank_questions() == 0)
    std::cerr << "smacs serve: warning: the bank holds no questions: SMACS has no prior to pick "
                 "models by, and /ready answers 503 until it has (smacs prior import)"
              << std::endl;
  for (const auto& m : gateway.cold_models())
    std::cerr << "smacs serve: warning: '" << m
              << "' has no results in the bank yet (proxy 0 until "
              << "`smacs prior add-model` and a reload)" << std::endl;
  GatewayServer server(config, gateway, metrics);
  // A shared bank: follow what the other replicas and builders write to it.
  std::unique_ptr<BankFollower> follower;
  if (is_bank_location(config.bank_files) && is_postgres_url(config.bank_files[0])) {
    follower = std::make_unique<BankFollower>(gateway, config.bank_files[0], config.follow);
    server.follow(follower.get());
  }
  const std::string embedder_name = gateway.view()->bank.embedder->name();
  const int port = server.bind();
  // One write (std::cerr is unbuffered): scripts and tests read the port from this line.
  std::cerr << "smacs serve: listening on http://" + config.host + ":" + std::to_string(port) +
                   "/v1 with " + std::to_string(config.pool.size()) + " models; embedder " +
                   embedder_name + "; params " + params_to_json(params).dump() + "\n"
            << std::flush;
  serve_until_signal(server, [&server] {
    try {
      std::cerr << "smacs serve: SIGHUP: reloaded the bank: " << server.reload_bank().dump()
                << std::endl;
    } catch (const std::exception& e) {  // any: this runs on a thread of its own
      std::cerr << "smacs serve: SIGHUP: " << reload_failure(e) << std::endl;
    }
  });
  std::cerr << "smacs serve: stopped" << std::endl;
  return 0;
}

int replay_serve(const std::vector<std::string>& files, const ReplayOptions& options) {
  Dataset data = load_files(files);
  if (data.records.empty()) throw Error("no recorded questions in --data: nothing to replay");
  ReplayServer server(std::move(data), options);
  const int port = server.bind();
  std::cerr << "smacs replay-serve: listening on http://" + options.host + ":" +
                   std::to_string(port) + "/v1\n"
            << std::flush;
  serve_until_signal(server, nullptr);
  std::cerr << "smacs replay-serve: stopped" << std::endl;
  return 0;
}

}  // namespace

void add_serve_commands(CLI::App& app, Commands& commands) {
  auto config = std::make_shared<std::string>();
  auto files = std::make_shared<std::vector<std::string>>();
  auto replay = std::make_shared<ReplayOptions>();
  auto* serve_cmd = app.add_subcommand(
      "serve", "Serve SMACS as an OpenAI-compatible endpoint over real model endpoints");
  auto reference = std::make_shared<bool>(false);
  auto* config_opt = serve_cmd->add_option(
      "--config", *config,
      "The YAML configuration (examples/replay.yaml; keys: docs/configuration.md)");
  serve_cmd
      ->add_flag("--config-reference", *reference,
                 "Print every config key, its default and meaning (Markdown), and exit")
      ->excludes(config_opt);
  auto* replay_cmd = app.add_subcommand(
      "replay-serve",
      "Serve recorded results as an OpenAI-compatible endpoint (for tests and trials)");
  replay_cmd->add_option("--data", *files, "Files with recorded responses (.csv, .json, .jsonl)")
      ->required();
  replay_cmd->add_option("--host", replay->host, "Address to listen on")->capture_default_str();
  replay_cmd->add_option("--port", replay->port, "Port (0 = any free port)")
      ->capture_default_str()
      ->check(within(0, 65535));
  replay_cmd->add_option("--latency-ms", replay->latency_ms, "Delay added to every reply")
      ->capture_default_str()
      ->check(non_negative());
  replay_cmd
      ->add_option("--fail-rate", replay->fail_rate, "Share of requests answered with HTTP 500")
      ->capture_default_str()
      ->check(within(0.0, 1.0));
  replay_cmd->add_option("--seed", replay->seed, "Seed of the injected failures")
      ->capture_default_str();
  replay_cmd
      ->add_option("--threads", replay->threads,
                   "Handler threads (each sleeps through --latency-ms)")
      ->capture_default_str()
      ->check(positive());
  commands.emplace_back(serve_cmd, [config, reference] {
    if (*reference) {
      std::cout << config_reference();
      return 0;
    }
    if (config->empty()) throw Error("serve: --config is required (or --config-reference)");
    return serve(*config);
  });
  commands.emplace_back(replay_cmd, [files, replay] { return replay_serve(*files, *replay); });
}

}  // namespace smacs::cli
