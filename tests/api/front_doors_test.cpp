// The Responses and Messages APIs as translations onto chat completions: requests in, replies
// and their events out, the event-stream reader in between (api/responses_api.h,
// api/messages_api.h, api/api_stream.h). The real clients over HTTP: tests/node/front_doors.
#include <gtest/gtest.h>

#include "api/messages_api.h"
#include "api/responses_api.h"

using namespace smacs;
using nlohmann::json;

namespace {

// The `type` of every event in an SSE text, in order.
std::vector<std::string> event_types(const std::string& sse) {
  std::vector<std::string> types;
  for (size_t at = 0; (at = sse.find("event: ", at)) != std::string::npos;) {
    const size_t end = sse.find('\n', at);
    types.push_back(sse.substr(at + 7, end - at - 7));
    at = end;
  }
  return types;
}

json chunk(json delta, json finish = nullptr) {
  return {{"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
}

std::string param_of(const std::string& body, const char* api) {
  if (std::string(api) == "responses") {
    const auto r = parse_responses_request(body);
    return r.ok() ? "<ok>" : r.error().param;
  }
  const auto r = parse_messages_request(body);
  return r.ok() ? "<ok>" : r.error().param;
}

}  // namespace

TEST(ResponsesApi, ARequestBecomesTheChatRequestItStandsFor) {
  const auto r = parse_responses_request(R"({
    "model": "smacs", "input": "Hi", "instructions": "Be brief.", "max_output_tokens": 50,
    "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
    "tool_choice": {"type": "function", "name": "f"}, "temperature": 0.2,
    "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}},
    "metadata": {"k": "v"}, "store": false, "stream": true, "reasoning": {"effort": "low"}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->store);
  EXPECT_TRUE(r->stream);
  const auto messages = items_to_messages(r->instructions, r->input_items, 0);
  ASSERT_TRUE(messages.ok());
  const json body = responses_chat_body(*r, *messages);
  EXPECT_EQ(body["messages"], json::parse(R"([{"role":"system","content":"Be brief."},
                                              {"role":"user","content":"Hi"}])"));
  EXPECT_EQ(body["max_tokens"], 50);
  EXPECT_EQ(body["tools"][0]["function"]["name"], "f");
  EXPECT_EQ(body["tool_choice"], json::parse(R"({"type":"function","function":{"name":"f"}})"));
  EXPECT_EQ(body["response_format"]["json_schema"]["name"], "s");
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_FALSE(body.contains("reasoning")) << "accepted, not forwarded";
  EXPECT_EQ(r->echo["metadata"]["k"], "v");
  const auto chat = chat_request_from_json(body);
  ASSERT_TRUE(chat.ok()) << chat.error().message;
  EXPECT_EQ(chat->retrieval_key, "Hi");
}

TEST(ResponsesApi, ItemsBecomeChatMessagesWithToolCallsJoined) {
  const json items = json::parse(R"([
    {"role": "developer", "content": [{"type": "input_text", "text": "Rules."}]},
    {"type": "message", "role": "user", "content": "Weather?"},
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
    {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
    {"type": "function_call", "call_id": "c2", "name": "t", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "noon"}]}])");
  const auto m = items_to_messages(nullptr, items, 0);
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->size(), 5u);
  EXPECT_EQ((*m)[0], json::parse(R"({"role":"system","content":"Rules."})"));
  EXPECT_EQ((*m)[1]["content"], "Weather?");
  EXPECT_EQ((*m)[2]["content"], "Let me look.");
  ASSERT_EQ((*m)[2]["tool_calls"].size(), 2u) << "both calls join the assistant's message";
  EXPECT_EQ((*m)[2]["tool_calls"][1]["id"], "c2");
  EXPECT_EQ((*m)[3], json::parse(R"({"role":"tool","tool_call_id":"c1","content":"sunny"})"));
  EXPECT_EQ((*m)[4]["content"], "noon");
}

