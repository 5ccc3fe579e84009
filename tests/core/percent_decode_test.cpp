// percent_decode: the one URL decoder a bank URL's password and a model id in a path share.
#include "core/percent_decode.h"

#include <gtest/gtest.h>

namespace smacs {
namespace {

TEST(PercentDecode, DecodesEachPairAndKeepsWhatIsNoPair) {
  EXPECT_EQ(percent_decode("p%40ss%3Aw%2fd"), "p@ss:w/d");
  EXPECT_EQ(percent_decode("a%2Bb%25"), "a+b%");
  EXPECT_EQ(percent_decode("%41"), "A");  // a pair at the very end
  // A lone or broken '%' stays as it is.
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("%zz%4g"), "%zz%4g");
  EXPECT_EQ(percent_decode(""), "");
}

}  // namespace
}  // namespace smacs
