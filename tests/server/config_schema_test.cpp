// The one table of config keys (server/config_schema.h): the parser knows exactly its keys,
// every key's documented value is one the parser takes, and docs/configuration.md is what it
// generates.
#include "server/config_schema.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "server/config.h"
#include "test_util.h"

using namespace smacs;

namespace {

// `key: value` for every key of a section, as a YAML flow mapping.
std::string section_yaml(std::string_view section) {
  std::string out = "{";
  for (const ConfigKey& k : config_schema()) {
    if (k.section != section) continue;
    if (out.size() > 1) out += ", ";
    out.append(k.key).append(": ").append(k.value);
  }
  return out + "}";
}

// A config with every top-level key at its documented value, and `replace` for some of them.
std::string config_with(const std::map<std::string, std::string>& replace) {
  std::string out;
  for (const ConfigKey& k : config_schema()) {
    if (!k.section.empty()) continue;
    const auto r = replace.find(std::string(k.key));
    out.append(k.key).append(": ").append(r != replace.end() ? r->second : k.value).append("\n");
  }
  return out;
}

}  // namespace

TEST(ConfigSchema, EveryDocumentedValueIsOneTheParserTakes) {
  const auto dir = std::filesystem::temp_directory_path() / "smacs_config_schema_test";
  std::filesystem::create_directories(dir / "certs");
  std::ofstream(dir / "certs" / "ca.pem") << "not read at parse time\n";
  ::setenv("MODEL_A_KEY", "k", 1);
  ::setenv("EMBED_KEY", "k", 1);
  std::string pool = "[";  // (appended: GCC 12 warns falsely on a chain of + here)
  pool.append(section_yaml("pool")).append(", ").append(section_yaml("pool.llama")).append("]");
  for (const char* embedder : {"embedder", "embedder.http", "embedder.llama"}) {
    const std::string text =
        config_with({{"pool", pool},
                     {"smacs", section_yaml("smacs")},
                     {"embedder", section_yaml(embedder)},
                     {"aggregators", "[{name: agg, base_url: 'http://x:1/v1'}]"}});
    try {
      const ServerConfig c = parse_server_config(text, dir.string(), "schema.yaml");
      EXPECT_EQ(c.pool.size(), 2u);
    } catch (const Error& e) {
      ADD_FAILURE() << embedder << ": " << e.what() << "\n" << text;
    }
  }
  std::filesystem::remove_all(dir);
}

// The numbers the table calls defaults are what a config without them gets.
TEST(ConfigSchema, TheDocumentedDefaultsAreTheRealOnes) {
  const ServerConfig c = parse_server_config(
      "bank: b.csv\npool: [{name: m, base_url: 'http://x:1/v1'}, {name: l, type: llama, gguf: "
      "l.gguf}]\nembedder: {type: http, base_url: 'http://x:2/v1', model: e}\n",
      ".", "c.yaml");
  const auto& p = c.params;
  const auto& h = c.pool[0].http;
  const auto& l = c.pool[1].llama;
  const std::map<std::string, double> real = {
      {".max_body_bytes", double(c.max_body_bytes)},
      {".request_timeout_ms", c.request_timeout_ms},
      {".threads", double(c.threads)},
      {".max_connections", double(c.max_connections)},
      {".idle_timeout_ms", c.idle_timeout_ms},
      {".header_timeout_ms", c.header_timeout_ms},
      {".sse_keepalive_ms", c.sse_keepalive_ms},
      {".remember_bytes", double(c.remember_bytes)},
      {".feedback_per_second", c.feedback_per_second},
      {".bank_poll_ms", c.follow.poll_ms},
      {".bank_grace_ms", c.follow.grace_ms},
      {"smacs.k", double(p.k)},
      {"smacs.p_drop", p.p_drop},
      {"smacs.alpha", p.posterior.alpha},
      {"smacs.neighbors", double(p.rps.neighbors)},
      {"smacs.tau", p.rps.tau},
      {"smacs.beta", p.rps.beta},
      {"smacs.gamma", p.rps.gamma},
      {"smacs.seed", double(p.seed)},
      {"smacs.first_round", double(p.adaptive.first_round)},
      {"smacs.settle", p.adaptive.settle},
      {"smacs.solo", p.adaptive.solo},
      {"smacs.solo_margin", p.adaptive.solo_margin},
      {"smacs.cost_weight", p.rps.cost_weight},
      {"smacs.candidates", double(p.aggregate.candidates)},
      {"smacs.keep", double(p.aggregate.keep)},
      {"smacs.ppl_coef", p.aggregate.ppl_coef},
      {"smacs.aggregator_temperature", p.aggregate.temperature},
      {"smacs.max_candidate_bytes", double(p.aggregate.max_candidate_bytes)},
      {"pool.max_concurrency", double(h.max_concurrency)},
      {"pool.timeout_ms", h.timeout_ms},
      {"pool.retries", h.retries},
      {"pool.backoff_ms", h.backoff_ms},
      {"pool.llama.context", l.context},
      {"pool.llama.threads", l.threads},
      {"pool.llama.slots", double(l.slots)},
      {"pool.llama.max_queue", double(l.max_queue)},
      {"pool.llama.max_tokens", l.max_tokens},
      {"pool.llama.temperature", l.temperature},
      {"pool.llama.top_p", l.top_p},
      {"pool.llama.top_k", l.top_k},
      {"pool.llama.seed", double(l.seed)},
      {"embedder.http.batch", double(c.embedder.http.batch)},
      {"embedder.http.timeout_ms", c.embedder.http.timeout_ms},
      {"embedder.http.retries", c.embedder.http.retries},
  };
  size_t checked = 0;
  for (const ConfigKey& k : config_schema()) {
    const auto r = real.find(std::string(k.section) + "." + std::string(k.key));
    if (r == real.end()) continue;
    ++checked;
    EXPECT_TRUE(k.is_default) << k.key;
    EXPECT_NEAR(std::stod(std::string(k.value)), r->second, 1e-6) << k.section << "." << k.key;
  }
  EXPECT_EQ(checked, real.size());
}

TEST(ConfigSchema, AKeyOutsideTheTableIsRefusedByName) {
  for (const auto& [yaml, key] : std::vector<std::pair<std::string, std::string>>{
           {config_with({{"pool", "[{name: m, base_url: 'http://x:1/v1', retry: 3}]"}}), "retry"},
           {config_with({{"smacs", "{k: 3, top_k: 2}"}}), "top_k"},
           {config_with({{"embedder", "{type: tfidf, cache: none}"}}), "cache"},
           {config_with({{"max_body_bytes", "1024\nlisten_port: 80"}}), "listen_port"}}) {
    try {
      parse_server_config(yaml, ".", "c.yaml");
      ADD_FAILURE() << "accepted " << key;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("unknown key '" + key + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(ConfigSchema, DocsConfigMdIsTheGeneratedReference) {
  const std::string text =
      test::file_text(std::string(SMACS_SHARED_DATA) + "/../docs/configuration.md");
  ASSERT_FALSE(text.empty()) << "docs/configuration.md is missing";
  EXPECT_EQ(text, config_reference())
      << "regenerate it: build/smacs serve --config-reference > docs/configuration.md";
  // Every section's keys are in it, one row each.
  for (const ConfigKey& k : config_schema())
    EXPECT_NE(text.find("| `" + std::string(k.key) + "` |"), std::string::npos) << k.key;
}
