// The gateway's configuration as parsed: values that cannot work are refused naming the key,
// llama backends and the embedder are read (no server is started).
#include "server/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "test_util.h"

using namespace smacs;
using namespace smacs::test;

TEST(ServerConfig, NegativePricesAreRefused) {
  try {
    parse_server_config(
        "bank: b.csv\npool:\n  - {name: m, base_url: http://127.0.0.1:1/v1, price_prompt: -1}\n",
        "/tmp");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'price_prompt' must be >= 0"), std::string::npos)
        << e.what();
  }
}

TEST(ServerConfig, BadConfigsNameTheKey) {
  const std::string ok = "bank: b.csv\npool:\n  - {name: m, base_url: http://127.0.0.1:1/v1}\n";
  EXPECT_NO_THROW(parse_server_config(ok, "/tmp"));
  auto message = [](const std::string& yaml) {
    return error_of([&] { parse_server_config(yaml, "/tmp"); });
  };
  EXPECT_NE(message("pool: []\nbank: b").find("'pool'"), std::string::npos);
  EXPECT_NE(message(ok + "listen: nope").find("'listen'"), std::string::npos);
  EXPECT_NE(message(ok + "smacs: {k: 0}").find("'k'"), std::string::npos);
  EXPECT_NE(message(ok + "smacs: {alpha: high}").find("'alpha'"), std::string::npos);
  EXPECT_NE(message(ok + "colour: blue").find("'colour'"), std::string::npos);
  EXPECT_NE(message(ok + "smacs: {tune: sometimes}").find("'tune'"), std::string::npos);
  EXPECT_EQ(parse_server_config(ok, "/tmp").tune, ServerConfig::Tune::kNo);
  EXPECT_EQ(parse_server_config(ok + "smacs: {tune: true}", "/tmp").tune,
            ServerConfig::Tune::kBankQuestions);
  EXPECT_EQ(parse_server_config(ok + "smacs: {tune: unseen_tasks}", "/tmp").tune,
            ServerConfig::Tune::kUnseenTasks);
  EXPECT_NE(message("bank: b\npool:\n  - {name: m, base_url: ftp://x}\n").find("'base_url'"),
            std::string::npos);
  EXPECT_NE(
      message("bank: b\npool:\n  - {name: m, base_url: http://x, api_key_env: SMACS_NO_SUCH_VAR}\n")
          .find("SMACS_NO_SUCH_VAR"),
      std::string::npos);
  EXPECT_NE(message("key: [unclosed").find("malformed YAML"), std::string::npos);
  EXPECT_EQ(parse_server_config(ok, "/etc/smacs").bank_files.front(), "/etc/smacs/b.csv");
  // ca_file: relative to the config, and it must exist.
  const std::string dir = test::temp_path("ca-config");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/ca.pem") << "not checked here";
  const std::string tls =
      "bank: b\npool:\n  - {name: m, base_url: 'https://h/v1', ca_file: ca.pem}\n";
  EXPECT_EQ(parse_server_config(tls, dir).pool.front().http.ca_file, dir + "/ca.pem");
  EXPECT_NE(message("bank: b\npool:\n  - {name: m, base_url: 'https://h/v1', ca_file: gone.pem}\n")
                .find("'ca_file'"),
            std::string::npos);
}

// Before: /dev/zero as the config was read until memory ran out (7 GB in 15 s), so was a
// config of any size, and YAML nested too deep was "bad file".
TEST(ServerConfig, AnEndlessFileOrDeepNestingIsRefusedInOneLine) {
  const std::string endless = error_of([] { load_server_config("/dev/zero"); });
  EXPECT_NE(endless.find("/dev/zero: is a device, not a file"), std::string::npos) << endless;
  const std::string big =
      write_temp("big_config.yaml", "# " + std::string(5 << 20, 'x') + "\nbank: b.csv\n");
  EXPECT_NE(error_of([&] { load_server_config(big); }).find("larger than 4 MiB"),
            std::string::npos);
  const std::string deep = error_of([] {
    parse_server_config("pool: " + std::string(5000, '[') + std::string(5000, ']'), "/tmp");
  });
  EXPECT_NE(deep.find("malformed YAML (nested too deep"), std::string::npos) << deep;
}

