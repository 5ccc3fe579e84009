// What a gateway remembers by id (server/bounded_memory.h), and the Responses API store on it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/response_store.h"

using namespace smacs;
using nlohmann::json;

TEST(ResponseStore, KeepsTheNewestWithinItsBytesAndOnlyForItsOwner) {
  ResponseStore store(2000);
  const std::string items =
      json::array({{{"role", "user"}, {"content", std::string(300, 'x')}}}).dump();
  for (int i = 0; i < 10; ++i) {
    std::string id = "r";  // not "r" + to_string: GCC 12 warns wrongly on it (-Wrestrict)
    id += std::to_string(i);
    store.put(id, "key", {items, json{{"id", i}}.dump()});
  }
  EXPECT_FALSE(store.get("r0", "key")) << "the oldest went first";
  ASSERT_TRUE(store.get("r9", "key"));
  EXPECT_EQ(store.get("r9", "key")->response, R"({"id":9})");
  EXPECT_EQ(store.get("r9", "key")->input, items);
  EXPECT_FALSE(store.get("r9", "other")) << "another key cannot read it";
  EXPECT_FALSE(store.erase("r9", "other"));
  EXPECT_TRUE(store.erase("r9", "key"));
  EXPECT_FALSE(store.get("r9", "key"));
  store.put("huge", "key", {std::string(5000, 'y'), "{}"});
  EXPECT_FALSE(store.get("huge", "key")) << "larger than the whole store: not kept";
  EXPECT_TRUE(store.get("r8", "key")) << "and it evicted nothing";
}

// An id put again must not leave its old place in the age order to evict the new value early
// (the remembered answers and the response store both had that flaw before they shared this).
TEST(BoundedMemory, AnIdPutAgainIsAgedFromItsLastPut) {
  BoundedMemory<int> memory(1000, 3);
  memory.put("a", "k", 1, 10);
  memory.put("b", "k", 2, 10);
  memory.put("a", "k", 3, 10);  // "a" is now the newest
  memory.put("c", "k", 4, 10);  // 4 places (a stale, b, a, c) > 3: the stale one goes
  ASSERT_NE(memory.find("a", "k"), nullptr);
  EXPECT_EQ(*memory.find("a", "k"), 3);
  EXPECT_NE(memory.find("b", "k"), nullptr);
  memory.put("d", "k", 5, 10);  // now "b", the oldest live, goes
  EXPECT_EQ(memory.find("b", "k"), nullptr);
  EXPECT_NE(memory.find("a", "k"), nullptr);
  EXPECT_EQ(memory.take("a", "other"), std::nullopt) << "another key's is not there";
  EXPECT_EQ(memory.take("a", "k"), 3);
  EXPECT_EQ(memory.find("a", "k"), nullptr);
  EXPECT_FALSE(memory.put("huge", "k", 6, 1001));
}

TEST(BoundedMemory, TakenValuesLeaveOnlyTheirPlaceWhichEvictionDrops) {
  BoundedMemory<int> memory(100000, 1000000);
  for (int i = 0; i < 1000; ++i) memory.put("id" + std::to_string(i), "", i, 100);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(memory.take("id" + std::to_string(i), ""));
  EXPECT_GT(memory.bytes(), 0u) << "the ids' places in the order remain";
  for (int i = 0; i < 10; ++i) memory.put("new" + std::to_string(i), "", i, 100);
  EXPECT_LT(memory.bytes(), 10 * 100 + 10 * 64) << "stale places dropped once they outnumber";
}
