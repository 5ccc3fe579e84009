// The Responses API's memory (server/response_store.h): bounded, per key.
#include "server/response_store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
