// `smacs eval`: measure SMACS against single models, baselines and the oracle.
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "bank/bank_store.h"
#include "cli/checks.h"
#include "cli/commands.h"
#include "cli/eval_flags.h"
#include "cli/progress.h"
#include "core/deadline.h"
#include "core/error.h"
#include "data/load.h"
#include "eval/aggregate_eval.h"
#include "eval/folds.h"
#include "eval/frontier.h"
#include "eval/report.h"
#include "router/router.h"

namespace smacs::cli {

namespace {

std::map<std::string, AnswerKind> parse_kinds(const std::vector<std::string>& specs) {
  std::map<std::string, AnswerKind> kinds;
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos) throw Error("--answer-kind expects TASK=KIND, got '" + spec + "'");
    kinds[spec.substr(0, eq)] = parse_answer_kind(spec.substr(eq + 1));
  }
  return kinds;
}

SmacsParams fitted_params(const PriorBank& bank, const EvalFlags& f,
                          const std::map<std::string, AnswerKind>& kinds,
                          TuneSplit split = TuneSplit::kLeaveOneOut) {
  if (!f.tune) {
    SmacsParams p = f.params;
    if (p.posterior.text_rule != TextRule::kHybrid) p.ranker = fit_bank_ranker(bank, f.pool, kinds);
    return p;
  }
  const auto start = Clock::now();
  SmacsParams p;
  {
    ProgressBar bar("tuning (train CV)");
    p = tune_params(bank, f.pool, kinds, f.params, bar.callback(), split);
  }
  std::cerr << "tuned on the train data by "
            << (split == TuneSplit::kLeaveOneTaskOut ? "leave-one-task-out" : "leave-one-out")
            << " CV in " << ms_since(start) / 1000 << " s: " << params_to_json(p).dump() << '\n';
  return p;
}

// The test data embedded and retrieved against the bank, once for every run over it.
EvalInput prepare_test(const PriorBank& bank, const Dataset& test, const EvalFlags& f,
                       const std::map<std::string, AnswerKind>& kinds, const SmacsParams& p) {
  ProgressBar bar("evaluating");
  EvalInput in =
      prepare_eval(bank, test, f.pool, kinds, p.rps.retrieval_depth(), false, bar.callback());
  set_escalation(in, f.escalate_to);
  std::vector<std::string> routers;
  if (!f.no_routers)
    for (RouterKind k : kRouterKinds) routers.push_back(router_name(k));
  else if (p.prior != "rps")
    routers.push_back(p.prior);
  add_routers(in, routers, false, p.seed);
  for (const auto& r : in.routers)
    std::cerr << r.name << ": " << r.fitted << " (trained in " << r.train_seconds << " s)\n";
  return in;
}

// run_eval, then aggregate mode when asked for (its calls counted on stderr: a re-run takes
// them from the cache, and the report stays the same).
EvalReport evaluate_input(const EvalInput& in, const EvalFlags& f, const SmacsParams& p) {
  EvalReport rep = run_eval(in, p);
  if (f.mode != "aggregate") return rep;
  ProgressBar bar("aggregator calls");
  const AggregatorCalls calls = add_aggregate_mode(in, p, f.aggregate, rep, bar.callback());
  if (f.aggregate.live)
    std::cerr << "aggregator " << f.aggregate.live->model << ": " << calls.made << " calls made, "
              << calls.cached << " from the cache, " << calls.failed << " failed\n";
  return rep;
}

EvalReport evaluate_once(const PriorBank& bank, const Dataset& test, const EvalFlags& f,
                         const std::map<std::string, AnswerKind>& kinds, const SmacsParams& p) {
  return evaluate_input(prepare_test(bank, test, f, kinds, p), f, p);
}

