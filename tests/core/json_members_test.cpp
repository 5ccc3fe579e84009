// A pass-through forwards the client's own bytes minus the fields smacs sets: the members are
// cut from the text, and anything the text could hide (an escaped key, a key written twice)
// falls back to the parsed, validated value.
#include <gtest/gtest.h>

#include "api/json_members.h"
#include "api/openai_api.h"

using namespace smacs;
using nlohmann::json;

TEST(JsonMembers, SpansOfEachTopLevelMember) {
  const std::string text =
      R"( { "a" : 1 , "b":"x}\"y", "c" : {"d":[1,{"e":"]"}]}, "f":[ ], "g":null,"h":-1.5e3 } )";
  const auto m = top_level_members(text);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 6u);
  EXPECT_EQ((*m)[0].key, "a");
  EXPECT_EQ((*m)[0].value, "1");
  EXPECT_EQ((*m)[1].value, R"("x}\"y")");
  EXPECT_EQ((*m)[2].value, R"({"d":[1,{"e":"]"}]})");
  EXPECT_EQ((*m)[3].value, "[ ]");
  EXPECT_EQ((*m)[4].value, "null");
  EXPECT_EQ((*m)[5].value, "-1.5e3");
}

TEST(JsonMembers, AnEscapedKeyIsNotTakenAtItsWord) {
  EXPECT_FALSE(top_level_members(R"({"mod\u0065l":"x"})"));
  EXPECT_FALSE(top_level_members("[1]"));
  EXPECT_TRUE(top_level_members("{}")->empty());
}

TEST(JsonMembers, DeepValuesCostNoStack) {
  const std::string deep = "{\"a\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  const auto m = top_level_members(deep);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0].value.size(), 400000u);
}

namespace {
std::string fields_of(const std::string& text) {
  auto r = parse_chat_request(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? r->upstream_fields : "";
}
}  // namespace

TEST(UpstreamFields, TheClientsBytesMinusWhatSmacsSets) {
  const std::string text =
      R"({"model":"m","stream":false,"messages":[{"role":"user","content":"caf\u00e9 1.0"}],)"
      R"("temperature":0.50,"smacs":{"max_cost_usd":1},"stream_options":null})";
  EXPECT_EQ(fields_of(text),
            R"("messages":[{"role":"user","content":"caf\u00e9 1.0"}],"temperature":0.50)");
}

TEST(UpstreamFields, WhatTheTextCouldHideFallsBackToTheParsedValue) {
  // An escaped "model": as raw text it would pass as a second model id.
  const std::string escaped =
      R"({"model":"m","mod\u0065l":"other","messages":[{"role":"user","content":"q"}]})";
  EXPECT_EQ(fields_of(escaped), R"("messages":[{"content":"q","role":"user"}])");
  // A key written twice: the upstream might read the first, smacs validated the last.
  const std::string twice =
      R"({"model":"m","max_tokens":5,"max_tokens":7,"messages":[{"role":"user","content":"q"}]})";
  EXPECT_EQ(fields_of(twice), R"("max_tokens":7,"messages":[{"content":"q","role":"user"}])");
  // Either way the same fields as the parsed body's.
  const json body = json::parse(twice);
  EXPECT_EQ(fields_for_upstream(body, twice), fields_for_upstream(body));
}
