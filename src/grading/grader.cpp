#include "grading/grader.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "posterior/extract.h"

namespace smacs {

GraderKind parse_grader(const std::string& name) {
  if (name == "choice") return GraderKind::kChoice;
  if (name == "number") return GraderKind::kNumber;
  if (name == "exact") return GraderKind::kExact;
  if (name == "code") return GraderKind::kCode;
  throw Error("unknown grader '" + name + "' (expected choice, number, exact or code)");
}

std::string to_string(GraderKind kind) {
  switch (kind) {
    case GraderKind::kChoice: return "choice";
    case GraderKind::kNumber: return "number";
    case GraderKind::kExact: return "exact";
    case GraderKind::kCode: return "code";
  }
  return "exact";
}

std::vector<GraderKind> default_graders(const std::vector<Record>& questions) {
  std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> by_task;
  std::map<std::string, bool> has_tests;
  for (const auto& q : questions) {
    by_task[q.task].first.push_back(q.question);
    by_task[q.task].second.push_back(q.gold);
    has_tests[q.task] = has_tests[q.task] || !q.tests.empty();
  }
  std::map<std::string, GraderKind> kind_of;
  for (const auto& [task, qg] : by_task) {
    if (has_tests[task]) {
      kind_of[task] = GraderKind::kCode;
      continue;
    }
    const AnswerKind a = detect_answer_kind(qg.first, qg.second);
    kind_of[task] = a == AnswerKind::kChoice ? GraderKind::kChoice
                    : a == AnswerKind::kNumber ? GraderKind::kNumber
                                               : GraderKind::kExact;
  }
  std::vector<GraderKind> out;
  for (const auto& q : questions) out.push_back(q.grader.empty() ? kind_of[q.task] : parse_grader(q.grader));
  return out;
}

std::string extract_code(const std::string& response) {
  const auto fence = response.find("```");
  if (fence == std::string::npos) return response;
  const auto line_end = response.find('\n', fence);
  if (line_end == std::string::npos) return response;
  const auto close = response.find("```", line_end + 1);
  return response.substr(line_end + 1, close == std::string::npos ? std::string::npos : close - line_end - 1);
}

double grade_response(const Record& q, GraderKind kind, const std::string& response, const CodeLimits& limits) {
  switch (kind) {
    case GraderKind::kChoice: {
      std::string gold = extract_answer(AnswerKind::kChoice, q.gold);
      return !gold.empty() && extract_answer(AnswerKind::kChoice, response) == gold ? 1.0 : 0.0;
    }
    case GraderKind::kNumber: {
      const std::string gold = extract_answer(AnswerKind::kNumber, q.gold);
      return !gold.empty() && extract_answer(AnswerKind::kNumber, response) == gold ? 1.0 : 0.0;
    }
    case GraderKind::kExact:
      return extract_answer(AnswerKind::kText, response) == extract_answer(AnswerKind::kText, q.gold) ? 1.0 : 0.0;
    case GraderKind::kCode: {
      if (q.tests.empty()) throw Error("question " + q.id + ": the code grader needs 'tests'");
      // HumanEval style: the question is the function's prompt; a bare body completes it.
      std::string code = extract_code(response);
      if (code.find("def ") == std::string::npos) code = q.question + code;
      return run_python_sandboxed(code + "\n\n" + q.tests + "\n", limits).passed ? 1.0 : 0.0;
    }
  }
  return 0.0;
}

}  // namespace smacs
