#include "grading/grader.h"

#include <algorithm>
#include <map>

#include "core/error.h"

namespace smacs {

std::vector<AnswerKind> default_graders(const std::vector<Record>& questions) {
  std::map<std::string, bool> has_tests;
  for (const auto& q : questions) has_tests[q.task] = has_tests[q.task] || !q.tests.empty();
  auto kind_of = detect_task_kinds(questions);
  // Code is graded by running tests; a task without tests is graded on its text.
  for (auto& [task, kind] : kind_of)
    kind = has_tests[task]             ? AnswerKind::kCode
           : kind == AnswerKind::kCode ? AnswerKind::kText
                                       : kind;
  std::vector<AnswerKind> out;
  for (const auto& q : questions)
    out.push_back(q.grader.empty() ? kind_of[q.task] : parse_answer_kind(q.grader));
  return out;
}

std::string extract_code(const std::string& response) {
  const auto fence = response.find("```");
  if (fence == std::string::npos) return response;
  const auto line_end = response.find('\n', fence);
  if (line_end == std::string::npos) return response;
  const auto close = response.find("```", line_end + 1);
  return response.substr(line_end + 1,
                         close == std::string::npos ? std::string::npos : close - line_end - 1);
}

double grade_response(const Record& q, AnswerKind kind, const std::string& response,
                      const CodeLimits& limits) {
  switch (kind) {
    case AnswerKind::kChoice: {
      std::string gold = extract_answer(AnswerKind::kChoice, q.gold);
      return !gold.empty() && extract_answer(AnswerKind::kChoice, response) == gold ? 1.0 : 0.0;
    }
    case AnswerKind::kNumber:
    case AnswerKind::kMath:
    case AnswerKind::kLiteral: {
      return answer_matches(kind, response, extract_gold(kind, q.gold)) ? 1.0 : 0.0;
    }
    case AnswerKind::kText:
      return extract_answer(AnswerKind::kText, response) ==
                     extract_answer(AnswerKind::kText, q.gold)
                 ? 1.0
                 : 0.0;
    case AnswerKind::kCode: {
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
