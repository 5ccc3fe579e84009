// Replays one test set through SMACS and every baseline, one row at a time.
#include <algorithm>
#include <numeric>

#include "eval/evaluate.h"

namespace smacs {

namespace {

struct Mean {
  double sum = 0;
  size_t n = 0;
  void add(double v) { sum += v, ++n; }
};

struct RowView {
  std::vector<float> scores;  // per pool member
  bool any_result() const {
    return std::any_of(scores.begin(), scores.end(), [](float s) { return !is_missing(s); });
  }
  // The first member of `order` with a recorded result: a failed backend hands over to the next.
  int first_with_result(const std::vector<int>& order) const {
    for (int m : order)
      if (!is_missing(scores[m])) return m;
    return -1;
  }
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
  Mean m;
  for (int j : voters)
    if (answers[j] == best->first && !is_missing(row.scores[j])) m.add(row.scores[j]);
  return m.sum / static_cast<double>(m.n);
}

std::optional<std::string> replayed_answer(const EvalInput& in, size_t row, int member,
                                           const RowView& view) {
  if (is_missing(view.scores[member])) return std::nullopt;  // no recorded result: a failed call
  return in.answers[row].empty() ? std::string() : in.answers[row][member];
}

// The pool member SMACS answers with, or -1 when every selected model failed.
int smacs_member(const EvalInput& in, size_t row, const Plan& plan, const RowView& view,
                 const SmacsParams& params) {
  std::vector<std::optional<std::string>> replies;
  for (int member : plan.selection.selected)
    replies.push_back(replayed_answer(in, row, member, view));
  const auto choice = choose(plan, replies, in.kinds.at(in.test->records[row].task), params);
  return choice ? choice->member : -1;  // every selected model failed: the gateway's 502
}

}  // namespace

EvalReport run_eval(const EvalInput& in, const SmacsParams& params) {
  const PriorBank& bank = *in.bank;
  const Dataset& test = *in.test;
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

  std::map<std::string, std::map<std::string, Mean>> acc;  // task -> name -> mean
  std::map<std::string, size_t> rows_per_task;
  std::map<std::string, int> best_of_task;
  for (size_t i = 0; i < test.records.size(); ++i) {
    const Record& r = test.records[i];
    RowView view;
    for (int col : in.pool_test) view.scores.push_back(r.scores[col]);
    if (!view.any_result()) continue;
    auto& a = acc[r.task];
    ++rows_per_task[r.task];
    if (!best_of_task.count(r.task)) {
      const int t = bank.task_index(r.task);
      best_of_task[r.task] = t < 0 ? best_single : argmax_member(in.pool_bank, bank.task_mean[t]);
    }
    for (size_t m = 0; m < test.models.size(); ++m)
      if (!is_missing(r.scores[m])) a[test.models[m]].add(r.scores[m]);

    // Seeded by the question text, as the gateway is (it sees no ids): same draws, same answers.
    const Plan plan = plan_from_neighbors(bank, in.neighbors[i], in.pool_bank, params, r.question);
    SmacsParams no_drop = params;
    no_drop.p_drop = 0;
    Plan plan_nd{plan.proxy, select_models(plan.proxy.score, params.k, 0, 0)};
    auto add_member = [&](const std::string& name, int member) {  // -1: no answer, a failure
      if (member < 0)
        a[name].add(0.0);
      else if (!is_missing(view.scores[member]))
        a[name].add(view.scores[member]);
    };
    add_member("smacs", smacs_member(in, i, plan, view, params));
    add_member("smacs_no_drop", smacs_member(in, i, plan_nd, view, no_drop));
    add_member("rps_top1", view.first_with_result(plan.selection.ranked));
    add_member("best_single", best_single);
    add_member("best_per_task", best_of_task[r.task]);
    Mean random;
    float oracle = 0;
    for (size_t j = 0; j < pool_size; ++j)
      if (!is_missing(view.scores[j]))
        random.add(view.scores[j]), oracle = std::max(oracle, view.scores[j]);
    a["random"].add(random.sum / static_cast<double>(random.n));
    a["oracle"].add(oracle);
    if (!in.answers[i].empty()) {
      // No answer to vote on is a wrong answer, as a failed call is for smacs.
      a["vote"].add(vote_score(in.answers[i], view, strength, everyone).value_or(0.0));
      a["vote_best_k"].add(vote_score(in.answers[i], view, strength, best_k).value_or(0.0));
    }
  }

  EvalReport rep;
  rep.pool = in.pool_names;
  rep.models = test.models;
  rep.params = params;
  std::map<std::string, Mean> avg;
  std::string score_only;
  for (const auto& [task, names] : acc) {
    TaskResult tr;
    tr.task = task;
    tr.n = rows_per_task[task];
    tr.kind = in.kinds.at(task);
    tr.posterior_used = names.count("vote") > 0 && params.posterior.agreement;
    for (const auto& [name, m] : names)
      if (m.n > 0) tr.accuracy[name] = 100.0 * m.sum / static_cast<double>(m.n);
    if (!names.count("vote")) score_only += (score_only.empty() ? "" : ", ") + task;
    rep.tasks.push_back(std::move(tr));
  }
  if (!score_only.empty())
    rep.notes.push_back("score-only data (no response texts) for " + score_only +
                        ": SMACS's posterior falls back to the prior (so smacs = rps_top1 there) "
                        "and majority vote is not available");
  for (const auto& tr : rep.tasks)
    for (const auto& [name, pct] : tr.accuracy) avg[name].add(pct);
  for (const auto& [name, m] : avg)
    if (m.n == rep.tasks.size()) rep.average[name] = m.sum / static_cast<double>(m.n);
  return rep;
}

}  // namespace smacs
