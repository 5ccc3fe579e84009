// libFuzzer target: reading answers out of backend replies (which the gateway does for every
// candidate) must never crash, hang or throw, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "answers/extract.h"
#include "answers/literal_answer.h"
#include "answers/math.h"
#include "answers/python_literal.h"
#include "answers/reply_json.h"
#include "answers/zeroeval_rule.h"
#include "api/content_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view reply(reinterpret_cast<const char*>(data), size);
  for (const auto kind :
       {smacs::AnswerKind::kChoice, smacs::AnswerKind::kNumber, smacs::AnswerKind::kMath,
        smacs::AnswerKind::kText, smacs::AnswerKind::kLiteral})
    (void)smacs::extract_answer(kind, reply);
  (void)smacs::literal_readings(reply);  // Python literals: every reading of a JSON field
  (void)smacs::parse_python_literal(reply);
  (void)smacs::zeroeval_crux_correct("Llama-3.1", reply, "'x'");
  (void)smacs::json_answer_field(reply);
  (void)smacs::evaluate_math(reply);
  // An aggregator's reply watched as it arrives: cut anywhere, the verdict is the whole's.
  smacs::ContentScan whole(16), halves(16);
  const bool fits = whole.feed(reply);
  const bool fits_in_halves =
      halves.feed(reply.substr(0, size / 2)) && halves.feed(reply.substr(size / 2));
  if (fits != fits_in_halves) __builtin_trap();
  return 0;
}
