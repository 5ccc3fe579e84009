// `smacs prior ...`: build, grow, shrink and inspect the persistent prior bank.
#include <iostream>
#include <memory>

#include "bank/snapshot.h"
#include "cli/checks.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "core/error.h"
#include "core/secrets.h"
#include "data/load.h"
#include "embedding/embedder.h"
#include "embedding/embedding_cache.h"
#include "prior/builder.h"
#include "server/config.h"

namespace smacs::cli {

namespace {

struct PriorFlags {
  std::vector<std::string> data, models;
  std::string out, bank, config, model, smcs_bank, embedder_url, embedder_model, embedder_gguf,
      embedding_cache;
  size_t sample = 0;
  uint64_t seed = 42;
  int timeout_ms = 120000;
  int lease_ms = 0;
};

// Backends for the named pool models of a config (all of them when `names` is empty).
std::vector<ModelEndpoint> endpoints(const std::string& config_path,
                                     const std::vector<std::string>& names) {
  const ServerConfig config = load_server_config(config_path);
  std::vector<ModelEndpoint> out;
  for (const auto& b : config.pool)
    if (names.empty() || std::find(names.begin(), names.end(), b.name()) != names.end())
      out.push_back({make_backend(b), b.max_concurrency(), b.price});
  for (const auto& n : names)
    if (std::none_of(config.pool.begin(), config.pool.end(),
                     [&](const auto& b) { return b.name() == n; }))
      throw Error(config_path + ": model '" + n + "' is not in the pool");
  return out;
}

int run_build(BankFile& bank, const std::vector<Record>& questions,
              std::vector<ModelEndpoint> models, const PriorFlags& f) {
  BuildOptions options;
  options.request_timeout_ms = f.timeout_ms;
  options.lease_ms = f.lease_ms;
  BuildReport r;
  {
    ProgressBar bar("asking models");
    r = build_prior(bank, questions, models, options, bar.callback());
  }
  std::cout << "stored " << r.stored << " results (" << r.skipped << " already in the bank, "
            << r.failed << " failed) for " << questions.size() << " questions x " << models.size()
            << " models\n";
  for (const auto& e : r.first_errors) std::cerr << "  failed: " << e << '\n';
  if (r.failed > 0) {
    std::cerr << "smacs: " << r.failed
              << " calls failed and were not stored; run the same command again to retry them\n";
    return 3;
  }
  return 0;
}

// --smcs-bank: the authors' bank into a smacs bank, and its precomputed vectors into the
// embedding cache as those of the embedder that made them (which must be given: queries are
// embedded by it at serve time, and must have the same width).
int import_smcs_bank(const PriorFlags& f) {
  if (f.embedder_url.empty() == f.embedder_gguf.empty())
    throw Error(
        "--smcs-bank: give the embedder its vectors came from: --embedder-url URL "
        "--embedder-model M (the paper's: Linq-Embed-Mistral) or --embedder-gguf F");
  EmbedderConfig config;
  if (f.embedding_cache == "none")
    throw Error("--smcs-bank keeps its vectors in the embedding cache: it cannot be 'none'");
  if (!f.embedding_cache.empty()) config.cache = f.embedding_cache;
  if (!config.cache) throw Error("--smcs-bank: no embedding cache path (set --embedding-cache)");
  if (!f.embedder_url.empty()) {
    config.type = EmbedderConfig::Type::kHttp;
    config.http = {.base_url = f.embedder_url, .model = f.embedder_model};
  } else {
    config.type = EmbedderConfig::Type::kLlama;
    config.llama.gguf = f.embedder_gguf;
  }
  const SmcsBank imported = read_smcs_bank(f.smcs_bank);
  std::vector<std::string> questions;
  for (const auto& r : imported.data.records) questions.push_back(r.question);
  seed_embedding_cache(*config.cache, make_embedder(config), questions, imported.embeddings);
  save_bank(imported.data, f.out);
  std::cout << "wrote " << redact_url(f.out) << ": " << imported.data.records.size()
            << " questions, " << imported.data.models.size() << " models; their "
            << imported.embeddings.front().size() << "-dimensional vectors into " << *config.cache
            << '\n';
  return 0;
}

int info(const std::string& path) {
  const PriorBank bank = open_bank(path);
  std::cout << redact_url(path) << ": " << bank.size() << " questions, " << bank.data.models.size()
            << " models\n";
  for (size_t t = 0; t < bank.tasks.size(); ++t)
    std::cout << "  task " << bank.tasks[t] << ": "
              << std::count(bank.task_of.begin(), bank.task_of.end(), t) << " questions\n";
  for (size_t m = 0; m < bank.data.models.size(); ++m)
    std::cout << "  model " << bank.data.models[m] << ": mean score "
              << (is_missing(bank.global_mean[m]) ? 0.0 : bank.global_mean[m]) << '\n';
  return 0;
}

}  // namespace

void add_prior_commands(CLI::App& app, Commands& commands) {
  auto* prior = app.add_subcommand("prior", "Build, grow and inspect the prior bank");
  prior->require_subcommand(1);
  auto f = std::make_shared<PriorFlags>();
  auto* import =
      prior->add_subcommand("import", "Import recorded results into a SQLite prior bank");
  auto* data_flag =
      import->add_option("--data", f->data, "Files with recorded results (.json, .csv, .jsonl)");
  auto* smcs_flag = import->add_option(
      "--smcs-bank", f->smcs_bank,
      "The SMACS authors' released bank (one JSON object of questions with model_res and a "
      "precomputed embedding each) instead of --data");
  data_flag->excludes(smcs_flag);
  import->add_option(
      "--embedder-url", f->embedder_url,
      "With --smcs-bank: the OpenAI-compatible /v1/embeddings endpoint that made its "
      "vectors (queries are embedded by it later)");
  import->add_option("--embedder-model", f->embedder_model, "The model name for --embedder-url");
  import->add_option("--embedder-gguf", f->embedder_gguf,
                     "With --smcs-bank: the GGUF embedding model that made its vectors");
  import->add_option("--embedding-cache", f->embedding_cache,
                     "Where --smcs-bank's vectors are kept (default: "
                     "~/.cache/smacs/embeddings.sqlite; serve and eval read them there)");
  import->add_option("--out", f->out, "The bank file to write (replaced atomically)")->required();
  auto* build = prior->add_subcommand(
      "build",
      "Run the pool's models on labelled questions, grade and store every answer (resumable)");
  build
      ->add_option("--config", f->config,
                   "The YAML config whose pool lists the models (as for serve)")
      ->required();
  build
      ->add_option("--data", f->data,
                   "Labelled questions: JSONL {id, task, question, gold | tests, grader?}")
      ->required();
  build
      ->add_option("--out", f->out,
                   "The bank to create or continue: a .sqlite file, or postgresql://user@host/db "
                   "(then any number of builders may run at once, on any machines)")
      ->required();
  build->add_option("--models", f->models, "Only these pool models")->delimiter(',');
  build->add_option("--timeout-ms", f->timeout_ms, "Deadline of each model call")
      ->capture_default_str()
      ->check(positive());
  build
      ->add_option("--lease-ms", f->lease_ms,
                   "A shared bank: how long a claimed (question, model) pair stays this "
                   "builder's; a killed builder's claims go to the others after it (default: "
                   "--timeout-ms + 30 s)")
      ->check(non_negative());
  auto* add = prior->add_subcommand(
      "add-model",
      "Evaluate one new model on the bank's questions (no re-embedding, no retraining)");
  add->add_option("name", f->model, "The pool model to add")->required();
  add->add_option("--config", f->config, "The YAML config whose pool has the model")->required();
  add->add_option("--bank", f->bank, "The bank: a .sqlite file or postgresql://user@host:port/db")
      ->required();
  add->add_option("--sample", f->sample,
                  "Ask only a seeded sample of this many questions (0 = all)")
      ->capture_default_str();
  add->add_option("--seed", f->seed, "Seed of the sample")->capture_default_str();
  add->add_option("--timeout-ms", f->timeout_ms, "Deadline of each model call")
      ->capture_default_str()
      ->check(positive());
  add->add_option("--lease-ms", f->lease_ms, "As for build")->check(non_negative());
  auto* remove = prior->add_subcommand("remove-model", "Delete a model's results from the bank");
  remove->add_option("name", f->model, "The model")->required();
  remove
      ->add_option("--bank", f->bank, "The bank: a .sqlite file or postgresql://user@host:port/db")
      ->required();
  auto* show = prior->add_subcommand("info", "Summarise a prior bank");
  show->add_option("bank", f->bank, "The bank: a .sqlite file or postgresql://user@host:port/db")
      ->required();
  // After a write, open the bank once: that leaves a fresh snapshot beside it, so the next
  // `serve` or `eval --bank` opens it without re-indexing (bank/snapshot.h).
  auto refreshed = [](const std::string& path, int code) {
    if (code == 0) {
      const PriorBank bank = open_bank(path);
      std::cout << "indexed " << bank.size() << " questions into " << snapshot_path(path) << '\n';
    }
    return code;
  };
  commands.emplace_back(import, [f, refreshed] {
    if (!f->smcs_bank.empty()) return refreshed(f->out, import_smcs_bank(*f));
    if (f->data.empty()) throw Error("give --data (or --smcs-bank)");
    const Dataset data = load_files(f->data);
    // An empty file must not replace a bank: the import writes over --out whole.
    if (data.records.empty()) throw Error("no questions in --data: nothing to import");
    save_bank(data, f->out);
    std::cout << "wrote " << redact_url(f->out) << ": " << data.records.size() << " questions, "
              << data.models.size() << " models\n";
    return refreshed(f->out, 0);
  });
  commands.emplace_back(build, [f, refreshed] {
    auto bank = BankFile::open(f->out, BankFile::Mode::kCreate);
    return refreshed(
        f->out, run_build(*bank, load_files(f->data).records, endpoints(f->config, f->models), *f));
  });
  commands.emplace_back(add, [f, refreshed] {
    auto bank = BankFile::open(f->bank, BankFile::Mode::kWrite);
    return refreshed(f->bank, run_build(*bank, bank_questions(*bank, f->sample, f->seed),
                                        endpoints(f->config, {f->model}), *f));
  });
  commands.emplace_back(remove, [f, refreshed] {
    BankFile::open(f->bank, BankFile::Mode::kWrite)->remove_model(f->model);
    std::cout << "removed " << f->model << " from " << redact_url(f->bank) << '\n';
    return refreshed(f->bank, 0);
  });
  commands.emplace_back(show, [f] { return info(f->bank); });
}

}  // namespace smacs::cli