TEST(ResponsesApi, WhatCannotReachAChatBackendIsRefusedByName) {
  const char* base = R"({"model": "smacs", "input": "x", )";
  auto with = [&](const std::string& rest) { return std::string(base) + rest + "}"; };
  EXPECT_EQ(param_of(with(R"("tools": [{"type": "web_search_preview"}])"), "responses"),
            "tools[0].type");
  EXPECT_EQ(param_of(with(R"("background": true)"), "responses"), "background");
  EXPECT_EQ(param_of(with(R"("background": false)"), "responses"), "<ok>");
  EXPECT_EQ(param_of(with(R"("conversation": "conv_1")"), "responses"), "conversation");
  EXPECT_EQ(param_of(with(R"("whatever": 1)"), "responses"), "whatever");
  EXPECT_EQ(param_of(with(R"("max_output_tokens": 1.5)"), "responses"), "max_output_tokens");
  EXPECT_EQ(param_of(with(R"("tool_choice": {"type": "file_search"})"), "responses"),
            "tool_choice");
  EXPECT_EQ(param_of(with(R"("metadata": {"a": 1})"), "responses"), "metadata");
  EXPECT_EQ(param_of(R"({"model": "smacs"})", "responses"), "input");
  EXPECT_EQ(param_of(R"({"input": "x"})", "responses"), "model");
  EXPECT_EQ(param_of("[1]", "responses"), "");
  // Items are checked where they are turned into messages; the param counts from the
  // request's own items, after a remembered conversation's.
  const json items = json::parse(R"([{"role":"user","content":"old"},
                                     {"type":"item_reference","id":"x"}])");
  const auto m = items_to_messages(nullptr, items, 1);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().param, "input[0].type");
  const json file =
      json::parse(R"([{"role":"user","content":[{"type":"input_file","file_id":"f"}]}])");
  EXPECT_EQ(items_to_messages(nullptr, file, 0).error().param, "input[0].content[0].type");
}

TEST(ResponsesApi, AStreamedReplyBecomesTypedEventsAndTheSameObject) {
  auto s = make_responses_stream("resp_abc", "smacs", json{{"metadata", {{"k", "v"}}}},
                                 json{{"smacs", {{"chosen", "m"}}}}, true);
  std::string sse = s->chunk(chunk({{"role", "assistant"}, {"content", "Hel"}}));
  sse += s->chunk(chunk({{"content", "lo"}}));
  sse += s->chunk(chunk(
      {{"tool_calls",
        {{{"index", 0}, {"id", "c1"}, {"function", {{"name", "w"}, {"arguments", "{\"a\""}}}}}}}));
  sse += s->chunk(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", ":1}"}}}}}}},
                        "tool_calls"));
  sse += s->chunk(
      {{"choices", json::array()}, {"usage", {{"prompt_tokens", 7}, {"completion_tokens", 3}}}});
  sse += s->end();
  const std::vector<std::string> expected = {"response.created",
                                             "response.in_progress",
                                             "response.output_item.added",
                                             "response.content_part.added",
                                             "response.output_text.delta",
                                             "response.output_text.delta",
                                             "response.output_text.done",
                                             "response.content_part.done",
                                             "response.output_item.done",
                                             "response.output_item.added",
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.done",
                                             "response.output_item.done",
                                             "response.completed"};
  EXPECT_EQ(event_types(sse), expected);
  const json r = s->object();
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["output"][0]["content"][0]["text"], "Hello");
  EXPECT_EQ(r["output"][1]["arguments"], "{\"a\":1}");
  EXPECT_EQ(r["output"][1]["call_id"], "c1");
  EXPECT_EQ(r["usage"]["total_tokens"], 10);
  EXPECT_EQ(r["metadata"]["k"], "v");
  EXPECT_EQ(r["smacs"]["chosen"], "m");
  // The same reply whole, without events: the same output.
  auto whole = make_responses_stream("resp_abc", "smacs", json::object(), nullptr, false);
  const json completion =
      json::parse(R"({"choices":[{"message":{"role":"assistant","content":"Hello",
      "tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{\"a\":1}"}}]},
      "finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":3}})");
  EXPECT_EQ(feed_completion(*whole, completion), "");
  EXPECT_EQ(whole->object()["output"], r["output"]);
  EXPECT_EQ(whole->object()["status"], "incomplete") << "finish_reason length";
  EXPECT_EQ(whole->object()["incomplete_details"]["reason"], "max_output_tokens");
}

