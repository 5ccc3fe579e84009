#include "server/config.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "bank/bank_store.h"
#include "core/error.h"
#include "core/secrets.h"
#include "data/load.h"
#include "server/config_schema.h"

namespace smacs {

namespace {

template <typename T>
T get(const YAML::Node& node, const std::string& key, const std::string& where, T fallback) {
  const YAML::Node v = node[key];
  if (!v) return fallback;
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    throw Error(where + ": key '" + key + "' has the wrong type");
  }
}

void check_keys(const YAML::Node& node, const std::set<std::string>& known,
                const std::string& where) {
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!known.count(key))
      throw Error(where + ": unknown key '" + key + "' (every key: docs/configuration.md)");
  }
}

void parse_listen(const std::string& listen, ServerConfig& c, const std::string& where) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw Error(where + ": key 'listen' must be HOST:PORT");
  c.host = listen.substr(0, colon);
  try {
    c.port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    throw Error(where + ": key 'listen' has a bad port");
  }
  if (c.port < 0 || c.port > 65535) throw Error(where + ": key 'listen' has a bad port");
}

void parse_smacs(const YAML::Node& s, ServerConfig& c, const std::string& where) {
  if (!s) return;
  if (!s.IsMap()) throw Error(where + ": key 'smacs' must be a mapping");
  check_keys(s, config_keys("smacs"), where + ": smacs");
  SmacsParams& p = c.params;
  const std::string w = where + ": smacs";
  p.k = get<size_t>(s, "k", w, p.k);
  p.p_drop = get<double>(s, "p_drop", w, p.p_drop);
  p.posterior.alpha = get<double>(s, "alpha", w, p.posterior.alpha);
  if (s["proxy"]) {
    try {
      p.rps.rule = parse_proxy_rule(get<std::string>(s, "proxy", w, "smacs"));
    } catch (const Error& e) {
      throw Error(w + ": key 'proxy': " + e.what());
    }
  }
  p.posterior.agreement = get<bool>(s, "agreement", w, p.posterior.agreement);
  p.rps.neighbors = get<size_t>(s, "neighbors", w, p.rps.neighbors);
  p.rps.tau = get<double>(s, "tau", w, p.rps.tau);
  p.rps.beta = get<double>(s, "beta", w, p.rps.beta);
  p.rps.gamma = get<double>(s, "gamma", w, p.rps.gamma);
  p.rps.task_gate = get<bool>(s, "task_gate", w, p.rps.task_gate);
  p.seed = get<uint64_t>(s, "seed", w, p.seed);
  const std::string tune = get<std::string>(s, "tune", w, "false");
  if (tune == "true")
    c.tune = ServerConfig::Tune::kBankQuestions;
  else if (tune == "unseen_tasks")
    c.tune = ServerConfig::Tune::kUnseenTasks;
  else if (tune != "false")
    throw Error(w + ": key 'tune' must be true, false or unseen_tasks, got '" + tune + "'");
  p.adaptive.enabled = get<bool>(s, "adaptive", w, p.adaptive.enabled);
  p.adaptive.first_round = get<size_t>(s, "first_round", w, p.adaptive.first_round);
  p.adaptive.settle = get<double>(s, "settle", w, p.adaptive.settle);
  p.adaptive.solo = get<double>(s, "solo", w, p.adaptive.solo);
  p.adaptive.solo_margin = get<double>(s, "solo_margin", w, p.adaptive.solo_margin);
  p.rps.cost_weight = get<double>(s, "cost_weight", w, p.rps.cost_weight);
  c.escalate_to = get<std::string>(s, "escalate_to", w, "");
  try {
    p.mode = parse_epe_mode(get<std::string>(s, "mode", w, "select"));
    p.aggregate.sampler = parse_subset_sampler(get<std::string>(s, "sampler", w, "prior"));
    p.posterior.text_rule = parse_text_rule(get<std::string>(s, "text_rule", w, "hybrid"));
  } catch (const Error& e) {
    throw Error(w + ": " + e.what());
  }
  c.aggregator = get<std::string>(s, "aggregator", w, "");
  AggregateParams& a = p.aggregate;
  a.candidates = get<size_t>(s, "candidates", w, a.candidates);
  a.keep = get<size_t>(s, "keep", w, a.keep);
  a.ppl_coef = get<double>(s, "ppl_coef", w, a.ppl_coef);
  a.temperature = get<double>(s, "aggregator_temperature", w, a.temperature);
  a.max_candidate_bytes = get<size_t>(s, "max_candidate_bytes", w, a.max_candidate_bytes);
  if (a.max_candidate_bytes < 1024 || a.max_candidate_bytes > (64u << 20))
    throw Error(w + ": key 'max_candidate_bytes' must be within 1024..67108864");
  if (p.mode == EpeMode::kAggregate && c.aggregator.empty())
    throw Error(w + ": mode aggregate needs key 'aggregator' (a pool or aggregators entry)");
  if (a.candidates == 0 || a.candidates > 64)
    throw Error(w + ": key 'candidates' must be within 1..64");
  if (a.keep == 0) throw Error(w + ": key 'keep' must be at least 1");
  if (!std::isfinite(a.ppl_coef)) throw Error(w + ": key 'ppl_coef' must be a number");
  if (!(a.temperature >= 0 && a.temperature <= 2))
    throw Error(w + ": key 'aggregator_temperature' must be within 0..2");
  if (p.adaptive.first_round == 0) throw Error(w + ": key 'first_round' must be at least 1");
  if (!(p.adaptive.settle >= 0 && p.adaptive.settle <= 1))
    throw Error(w + ": key 'settle' must be within 0..1");
  if (!(p.rps.cost_weight >= 0 && std::isfinite(p.rps.cost_weight)))
    throw Error(w + ": key 'cost_weight' must be >= 0");
  if (p.k == 0) throw Error(w + ": key 'k' must be at least 1");
  if (!(p.p_drop >= 0 && p.p_drop <= 1)) throw Error(w + ": key 'p_drop' must be within 0..1");
  if (!(p.posterior.alpha >= 0 && p.posterior.alpha <= 1))
    throw Error(w + ": key 'alpha' must be within 0..1");
  // Written so that NaN fails too: every comparison with it is false.
  if (!(p.rps.tau > 0 && std::isfinite(p.rps.tau))) throw Error(w + ": key 'tau' must be > 0");
  for (auto [key, v] : {std::pair{"beta", p.rps.beta}, std::pair{"gamma", p.rps.gamma}})
    if (!(v >= 0 && std::isfinite(v))) throw Error(w + ": key '" + key + "' must be >= 0");
  if (!(p.adaptive.solo >= 0)) throw Error(w + ": key 'solo' must be >= 0 (above 1: never)");
  if (!(p.adaptive.solo_margin >= 0))
    throw Error(w + ": key 'solo_margin' must be >= 0 (above 1: never)");
  if (p.rps.neighbors == 0) throw Error(w + ": key 'neighbors' must be at least 1");
}

