// Plain data for recorded LLM results: what the prior bank and the evaluation read.
#pragma once
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace smacs {

inline constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
inline bool is_missing(float score) { return std::isnan(score); }

// One question with each model's recorded result. Vectors are indexed like
// Dataset::models; a missing result is kMissing (never 0: missing is not wrong).
struct Record {
  std::string id;
  std::string task;
  std::string question;
  std::string gold;                    // optional gold answer
  std::vector<float> scores;           // 0..1 per model, kMissing where absent
  std::vector<std::string> responses;  // empty when the source has no response text
  std::vector<float> costs;            // USD per model, empty when unknown
  std::string tests;                   // code tasks: test code the answer must pass (optional)
  std::string grader;  // how to grade answers: choice|number|exact|code ("" = by task)
};

struct Dataset {
  std::vector<std::string> models;
  std::vector<Record> records;

  bool has_responses() const;
  int model_index(const std::string& name) const;  // -1 when absent
};

// Appends `other` to `into`, unifying model columns by name (missing where a file lacks one).
void merge_into(Dataset& into, Dataset other);

}  // namespace smacs
