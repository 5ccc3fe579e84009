// The answers remembered for feedback (server/answer_memory.h), without a gateway around them.
#include <gtest/gtest.h>

#include "server/answer_memory.h"

using namespace smacs;

namespace {

// An answer models a and b gave; with an aggregator, the answer it wrote (it is the chosen).
AnswerMemory::Answer answer(std::string aggregator = "") {
  return {.question = "q",
          .task = "t",
          .chosen = aggregator.empty() ? "a" : aggregator,
          .aggregator = std::move(aggregator),
          .answered = {"a", "b"}};
}

}  // namespace

TEST(AnswerMemory, OneScorePerAnswerOnlyForTheKeyThatAsked) {
  Metrics metrics;
  AnswerMemory memory(1 << 20, 1000, metrics);
  memory.remember("id1", "key", answer());
  EXPECT_EQ(memory.take("id1", "", "other-key").error().status, 404);  // not told apart
  EXPECT_EQ(memory.take("id1", "c", "key").error().code, "model_not_in_answer");
  const auto taken = memory.take("id1", "b", "key");  // a model that answered scores its own
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->column, "b");
  EXPECT_EQ(taken->answer.question, "q");
  EXPECT_EQ(memory.take("id1", "", "key").error().code, "unknown_answer");  // scored already
  memory.put_back("id1", "key", taken->answer);  // the bank could not take it: again
  EXPECT_EQ(memory.take("id1", "", "key")->column, "a");  // "": the chosen one
}

TEST(AnswerMemory, AnAggregatedAnswerScoresItsOwnColumn) {
  Metrics metrics;
  AnswerMemory memory(1 << 20, 1000, metrics);
  for (const char* named : {"", "agg", "aggregate:agg"}) {
    memory.remember("id", "", answer("agg"));
    EXPECT_EQ(memory.take("id", named, "")->column, "aggregate:agg") << named;
  }
  memory.remember("id", "", answer("agg"));
  EXPECT_EQ(memory.take("id", "b", "")->column, "b");  // a reference's own reply: its column
}

TEST(AnswerMemory, FeedbackBeyondTheRateIsA429WithAWait) {
  Metrics metrics;
  AnswerMemory memory(1 << 20, 2, metrics);  // bursts of 4
  int limited = 0;
  double wait = 0;
  for (int i = 0; i < 10; ++i) {
    const auto r = memory.take("none", "", "key");
    if (!r.ok() && r.error().status == 429) ++limited, wait = r.error().retry_after_s;
  }
  EXPECT_EQ(limited, 6);
  EXPECT_GT(wait, 0);
  EXPECT_EQ(memory.take("none", "", "another-key").error().status, 404);  // per key
}
