// Aggregate mode's second round (method.md 2a), one step at a time like RoundsInProgress, so
// eval (recorded references, a live or cached aggregator) and the gateway (live everything)
// run the same code: the references' replies in, the aggregator calls to make out, their
// candidates in, the chosen candidate out.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/smacs.h"

namespace smacs {

// What one aggregator call wrote.
struct AggregateCandidate {
  std::string text;                      // the reply's content (tool calls: candidate text)
  std::optional<double> mean_logprob{};  // its mean token log-probability, when it sent them
};

// Why the aggregator was not asked.
enum class AggregateSkip {
  kNo,            // it was asked
  kSettled,       // adaptive: the references agree
  kNoReferences,  // every reference failed
  kCircuitOpen,   // the gateway: the aggregator's circuit is open
  kBudget,        // the gateway: the request's max_cost_usd is spent
};
const char* to_string(AggregateSkip why);  // "settled", ...; "" for kNo

struct Aggregation {
  AggregateSkip skipped = AggregateSkip::kNo;
  std::vector<size_t> references;            // positions in plan.selection.selected that answered
  std::vector<std::vector<size_t>> subsets;  // per call: positions in plan.selection.selected
  std::vector<std::optional<AggregateCandidate>> candidates;  // per call (nullopt: it failed)
  std::vector<CandidateScore> scores;                         // per call (failed: zeros)
  int best = -1;  // the call whose candidate is the answer; -1: answer in select mode
  bool asked() const { return skipped == AggregateSkip::kNo; }
  // Every call failed: the select-mode answer from the references stands.
  bool fell_back() const { return asked() && best < 0; }
};

class AggregationInProgress {
 public:
  // `rounds` are the references' round (its answers what posterior agreement compares, its
  // `settled` what adaptive skips on); `reference_texts[i]` is what plan.selection.selected[i]
  // wrote, the text the aggregator reads (nullopt: no reply). `question_key` seeds the subsets.
  AggregationInProgress(const Plan& plan, const Rounds& rounds,
                        std::vector<std::optional<std::string>> reference_texts,
                        const SmacsParams& params, std::string_view question_key);

  // The references of each call, in subset order (empty when the aggregator is skipped)...
  std::vector<std::vector<std::string>> call_references() const;
  std::vector<std::string> references_of(size_t call) const;  // ...and of one of them
  // The replies of every call, in call order (a short vector: the rest failed). `kind` decides
  // what is compared: extracted code for code, function and arguments for tool calls.
  void take(std::vector<std::optional<AggregateCandidate>> replies, AnswerKind kind,
            const Embedder& embedder);
  // Not asked after all, for `why` (the aggregator's circuit is open, the budget is spent):
  // the select-mode answer stands.
  void skip(AggregateSkip why);
  const Aggregation& result() const { return out_; }

 private:
  AggregateParams params_;
  std::vector<std::optional<std::string>> texts_;
  Aggregation out_;
};

// The aggregator's reply as a candidate: content (or tool calls, as candidate text) and the
// mean token log-probability. nullopt, with `why`, for a reply that is no candidate: blank (an
// empty or null content is a failed call) or longer than `max_bytes`.
std::optional<AggregateCandidate> aggregate_candidate(const nlohmann::json& reply,
                                                      std::string content,
                                                      size_t max_bytes = SIZE_MAX,
                                                      std::string* why = nullptr);

}  // namespace smacs
