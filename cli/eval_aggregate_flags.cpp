// `smacs eval`'s aggregate-mode flags: the paper's EPE (eval/aggregate_eval.h).
#include <cstdlib>

#include "cli/checks.h"
#include "cli/eval_flags.h"
#include "core/cache_dir.h"
#include "core/error.h"

namespace smacs::cli {

void add_aggregate_flags(CLI::App& cmd, EvalFlags& f) {
  AggregateParams& a = f.aggregate.params;
  AggregatorEndpoint& e = f.aggregator;
  cmd.add_option("--mode", f.mode,
                 "select: SMACS picks one of the k replies (the default); aggregate: also "
                 "measure the paper's EPE (smacs_aggregate and smacs_aggregate_adaptive): "
                 "calls per question and the share of questions the references settle, and "
                 "with --aggregator-url its accuracy")
      ->capture_default_str()
      ->check(CLI::IsMember({"select", "aggregate"}));
  cmd.add_option("--references", f.aggregate.references,
                 "Aggregate mode: the top-k models by the prior that answer as references")
      ->capture_default_str()
      ->check(positive());
  cmd.add_option("--candidates", a.candidates,
                 "Aggregate mode: N subsets, one aggregator call each")
      ->capture_default_str()
      ->check(within(1, 64));
  cmd.add_option("--keep", a.keep, "Aggregate mode: references per subset")
      ->capture_default_str()
      ->check(positive());
  cmd.add_option("--sampler", f.sampler, "How subsets are drawn: prior, softmax or uniform")
      ->capture_default_str()
      ->check(CLI::IsMember({"prior", "softmax", "uniform"}));
  cmd.add_option("--ppl-coef", a.ppl_coef,
                 "Weight of the aggregator's log-probability confidence in the candidates' score")
      ->capture_default_str()
      ->check(finite());
  cmd.add_option("--aggregator-url", e.url,
                 "Ask this OpenAI-compatible endpoint as the aggregator (implies --mode "
                 "aggregate); its replies are cached (--aggregate-cache)");
  cmd.add_option("--aggregator-model", e.model, "The aggregator's model id at --aggregator-url");
  cmd.add_option("--aggregator-api-key-env", f.aggregator_key_env,
                 "The environment variable holding the aggregator's API key (sent as Bearer)");
  cmd.add_option("--aggregator-concurrency", e.concurrency, "Aggregator calls in flight at once")
      ->capture_default_str()
      ->check(within(1, 1024));
  cmd.add_option("--aggregator-timeout-ms", e.timeout_ms, "Per aggregator call attempt")
      ->capture_default_str()
      ->check(positive());
  cmd.add_option("--aggregator-retries", e.retries, "Extra attempts on 429, 5xx and errors")
      ->capture_default_str()
      ->check(within(0, 10));
  cmd.add_option("--aggregator-max-tokens", f.aggregator_max_tokens,
                 "max_tokens of each candidate (default: the server's)")
      ->check(non_negative());
  cmd.add_option("--aggregator-temperature", a.temperature, "The aggregator's sampling temperature")
      ->capture_default_str()
      ->check(within(0.0, 2.0));
  cmd.add_option("--aggregate-cache", e.cache_path,
                 "The SQLite cache of aggregator replies, keyed by (aggregator, question, "
                 "ordered subset, sampling settings) (default: ~/.cache/smacs/aggregate.sqlite)");
}

// The aggregate flags checked and folded into f.aggregate.
void resolve_aggregate_flags(EvalFlags& f) {
  f.aggregate.params.sampler = parse_subset_sampler(f.sampler);
  if (f.aggregator.url.empty()) {
    if (!f.aggregator.model.empty()) throw Error("--aggregator-model needs --aggregator-url");
    return;
  }
  f.mode = "aggregate";
  if (f.aggregator.model.empty()) throw Error("--aggregator-url needs --aggregator-model");
  if (!f.aggregator_key_env.empty()) {
    const char* key = std::getenv(f.aggregator_key_env.c_str());
    if (!key) throw Error("--aggregator-api-key-env: $" + f.aggregator_key_env + " is not set");
    f.aggregator.api_key = key;
  }
  if (f.aggregator_max_tokens > 0) f.aggregator.max_tokens = f.aggregator_max_tokens;
  if (f.aggregator.cache_path.empty()) {
    const auto dir = cache_dir();
    if (!dir)
      throw Error("--aggregate-cache: no HOME or XDG_CACHE_HOME for the default; give a path");
    f.aggregator.cache_path = *dir + "/aggregate.sqlite";
  }
  f.aggregate.live = f.aggregator;
}

}  // namespace smacs::cli
