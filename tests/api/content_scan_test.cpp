// ContentScan: a chat completion's message text counted while its JSON arrives in pieces.
#include "api/content_scan.h"

#include <gtest/gtest.h>

#include <string>

namespace smacs {
namespace {

// Fed one byte at a time, as a reply may arrive: true while the text fits.
bool fits_bytewise(const std::string& json, size_t max) {
  ContentScan scan(max);
  for (const char c : json)
    if (!scan.feed(std::string_view(&c, 1))) return false;
  return true;
}

bool fits(const std::string& json, size_t max) {
  ContentScan scan(max);
  const bool whole = scan.feed(json);
  EXPECT_EQ(whole, fits_bytewise(json, max)) << json;  // pieces never change the verdict
  return whole;
}

TEST(ContentScan, CountsTheMessageTextOnly) {
  const std::string reply =
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":"0123456789"},)"
      R"("logprobs":{"content":[{"token":"a very long token text","logprob":-0.1}]}}]})";
  EXPECT_TRUE(fits(reply, 10));
  EXPECT_FALSE(fits(reply, 9));
  // "content" as a value, an array, null: not the text.
  EXPECT_TRUE(fits(R"({"role":"content","x":"0123456789"})", 3));
  EXPECT_TRUE(fits(R"({"content":null,"other":"0123456789"})", 3));
  EXPECT_TRUE(fits(R"({"content" : [ "0123456789" ]})", 3));
  EXPECT_FALSE(fits(R"({"content" :  "0123456789"})", 3));  // blanks before the text
}

TEST(ContentScan, AnEscapeCountsOneByteSoATextThatFitsIsNeverRefused) {
  // 4 decoded bytes (a, newline, e-acute: 2) written as 9: counted as 3, never more than it is.
  EXPECT_TRUE(fits(R"({"content":"a\n\u00e9"})", 3));
  EXPECT_FALSE(fits(R"({"content":"a\n\u00e9"})", 2));
  // An escaped quote does not end the text.
  EXPECT_FALSE(fits(R"({"content":"ab\"cd"})", 4));
}

// A hostile aggregator could write the key with escapes, which the parser decodes to
// "content" all the same: such a reply was read whole before it was refused.
TEST(ContentScan, AKeyWrittenWithEscapesIsReadDecoded) {
  EXPECT_FALSE(fits(R"({"\u0063ontent":"0123456789"})", 3));
  EXPECT_FALSE(fits(R"({"cont\u0065nt":"0123456789"})", 3));
  EXPECT_FALSE(
      fits(R"({"CONTENT\u0000":"x","cont\u0045NT":"y","\u0063\u006F\u006e\u0074ent":"0123"})", 3));
  EXPECT_TRUE(fits(R"({"\u0063ontent":"012"})", 3));
  // Escapes that decode to something else are other keys.
  EXPECT_TRUE(fits(R"({"content\u0000":"0123456789","con\ttent":"0123456789"})", 3));
  EXPECT_TRUE(fits(R"({"cont\u00e9nt":"0123456789","\"content":"0123456789"})", 3));
  EXPECT_TRUE(fits(R"({"contents":"0123456789","conten":"0123456789"})", 3));
}

TEST(ContentScan, StopsAtTheFirstByteOverAndStaysStopped) {
  ContentScan scan(5);
  const std::string first = R"({"message":{"content":"012)", second = R"(345678"}})";
  EXPECT_TRUE(scan.feed(first));
  EXPECT_FALSE(scan.feed(second));
  EXPECT_FALSE(scan.feed("}"));
  EXPECT_EQ(scan.scanned(), first.size() + second.size());  // what was read before it stopped
}

}  // namespace
}  // namespace smacs