std::string resolve(const std::string& path, const std::string& base_dir) {
  const std::filesystem::path p(path);
  if (path.empty() || p.is_absolute() || is_postgres_url(path)) return path;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

bool is_http_url(const std::string& url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

std::string api_key_from_env(const YAML::Node& n, const std::string& w) {
  const std::string env = get<std::string>(n, "api_key_env", w, "");
  if (env.empty()) return "";
  const char* key = std::getenv(env.c_str());
  if (!key) throw Error(w + ": key 'api_key_env': environment variable " + env + " is not set");
  return key;
}

HttpBackendConfig parse_http(const YAML::Node& b, const std::string& w, const std::string& name,
                             const std::string& base_dir) {
  check_keys(b, config_keys("pool"), w);
  HttpBackendConfig c;
  c.name = name;
  c.base_url = get<std::string>(b, "base_url", w, "");
  if (c.base_url.empty()) throw Error(w + " (" + c.name + "): key 'base_url' is required");
  if (!is_http_url(c.base_url))
    throw Error(w + " (" + c.name + "): key 'base_url' must start with http:// or https://");
  c.model = get<std::string>(b, "model", w, c.name);
  c.api_key = api_key_from_env(b, w + " (" + c.name + ")");
  const int conc = get<int>(b, "max_concurrency", w, 16);
  if (conc < 1) throw Error(w + " (" + c.name + "): key 'max_concurrency' must be at least 1");
  c.max_concurrency = static_cast<size_t>(conc);
  c.timeout_ms = get<int>(b, "timeout_ms", w, c.timeout_ms);
  c.retries = get<int>(b, "retries", w, c.retries);
  c.backoff_ms = get<int>(b, "backoff_ms", w, c.backoff_ms);
  if (c.timeout_ms < 1) throw Error(w + " (" + c.name + "): key 'timeout_ms' must be positive");
  // A failing backend is asked at most 1 + retries times, each after up to backoff_ms.
  if (c.retries < 0 || c.retries > 10)
    throw Error(w + " (" + c.name + "): key 'retries' must be within 0..10");
  if (c.backoff_ms < 0 || c.backoff_ms > 60000)
    throw Error(w + " (" + c.name + "): key 'backoff_ms' must be within 0..60000");
  c.ca_file = resolve(get<std::string>(b, "ca_file", w, ""), base_dir);
  if (!c.ca_file.empty() && !std::filesystem::is_regular_file(c.ca_file))
    throw Error(w + " (" + c.name + "): key 'ca_file': no file " + c.ca_file);
  return c;
}

LlamaBackendConfig parse_llama(const YAML::Node& b, const std::string& w, const std::string& name,
                               const std::string& base_dir) {
  check_keys(b, config_keys("pool.llama"), w);
  LlamaBackendConfig c;
  const std::string at = w + " (" + name + ")";
  c.name = name;
  c.gguf = resolve(get<std::string>(b, "gguf", w, ""), base_dir);
  if (c.gguf.empty()) throw Error(at + ": key 'gguf' (the model file) is required");
  c.context = get<uint32_t>(b, "context", w, c.context);
  c.threads = get<int>(b, "threads", w, c.threads);
  c.slots = get<size_t>(b, "slots", w, c.slots);
  c.max_queue = get<size_t>(b, "max_queue", w, c.max_queue);
  c.max_tokens = get<int>(b, "max_tokens", w, c.max_tokens);
  c.temperature = get<float>(b, "temperature", w, c.temperature);
  c.top_p = get<float>(b, "top_p", w, c.top_p);
  c.top_k = get<int>(b, "top_k", w, c.top_k);
  c.seed = get<uint64_t>(b, "seed", w, c.seed);
  if (c.slots < 1) throw Error(at + ": key 'slots' must be at least 1");
  if (c.threads < 0) throw Error(at + ": key 'threads' must be >= 0 (0 = all cores)");
  if (c.max_tokens < 1) throw Error(at + ": key 'max_tokens' must be at least 1");
  if (c.top_p <= 0 || c.top_p > 1) throw Error(at + ": key 'top_p' must be within (0, 1]");
  return c;
}

BackendConfig parse_backend(const YAML::Node& b, size_t i, const std::string& where,
                            const std::string& base_dir) {
  const std::string w = where + ": pool[" + std::to_string(i) + "]";
  if (!b.IsMap()) throw Error(w + " must be a mapping");
  const std::string name = get<std::string>(b, "name", w, "");
  if (name.empty()) throw Error(w + ": key 'name' is required");
  if (name == "smacs")
    throw Error(w + ": the name 'smacs' is the gateway's own model: name the backend otherwise");
  const std::string type = get<std::string>(b, "type", w, "http");
  BackendConfig c;
  if (type == "http") {
    c.http = parse_http(b, w, name, base_dir);
  } else if (type == "llama") {
    c.type = BackendConfig::Type::kLlama;
    c.llama = parse_llama(b, w, name, base_dir);
  } else {
    throw Error(w + " (" + name + "): key 'type' must be http or llama, not '" + type + "'");
  }
  for (auto [key, price] : {std::pair{"price_prompt", &c.price.prompt},
                            std::pair{"price_completion", &c.price.completion}}) {
    if (!b[key]) continue;
    *price = get<double>(b, key, w, 0);
    if (**price < 0)
      throw Error(w + " (" + name + "): key '" + key + "' must be >= 0 (USD per million tokens)");
  }
  return c;
}

EmbedderConfig parse_embedder(const YAML::Node& e, const std::string& where,
                              const std::string& base_dir) {
  EmbedderConfig c;
  if (!e) return c;
  const std::string w = where + ": embedder";
  if (!e.IsMap()) throw Error(w + " must be a mapping");
  const std::string type = get<std::string>(e, "type", w, "tfidf");
  const std::string cache = get<std::string>(e, "cache", w, "");  // absent: the default path
  if (cache == "none")
    c.cache = std::nullopt;
  else if (!cache.empty())
    c.cache = resolve(cache, base_dir);
  if (type == "tfidf") {
    check_keys(e, config_keys("embedder"), w);
  } else if (type == "llama") {
    check_keys(e, config_keys("embedder.llama"), w);
    c.type = EmbedderConfig::Type::kLlama;
    c.llama.gguf = resolve(get<std::string>(e, "gguf", w, ""), base_dir);
    if (c.llama.gguf.empty())
      throw Error(w + ": key 'gguf' (the embedding model file) is required");
    c.llama.context = get<uint32_t>(e, "context", w, c.llama.context);
    c.llama.threads = get<int>(e, "threads", w, c.llama.threads);
  } else if (type == "http") {
    check_keys(e, config_keys("embedder.http"), w);
    c.type = EmbedderConfig::Type::kHttp;
    HttpEmbedderConfig& h = c.http;
    h.base_url = get<std::string>(e, "base_url", w, "");
    h.model = get<std::string>(e, "model", w, "");
    if (!is_http_url(h.base_url))
      throw Error(w + ": key 'base_url' must start with http:// or https://");
    if (h.model.empty()) throw Error(w + ": key 'model' (the embedding model's name) is required");
    h.api_key = api_key_from_env(e, w);
    h.batch = get<size_t>(e, "batch", w, h.batch);
    h.timeout_ms = get<int>(e, "timeout_ms", w, h.timeout_ms);
    h.retries = get<int>(e, "retries", w, h.retries);
    if (h.batch < 1 || h.timeout_ms < 1 || h.retries < 0)
      throw Error(w + ": 'batch' and 'timeout_ms' must be positive, 'retries' >= 0");
  } else {
    throw Error(w + ": key 'type' must be tfidf, llama or http, not '" + type + "'");
  }
  return c;
}

// A pool entry that is this gateway itself would have every request call itself again. The
// gateway also refuses such a request at run time (core/hop.h); this catches it at start.
void check_not_self(const BackendConfig& b, const ServerConfig& c, const std::string& where) {
  if (b.type != BackendConfig::Type::kHttp || c.port == 0) return;
  const std::string& url = b.http.base_url;
  const size_t start = url.find("://") + 3;
  const std::string authority = url.substr(start, url.find('/', start) - start);
  const size_t colon = authority.rfind(':');
  if (colon == std::string::npos) return;
  const std::string host = authority.substr(0, colon), port = authority.substr(colon + 1);
  auto local = [](const std::string& h) {
    return h == "localhost" || h == "[::1]" || h == "::1" || h.rfind("127.", 0) == 0 ||
           h == "0.0.0.0";
  };
  if (port == std::to_string(c.port) && (host == c.host || (local(host) && local(c.host))))
    throw Error(where + ": pool entry '" + b.name() + "' points at this gateway itself (" + url +
                "): it would call itself for every request");
}

}  // namespace

ServerConfig parse_server_config(const std::string& text, const std::string& base_dir,
                                 const std::string& where) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {  // yaml-cpp's own message says "bad file"
    throw Error(where + ": malformed YAML (nested too deep: " + std::to_string(e.depth()) +
                " levels at line " + std::to_string(e.mark.line + 1) + ")");
  } catch (const YAML::Exception& e) {
    throw Error(where + ": malformed YAML (" + std::string(e.what()) + ")");
  }
  if (!root.IsMap()) throw Error(where + ": expected a YAML mapping at the top");
  check_keys(root, config_keys(""), where);
  ServerConfig c;
  parse_listen(get<std::string>(root, "listen", where, "127.0.0.1:8080"), c, where);
  c.api_keys = get<std::vector<std::string>>(root, "api_keys", where, {});
  c.max_body_bytes = get<size_t>(root, "max_body_bytes", where, c.max_body_bytes);
  c.request_timeout_ms = get<int>(root, "request_timeout_ms", where, c.request_timeout_ms);
  c.threads = get<size_t>(root, "threads", where, c.threads);
  c.max_connections = get<size_t>(root, "max_connections", where, c.max_connections);
  c.idle_timeout_ms = get<int>(root, "idle_timeout_ms", where, c.idle_timeout_ms);
  c.header_timeout_ms = get<int>(root, "header_timeout_ms", where, c.header_timeout_ms);
  c.cors_origins = get<std::vector<std::string>>(root, "cors_origins", where, {});
  c.access_log = get<std::string>(root, "access_log", where, c.access_log);
  c.allow_open_admin = get<bool>(root, "allow_open_admin", where, false);
  c.sse_keepalive_ms = get<int>(root, "sse_keepalive_ms", where, c.sse_keepalive_ms);
  c.remember_bytes = get<size_t>(root, "remember_bytes", where, c.remember_bytes);
  c.reload_rows_at_start = get<bool>(root, "reload_rows_at_start", where, c.reload_rows_at_start);
  c.feedback_per_second = get<double>(root, "feedback_per_second", where, c.feedback_per_second);
  c.replica = get<std::string>(root, "replica", where, "");
  for (char ch : c.replica)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_')
      throw Error(where + ": key 'replica' may hold letters, digits and '_' only");
  c.follow.poll_ms = get<int>(root, "bank_poll_ms", where, c.follow.poll_ms);
  c.follow.grace_ms = get<int>(root, "bank_grace_ms", where, c.follow.grace_ms);
  if (c.follow.poll_ms < 10 || c.follow.grace_ms < 0)
    throw Error(where + ": 'bank_poll_ms' must be >= 10 and 'bank_grace_ms' >= 0");
  c.feedback_journal_default = !root["feedback_journal"];
  if (!c.feedback_journal_default) {
    const auto journal = get<std::string>(root, "feedback_journal", where, "none");
    c.feedback_journal = journal == "none" ? "" : resolve(journal, base_dir);
  }
  if (c.sse_keepalive_ms < 0) throw Error(where + ": key 'sse_keepalive_ms' must be >= 0");
  if (!(c.feedback_per_second > 0))
    throw Error(where + ": key 'feedback_per_second' must be a number > 0");
  if (c.threads < 1 || c.max_connections < 1 || c.idle_timeout_ms < 1 || c.header_timeout_ms < 1)
    throw Error(where +
                ": 'threads', 'max_connections', 'idle_timeout_ms' and "
                "'header_timeout_ms' must be positive");
  if (c.request_timeout_ms < 1) throw Error(where + ": key 'request_timeout_ms' must be positive");
  const YAML::Node bank = root["bank"];
  std::vector<std::string> files;
  if (bank)
    files = bank.IsSequence() ? get<std::vector<std::string>>(root, "bank", where, {})
                              : std::vector<std::string>{get<std::string>(root, "bank", where, "")};
  for (auto& f : files) {
    if (is_postgres_url(f)) register_url_secrets(f);  // no message may show its password
    c.bank_files.push_back(resolve(f, base_dir));
  }
  if (c.access_log != "stderr" && c.access_log != "none")
    c.access_log = resolve(c.access_log, base_dir);
  parse_smacs(root["smacs"], c, where);
  c.embedder = parse_embedder(root["embedder"], where, base_dir);
  const YAML::Node pool = root["pool"];
  if (!pool || !pool.IsSequence() || pool.size() == 0)
    throw Error(where + ": key 'pool' must list at least one model");
  std::set<std::string> names;
  for (size_t i = 0; i < pool.size(); ++i) {
    c.pool.push_back(parse_backend(pool[i], i, where, base_dir));
    if (!names.insert(c.pool.back().name()).second)
      throw Error(where + ": pool: duplicate name '" + c.pool.back().name() + "'");
  }
  for (const auto& b : c.pool) check_not_self(b, c, where);
  // Dedicated aggregators: backends like the pool's, never selected as references.
  const YAML::Node aggregators = root["aggregators"];
  if (aggregators && !aggregators.IsSequence())
    throw Error(where + ": key 'aggregators' must be a list of backends");
  for (size_t i = 0; aggregators && i < aggregators.size(); ++i) {
    c.aggregators.push_back(parse_backend(aggregators[i], i, where + ": aggregators", base_dir));
    if (!names.insert(c.aggregators.back().name()).second)
      throw Error(where + ": aggregators: duplicate name '" + c.aggregators.back().name() + "'");
  }
  if (!c.aggregator.empty() && !names.count(c.aggregator))
    throw Error(where + ": smacs: aggregator '" + c.aggregator +
                "' is neither a pool model nor an aggregators entry");
  if (!c.escalate_to.empty() && !names.count(c.escalate_to))
    throw Error(where + ": smacs: escalate_to '" + c.escalate_to + "' is not a pool model");
  if (!c.escalate_to.empty() && c.pool.size() < 2)
    throw Error(where + ": smacs: escalate_to needs another pool model to ask first");
  return c;
}

ServerConfig load_server_config(const std::string& path) {
  // A config is a few KiB: a larger file is the wrong one (or endless, as /dev/zero is), and
  // is refused without being read whole.
  constexpr size_t kMaxConfigBytes = size_t{4} << 20;
  const std::string text = read_text_prefix(path, kMaxConfigBytes + 1);
  if (text.size() > kMaxConfigBytes)
    throw Error(path + ": larger than 4 MiB; a config is a few KiB (is it the right file?)");
  const std::string dir = std::filesystem::path(path).parent_path().string();
  ServerConfig c = parse_server_config(text, dir.empty() ? "." : dir, path);
  // Feedback on a bank of data files goes to a journal beside the config unless it names one
  // (or none): a reload or a restart folds it back in.
  const bool sqlite_bank = is_bank_location(c.bank_files);
  if (!sqlite_bank && c.feedback_journal_default) {
    std::filesystem::path journal(path);
    journal.replace_extension(".feedback.sqlite");
    c.feedback_journal = journal.string();
  }
  if (sqlite_bank) c.feedback_journal.clear();  // feedback goes into the bank file itself
  return c;
}

}  // namespace smacs
