// libFuzzer target: reading answers out of backend replies (which the gateway does for every
// candidate) must never crash, hang or throw, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "answers/extract.h"
#include "answers/literal_answer.h"
#include "answers/python_literal.h"
#include "answers/zeroeval_rule.h"
#include "answers/math.h"
#include "answers/reply_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view reply(reinterpret_cast<const char*>(data), size);
  for (const auto kind : {smacs::AnswerKind::kChoice, smacs::AnswerKind::kNumber,
                          smacs::AnswerKind::kMath, smacs::AnswerKind::kText,
                          smacs::AnswerKind::kLiteral})
    (void)smacs::extract_answer(kind, reply);
  (void)smacs::literal_readings(reply);  // Python literals: every reading of a JSON field
  (void)smacs::parse_python_literal(reply);
  (void)smacs::zeroeval_crux_correct("Llama-3.1", reply, "'x'");
  (void)smacs::json_answer_field(reply);
  (void)smacs::evaluate_math(reply);
  return 0;
}
