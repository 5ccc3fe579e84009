// `smacs serve` configuration, read from YAML. A bad config throws smacs::Error naming the key.
// Relative paths (bank, gguf) are resolved against the config file's folder.
//
//   listen: 127.0.0.1:8080
//   api_keys: [secret1]          # clients send "Authorization: Bearer <key>"; empty = open
//   max_body_bytes: 1048576
//   request_timeout_ms: 30000    # no request outlives this
//   threads: 128                 # handler threads; calls in flight to in-process llama backends
//   max_connections: 20000       # beyond: a fast 503
//   idle_timeout_ms: 30000       # a keep-alive connection with no request is closed
//   header_timeout_ms: 10000     # a request's header must arrive within this
//   cors_origins: ["*"]          # browser origins allowed (default none)
//   access_log: stderr           # one JSON line per request: stderr, none or a file
//   allow_open_admin: false      # /admin/reload and /v1/feedback without api_keys on a
//                                # non-loopback address: refused at startup unless true
//   sse_keepalive_ms: 5000       # a SMACS stream sends ": keep-alive" while it waits (0: off)
//   remember_bytes: 67108864     # answers remembered for feedback, and (apart) Responses API
//                                #   responses for previous_response_id: each at most this many
//                                bytes
//   feedback_journal: f.sqlite   # data-file bank: feedback kept here, folded in on reload
//                                # (default <config>.feedback.sqlite; none: memory only)
//   feedback_per_second: 100     # feedback per API key (bursts of twice that); beyond: 429
//   bank: ../data/routerbench/arc_challenge_train.csv   # .sqlite bank or data file(s): required
//                                # or postgresql://user@host:port/db: one bank many replicas
//                                # share (README "Many gateways, one bank")
//   bank_poll_ms: 2000           # a shared bank: the revision poll behind LISTEN/NOTIFY
//   bank_grace_ms: 5000          # ...and how long its database may be unreachable before
//                                #   GET /ready says 503 (answers go on from memory)
//   replica: a                   # in answer ids (chatcmpl-a-...): a balancer routes feedback
//                                #   to the replica that remembers the answer
//   smacs: {k: 3, p_drop: 0.2, alpha: 0.5, neighbors: 50, tau: 1.0, beta: 30, gamma: 1,
//           task_gate: true, seed: 42,
//           tune: false,         # true: fit on the bank at startup (leave-one-out CV);
//                                #   unseen_tasks: fit for questions unlike the bank's
//           adaptive: false,     # ask in rounds (first_round at once, then one more) until
//           first_round: 2,      #   the answers settle: >= 2 agree and hold `settle` of the
//           settle: 0.6,         #   prior weight; `solo`: the top model alone when its proxy
//           solo: 2.0,           #   score is at least this (> 1: never)
//           cost_weight: 0,      # rank by proxy - cost_weight * expected cost / the highest
//           escalate_to: name,   # a pool model kept out of the rounds, asked when the
//                                #   answers stay unsettled; its answer is taken
//           mode: select,        # aggregate: the paper's EPE (README "Two EPE modes"): the
//           aggregator: name,    #   k selected models answer as references, `candidates`
//           candidates: 8,       #   subsets of `keep` of them (drawn by `sampler`: prior,
//           keep: 6,             #   softmax or uniform) go to the aggregator, which writes a
//           sampler: prior,      #   candidate from each; consensus + ppl_coef x confidence
//           ppl_coef: 1.0,       #   picks one. adaptive: skip it when the references settle
//           aggregator_temperature: 0.7}
//   aggregators:                 # backends only ever asked as the aggregator (as pool entries)
//     - {name: agg, base_url: http://127.0.0.1:8002/v1, model: llama-3.3-70b}
//   embedder: {type: llama, gguf: embed.gguf, context: 512, threads: 0}   # default: tfidf
//   embedder: {type: http, base_url: http://127.0.0.1:8001/v1, model: bge-small,
//              api_key_env: EMBED_KEY, batch: 64, timeout_ms: 30000, retries: 2,
//              cache: vectors.sqlite}  # default ~/.cache/smacs/embeddings.sqlite; none: off
//   pool:
//     - name: model-a                 # type: http (the default)
//       base_url: http://127.0.0.1:8000/v1
//       model: upstream-id          # default: name
//       api_key_env: MODEL_A_KEY    # optional
//       max_concurrency: 16
//       timeout_ms: 10000
//       retries: 2
//       ca_file: certs/ca.pem         # https: trust these CAs instead of the system's (optional)
//       price_prompt: 0.5             # USD per million tokens: `prior build` stores each
//       price_completion: 1.5         # answer's cost, serve traces it (default: unknown)
//     - name: model-b                 # in-process through llama.cpp
//       type: llama
//       gguf: models/b.gguf
//       context: 4096                 # tokens per slot
//       threads: 0                    # per slot; 0 = all cores
//       slots: 1                      # requests generated at once; the rest queue
//       max_queue: 64                 # beyond this, refused at once
//       max_tokens: 512               # when the request sets none
//       temperature: 0.8              # request defaults (0 = greedy)
//       top_p: 0.95
//       top_k: 40
//       seed: 42
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

ServerConfig load_server_config(const std::string& path);
ServerConfig parse_server_config(const std::string& yaml_text, const std::string& base_dir,
                                 const std::string& source = "config");

}  // namespace smacs
