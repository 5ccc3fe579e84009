// The one table of `smacs serve` config keys (server/config_schema.h). A key added here and read
// in server/config.cpp is known to the parser and documented; docs/configuration.md is regenerated
// with `build/smacs serve --config-reference > docs/configuration.md` (a test fails until it is).
#include "server/config_schema.h"

#include <array>

namespace smacs {

namespace {

constexpr bool D = true;   // the value is the default
constexpr bool E = false;  // the value is an example

// clang-format off
constexpr std::array kSchema = {
  // The top level.
  ConfigKey{"", "listen", "127.0.0.1:8080", D, "HOST:PORT the gateway listens on (port 0: any free one)"},
  ConfigKey{"", "api_keys", "[]", D, "keys clients send (`Authorization: Bearer KEY` or `x-api-key`); empty: open"},
  ConfigKey{"", "bank", "../data/routerbench/arc_challenge_train.csv", E, "required: a `.sqlite` bank, data file(s), or `postgresql://user@host:port/db` that many replicas share ([cluster.md](cluster.md)); relative to the config file"},
  ConfigKey{"", "pool", "[{name: model-a, base_url: 'http://127.0.0.1:8000/v1'}]", E, "required: the models SMACS selects from (sections `pool` and `pool.llama`)"},
  ConfigKey{"", "smacs", "{}", D, "SMACS's parameters (section `smacs`)"},
  ConfigKey{"", "embedder", "{type: tfidf}", D, "how questions are embedded (sections `embedder.http`, `embedder.llama`); tfidf is built in"},
  ConfigKey{"", "aggregators", "[]", D, "backends asked only as aggregate mode's aggregator, never selected (entries as in `pool`)"},
  ConfigKey{"", "max_body_bytes", "1048576", D, "a larger request body is refused with 413"},
  ConfigKey{"", "request_timeout_ms", "30000", D, "no request outlives this (504 after it)"},
  ConfigKey{"", "threads", "128", D, "handler threads; also the calls in flight to in-process llama backends"},
  ConfigKey{"", "max_connections", "20000", D, "connections beyond this get a fast 503"},
  ConfigKey{"", "idle_timeout_ms", "30000", D, "a keep-alive connection with no request is closed after this"},
  ConfigKey{"", "header_timeout_ms", "10000", D, "a request's whole header must arrive within this (slowloris)"},
  ConfigKey{"", "cors_origins", "[]", D, "browser origins allowed, e.g. `[\"https://app.example\"]` or `[\"*\"]`"},
  ConfigKey{"", "access_log", "stderr", D, "one JSON line per request: `stderr`, `none` or a file"},
  ConfigKey{"", "allow_open_admin", "false", D, "`/admin/reload` and `/v1/feedback` without `api_keys` on a non-loopback address are refused at start unless true"},
  ConfigKey{"", "sse_keepalive_ms", "5000", D, "a SMACS stream sends `: keep-alive` while it waits (0: off)"},
  ConfigKey{"", "remember_bytes", "67108864", D, "answers remembered for `/v1/feedback`, and apart Responses API responses for `previous_response_id`: each at most this many bytes, the oldest forgotten first"},
  ConfigKey{"", "reload_rows_at_start", "false", D, "keep a copy of the bank's rows from the start, for the first reload to read into: it then takes no fresh memory (which under load stalls requests on a VM: docs/operations.md), at the cost of that memory from the start (a million questions: about 440 MB; every later reload keeps the replaced bank's rows anyway); measured no kinder to the requests beside the reloads (docs/results.md), so off unless first reloads must be fast"},
  ConfigKey{"", "feedback_journal", "smacs.feedback.sqlite", E, "a bank of data files: feedback is kept in this SQLite file and folded back in by every reload and restart (default `<config>.feedback.sqlite` beside the config; `none`: memory only); a `.sqlite` bank takes feedback itself"},
  ConfigKey{"", "feedback_per_second", "100", D, "feedback per API key (bursts of twice that); beyond: 429 with `Retry-After`"},
  ConfigKey{"", "bank_poll_ms", "2000", D, "a shared (PostgreSQL) bank: the revision poll behind LISTEN/NOTIFY (>= 10)"},
  ConfigKey{"", "bank_grace_ms", "5000", D, "a shared bank's database may be unreachable this long before `GET /ready` says 503 (answers go on from memory)"},
  ConfigKey{"", "replica", "\"\"", D, "this replica's name (letters, digits, `_`) in answer ids (`chatcmpl-NAME-...`), so a balancer can route feedback to it"},

  // smacs: the method's parameters (method.md; docs/method.md).
  ConfigKey{"smacs", "k", "3", D, "models selected per question"},
  ConfigKey{"smacs", "p_drop", "0.2", D, "prior dropping probability, 0..1 (0: no exploration)"},
  ConfigKey{"smacs", "alpha", "0.5", D, "weight of the prior against agreement in the hybrid score, 0..1"},
  ConfigKey{"smacs", "agreement", "true", D, "false: choose by the prior alone"},
  ConfigKey{"smacs", "proxy", "smacs", D, "the proxy-score rule: `smacs` or `smcs` (the paper's: K = 400 neighbours, 0.95 threshold)"},
  ConfigKey{"smacs", "neighbors", "50", D, "neighbours averaged for a proxy score"},
  ConfigKey{"smacs", "tau", "1.0", D, "similarity temperature of the neighbours' weights (> 0)"},
  ConfigKey{"smacs", "beta", "30", D, "shrinkage towards the neighbourhood's task mean (>= 0)"},
  ConfigKey{"smacs", "gamma", "1", D, "shrinkage towards the model's global mean (>= 0)"},
  ConfigKey{"smacs", "task_gate", "true", D, "average only the neighbours of the majority task"},
  ConfigKey{"smacs", "seed", "42", D, "seeds dropping and subset draws (answers are reproducible)"},
  ConfigKey{"smacs", "tune", "false", D, "`true`: fit the parameters on the bank at start (leave-one-out); `unseen_tasks`: fit them for questions of tasks the bank lacks"},
  ConfigKey{"smacs", "text_rule", "hybrid", D, "free-text answers: `hybrid`, `consensus`, `ranker` or `blend` ([free-text.md](free-text.md)); the ranker is fitted on the bank at every load"},
  ConfigKey{"smacs", "adaptive", "false", D, "ask in rounds (`first_round` at once, then one more) until the answers settle"},
  ConfigKey{"smacs", "first_round", "2", D, "adaptive: models asked in the first round (>= 1)"},
  ConfigKey{"smacs", "settle", "0.6", D, "adaptive: settled when >= 2 answers agree and hold this share of the prior weight, 0..1"},
  ConfigKey{"smacs", "solo", "2.0", D, "adaptive: the top model alone when its proxy score is at least this (> 1: never)"},
  ConfigKey{"smacs", "solo_margin", "2.0", D, "adaptive: ... or when its proxy score leads the next selected model's by at least this (> 1: never)"},
  ConfigKey{"smacs", "cost_weight", "0", D, "rank by proxy - cost_weight x expected cost / the highest ([cost.md](cost.md))"},
  ConfigKey{"smacs", "escalate_to", "\"\"", D, "a pool model kept out of the rounds and asked when the answers stay unsettled"},
  ConfigKey{"smacs", "mode", "select", D, "`select` one of the k replies, or `aggregate` them through `aggregator` (the paper's EPE)"},
  ConfigKey{"smacs", "aggregator", "\"\"", D, "aggregate mode: a pool or `aggregators` name (required with `mode: aggregate`)"},
  ConfigKey{"smacs", "candidates", "8", D, "aggregate mode: aggregator calls, one per subset of the references, 1..64"},
  ConfigKey{"smacs", "keep", "6", D, "aggregate mode: references per subset"},
  ConfigKey{"smacs", "sampler", "prior", D, "aggregate mode: how subsets are drawn: `prior`, `softmax` or `uniform`"},
  ConfigKey{"smacs", "ppl_coef", "1.0", D, "aggregate mode: weight of the candidates' log-probability confidence"},
  ConfigKey{"smacs", "aggregator_temperature", "0.7", D, "aggregate mode: the aggregator's sampling temperature, 0..2"},
  ConfigKey{"smacs", "max_candidate_bytes", "1048576", D, "aggregate mode: a longer aggregator reply is a failed call (a dedicated aggregator's is read no further), 1024..67108864"},

  // pool: an OpenAI-compatible HTTP endpoint (type http, the default).
  ConfigKey{"pool", "name", "model-a", E, "required: the name clients and the bank use (not `smacs`); it needs results in the bank, its prior"},
  ConfigKey{"pool", "type", "http", D, "`http`, or `llama` for a GGUF model in this process (section `pool.llama`)"},
  ConfigKey{"pool", "base_url", "http://127.0.0.1:8000/v1", E, "required: `http://` or `https://`"},
  ConfigKey{"pool", "model", "upstream-id", E, "the upstream model id (default: `name`)"},
  ConfigKey{"pool", "api_key_env", "MODEL_A_KEY", E, "optional: the environment variable the backend's key is read from"},
  ConfigKey{"pool", "max_concurrency", "16", D, "requests in flight (and pooled keep-alive connections)"},
  ConfigKey{"pool", "timeout_ms", "30000", D, "per attempt"},
  ConfigKey{"pool", "retries", "2", D, "extra attempts on 429, 5xx, connection errors and malformed replies, 0..10"},
  ConfigKey{"pool", "backoff_ms", "50", D, "the first retry's delay, doubled each time, 0..60000; a wait that would end past the deadline ends the calls"},
  ConfigKey{"pool", "ca_file", "certs/ca.pem", E, "optional, https: trust these CAs (PEM) instead of the system's"},
  ConfigKey{"pool", "price_prompt", "0.5", E, "optional, USD per million prompt tokens: `prior build` stores each answer's cost, serve traces it"},
  ConfigKey{"pool", "price_completion", "1.5", E, "optional, USD per million completion tokens"},

  // pool.llama: a GGUF model run in this process through llama.cpp ([backends.md](backends.md)).
  ConfigKey{"pool.llama", "name", "model-b", E, "required, as for HTTP entries"},
  ConfigKey{"pool.llama", "type", "llama", E, "`llama`"},
  ConfigKey{"pool.llama", "gguf", "models/b.gguf", E, "required: the model file, relative to the config file"},
  ConfigKey{"pool.llama", "context", "4096", D, "tokens per slot, prompt and reply (0: the model's own)"},
  ConfigKey{"pool.llama", "threads", "0", D, "CPU threads per slot (0: all cores)"},
  ConfigKey{"pool.llama", "slots", "1", D, "requests generated at once; the rest queue"},
  ConfigKey{"pool.llama", "max_queue", "64", D, "waiting requests beyond this are refused at once"},
  ConfigKey{"pool.llama", "max_tokens", "512", D, "reply length when the request sets none"},
  ConfigKey{"pool.llama", "temperature", "0.8", D, "when the request sets none (0: greedy)"},
  ConfigKey{"pool.llama", "top_p", "0.95", D, "when the request sets none, (0, 1]"},
  ConfigKey{"pool.llama", "top_k", "40", D, "when the request sets none"},
  ConfigKey{"pool.llama", "seed", "42", D, "sampling seed"},
  ConfigKey{"pool.llama", "price_prompt", "0.1", E, "optional, as for HTTP entries"},
  ConfigKey{"pool.llama", "price_completion", "0.1", E, "optional, as for HTTP entries"},

  // embedder: what turns a question into the vector the bank is searched with.
  ConfigKey{"embedder", "type", "tfidf", D, "`tfidf` (built in, no other key), `http` or `llama`"},
  ConfigKey{"embedder.http", "type", "http", E, "an OpenAI-compatible `/v1/embeddings` endpoint"},
  ConfigKey{"embedder.http", "base_url", "http://127.0.0.1:8001/v1", E, "required"},
  ConfigKey{"embedder.http", "model", "bge-small", E, "required: the embedding model's name"},
  ConfigKey{"embedder.http", "api_key_env", "EMBED_KEY", E, "optional: the environment variable the key is read from"},
  ConfigKey{"embedder.http", "batch", "64", D, "texts per request when a bank is embedded"},
  ConfigKey{"embedder.http", "timeout_ms", "30000", D, "per request"},
  ConfigKey{"embedder.http", "retries", "2", D, "extra attempts"},
  ConfigKey{"embedder.http", "cache", "vectors.sqlite", E, "the SQLite file bank embeddings are kept in (default `~/.cache/smacs/embeddings.sqlite`; `none`: off)"},
  ConfigKey{"embedder.llama", "type", "llama", E, "a GGUF embedding model run in this process"},
  ConfigKey{"embedder.llama", "gguf", "embed.gguf", E, "required: the model file"},
  ConfigKey{"embedder.llama", "context", "512", D, "tokens per text"},
  ConfigKey{"embedder.llama", "threads", "0", D, "0: all cores"},
  ConfigKey{"embedder.llama", "cache", "vectors.sqlite", E, "as for `embedder.http`"},
};
// clang-format on

constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kSections = {{
    {"", "The top level"},
    {"smacs", "`smacs:` the method's parameters"},
    {"pool", "`pool:` entries (and `aggregators:`), an HTTP endpoint"},
    {"pool.llama", "`pool:` entries with `type: llama`"},
    {"embedder", "`embedder:` with `type: tfidf`"},
    {"embedder.http", "`embedder:` with `type: http`"},
    {"embedder.llama", "`embedder:` with `type: llama`"},
}};

}  // namespace

std::span<const ConfigKey> config_schema() { return kSchema; }

std::set<std::string> config_keys(std::string_view section) {
  std::set<std::string> keys;
  for (const ConfigKey& k : kSchema)
    if (k.section == section) keys.emplace(k.key);
  return keys;
}

std::string config_reference() {
  std::string out =
      "# Configuration reference\n\n"
      "Every key `smacs serve --config` reads, generated from `src/server/config_schema.cpp`\n"
      "(`build/smacs serve --config-reference > docs/configuration.md`). A bad value stops the "
      "server at\n"
      "start with a message naming the key; an unknown key is an error. Relative paths are\n"
      "resolved against the config file's folder. A complete example: `examples/replay.yaml`.\n"
      "A config file is at most 4 MiB (a larger one is refused unread).\n";
  for (const auto& [section, title] : kSections) {
    out.append("\n## ").append(title).append(
        "\n\n| key | default | what it does |\n| --- | --- | --- |\n");
    for (const ConfigKey& k : kSchema) {
      if (k.section != section) continue;
      out.append("| `").append(k.key).append("` | ");
      if (k.is_default)
        out.append("`").append(k.value).append("`");
      else
        out.append("e.g. `").append(k.value).append("`");
      out.append(" | ").append(k.doc).append(" |\n");
    }
  }
  return out;
}

}  // namespace smacs