TEST(MessagesApi, ARequestBecomesTheChatRequestItStandsFor) {
  const auto r = parse_messages_request(R"({
    "model": "m", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief."}],
    "stop_sequences": ["END"], "metadata": {"user_id": "u1"}, "top_k": 5,
    "tools": [{"name": "w", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
    "messages": [
      {"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": [{"type": "text", "text": "Looking."},
                                        {"type": "tool_use", "id": "t1", "name": "w", "input": {"c": "P"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                                   {"type": "text", "text": "Thanks"}]}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const json& c = r->chat;
  EXPECT_EQ(c["max_tokens"], 100);
  EXPECT_EQ(c["stop"], json::array({"END"}));
  EXPECT_EQ(c["user"], "u1");
  EXPECT_EQ(c["tool_choice"], "required");
  EXPECT_EQ(c["parallel_tool_calls"], false);
  EXPECT_EQ(c["tools"][0]["function"]["parameters"]["type"], "object");
  ASSERT_EQ(c["messages"].size(), 5u);
  EXPECT_EQ(c["messages"][0], json::parse(R"({"role":"system","content":"Be brief."})"));
  EXPECT_EQ(c["messages"][2]["tool_calls"][0]["function"]["arguments"], R"({"c":"P"})");
  EXPECT_EQ(c["messages"][3],
            json::parse(R"({"role":"tool","tool_call_id":"t1","content":"sunny"})"))
      << "a tool result comes right after the call, before the user's text";
  EXPECT_EQ(c["messages"][4]["content"][0]["text"], "Thanks");
  const auto chat = chat_request_from_json(c);
  ASSERT_TRUE(chat.ok()) << chat.error().message;
  EXPECT_EQ(chat->retrieval_key, "Thanks");
}

TEST(MessagesApi, WhatCannotReachAChatBackendIsRefusedByName) {
  const char* ok = R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}])";
  auto with = [&](const std::string& rest) { return std::string(ok) + "," + rest + "}"; };
  EXPECT_EQ(param_of(std::string(ok) + "}", "messages"), "<ok>");
  EXPECT_EQ(param_of(R"({"model":"m","messages":[{"role":"user","content":"x"}]})", "messages"),
            "max_tokens");
  EXPECT_EQ(
      param_of(with(R"("tools":[{"type":"web_search_20250305","name":"web_search"}])"), "messages"),
      "tools[0].type");
  EXPECT_EQ(param_of(with(R"("stop_sequences":["a","b","c","d","e"])"), "messages"),
            "stop_sequences");
  EXPECT_EQ(param_of(with(R"("container":"c")"), "messages"), "container");
  EXPECT_EQ(param_of(with(R"("tool_choice":{"type":"sometimes"})"), "messages"), "tool_choice");
  EXPECT_EQ(param_of(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
                       {"type":"document","source":{}}]}]})",
                     "messages"),
            "messages[0].content[0].type");
  EXPECT_EQ(param_of(R"({"model":"m","max_tokens":5,"messages":[{"role":"tool","content":"x"}]})",
                     "messages"),
            "messages[0].role");
}

