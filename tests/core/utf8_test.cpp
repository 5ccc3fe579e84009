// UTF-8 checks of backend bytes (core/utf8.h).
#include "core/utf8.h"

#include <gtest/gtest.h>

using namespace smacs;

TEST(Utf8, FindsTheFirstIllFormedByte) {
  EXPECT_EQ(invalid_utf8_at("plain ascii, long enough to take the eight-byte path"), std::nullopt);
  EXPECT_EQ(invalid_utf8_at("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::nullopt);
  EXPECT_EQ(invalid_utf8_at("caf\xe9"), 3u);             // Latin-1
  EXPECT_EQ(invalid_utf8_at("x\xc0\xaf"), 1u);           // overlong
  EXPECT_EQ(invalid_utf8_at("\xed\xa0\x80"), 0u);        // a surrogate
  EXPECT_EQ(invalid_utf8_at("ab\xf4\x90\x80\x80"), 2u);  // past U+10FFFF
  EXPECT_EQ(invalid_utf8_at("abcdefgh\xe2\x82"), 8u);    // cut short
  EXPECT_EQ(printable("caf\xe9!"), "caf\xef\xbf\xbd!");
  EXPECT_EQ(printable("\xc3\xa9\xc3\xa9", 3), "\xc3\xa9");  // cut on a character boundary
}

TEST(Utf8, AStreamMayCutACharacterBetweenPieces) {
  Utf8Stream s;
  EXPECT_TRUE(s.feed("caf\xc3"));
  EXPECT_FALSE(s.complete());
  EXPECT_TRUE(s.feed("\xa9 \xf0\x9f"));
  EXPECT_TRUE(s.feed("\x98"));
  EXPECT_TRUE(s.feed("\x80!"));
  EXPECT_TRUE(s.complete());
  EXPECT_FALSE(s.feed("\xe9x"));
  EXPECT_FALSE(s.feed("fine now, but the stream is already bad"));
  Utf8Stream t;
  EXPECT_TRUE(t.feed("\xe2"));
  EXPECT_FALSE(t.feed("A"));  // the character it began is not continued
}

TEST(Utf8, RepairsIllFormedBytesAndFindsCharacterBoundaries) {
  EXPECT_EQ(valid_utf8("ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");
  EXPECT_EQ(valid_utf8("a\xFF"
                       "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(valid_utf8("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut in the middle
  EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(incomplete_utf8_tail("caf\xC3"), 1u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98\x80"), 0u);  // whole
  EXPECT_EQ(incomplete_utf8_tail("ab\x80"), 0u);            // no start: sent as it is
  EXPECT_EQ(incomplete_utf8_tail(""), 0u);
  const std::string euro =
      "a\xE2\x82\xAC"
      "b";
  EXPECT_EQ(utf8_boundary_from(euro, 2), 4u);  // inside the euro sign: after it
  EXPECT_EQ(utf8_boundary_from(euro, 1), 1u);
  EXPECT_EQ(utf8_boundary_from(euro, 9), euro.size());
}