// Trains on every task but one and tests on that one: how SMACS does on a task it never saw.
// --tune fits for that case too: leave-one-task-out inside the train tasks.
int leave_one_task_out(const Dataset& train, const Dataset& test, const EvalFlags& f,
                       const std::map<std::string, AnswerKind>& kinds, const BankOptions& options) {
  std::set<std::string> tasks;
  for (const auto& r : test.records) tasks.insert(r.task);
  nlohmann::json out = nlohmann::json::object();
  std::map<std::string, double> sums;
  std::printf("%-16s %12s %12s %12s %12s\n", "held-out task", "best_single", "rps_top1", "smacs",
              "oracle");
  for (const auto& held : tasks) {
    Dataset tr{train.models, {}}, te{test.models, {}};
    for (const auto& r : train.records)
      if (r.task != held) tr.records.push_back(r);
    for (const auto& r : test.records)
      if (r.task == held) te.records.push_back(r);
    const PriorBank bank = build_bank(std::move(tr), options);
    const EvalReport rep = evaluate_once(
        bank, te, f, kinds, fitted_params(bank, f, kinds, TuneSplit::kLeaveOneTaskOut));
    const auto& acc = rep.tasks.front().accuracy;
    std::printf("%-16s %12.2f %12.2f %12.2f %12.2f\n", held.c_str(), acc.at("best_single"),
                acc.at("rps_top1"), acc.at("smacs"), acc.at("oracle"));
    for (const char* name : {"best_single", "rps_top1", "smacs", "oracle"})
      sums[name] += acc.at(name);
    out[held] = acc;
  }
  const double n = static_cast<double>(tasks.size());
  std::printf("%-16s %12.2f %12.2f %12.2f %12.2f\n", "average", sums["best_single"] / n,
              sums["rps_top1"] / n, sums["smacs"] / n, sums["oracle"] / n);
  if (!f.report.empty()) write_file(f.report, out.dump(2) + "\n");
  return 0;
}

// --frontier: the cost knobs swept on the train data (leave-one-out), measured on the test
// input `in` (already prepared for the evaluation).
Frontier frontier_of(const PriorBank& bank, const EvalInput& in, const EvalFlags& f,
                     const std::map<std::string, AnswerKind>& kinds, const SmacsParams& p) {
  const auto start = Clock::now();
  ProgressBar bar("frontier (train CV)");
  EvalInput train = prepare_eval(bank, bank.data, f.pool, kinds, p.rps.retrieval_depth(), true);
  if (p.prior != "rps") add_routers(train, {p.prior}, true, p.seed);
  if (!f.escalate_to.empty()) {
    train.escalate = bank.data.model_index(f.escalate_to);
    if (train.escalate < 0)
      throw Error("--escalate-to: '" + f.escalate_to + "' is not in the train data");
  }
  Frontier fr = sweep_frontier(train, in, p, bar.callback());
  std::cerr << "frontier swept in " << ms_since(start) / 1000 << " s\n";
  return fr;
}

void write_outputs(const EvalReport& rep, const EvalFlags& f, const Frontier* frontier = nullptr) {
  if (!rep.router_seconds.empty()) {  // not in the reports: they are deterministic
    double total = 0;
    std::cerr << "routers trained in";
    for (const auto& [name, s] : rep.router_seconds) {
      std::cerr << ' ' << name << ' ' << s << " s,";
      total += s;
    }
    std::cerr << " all " << total << " s\n";
  }
  print_table(std::cout, rep);
  const bool versus = has_comparators(rep);
  if (versus) print_versus(std::cout, rep);
  if (frontier) print_frontier(std::cout, *frontier);
  nlohmann::json json = report_to_json(rep);
  if (frontier) json.update(frontier_to_json(*frontier));
  if (!f.report.empty()) write_file(f.report, json.dump(2) + "\n");
  if (!f.markdown.empty())
    write_file(f.markdown,
               report_to_markdown(rep) + (versus ? "\n" + versus_to_markdown(rep) : ""));
  if (!f.plot.empty()) write_file(f.plot, report_to_svg(rep));
  if (!f.versus_plot.empty()) {
    if (!versus) throw Error("--versus-plot: every model of the test data is in the pool");
    write_file(f.versus_plot, versus_to_svg(rep));
  }
  if (frontier) write_file(f.frontier, frontier_to_svg(*frontier));
  for (const auto& [flag, path] : {std::pair{"report", f.report},
                                   {"markdown", f.markdown},
                                   {"plot", f.plot},
                                   {"versus plot", f.versus_plot},
                                   {"frontier plot", f.frontier}})
    if (!path.empty()) std::cout << flag << " written to " << path << '\n';
}

