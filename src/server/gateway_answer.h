// What the gateway hands back for one SMACS request: the chosen reply and why it was chosen.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/openai_api.h"
#include "core/result.h"

namespace smacs {

struct GatewayAnswer {
  nlohmann::json reply;  // the chosen model's chat.completion (message, finish_reason, ...)
  std::string content;
  std::string chosen;      // pool name of the chosen model
  std::string aggregator;  // the backend that wrote the answer in aggregate mode, else ""
  std::string task;        // the bank task the neighbourhood voted for ("" with an empty bank)
  std::vector<std::string> answered;  // pool models that replied
  nlohmann::json trace;  // selected, dropped, replacements, proxy/posterior scores, latencies,
                         // rounds and why they stopped, escalation
  nlohmann::json usage;  // summed over the backends that answered
  std::optional<double> cost_usd;  // of every reply with a known price (nullopt: none known)
};

// The answer, or why there is none (an OpenAI-style error).
using AnswerFn = std::function<void(Result<GatewayAnswer, ApiError>)>;

}  // namespace smacs
