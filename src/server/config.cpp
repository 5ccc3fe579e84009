#include "server/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "data/load.h"

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
    if (!known.count(key)) throw Error(where + ": unknown key '" + key + "'");
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
  check_keys(s,
             {"k", "p_drop", "alpha", "neighbors", "tau", "beta", "gamma", "task_gate", "seed",
              "tune", "agreement"},
             where + ": smacs");
  SmacsParams& p = c.params;
  const std::string w = where + ": smacs";
  p.k = get<size_t>(s, "k", w, p.k);
  p.p_drop = get<double>(s, "p_drop", w, p.p_drop);
  p.posterior.alpha = get<double>(s, "alpha", w, p.posterior.alpha);
  p.posterior.agreement = get<bool>(s, "agreement", w, p.posterior.agreement);
  p.rps.neighbors = get<size_t>(s, "neighbors", w, p.rps.neighbors);
  p.rps.tau = get<double>(s, "tau", w, p.rps.tau);
  p.rps.beta = get<double>(s, "beta", w, p.rps.beta);
  p.rps.gamma = get<double>(s, "gamma", w, p.rps.gamma);
  p.rps.task_gate = get<bool>(s, "task_gate", w, p.rps.task_gate);
  p.seed = get<uint64_t>(s, "seed", w, p.seed);
  c.tune = get<bool>(s, "tune", w, false);
  if (p.k == 0) throw Error(w + ": key 'k' must be at least 1");
  if (p.p_drop < 0 || p.p_drop > 1) throw Error(w + ": key 'p_drop' must be within 0..1");
  if (p.posterior.alpha < 0 || p.posterior.alpha > 1)
    throw Error(w + ": key 'alpha' must be within 0..1");
  if (p.rps.tau <= 0) throw Error(w + ": key 'tau' must be > 0");
}

HttpBackendConfig parse_backend(const YAML::Node& b, size_t i, const std::string& where) {
  const std::string w = where + ": pool[" + std::to_string(i) + "]";
  if (!b.IsMap()) throw Error(w + " must be a mapping");
  check_keys(b,
             {"name", "base_url", "model", "api_key_env", "max_concurrency", "timeout_ms",
              "retries", "backoff_ms"},
             w);
  HttpBackendConfig c;
  c.name = get<std::string>(b, "name", w, "");
  c.base_url = get<std::string>(b, "base_url", w, "");
  if (c.name.empty()) throw Error(w + ": key 'name' is required");
  if (c.base_url.empty()) throw Error(w + " (" + c.name + "): key 'base_url' is required");
  if (c.base_url.rfind("http://", 0) != 0 && c.base_url.rfind("https://", 0) != 0)
    throw Error(w + " (" + c.name + "): key 'base_url' must start with http:// or https://");
  c.model = get<std::string>(b, "model", w, c.name);
  const std::string env = get<std::string>(b, "api_key_env", w, "");
  if (!env.empty()) {
    const char* key = std::getenv(env.c_str());
    if (!key)
      throw Error(w + " (" + c.name + "): key 'api_key_env': environment variable " + env +
                  " is not set");
    c.api_key = key;
  }
  const int conc = get<int>(b, "max_concurrency", w, 16);
  if (conc < 1) throw Error(w + " (" + c.name + "): key 'max_concurrency' must be at least 1");
  c.max_concurrency = static_cast<size_t>(conc);
  c.timeout_ms = get<int>(b, "timeout_ms", w, c.timeout_ms);
  c.retries = get<int>(b, "retries", w, c.retries);
  c.backoff_ms = get<int>(b, "backoff_ms", w, c.backoff_ms);
  if (c.timeout_ms < 1) throw Error(w + " (" + c.name + "): key 'timeout_ms' must be positive");
  if (c.retries < 0) throw Error(w + " (" + c.name + "): key 'retries' must be >= 0");
  return c;
}

}  // namespace

ServerConfig parse_server_config(const std::string& text, const std::string& base_dir,
                                 const std::string& where) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(where + ": malformed YAML (" + std::string(e.what()) + ")");
  }
  if (!root.IsMap()) throw Error(where + ": expected a YAML mapping at the top");
  check_keys(root,
             {"listen", "api_keys", "max_body_bytes", "request_timeout_ms", "bank", "smacs", "pool",
              "threads"},
             where);
  ServerConfig c;
  parse_listen(get<std::string>(root, "listen", where, "127.0.0.1:8080"), c, where);
  c.api_keys = get<std::vector<std::string>>(root, "api_keys", where, {});
  c.max_body_bytes = get<size_t>(root, "max_body_bytes", where, c.max_body_bytes);
  c.request_timeout_ms = get<int>(root, "request_timeout_ms", where, c.request_timeout_ms);
  c.threads = get<size_t>(root, "threads", where, c.threads);
  if (c.request_timeout_ms < 1) throw Error(where + ": key 'request_timeout_ms' must be positive");
  const YAML::Node bank = root["bank"];
  std::vector<std::string> files;
  if (bank)
    files = bank.IsSequence() ? get<std::vector<std::string>>(root, "bank", where, {})
                              : std::vector<std::string>{get<std::string>(root, "bank", where, "")};
  for (auto& f : files) {
    const std::filesystem::path p(f);
    c.bank_files.push_back(
        p.is_absolute() ? f : (std::filesystem::path(base_dir) / p).lexically_normal().string());
  }
  parse_smacs(root["smacs"], c, where);
  const YAML::Node pool = root["pool"];
  if (!pool || !pool.IsSequence() || pool.size() == 0)
    throw Error(where + ": key 'pool' must list at least one model");
  std::set<std::string> names;
  for (size_t i = 0; i < pool.size(); ++i) {
    c.pool.push_back(parse_backend(pool[i], i, where));
    if (!names.insert(c.pool.back().name).second)
      throw Error(where + ": pool: duplicate name '" + c.pool.back().name + "'");
  }
  return c;
}

ServerConfig load_server_config(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return parse_server_config(read_text_file(path), dir.empty() ? "." : dir, path);
}

}  // namespace smacs
