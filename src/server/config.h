// `smacs serve` configuration, read from YAML. A bad config throws smacs::Error naming the key.
// Relative paths (bank, gguf, ca_file, journal) are resolved against the config file's folder.
// Every key, its default and its meaning: server/config_schema.cpp, the one table the parser's
// key lists and docs/configuration.md come from.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "embedding/embedder.h"
#include "generation/backend.h"
#include "pipeline/smacs.h"
#include "server/bank_follower.h"

namespace smacs {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> api_keys;
  size_t max_body_bytes = 1 << 20;
  int request_timeout_ms = 30000;
  std::vector<std::string> bank_files;  // resolved against the config file's folder
  SmacsParams params;
  std::string escalate_to;  // a pool model asked only when SMACS stays unsure ("" = none)
  std::string aggregator;   // aggregate mode's aggregator: a pool or `aggregators` name
  std::vector<BackendConfig> aggregators;  // backends asked only as the aggregator
  // Fit the parameters on the bank at startup (`smacs.tune`; cmd_serve runs eval's tuning, as
  // the server does not depend on eval): for questions like the bank's, or for unseen tasks.
  enum class Tune { kNo, kBankQuestions, kUnseenTasks };
  Tune tune = Tune::kNo;
  // Handler threads; also bounds the calls in flight to backends that need a thread per call
  // (in-process llama). HTTP backends are asked from one I/O thread, bounded by their
  // max_concurrency.
  size_t threads = 128;
  size_t max_connections = 20000;
  int idle_timeout_ms = 30000;
  int header_timeout_ms = 10000;
  std::vector<std::string> cors_origins;
  std::string access_log = "stderr";  // "stderr", "none" or a file path
  bool allow_open_admin = false;
  int sse_keepalive_ms = 5000;  // a SMACS stream's ": keep-alive" comment while it waits (0: off)
  // The answers remembered for feedback hold at most this many bytes (the oldest go first); so
  // do, apart, the Responses API responses kept for previous_response_id.
  size_t remember_bytes = 64 << 20;
  // Keep a copy of the bank's rows from the start for the first reload to read into (as every
  // later reload reads into the rows of the bank it replaced): the first reload then takes no
  // fresh memory, at the cost of that memory from the start (server/bank_view.h).
  bool reload_rows_at_start = false;
  // With a bank of data files: the SQLite file feedback is kept in and folded back from on
  // every reload ("": memory only). load_server_config defaults it to <config>.feedback.sqlite.
  std::string feedback_journal;
  bool feedback_journal_default = false;  // not named in the config: load_server_config's own
  double feedback_per_second = 100;       // per API key (bursts of twice that)
  FollowOptions follow;                   // a shared (PostgreSQL) bank: bank_poll_ms, bank_grace_ms
  std::string replica;  // this replica's name in answer ids ("chatcmpl-NAME-..."; "": none)
  std::vector<BackendConfig> pool;
  EmbedderConfig embedder;  // default: the built-in TF-IDF
};

// Throws smacs::Error naming the file and the key for a config that cannot work, and for a
// file over 4 MiB (not read whole) or nested deeper than yaml-cpp reads.
ServerConfig load_server_config(const std::string& path);
ServerConfig parse_server_config(const std::string& yaml_text, const std::string& base_dir,
                                 const std::string& source = "config");

}  // namespace smacs
