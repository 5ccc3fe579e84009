// One question through SMACS: embed -> retrieve -> proxy scores -> select (RPS + dropping);
// then, once the selected models have answered, the hybrid posterior picks one (EPE).
// Generation sits between plan() and choose() so that eval can replay recorded answers and
// the server can query real backends concurrently.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "aggregation/aggregate.h"
#include "bank/prior_bank.h"
#include "posterior/hybrid.h"
#include "selection/proxy.h"
#include "selection/select.h"

namespace smacs {

// Adaptive fan-out: ask the selected models in rounds and stop as soon as the answers settle
// the question, so easy questions cost one or two calls and hard ones k.
struct AdaptiveParams {
  bool enabled = false;      // off: one round of all k
  size_t first_round = 2;    // models asked at once in the first round; then one per round
  double settle = 0.6;       // settled: >= 2 candidates agree on the chosen answer and they hold
                             // this share of the answered candidates' prior weight
  double solo = 2.0;         // the top model alone when its proxy score is at least this (its
                             // expected accuracy here; > 1: never), then rounds if it fails
  double solo_margin = 2.0;  // ... or when it leads the next selected model's score by at least
                             // this (judged free text, where no score is high; > 1: never)
  double max_loss = 0.25;    // --tune: the cheapest solo/solo_margin/settle within this many
                             // accuracy points of fixed-k SMACS on the train data
};

// What --tune may fit for one bank task alone: a bank that holds several tasks keeps each
// task's own best fan-out and trust in the prior, instead of one compromise for all.
struct TaskParams {
  size_t k = 3;
  double p_drop = 0.2;
  double alpha = 0.5;
  TextRule text_rule = TextRule::kHybrid;  // how its free-text answers are chosen
};

// EPE's two modes (method.md 2): select one of the k replies (k calls), or aggregate N
// prior-sampled subsets of them through an aggregator model (k + N calls, two rounds).
enum class EpeMode { kSelect, kAggregate };
EpeMode parse_epe_mode(const std::string& name);  // select | aggregate
const char* to_string(EpeMode mode);

struct SmacsParams {
  EpeMode mode = EpeMode::kSelect;
  AggregateParams aggregate{};  // aggregate mode: the k selected models are its references,
                                // asked in one round with no dropping (the subsets explore);
                                // adaptive.enabled skips the aggregator once they settle
  RpsParams rps;
  size_t k = 3;         // models selected per question
  double p_drop = 0.2;  // prior dropping probability (0 turns exploration off)
  PosteriorParams posterior;
  AdaptiveParams adaptive;
  uint64_t seed = 42;
  // By bank task name: k, p_drop and alpha for a question whose neighbourhood votes for that
  // task (the proxy's task); the values above for the others.
  std::map<std::string, TaskParams> per_task{};
  // What ranks the models before the posterior: "rps" (retrieval, the paper's prior) or a
  // trained router ("router_knn", "router_mlp", "router_mf"; eval only).
  std::string prior = "rps";
  // The answer ranker for TextRule kRanker and kBlend: fitted on the bank (--tune in eval, the
  // gateway at each bank load); untrained falls back to the hybrid.
  AnswerRanker ranker{};
};

// The k, dropping and alpha for a question of bank task `task`: its fitted values, or `p`'s
// own (task -1, or none fitted for it).
TaskParams params_for_task(const SmacsParams& p, const PriorBank& bank, int task);

nlohmann::json params_to_json(const SmacsParams& p);

struct Plan {
  Proxy proxy;                           // per pool member
  Selection selection;                   // positions in the pool
  size_t k = 0;                          // models this question selects (params_for_task's)
  PosteriorParams posterior;             // and how its posterior weighs them
  const Embedder* embedder = nullptr;    // the bank's: free-text agreement embeds with it
  const AnswerRanker* ranker = nullptr;  // scores free-text candidates (posterior.text_rule)
};

// A question's neighbours in the bank: retrieval_depth() of them (the exact rule's K + 1 or
// the smacs rule's N).
std::vector<Neighbor> retrieve(const PriorBank& bank, std::string_view question, const RpsParams& p,
                               uint32_t exclude = kNoRow);
std::vector<Neighbor> retrieve(const PriorBank& bank, const SparseVec& question, const RpsParams& p,
                               uint32_t exclude = kNoRow);

// Gives `plan` (its proxy scores set) the k and posterior of its voted task and the bank's
// embedder; returns that task's parameters, whose dropping the selection then uses. The one
// place eval's plans and the gateway's take their per-task settings.
TaskParams apply_task_params(Plan& plan, const SmacsParams& params, const PriorBank& bank);

// Which pool members a plan may select (the gateway's: backends whose circuit is closed, not
// the escalation model); empty: every member. A member left out is neither ranked nor drawn.
using Eligible = std::vector<bool>;

// The selection of a plan whose proxy scores are given (a trained router's, say): the per-task
// k and dropping of the proxy's task.
Plan plan_from_proxy(const PriorBank& bank, Proxy proxy, const SmacsParams& params,
                     std::string_view question_key, const Eligible& eligible = {});

// Question -> plan, the one way eval and serve plan: proxy scores from the neighbours, then
// the per-task k, dropping and posterior, then the selection among the eligible members.
// `question_key` seeds this question's dropping draw (with params.seed): same key, same draw.
Plan plan_from_neighbors(const PriorBank& bank, std::span<const Neighbor> neighbors,
                         const std::vector<int>& pool, const SmacsParams& params,
                         std::string_view question_key, const Eligible& eligible = {});

// A live question's plan in two steps (the gateway's): embed it with the bank's embedder,
// before any lock on the bank is taken (an embedder may call out); then, under that lock,
// retrieve its neighbours and plan as plan_from_neighbors.
SparseVec embed_question(const PriorBank& bank, std::string_view question);
Plan plan_question(const PriorBank& bank, const SparseVec& embedded, const std::vector<int>& pool,
                   const SmacsParams& params, std::string_view question_key,
                   const Eligible& eligible = {});

// How a reply's candidate text marks tool calls ("tool_calls: name{args} ..."): they agree by
// function and arguments, whatever the task's answer kind.
inline constexpr std::string_view kToolCalls = "tool_calls:";

// `answers[i]` is the reply of plan.selection.selected[i], or nullopt where that backend
// failed. Returns nullopt when every backend failed.
struct Choice {
  int member;  // position in the pool of the chosen model
  Posterior posterior;
  std::vector<int> candidates;  // pool positions that answered, aligned with the posterior
};
std::optional<Choice> choose(const Plan& plan,
                             const std::vector<std::optional<std::string>>& answers,
                             AnswerKind kind);

// Whether more answers could change `choice`: not when the posterior cannot use agreement
// (off, or no answer has text); otherwise the adaptive rule above.
bool settled(const std::optional<Choice>& choice,
             const std::vector<std::optional<std::string>>& answers, AnswerKind kind,
             const SmacsParams& params);

// SMACS's generation step in rounds (one round of all k unless params.adaptive.enabled).
// `ask` queries the given selected positions (indices into plan.selection.selected) and
// returns their replies in order (nullopt: failed); `kind_of` reads the answers' kind from
// the replies so far.
using AskFn = std::function<std::vector<std::optional<std::string>>(size_t from, size_t to)>;
using KindFn = std::function<AnswerKind(const std::vector<std::optional<std::string>>&)>;
struct Rounds {
  std::optional<Choice> choice;                     // nullopt: every model asked failed
  std::vector<std::optional<std::string>> answers;  // per selected model asked, in order
  size_t rounds = 0;
  bool settled = false;  // false after the last round: the posterior stayed unsure
  AnswerKind kind = AnswerKind::kText;
  size_t asked() const { return answers.size(); }
};
Rounds run_rounds(const Plan& plan, const SmacsParams& params, const AskFn& ask,
                  const KindFn& kind_of);

// The same rounds one step at a time, for a caller that does not wait in place for the
// replies (the gateway): `next` names the selected positions to ask, `take` reads their
// replies. `plan` must outlive it.
class RoundsInProgress {
 public:
  RoundsInProgress(const Plan& plan, const SmacsParams& params);
  // The selected positions [from, to) to ask next; nullopt when the rounds are over.
  std::optional<std::pair<size_t, size_t>> next() const;
  // The replies of the positions `next` named, in order (nullopt: failed; too few: the rest
  // failed).
  void take(std::vector<std::optional<std::string>> replies, const KindFn& kind_of);
  const Rounds& result() const { return out_; }

 private:
  const Plan* plan_;
  SmacsParams params_;
  bool solo_ = false;  // the first round asks the top model alone
  size_t next_ = 0;    // asked after the next round
  bool over_ = false;
  Rounds out_;
};

}  // namespace smacs
