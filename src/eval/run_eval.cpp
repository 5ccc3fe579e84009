// Replays one test set through SMACS and every baseline: each row is scored on its own
// (score_row), then the rows are averaged per task (aggregate).
#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "eval/evaluate.h"

namespace smacs {

namespace {

// Accuracy, cost and calls per method or model, over the rows of one task.
struct Tally {
  std::map<std::string, RunningMean> score, cost, calls;
  std::map<std::string, RunningMean> length;                // chars of the chosen answer
  std::map<std::string, std::vector<JudgedAnswer>> judged;  // with a judge's reference
  RunningMean rounds;                                       // smacs_adaptive's rounds per question
  size_t escalated = 0;                                     // questions smacs_escalate escalated
  size_t rows = 0;
};

struct RowView {
  std::vector<float> scores;  // per pool member
  std::vector<double> costs;  // per pool member: USD, or 1 call when the data has no costs
};

int argmax_member(const std::vector<int>& pool_bank, const std::vector<float>& means) {
  int best = 0;
  for (size_t j = 1; j < pool_bank.size(); ++j) {
    const float a = means[pool_bank[j]], b = means[pool_bank[best]];
    if (!is_missing(a) && (is_missing(b) || a > b)) best = static_cast<int>(j);
  }
  return best;
}

// Majority vote over the extracted answers of `voters` (pool members); ties go to the group
// whose models are stronger overall. Returns the mean score of the winning group, or nullopt
// with no answers.
std::optional<double> vote_score(const std::vector<std::string>& answers, const RowView& row,
                                 const std::vector<float>& strength,
                                 const std::vector<int>& voters) {
  std::map<std::string, std::pair<int, double>> groups;  // answer -> (votes, strength)
  for (int j : voters)
    if (!answers[j].empty() && !is_missing(row.scores[j])) {
      groups[answers[j]].first += 1;
      groups[answers[j]].second += strength[j];
    }
  if (groups.empty()) return std::nullopt;
  auto best = std::max_element(groups.begin(), groups.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  RunningMean m;
  for (int j : voters)
    if (answers[j] == best->first && !is_missing(row.scores[j])) m.add(row.scores[j]);
  return m.value();
}

// A selected model's reply in the replay: its extracted answer (what agreement compares, read
// once per row), or its whole response when agreement compares responses or the answer is free
// text (the ranker reads a reply's lists, headings and length, as it does in the gateway).
std::optional<std::string> replayed_answer(const EvalInput& in, size_t row, int member,
                                           const RowView& view, bool whole) {
  if (is_missing(view.scores[member])) return std::nullopt;  // no recorded result: a failed call
  if (in.answers[row].empty()) return std::string();
  if (whole) return in.test->records[row].responses[static_cast<size_t>(in.pool_test[member])];
  return in.answers[row][member];
}

// Everything one test row needs besides the row: the parameters and the static choices.
struct RowContext {
  const EvalInput& in;
  const SmacsParams& params;
  const std::vector<float>& strength;  // per pool member: its mean score on the bank
  const std::vector<int>& everyone;    // vote's voters
  const std::vector<int>& best_k;      // vote_best_k's voters
  int best_single, best_of_task;
  EvalScope scope;
};

// Scores one row into a task's tally: what each method answered and what it paid.
class RowScorer {
 public:
  RowScorer(const RowContext& ctx, size_t row, Tally& tally)
      : ctx_(ctx),
        in_(ctx.in),
        row_(row),
        r_(in_.test->records[row]),
        t_(tally),
        // Seeded by the question text, as the gateway is (it sees no ids): same draws.
        plan_(plan_from_neighbors(*in_.bank, in_.neighbors[row], in_.pool_bank, ctx.params,
                                  r_.question)),
        prior_plan_(plan_) {
    if (!in_.rankers.empty())  // out of sample: a ranker fitted without this row
      plan_.ranker = &in_.rankers[in_.ranker_of_row[row]];
    for (int col : in_.pool_test) {
      view_.scores.push_back(r_.scores[col]);
      view_.costs.push_back(cost_in_unit(in_, r_, col));
    }
    if (ctx.params.prior != "rps") {  // a trained router's scores in place of RPS's
      Proxy proxy = plan_.proxy;
      proxy.score = router(ctx.params.prior).scores[row];
      prior_plan_ = plan_from_proxy(*in_.bank, std::move(proxy), ctx.params, r_.question);
    }
    prior_plan_.ranker = plan_.ranker;
    if (in_.response_embedder) plan_.embedder = prior_plan_.embedder = in_.response_embedder.get();
  }

  void score() {
    ++t_.rows;
    if (ctx_.scope == EvalScope::kRpsTop1)
      return first_answering("rps_top1", plan_.selection.ranked);
    if (!in_.methods_only) single_models();
    smacs_methods();
    if (ctx_.scope == EvalScope::kEverything) baselines();
  }

 private:
  // `name` asked the pool members `asked` (and `extra` beyond them).
  void charge(const std::string& name, const std::vector<int>& asked, double extra_cost = 0,
              size_t extra_calls = 0) {
    double cost = extra_cost;
    for (int a : asked) cost += view_.costs[a];
    t_.cost[name].add(cost);
    t_.calls[name].add(static_cast<double>(asked.size() + extra_calls));
  }
  // `name` answered with pool member `member` (-1: no answer, which is wrong).
  void credit(const std::string& name, int member) {
    if (member < 0)
      t_.score[name].add(0.0);
    else if (!is_missing(view_.scores[member]))
      add_score(name, view_.scores[member], in_.pool_test[member]);
  }
  // `name`'s score for the answer of test column `col`, with that answer's length.
  void add_score(const std::string& name, double score, int col) {
    t_.score[name].add(score);
    if (r_.responses.empty()) return;
    const double length = static_cast<double>(r_.responses[col].size());
    t_.length[name].add(length);
    const int ref = in_.length_reference;
    if (ref >= 0 && !is_missing(r_.scores[ref]))
      t_.judged[name].push_back({score, length - static_cast<double>(r_.responses[ref].size())});
  }
  void answered(const std::string& name, int member, const std::vector<int>& asked) {
    charge(name, asked);
    credit(name, member);
  }

  void single_models() {
    for (size_t m = 0; m < in_.test->models.size(); ++m) {
      if (is_missing(r_.scores[m])) continue;
      const std::string& name = in_.test->models[m];
      add_score(name, r_.scores[m], static_cast<int>(m));
      t_.calls[name].add(1);
      if (!in_.cost_in_usd || (!r_.costs.empty() && !is_missing(r_.costs[m])))
        t_.cost[name].add(cost_in_unit(in_, r_, static_cast<int>(m)));
    }
  }

  Rounds replay(const Plan& plan, const SmacsParams& params) const {
    const AnswerKind kind = in_.kinds.at(r_.task);
    const bool whole = params.posterior.rule == AgreementRule::kResponses || is_free_text(kind);
    return run_rounds(
        plan, params,
        [&](size_t from, size_t to) {
          std::vector<std::optional<std::string>> replies;
          for (size_t i = from; i < to; ++i)
            replies.push_back(replayed_answer(in_, row_, plan.selection.selected[i], view_, whole));
          return replies;
        },
        [kind](const auto&) { return kind; });
  }

  static int member_of(const Rounds& rounds) { return rounds.choice ? rounds.choice->member : -1; }

  const RouterColumn& router(const std::string& name) const {
    for (const auto& r : in_.routers)
      if (r.name == name) return r;
    throw Error("--prior " + name + ": that router was not trained for this evaluation");
  }

  // The first of `ranked` (pool members, best first) with a recorded result; every one tried
  // is charged, as a failed call hands over to the next.
  void first_answering(const std::string& name, const std::vector<int>& ranked) {
    std::vector<int> tried;
    for (int m : ranked) {
      tried.push_back(m);
      if (!is_missing(view_.scores[m])) break;
    }
    answered(name, tried.empty() || is_missing(view_.scores[tried.back()]) ? -1 : tried.back(),
             tried);
  }

  void routers() {
    for (const auto& r : in_.routers) {
      const std::vector<double>& score = r.scores[row_];
      std::vector<int> ranked(score.size());
      std::iota(ranked.begin(), ranked.end(), 0);
      std::stable_sort(ranked.begin(), ranked.end(),
                       [&](int a, int b) { return score[a] > score[b]; });
      first_answering(r.name, ranked);
    }
  }

  void smacs_methods() {
    const Plan& plan = prior_plan_;
    SmacsParams fixed = ctx_.params;
    fixed.adaptive.enabled = false;
    SmacsParams no_drop = fixed;
    no_drop.p_drop = 0;
    Plan plan_nd = plan;  // the same plan, selected without dropping
    plan_nd.selection = select_models(rank_scores(plan.proxy, fixed.rps.cost_weight), plan.k, 0, 0);
    const auto& selected = plan.selection.selected;
    const Rounds all = replay(plan, fixed);
    answered("smacs", member_of(all), selected);
    if (ctx_.scope == EvalScope::kEverything)
      answered("smacs_no_drop", member_of(replay(plan_nd, no_drop)), plan_nd.selection.selected);
    if (!ctx_.params.adaptive.enabled) {
      if (in_.escalate >= 0) escalate(all, selected);
      return;
    }
    const Rounds rounds = replay(plan, ctx_.params);
    const std::vector<int> asked(selected.begin(),
                                 selected.begin() + static_cast<long>(rounds.asked()));
    answered("smacs_adaptive", member_of(rounds), asked);
    t_.rounds.add(static_cast<double>(rounds.rounds));
    if (in_.escalate >= 0) escalate(rounds, asked);
  }

  // smacs_escalate: SMACS's rounds, then the escalation model's answer when the pool's
  // posterior stayed unsure (without a second call when it was one of the models asked).
  void escalate(const Rounds& rounds, const std::vector<int>& asked) {
    const std::string name = "smacs_escalate";
    const int col = in_.escalate;
    if (rounds.settled) return answered(name, member_of(rounds), asked);
    ++t_.escalated;
    for (int m : asked)
      if (in_.pool_test[m] == col && !is_missing(view_.scores[m])) return answered(name, m, asked);
    charge(name, asked, cost_in_unit(in_, r_, col), 1);
    if (is_missing(r_.scores[col]))  // the escalation failed: keep the pool's answer
      return credit(name, member_of(rounds));
    add_score(name, r_.scores[col], col);
  }

  void baselines() {
    first_answering("rps_top1", plan_.selection.ranked);  // the best-ranked model
    routers();
    answered("best_single", ctx_.best_single, {ctx_.best_single});
    answered("best_per_task", ctx_.best_of_task, {ctx_.best_of_task});
    RunningMean random, random_cost;
    int oracle = -1;  // the cheapest of the best: what a perfect router would pay
    for (size_t j = 0; j < view_.scores.size(); ++j) {
      const float s = view_.scores[j];
      if (is_missing(s)) continue;
      random.add(s);
      random_cost.add(view_.costs[j]);
      const int jj = static_cast<int>(j);
      if (oracle < 0 || s > view_.scores[oracle] ||
          (s == view_.scores[oracle] && view_.costs[j] < view_.costs[oracle]))
        oracle = jj;
    }
    t_.score["random"].add(random.value());
    t_.cost["random"].add(random_cost.value());
    t_.calls["random"].add(1);
    answered("oracle", oracle, {oracle});
    if (in_.answers[row_].empty()) return;
    // No answer to vote on is a wrong answer, as a failed call is for smacs.
    for (const auto& [name, voters] :
         {std::pair{"vote", &ctx_.everyone}, std::pair{"vote_best_k", &ctx_.best_k}}) {
      charge(name, *voters);
      t_.score[name].add(
          vote_score(in_.answers[row_], view_, ctx_.strength, *voters).value_or(0.0));
    }
  }

  const RowContext& ctx_;
  const EvalInput& in_;
  size_t row_;
  const Record& r_;
  Tally& t_;
  Plan plan_;        // RPS's
  Plan prior_plan_;  // what smacs selects from: RPS's, or a trained router's (--prior)
  RowView view_;
};

std::map<std::string, double> means_of(const std::map<std::string, RunningMean>& by_name,
                                       double scale) {
  std::map<std::string, double> out;
  for (const auto& [name, m] : by_name)
    if (m.n > 0) out[name] = scale * m.value();
  return out;
}

EvalReport aggregate(const EvalInput& in, const SmacsParams& params,
                     const std::map<std::string, Tally>& tallies) {
  EvalReport rep;
  rep.pool = in.pool_names;
  rep.models = in.test->models;
  rep.params = params;
  rep.cost_unit = in.cost_in_usd ? "usd" : "calls";
  if (in.escalate >= 0) rep.escalate_to = in.test->models[in.escalate];
  if (in.length_reference >= 0) rep.length_reference = in.test->models[in.length_reference];
  std::string score_only;
  for (const auto& [task, t] : tallies) {
    TaskResult tr;
    tr.task = task;
    tr.n = t.rows;
    tr.kind = in.kinds.at(task);
    tr.posterior_used = t.score.count("vote") > 0 && params.posterior.agreement;
    tr.accuracy = means_of(t.score, 100.0);
    tr.cost = means_of(t.cost, 1.0);
    tr.calls = means_of(t.calls, 1.0);
    tr.length = means_of(t.length, 1.0);
    tr.judged = t.judged;
    set_length_controlled(tr);
    tr.rounds = t.rounds.value();
    tr.escalated = 100.0 * static_cast<double>(t.escalated) / static_cast<double>(t.rows);
    if (!t.score.count("vote")) score_only += (score_only.empty() ? "" : ", ") + task;
    rep.tasks.push_back(std::move(tr));
  }
  if (!score_only.empty())
    rep.notes.push_back("score-only data (no response texts) for " + score_only +
                        ": SMACS's posterior falls back to the prior (so smacs = rps_top1 there) "
                        "and majority vote is not available");
  for (const auto& r : in.routers) rep.router_seconds[r.name] = r.train_seconds;
  set_averages(rep);
  return rep;
}

}  // namespace

double cost_in_unit(const EvalInput& in, const Record& r, int test_col) {
  if (!in.cost_in_usd) return 1.0;
  return r.costs.empty() || is_missing(r.costs[test_col]) ? 0.0 : r.costs[test_col];
}

void set_length_controlled(TaskResult& task) {
  task.length_controlled.clear();
  for (const auto& [name, judged] : task.judged)
    task.length_controlled[name] = length_controlled_score(judged);
}

void set_averages(EvalReport& report) {
  report.average = average_over_tasks(report.tasks, &TaskResult::accuracy);
  report.average_cost = average_over_tasks(report.tasks, &TaskResult::cost);
  report.average_calls = average_over_tasks(report.tasks, &TaskResult::calls);
  report.average_length = average_over_tasks(report.tasks, &TaskResult::length);
  report.average_length_controlled =
      average_over_tasks(report.tasks, &TaskResult::length_controlled);
}

bool has_pool_result(const EvalInput& in, const Record& r) {
  return std::any_of(in.pool_test.begin(), in.pool_test.end(),
                     [&](int col) { return !is_missing(r.scores[col]); });
}

std::map<std::string, double> average_over_tasks(const std::vector<TaskResult>& tasks,
                                                 std::map<std::string, double> TaskResult::*field) {
  std::map<std::string, RunningMean> avg;
  for (const auto& t : tasks)
    for (const auto& [name, v] : t.*field) avg[name].add(v);
  std::map<std::string, double> out;
  for (const auto& [name, m] : avg)
    if (m.n == tasks.size()) out[name] = m.value();
  return out;
}

EvalReport run_eval(const EvalInput& in, const SmacsParams& params, EvalScope scope) {
  const PriorBank& bank = *in.bank;
  const size_t pool_size = in.pool_bank.size();
  const int best_single = argmax_member(in.pool_bank, bank.global_mean);
  std::vector<float> strength;
  for (int col : in.pool_bank)
    strength.push_back(is_missing(bank.global_mean[col]) ? 0 : bank.global_mean[col]);
  // vote: every pool member; vote_best_k: the k strongest on the bank (the static ensemble).
  std::vector<int> everyone(pool_size), best_k;
  std::iota(everyone.begin(), everyone.end(), 0);
  best_k = everyone;
  std::stable_sort(best_k.begin(), best_k.end(),
                   [&](int a, int b) { return strength[a] > strength[b]; });
  best_k.resize(std::min(params.k, pool_size));

  std::map<std::string, Tally> tallies;  // per task
  std::map<std::string, int> best_of_task;
  for (size_t i = 0; i < in.test->records.size(); ++i) {
    const Record& r = in.test->records[i];
    if (!has_pool_result(in, r)) continue;
    if (!best_of_task.count(r.task)) {
      const int t = bank.task_index(r.task);
      best_of_task[r.task] = t < 0 ? best_single : argmax_member(in.pool_bank, bank.task_mean[t]);
    }
    const RowContext ctx{
        in, params, strength, everyone, best_k, best_single, best_of_task[r.task], scope};
    RowScorer(ctx, i, tallies[r.task]).score();
  }
  return aggregate(in, params, tallies);
}

}  // namespace smacs