TEST(MessagesApi, AStreamedReplyBecomesAnthropicEventsAndTheSameMessage) {
  auto s = make_messages_stream("msg_1", "smacs", nullptr, true);
  std::string sse = s->chunk(chunk({{"content", "Hi"}}));
  sse += s->chunk(chunk(
      {{"tool_calls",
        {{{"index", 0}, {"id", "c1"}, {"function", {{"name", "w"}, {"arguments", "{\"a\""}}}}}}}));
  sse += s->chunk(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", ":1}"}}}}}}},
                        "tool_calls"));
  sse += s->chunk(
      {{"choices", json::array()}, {"usage", {{"prompt_tokens", 7}, {"completion_tokens", 3}}}});
  sse += s->end();
  const std::vector<std::string> expected = {
      "message_start",       "content_block_start", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
      "message_delta",       "message_stop"};
  EXPECT_EQ(event_types(sse), expected);
  EXPECT_NE(sse.find(R"("partial_json":"{\"a\"")"), std::string::npos) << sse;
  const json m = s->object();
  EXPECT_EQ(m["content"][0], json::parse(R"({"type":"text","text":"Hi"})"));
  EXPECT_EQ(m["content"][1]["input"], json::parse(R"({"a":1})"));
  EXPECT_EQ(m["stop_reason"], "tool_use");
  EXPECT_EQ(m["usage"]["output_tokens"], 3);
  auto cut = make_messages_stream("msg_2", "m", nullptr, false);
  feed_completion(
      *cut, json::parse(R"({"choices":[{"message":{"content":"x"},"finish_reason":"length"}]})"));
  EXPECT_EQ(cut->object()["stop_reason"], "max_tokens");
}

TEST(MessagesApi, ErrorsTakeAnthropicsShape) {
  const std::string openai = R"({"error":{"message":"too big","type":"invalid_request_error"}})";
  EXPECT_EQ(
      json::parse(anthropic_error_text(413, openai)),
      json::parse(R"({"type":"error","error":{"type":"request_too_large","message":"too big"}})"));
  EXPECT_EQ(json::parse(anthropic_error_text(401, openai))["error"]["type"],
            "authentication_error");
  EXPECT_EQ(json::parse(anthropic_error_text(502, openai))["error"]["type"], "api_error");
  const std::string already = anthropic_error_text(400, openai);
  EXPECT_EQ(anthropic_error_text(400, already), already);
  EXPECT_EQ(anthropic_error_text(400, "not json"), "not json");
  auto s = make_messages_stream("msg_3", "m", nullptr, true);
  const std::string events = s->error({.status = 504, .message = "slow"});
  EXPECT_EQ(event_types(events), (std::vector<std::string>{"message_start", "error"}));
  EXPECT_NE(events.find("timeout_error"), std::string::npos);
}

TEST(SseChunkReader, ReadsChunksHoweverTheBytesAreCut) {
  const std::string stream =
      "data: {\"n\":1}\r\n\r\n: a comment\n\nevent: x\ndata: {\"n\":2}\n\ndata: [DONE]\n\n";
  for (size_t piece : {1, 3, 7, 1000}) {
    SseChunkReader reader;
    std::vector<int> seen;
    for (size_t i = 0; i < stream.size(); i += piece)
      ASSERT_TRUE(reader.feed(std::string_view(stream).substr(i, piece),
                              [&](const json& c) { seen.push_back(c["n"]); }));
    EXPECT_EQ(seen, (std::vector<int>{1, 2})) << "pieces of " << piece;
    EXPECT_TRUE(reader.done());
  }
}

TEST(SseChunkReader, AMalformedOrEndlessEventIsAnError) {
  SseChunkReader bad;
  EXPECT_FALSE(bad.feed("data: {nope\n\n", [](const json&) {}));
  EXPECT_NE(bad.error().find("not a JSON object"), std::string::npos);
  SseChunkReader failed;
  EXPECT_FALSE(
      failed.feed("data: {\"error\":{\"message\":\"overloaded\"}}\n\n", [](const json&) {}));
  EXPECT_EQ(failed.error(), "overloaded");
  SseChunkReader endless(1000);
  bool ok = true;
  for (int i = 0; i < 100 && ok; ++i) ok = endless.feed(std::string(100, 'x'), [](const json&) {});
  EXPECT_FALSE(ok);
  EXPECT_NE(endless.error().find("larger than 1000"), std::string::npos);
}

// Members of the wrong type used to throw out of nlohmann's value(): a 500 for a client's
// request, and an exception on the backends' I/O thread for a backend's stream.
TEST(FrontDoors, WrongTypedMembersAreRefusedOrIgnoredNeverThrown) {
  for (const char* body :
       {R"({"model":"m","input":"x","tools":[{"type":5}]})",
        R"({"model":"m","input":"x","tool_choice":{"type":[],"name":"f"}})",
        R"({"model":"m","input":[{"type":7,"role":"user","content":"x"}]})",
        R"({"model":"m","input":[{"role":"user","content":[{"type":{},"text":"x"}]}]})",
        R"({"model":"m","input":"x","text":{"format":{"type":"json_schema","name":9}}})"}) {
    EXPECT_NO_THROW({
      const auto r = parse_responses_request(body);
      if (r.ok()) (void)items_to_messages(r->instructions, r->input_items, 0);
    }) << body;
  }
  const auto named = parse_responses_request(
      R"({"model":"m","input":"x","text":{"format":{"type":"json_schema","name":9}}})");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->chat["response_format"]["json_schema"]["name"], "response");
  for (
      const char* body :
      {R"({"model":"m","max_tokens":5,"tools":[{"type":1,"name":"w","input_schema":{}}],"messages":[{"role":"user","content":"x"}]})",
       R"({"model":"m","max_tokens":5,"tool_choice":{"type":"auto","disable_parallel_tool_use":"yes"},"messages":[{"role":"user","content":"x"}]})",
       R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"x","is_error":"no"}]}]})",
       R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"AA","media_type":3}}]}]})",
       R"({"model":"m","max_tokens":5,"system":[{"type":4,"text":"x"}],"messages":[{"role":"user","content":"x"}]})"}) {
    EXPECT_NO_THROW((void)parse_messages_request(body)) << body;
  }
  EXPECT_EQ(
      param_of(R"({"model":"m","max_tokens":5,"tools":[{"type":1,"name":"w","input_schema":{}}],
                        "messages":[{"role":"user","content":"x"}]})",
               "messages"),
      "tools[0].type");
  EXPECT_NO_THROW(anthropic_error_text(400, R"({"type":5,"error":{"message":"m"}})"));
  const json bad_call = chunk({{"tool_calls", {{{"index", "x"}, {"id", 7}, {"function", 5}}}}});
  std::vector<std::unique_ptr<ApiStream>> streams;
  streams.push_back(make_responses_stream("resp_1", "m", json::object(), nullptr, true));
  streams.push_back(make_messages_stream("msg_1", "m", nullptr, true));
  for (auto& stream : streams) {
    EXPECT_NO_THROW({
      (void)stream->chunk(bad_call);
      (void)stream->chunk(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"name", 3}}}}}}}));
      (void)stream->end();
    });
  }
}

