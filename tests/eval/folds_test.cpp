// Cross-fitting: each question answered once, by a bank of the other folds, and the fold
// reports merged by question count.
#include "eval/folds.h"

#include <gtest/gtest.h>

#include "data/load.h"

using namespace smacs;

TEST(Folds, EveryQuestionIsAnsweredOnceAndReportsMergeByCount) {
  Dataset data{{"m"}, {}};
  for (int i = 0; i < 500; ++i) {
    Record r;
    r.id = std::string("q").append(std::to_string(i));
    data.records.push_back(r);
  }
  size_t seen = 0;
  for (size_t f = 0; f < 5; ++f) {
    const FoldSplit s = split_fold(data, f, 5);
    EXPECT_EQ(s.bank.records.size() + s.test.records.size(), 500u);
    EXPECT_GT(s.test.records.size(), 60u);  // a hash, not a skewed split
    seen += s.test.records.size();
    for (const auto& r : s.test.records) EXPECT_EQ(fold_of(r.id, 5), f);
  }
  EXPECT_EQ(seen, 500u);
  EXPECT_EQ(fold_of("gsm/gsm8k-main-test-#0", 5), fold_of("gsm/gsm8k-main-test-#0", 5));

  auto task = [](std::string name, size_t n, double acc) {
    TaskResult t;
    t.task = std::move(name), t.n = n, t.accuracy = {{"smacs", acc}};
    return t;
  };
  EvalReport a, b;
  a.tasks.push_back(task("t", 100, 50.0));
  b.tasks.push_back(task("t", 300, 90.0));
  b.tasks.push_back(task("u", 10, 10.0));
  const EvalReport m = merge_fold_reports({a, b});
  ASSERT_EQ(m.tasks.size(), 2u);
  EXPECT_EQ(m.tasks[0].n, 400u);
  EXPECT_DOUBLE_EQ(m.tasks[0].accuracy.at("smacs"), 80.0);
  EXPECT_DOUBLE_EQ(m.average.at("smacs"), 45.0);
}
