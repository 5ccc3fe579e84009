// A generation's text as a chat completion stream (generation/token_stream.h): what may still
// become a stop string or is half a character is held back; the events are OpenAI's.
#include "generation/token_stream.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace smacs;
using nlohmann::json;

namespace {

// The events a stream sent, parsed ([DONE] as the string "[DONE]").
std::vector<json> parsed(const std::vector<std::string>& events) {
  std::vector<json> out;
  for (const auto& e : events) {
    EXPECT_TRUE(e.starts_with("data: ") && e.ends_with("\n\n")) << e;
    const std::string data = e.substr(6, e.size() - 8);
    out.push_back(data == "[DONE]" ? json("[DONE]") : json::parse(data));
  }
  return out;
}

std::string content_of(const std::vector<json>& chunks) {
  std::string text;
  for (const auto& c : chunks)
    if (c.is_object() && !c["choices"].empty())
      text += c["choices"][0]["delta"].value("content", "");
  return text;
}

}  // namespace

TEST(TokenStream, HoldsBackWhatMayBecomeAStopStringOrHalfACharacter) {
  EXPECT_EQ(held_back("Hello wor", {"world"}), 3u);
  EXPECT_EQ(held_back("Hello world", {"world"}), 0u) << "a whole stop string is the caller's cut";
  EXPECT_EQ(held_back("Hello", {"xyz", "lo!", "o!!"}), 2u) << "the longest beginning";
  EXPECT_EQ(held_back("abc", {}), 0u);
  EXPECT_EQ(held_back("abc", {""}), 0u) << "an empty stop string holds nothing";
  EXPECT_EQ(held_back("", {"END"}), 0u);
  EXPECT_EQ(held_back("caf\xC3", {}), 1u) << "the first byte of a 2-byte character";
  EXPECT_EQ(held_back("x\xE2\x82", {}), 2u) << "two bytes of a 3-byte character (the euro)";
  EXPECT_EQ(held_back("x\xE2\x82\xAC", {}), 0u) << "the whole euro";
  EXPECT_EQ(held_back("x\xF0\x9F\x98", {}), 3u) << "three bytes of an emoji";
  EXPECT_EQ(held_back("x\x80", {}), 0u) << "a stray continuation byte is not waited on";
}

TEST(TokenStream, SendsTheTextAsItGrowsAndEndsWithFinishUsageAndDone) {
  std::vector<std::string> events;
  TokenStream stream("chatcmpl-1", "m", {"END"}, /*logprobs=*/false, [&](std::string e) {
    events.push_back(std::move(e));
    return true;
  });
  std::string text;
  std::vector<size_t> sent_after;  // events after each piece
  for (const std::string piece : {"Hel", "lo", " E", "N", "ough", " caf\xC3", "\xA9", " EN"}) {
    text += piece;
    ASSERT_TRUE(stream.grow(text, {}));
    sent_after.push_back(events.size());
  }
  EXPECT_EQ(content_of(parsed(events)), "Hello ENough caf\xC3\xA9 ")
      << "' EN' may still become the stop string: held back";
  text += "D and more";  // the stop string: the caller cuts the text there
  text.resize(text.find("END"));
  ASSERT_TRUE(stream.end(text, {}, "stop", json{{"completion_tokens", 9}}));
  const auto chunks = parsed(events);
  EXPECT_EQ(content_of(chunks), "Hello ENough caf\xC3\xA9 ");
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(chunks.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(chunks.front()["model"], "m");
  for (const auto& c : chunks) {  // no event carries half a character
    if (!c.is_object() || c["choices"].empty()) continue;
    EXPECT_EQ(c["choices"][0]["delta"].value("content", "").find("\xEF\xBF\xBD"),
              std::string::npos);
  }
  EXPECT_EQ(sent_after[0], 1u) << "the first piece went at once";
  EXPECT_EQ(sent_after[2], sent_after[3]) << "' E' then 'N': nothing new while it may be END";
  ASSERT_GE(chunks.size(), 4u);
  EXPECT_EQ(chunks[chunks.size() - 3]["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(chunks[chunks.size() - 2]["choices"].empty());
  EXPECT_EQ(chunks[chunks.size() - 2]["usage"]["completion_tokens"], 9);
  EXPECT_EQ(chunks.back(), "[DONE]");
}

TEST(TokenStream, CarriesEachTokensLogProbabilityOnceAndStopsWhenTheClientDoes) {
  std::vector<std::string> events;
  bool reading = true;
  TokenStream stream("id", "m", {}, /*logprobs=*/true, [&](std::string e) {
    events.push_back(std::move(e));
    return reading;
  });
  TokenLogprobs logprobs;
  std::string text;
  for (const std::string token : {"a", "b\xC3", "\xA9", "c"}) {
    logprobs.emplace_back(text.size(), json{{"token", token}});
    text += token;
    ASSERT_TRUE(stream.grow(text, logprobs));
  }
  ASSERT_TRUE(stream.end(text, logprobs, "length", nullptr));
  size_t entries = 0;
  for (const auto& c : parsed(events))
    if (c.is_object() && c["choices"][0].contains("logprobs"))
      entries += c["choices"][0]["logprobs"]["content"].size();
  EXPECT_EQ(entries, 4u);
  EXPECT_EQ(parsed(events).back(), "[DONE]") << "no usage chunk: not asked";

  TokenStream gone("id", "m", {}, false, [&](std::string e) {
    events.push_back(std::move(e));
    return reading;
  });
  reading = false;
  EXPECT_FALSE(gone.grow("text", {}));
}
