// One SMACS answer on its way through the gateway (gateway.cpp: the rounds; gateway_aggregate.cpp:
// aggregate mode's second round), and the reading of replies both share. Private to server/.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/aggregate_mode.h"
#include "server/gateway.h"

namespace smacs {

// What a candidate answered, for agreement: its text, or for tool calls kToolCalls and the
// functions with their arguments in canonical JSON (same call = same string, whatever the key
// order).
std::string candidate_text(const Completion& r);
bool has_tool_calls(const std::vector<std::optional<std::string>>& answers);
// A reply's token counts added to `usage`.
void add_usage(const nlohmann::json& reply, nlohmann::json& usage);

struct Gateway::Job {
  using json = nlohmann::json;
  std::shared_ptr<const BankView> view;  // one consistent bank for the whole request
  std::shared_ptr<const ChatRequest> request;
  Deadline deadline;
  AnswerFn done;
  Plan plan;
  TokenGuess tokens;  // with a budget only
  AnswerKind task_kind = AnswerKind::kText;
  std::string task_name;  // the bank task the neighbourhood voted for ("": none)
  std::optional<RoundsInProgress> rounds;
  // The backends asked, in order, their replies and the chosen one.
  std::vector<int> asked;
  std::vector<BackendReply> replies;
  std::optional<size_t> chosen;  // index into asked/replies
  std::string escalated;         // the escalation model's name once asked
  // Aggregate mode: the second round, its request bodies and the aggregator's replies.
  std::optional<AggregationInProgress> aggregation;
  std::vector<json> aggregate_bodies;
  std::vector<std::string> aggregate_fields;
  std::vector<BackendReply> aggregate_replies;
  bool answered = false;
  std::shared_ptr<const std::atomic<bool>> client_gone;

  // The client left: answers (to nobody) with a 499 and returns true, so no call is started.
  bool abandoned() {
    if (!client_gone || !client_gone->load()) return false;
    answer(failure(ApiError{.status = 499,
                            .type = "invalid_request_error",
                            .message = "the client closed the connection",
                            .code = "client_closed_request"}));
    return true;
  }

  void answer(Result<GatewayAnswer, ApiError> r) {
    if (!std::exchange(answered, true)) done(std::move(r));
  }
  // Runs one continuation: what it throws becomes a 500 answer, not a dead I/O thread.
  template <class Step>
  void guarded(Step&& step) {
    try {
      step();
    } catch (const std::exception& e) {
      answer(failure(ApiError{.status = 500,
                              .type = "server_error",
                              .message = std::string("internal error: ") + e.what(),
                              .code = "internal_error"}));
    }
  }
};

}  // namespace smacs