TEST(ServerConfig, ReadsLlamaBackendsAndTheEmbedder) {
  const std::string yaml = R"(bank: b.csv
embedder: {type: llama, gguf: e.gguf, context: 256}
pool:
  - {name: remote, base_url: http://127.0.0.1:1/v1, max_concurrency: 4}
  - {name: local, type: llama, gguf: models/m.gguf, slots: 2, threads: 3, temperature: 0, seed: 7,
     price_prompt: 0.5, price_completion: 1.5}
)";
  const ServerConfig c = parse_server_config(yaml, "/etc/smacs");
  ASSERT_EQ(c.pool.size(), 2u);
  EXPECT_EQ(c.pool[0].type, BackendConfig::Type::kHttp);
  EXPECT_EQ(c.pool[0].max_concurrency(), 4u);
  EXPECT_EQ(c.pool[1].type, BackendConfig::Type::kLlama);
  EXPECT_EQ(c.pool[1].name(), "local");
  EXPECT_EQ(c.pool[1].llama.gguf, "/etc/smacs/models/m.gguf");
  EXPECT_EQ(c.pool[1].max_concurrency(), 2u);
  EXPECT_EQ(c.pool[1].llama.threads, 3);
  EXPECT_EQ(c.pool[1].llama.temperature, 0.0f);
  EXPECT_EQ(c.pool[1].llama.seed, 7u);
  EXPECT_EQ(c.pool[1].price.prompt, 0.5);
  EXPECT_EQ(c.pool[1].price.completion, 1.5);
  EXPECT_FALSE(c.pool[0].price.known());  // unknown unless given
  ASSERT_EQ(c.embedder.type, EmbedderConfig::Type::kLlama);
  EXPECT_EQ(c.embedder.llama.gguf, "/etc/smacs/e.gguf");
  EXPECT_EQ(c.embedder.llama.context, 256u);
  EXPECT_TRUE(parse_server_config(
                  "bank: b\nembedder: {type: tfidf}\npool: [{name: m, base_url: http://x}]", "/tmp")
                  .embedder.type == EmbedderConfig::Type::kTfidf);
  auto message = [](const std::string& pool) {
    return error_of([&] { parse_server_config("bank: b\npool:\n  - " + pool + "\n", "/tmp"); });
  };
  const ServerConfig http = parse_server_config(
      "bank: b\nembedder: {type: http, base_url: http://127.0.0.1:9/v1, model: bge, batch: 8}\n"
      "pool: [{name: m, base_url: http://x}]",
      "/tmp");
  ASSERT_EQ(http.embedder.type, EmbedderConfig::Type::kHttp);
  EXPECT_EQ(http.embedder.http.model, "bge");
  EXPECT_EQ(http.embedder.http.batch, 8u);
  auto embedder_message = [](const std::string& e) {
    return error_of([&] {
      parse_server_config("bank: b\nembedder: " + e + "\npool: [{name: m, base_url: http://x}]",
                          "/");
    });
  };
  EXPECT_NE(embedder_message("{type: http, base_url: http://x}").find("'model'"),
            std::string::npos);
  EXPECT_NE(embedder_message("{type: http, model: m}").find("'base_url'"), std::string::npos);
  EXPECT_NE(embedder_message("{type: word2vec}").find("tfidf, llama or http"), std::string::npos);
  EXPECT_NE(embedder_message("{type: tfidf, gguf: x}").find("unknown key 'gguf'"),
            std::string::npos);
  EXPECT_NE(message("{name: x, type: gpu}").find("'type' must be http or llama"),
            std::string::npos);
  EXPECT_NE(message("{name: x, type: llama}").find("'gguf'"), std::string::npos);
  EXPECT_NE(message("{name: x, type: llama, gguf: m, slots: 0}").find("'slots'"),
            std::string::npos);
  EXPECT_NE(message("{name: x, type: llama, gguf: m, base_url: http://x}").find("'base_url'"),
            std::string::npos);  // an http key on a llama model is a mistake worth naming
}