// A translated request's prompt goes upstream as the client wrote it (not serialised again: a
// long prompt costs a copy, not an escape per byte), and means what its parsed form means; a key
// written twice or with an escape falls back to serialising.
TEST(FrontDoors, TheClientsOwnPromptBytesGoUpstreamUnchanged) {
  auto upstream = [](const ChatRequest& c) { return json::parse("{" + c.upstream_fields + "}"); };
  const std::string responses_body =
      R"({"model":"m","instructions":"be br\u0069ef","input":"caf\u00e9 \"x\"","temperature":0.5})";
  auto r = parse_responses_request(responses_body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->input_items_text), r->input_items);
  auto messages = items_to_messages(r->instructions, r->input_items, 0);
  const json body = responses_chat_body(*r, *messages);
  const auto spliced = chat_request_from_json(body, responses_chat_text(*r, body));
  const auto serialised = chat_request_from_json(body);
  ASSERT_TRUE(spliced.ok() && serialised.ok());
  EXPECT_NE(spliced->upstream_fields.find(R"("caf\u00e9 \"x\"")"), std::string::npos)
      << spliced->upstream_fields;
  EXPECT_NE(spliced->upstream_fields.find(R"("be br\u0069ef")"), std::string::npos);
  EXPECT_EQ(upstream(*spliced), upstream(*serialised));
  EXPECT_EQ(spliced->retrieval_key, "caf\u00e9 \"x\"");

  const std::string items = R"([ {"role":"user","content":"a\u0062c"} ])";
  r = parse_responses_request(R"({"model":"m","input":)" + items + "}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->input_items_text, items);  // kept as written for previous_response_id
  EXPECT_EQ(r->messages_text, "");        // items are rebuilt as chat messages: serialised

  r = parse_responses_request(R"({"model":"m","input":"first","input":"second"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->input_items_text, "");
  EXPECT_EQ(r->input_items[0]["content"], "second");

  const std::string messages_body =
      R"({"model":"m","max_tokens":9,"system":"s\u0079s","messages":[{"role":"user","content":"h\u0069"}]})";
  auto m = parse_messages_request(messages_body);
  ASSERT_TRUE(m.ok());
  const auto chat = chat_request_from_json(m->chat, m->chat_text);
  ASSERT_TRUE(chat.ok());
  EXPECT_NE(chat->upstream_fields.find(R"("h\u0069")"), std::string::npos);
  EXPECT_NE(chat->upstream_fields.find(R"("s\u0079s")"), std::string::npos);
  EXPECT_EQ(upstream(*chat), upstream(*chat_request_from_json(m->chat)));

  // Blocks rewritten as chat parts (an image): nothing of the client's is spliced.
  m = parse_messages_request(
      R"({"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"http://x/i.png"}}]}]})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->chat_text, "");
  m = parse_messages_request(
      R"({"model":"m","max_tokens":9,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->chat_text, "");
}