// --folds K: each fold of the test data answered by a bank of the other K-1 (tuned there).
int cross_fitted(const Dataset& data, const EvalFlags& f,
                 const std::map<std::string, AnswerKind>& kinds, const BankOptions& options) {
  const auto start = Clock::now();
  std::vector<EvalReport> reports;
  for (size_t fold = 0; fold < f.folds; ++fold) {
    FoldSplit split = split_fold(data, fold, f.folds);
    std::cerr << "fold " << fold + 1 << "/" << f.folds << ": bank " << split.bank.records.size()
              << " questions, test " << split.test.records.size() << '\n';
    const PriorBank bank = build_bank(std::move(split.bank), options);
    reports.push_back(evaluate_once(bank, split.test, f, kinds, fitted_params(bank, f, kinds)));
  }
  EvalReport rep = merge_fold_reports(reports);
  rep.notes.push_back(std::to_string(f.folds) +
                      "-fold cross-fitting: every question answered once, by a bank of the "
                      "other folds" +
                      std::string(f.tune ? " (tuned inside those folds)" : ""));
  std::cerr << "cross-fitted in " << ms_since(start) / 1000 << " s\n";
  write_outputs(rep, f);
  return 0;
}

int run(const EvalFlags& f) {
  if (f.folds > 0 && (!f.train.empty() || !f.bank.empty() || f.loto))
    throw Error(
        "--folds cross-fits the --test data: give no --train, --bank or "
        "--leave-one-task-out with it");
  if (!f.frontier.empty() && (f.folds > 0 || f.loto))
    throw Error(
        "--frontier fits its knobs on a train split: give --train or --bank, not --folds "
        "or --leave-one-task-out");
  if (f.folds == 0 && f.train.empty() == f.bank.empty())
    throw Error("give exactly one of --train and --bank (or --folds K)");
  const auto kinds = parse_kinds(f.kinds);
  BankOptions options;
  options.index = parse_index_kind(f.index);
  auto start = Clock::now();
  Dataset train = f.folds > 0      ? Dataset{}
                  : f.bank.empty() ? load_files(f.train)
                                   : load_bank_data(f.bank);
  const Dataset test = load_files(f.test);
  if (test.records.empty()) throw Error("no questions in --test");
  if (!f.embedder_gguf.empty() && !f.embedder_url.empty())
    throw Error("give at most one of --embedder-gguf and --embedder-url");
  EmbedderConfig embedder;  // the built-in TF-IDF unless one of these is given
  if (f.embedding_cache == "none")
    embedder.cache = std::nullopt;
  else if (!f.embedding_cache.empty())
    embedder.cache = f.embedding_cache;
  if (!f.embedder_gguf.empty()) {
    embedder.type = EmbedderConfig::Type::kLlama;
    embedder.llama.gguf = f.embedder_gguf;
  }
  if (!f.embedder_url.empty()) {
    embedder.type = EmbedderConfig::Type::kHttp;
    embedder.http = {.base_url = f.embedder_url, .model = f.embedder_model};
  }
  options.embedder = make_embedder(embedder);
  if (f.loto) return leave_one_task_out(train, test, f, kinds, options);
  if (f.folds > 0) return cross_fitted(test, f, kinds, options);
  const PriorBank bank = with_embedding_bar(
      options, [&](const BankOptions& o) { return build_bank(std::move(train), o); });
  std::cerr << "prior bank: " << bank.size() << " questions, " << bank.tasks.size() << " task(s), "
            << bank.data.models.size() << " models; test: " << test.records.size()
            << " questions (loaded and indexed in " << ms_since(start) / 1000 << " s)\n";
  const SmacsParams params = fitted_params(bank, f, kinds);
  start = Clock::now();
  const EvalInput in = prepare_test(bank, test, f, kinds, params);
  const EvalReport rep = evaluate_input(in, f, params);
  std::cerr << "evaluated in " << ms_since(start) / 1000 << " s\n";
  if (f.frontier.empty()) {
    write_outputs(rep, f);
  } else {
    const Frontier frontier = frontier_of(bank, in, f, kinds, params);
    write_outputs(rep, f, &frontier);
  }
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, Commands& commands) {
  auto f = std::make_shared<EvalFlags>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Measure SMACS against every model, the baselines and the oracle on recorded results");
  cmd->add_option(
      "--train", f->train,
      "Train files (.json RouterDC, .csv RouterBench, .jsonl smacs) that form the prior bank");
  cmd->add_option("--bank", f->bank, "A prior bank file (smacs prior import) instead of --train");
  cmd->add_option("--test", f->test,
                  "Test files or directories to replay (a directory of ZeroEval result files: "
                  "one file per model)")
      ->required();
  cmd->add_option("--folds", f->folds,
                  "Cross-fit the test data in K folds (for benchmarks without a train split): "
                  "each fold is answered by a bank of the other folds")
      ->check(within(2, 100));
  cmd->add_option("--pool", f->pool,
                  "Models SMACS may use (default: every model in both train and test)")
      ->delimiter(',');
  cmd->add_option("--k", f->params.k, "Models selected per question")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--seed", f->params.seed, "Seed of the prior-dropping draws")
      ->capture_default_str();
  cmd->add_flag("--tune", f->tune,
                "Fit the parameters by leave-one-out cross-validation on the train data");
  cmd->add_option("--neighbors", f->params.rps.neighbors, "N: neighbours averaged")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--tau", f->params.rps.tau, "Similarity temperature")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--beta", f->params.rps.beta,
                  "Shrinkage weight towards the neighbourhood's task mean")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_option("--gamma", f->params.rps.gamma, "Shrinkage weight towards the global mean")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_flag("--no-task-gate", f->no_gate,
                "Average neighbours of every task, not only the majority task");
  cmd->add_option("--p-drop", f->params.p_drop, "Prior dropping probability")
      ->capture_default_str()
      ->check(within(0.0, 1.0));
  cmd->add_flag("--no-drop", f->no_drop, "Turn prior dropping off (ablation)");
  cmd->add_option("--alpha", f->params.posterior.alpha, "Weight of the prior in the hybrid score")
      ->capture_default_str()
      ->check(within(0.0, 1.0));
  cmd->add_flag("--no-agreement", f->no_agreement, "Choose by the prior alone (ablation)");
  cmd->add_option("--agreement", f->agreement_rule,
                  "What the posterior's agreement compares: answers (extracted answers where the "
                  "kind has them, embedded responses for text and code) or responses (embedded "
                  "whole responses for every kind: the paper's consensus, an ablation)")
      ->capture_default_str()
      ->check(CLI::IsMember({"answers", "responses"}));
  cmd->add_option("--text-rule", f->text_rule,
                  "How free-text and code answers are chosen: hybrid (prior + agreement), "
                  "consensus (prior-weighted word F1 with the others), ranker (learned from the "
                  "bank's judged answers) or blend (hybrid + ranker). With --tune, hybrid lets "
                  "tuning choose one rule and k for all free-text tasks (by the mean of raw and "
                  "length-controlled score); another rule is kept")
      ->capture_default_str()
      ->check(CLI::IsMember({"hybrid", "consensus", "ranker", "blend"}));
  cmd->add_flag("--adaptive", f->params.adaptive.enabled,
                "Also report smacs_adaptive: ask the selected models in rounds (2, then one "
                "more at a time) until their answers settle the question");
  cmd->add_option("--settle", f->params.adaptive.settle,
                  "Adaptive stop rule: >= 2 candidates agree on the chosen answer and hold this "
                  "share of the answered candidates' prior weight")
      ->capture_default_str()
      ->check(within(0.0, 1.0));
  cmd->add_option("--solo", f->params.adaptive.solo,
                  "Adaptive: ask the top model alone when its proxy score (expected accuracy) "
                  "is at least this (> 1: never)")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_option("--solo-margin", f->params.adaptive.solo_margin,
                  "Adaptive: ... or when its proxy score leads the next selected model's by at "
                  "least this (> 1: never)")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_option("--adaptive-max-loss", f->params.adaptive.max_loss,
                  "With --tune: fit --solo, --solo-margin and --settle to the cheapest setting "
                  "within this many accuracy points of fixed-k SMACS on the train data")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_option("--escalate-to", f->escalate_to,
                  "Also report smacs_escalate: ask this model (of the test data) when the pool's "
                  "posterior stays unsure after the last round, and take its answer");
  cmd->add_option("--cost-weight", f->params.rps.cost_weight,
                  "lambda: rank models by proxy score - lambda * expected cost / the pool's "
                  "highest expected cost (needs recorded costs)")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_option("--proxy", f->proxy,
                  "The proxy-score rule: smacs (shrunk, weighted mean of the neighbours' scores) "
                  "or smcs (the paper's: similarity-weighted count of correct answers among the "
                  "neighbours within 95 % of the 401st's similarity)")
      ->capture_default_str()
      ->check(CLI::IsMember({"smacs", "smcs"}));
  cmd->add_option("--prior", f->params.prior,
                  "What ranks the models before the posterior: rps (retrieval, the default) or a "
                  "trained router (router_knn, router_mlp, router_mf; trained on the bank)")
      ->capture_default_str()
      ->check(CLI::IsMember({"rps", "router_knn", "router_mlp", "router_mf"}));
  cmd->add_flag("--no-routers", f->no_routers,
                "Do not train the router_knn/router_mlp/router_mf baselines (saves their "
                "training time)");
  cmd->add_option("--answer-kind", f->kinds,
                  "Override answer extraction per task: TASK=choice|number|text|code|literal");
  cmd->add_option("--index", f->index, "Neighbour index: exact or hnsw")->capture_default_str();
  cmd->add_option("--embedder-gguf", f->embedder_gguf,
                  "Embed questions with this GGUF embedding model (llama.cpp) instead of TF-IDF");
  cmd->add_option("--embedder-url", f->embedder_url,
                  "Embed questions through this OpenAI-compatible endpoint (e.g. "
                  "http://127.0.0.1:8001/v1; POST /embeddings) instead of TF-IDF");
  cmd->add_option("--embedder-model", f->embedder_model, "The model name for --embedder-url");
  cmd->add_option("--embedding-cache", f->embedding_cache,
                  "Keep the bank's GGUF/URL embeddings in this SQLite file ('none': nowhere; "
                  "default: ~/.cache/smacs/embeddings.sqlite)");
  cmd->add_flag("--leave-one-task-out", f->loto,
                "Test each task with a bank built from the other tasks");
  cmd->add_option("--frontier", f->frontier,
                  "Sweep the cost knobs (cost weight, k, adaptive stop rule, escalation) on the "
                  "train data, measure the fitted ones on the test data and draw accuracy vs "
                  "cost per question as an SVG here (the points also go into --report)");
  add_aggregate_flags(*cmd, *f);
  cmd->add_option("--report", f->report, "Write the JSON report here");
  cmd->add_option("--markdown", f->markdown, "Write a Markdown table here");
  cmd->add_option("--plot", f->plot, "Write an SVG bar chart here");
  cmd->add_option("--versus-plot", f->versus_plot,
                  "Write an SVG chart of the collective vs the models outside the pool here");
  commands.emplace_back(cmd, [f] {
    for (const std::string* out :
         {&f->report, &f->markdown, &f->plot, &f->versus_plot, &f->frontier})
      check_output_path(*out);
    EvalFlags flags = *f;
    flags.params.rps.task_gate = !flags.no_gate;
    flags.params.rps.rule = parse_proxy_rule(flags.proxy);
    flags.params.posterior.rule = parse_agreement_rule(flags.agreement_rule);
    flags.params.posterior.text_rule = parse_text_rule(flags.text_rule);
    if (flags.no_drop) flags.params.p_drop = 0;
    flags.params.posterior.agreement = !flags.no_agreement;
    resolve_aggregate_flags(flags);
    return run(flags);
  });
}

}  // namespace smacs::cli
