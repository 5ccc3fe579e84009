// The Responses API and the Messages API through `smacs serve`, spoken by the real clients:
// the official `openai` npm client (responses.create), the Vercel AI SDK's OpenAI provider in
// its Responses mode, and `@anthropic-ai/sdk` (messages.create). Each through SMACS and through
// pass-through; recorded answers come from replay-serve, tool calls from a loopback upstream
// that also records what it was sent. Loopback only, bounded in time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { start, children, writeRecorded } from './smacs.mjs';

const KEY = 'test-key';
const POOL = ['model-a', 'model-b', 'model-c'];
const QUESTIONS = [
  ['Which gas do plants take in?\nA) oxygen\nB) carbon dioxide\nC) helium\nD) neon', ['B', 'B', 'A']],
  ['Which is a mammal?\nA) shark\nB) trout\nC) whale\nD) eel', ['C', 'C', 'C']],
];
const Q = QUESTIONS[0][0];
const WEATHER = 'What is the weather in Paris?';
const RESULT = '22 C and sunny';

const writeData = (dir) => writeRecorded(dir, POOL, QUESTIONS);

// The tool upstream: calls get_weather when offered tools, reads a tool result back when sent
// one, else answers plainly. Streams in pieces (a tool call's arguments in two).
const seen = [];  // request bodies, newest last
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function upstream(req, res) {
  let raw = '';
  for await (const part of req) raw += part;
  const body = JSON.parse(raw);
  seen.push(body);
  const model = body.model;
  const result = body.messages.findLast((m) => m.role === 'tool');
  const usage = { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 };
  const call = !result && body.tools ? { id: `call_${model}`, type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } } : null;
  const text = result ? `The weather is ${result.content}.` : 'Hello from the tools.';
  if (!body.stream) {
    const message = call ? { role: 'assistant', content: null, tool_calls: [call] } : { role: 'assistant', content: text };
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ id: 'up', object: 'chat.completion', created: 1, model, usage,
      choices: [{ index: 0, message, finish_reason: call ? 'tool_calls' : 'stop' }] }));
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = (delta, finish_reason = null) => `data: ${JSON.stringify({ id: 'up', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason }] })}\n\n`;
  if (call) {
    res.write(chunk({ role: 'assistant', tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: 'get_weather', arguments: '{"city": ' } }] }));
    await sleep(50);
    res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }));
    res.write(chunk({}, 'tool_calls'));
  } else {
    res.write(chunk({ role: 'assistant', content: text.slice(0, 5) }));
    await sleep(50);
    res.write(chunk({ content: text.slice(5) }));
    res.write(chunk({}, 'stop'));
  }
  if (body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ id: 'up', object: 'chat.completion.chunk', created: 1, model, choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

let replayUrl, toolsUrl, upstreamServer;
let openai, tools, anthropic, anthropicTools;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'smacs-node-doors-'));
  const data = writeData(dir);
  const replayPort = await start(['replay-serve', '--data', data, '--port', '0']);
  upstreamServer = createServer((req, res) => { upstream(req, res).catch((e) => { res.writeHead(500); res.end(String(e)); }); });
  await new Promise((r) => upstreamServer.listen(0, '127.0.0.1', r));
  const upstreamUrl = `http://127.0.0.1:${upstreamServer.address().port}/v1`;
  const pool = (models, url) => models.map((m) => `  - {name: ${m}, base_url: ${url}, retries: 0}`).join('\n');
  writeFileSync(join(dir, 'replay.yaml'), `listen: 127.0.0.1:0\naccess_log: none\napi_keys: [${KEY}]\nmax_body_bytes: 65536\nbank: ${data}\npool:\n${pool(POOL, `http://127.0.0.1:${replayPort}/v1`)}\n`);
  writeFileSync(join(dir, 'tools.yaml'), `listen: 127.0.0.1:0\naccess_log: none\napi_keys: [${KEY}, other-key]\nbank: ${data}\nsmacs: {k: 2, p_drop: 0}\npool:\n${pool(['tool-a', 'tool-b'], upstreamUrl)}\n`);
  replayUrl = `http://127.0.0.1:${await start(['serve', '--config', join(dir, 'replay.yaml')])}`;
  toolsUrl = `http://127.0.0.1:${await start(['serve', '--config', join(dir, 'tools.yaml')])}`;
  openai = new OpenAI({ apiKey: KEY, baseURL: `${replayUrl}/v1`, maxRetries: 0 });
  tools = new OpenAI({ apiKey: KEY, baseURL: `${toolsUrl}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: KEY, baseURL: replayUrl, maxRetries: 0 });
  anthropicTools = new Anthropic({ apiKey: KEY, baseURL: toolsUrl, maxRetries: 0 });
});

after(() => { for (const c of children) c.kill('SIGTERM'); upstreamServer.close(); });

const FUNCTION = { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

// ---- OpenAI Responses API -------------------------------------------------------------

for (const model of ['smacs', 'model-a']) {
  test(`responses.create answers (${model})`, async () => {
    const r = await openai.responses.create({ model, input: Q, max_output_tokens: 64, metadata: { run: 't' } });
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.match(r.id, /^resp_/);
    assert.equal(r.output_text, 'B');
    assert.equal(r.output[0].type, 'message');
    assert.equal(r.max_output_tokens, 64);
    assert.deepEqual(r.metadata, { run: 't' });
    assert.equal(typeof r.usage.total_tokens, 'number');
    if (model === 'smacs') assert.ok(POOL.includes(r.smacs.chosen), JSON.stringify(r.smacs));
  });

  test(`responses.create streams typed events (${model})`, async () => {
    const stream = await openai.responses.create({ model, input: Q, stream: true });
    const types = [];
    let text = '', completed = null;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    assert.equal(text, 'B');
    assert.equal(types[0], 'response.created');
    for (const t of ['response.output_item.added', 'response.content_part.added', 'response.output_text.done', 'response.output_item.done'])
      assert.ok(types.includes(t), `${t} in ${types}`);
    assert.equal(types.at(-1), 'response.completed');
    assert.equal(completed.output[0].content[0].text, 'B');
  });
}

test('previous_response_id continues a remembered conversation; GET and DELETE find it', async () => {
  const first = await tools.responses.create({ model: 'tool-a', instructions: 'Be brief.', input: 'Hello' });
  const second = await tools.responses.create({ model: 'tool-b', previous_response_id: first.id, input: 'And again?' });
  assert.equal(second.previous_response_id, first.id);
  assert.deepEqual(seen.at(-1).messages, [
    { role: 'user', content: 'Hello' },
    { role: 'assistant', content: 'Hello from the tools.' },
    { role: 'user', content: 'And again?' },
  ], 'instructions are not carried over; the earlier turn is');
  const got = await tools.responses.retrieve(second.id);
  assert.equal(got.output_text, second.output_text);
  await tools.responses.delete(second.id);
  await assert.rejects(tools.responses.retrieve(second.id), (e) => e.status === 404);
  await assert.rejects(tools.responses.create({ model: 'tool-a', previous_response_id: 'resp_nope', input: 'x' }),
    (e) => e.status === 404 && e.param === 'previous_response_id');
  const unstored = await tools.responses.create({ model: 'tool-a', input: 'Hello', store: false });
  await assert.rejects(tools.responses.create({ model: 'tool-a', previous_response_id: unstored.id, input: 'x' }),
    (e) => e.status === 404);
  const stranger = new OpenAI({ apiKey: 'other-key', baseURL: `${toolsUrl}/v1`, maxRetries: 0 });
  await assert.rejects(stranger.responses.retrieve(first.id), (e) => e.status === 404, 'another key cannot read it');
});

for (const model of ['smacs', 'tool-a']) {
  test(`a function tool round trip with function_call_output (${model})`, async () => {
    const r1 = await tools.responses.create({ model, input: WEATHER, tools: [FUNCTION] });
    const call = r1.output.find((o) => o.type === 'function_call');
    assert.ok(call, JSON.stringify(r1.output));
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    const r2 = await tools.responses.create({ model, previous_response_id: r1.id, tools: [FUNCTION],
      input: [{ type: 'function_call_output', call_id: call.call_id, output: RESULT }] });
    assert.equal(r2.output_text, `The weather is ${RESULT}.`);
    const sent = seen.at(-1).messages;
    assert.deepEqual(sent.at(-1), { role: 'tool', tool_call_id: call.call_id, content: RESULT });
    assert.equal(sent.at(-2).tool_calls[0].function.name, 'get_weather');
    // Stateless: the whole conversation as items.
    const r3 = await tools.responses.create({ model, store: false, tools: [FUNCTION], input: [
      { role: 'user', content: WEATHER }, call, { type: 'function_call_output', call_id: call.call_id, output: RESULT }] });
    assert.equal(r3.output_text, `The weather is ${RESULT}.`);
  });

  test(`a streamed function call (${model})`, async () => {
    const stream = await tools.responses.create({ model, input: WEATHER, tools: [FUNCTION], stream: true });
    let args = '', done = null;
    for await (const e of stream) {
      if (e.type === 'response.function_call_arguments.delta') args += e.delta;
      if (e.type === 'response.completed') done = e.response;
    }
    assert.deepEqual(JSON.parse(args), { city: 'Paris' });
    assert.equal(done.output[0].type, 'function_call');
    assert.equal(done.output[0].arguments, args);
  });
}

test('a Responses answer from SMACS takes feedback by its id', async () => {
  const r = await openai.responses.create({ model: 'smacs', input: Q });
  const res = await fetch(`${replayUrl}/v1/feedback`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: r.id, score: 1 }) });
  assert.equal(res.status, 200, await res.text());
});

test('bad Responses requests get OpenAI errors naming the parameter', async () => {
  const cases = [
    [{ model: 'smacs', input: Q, tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    [{ model: 'smacs', input: Q, background: true }, 'background'],
    [{ model: 'smacs', input: Q, frobnicate: 1 }, 'frobnicate'],
    [{ model: 'smacs', input: 5 }, 'input'],
    [{ model: 'smacs', input: [{ type: 'item_reference', id: 'x' }] }, 'input[0].type'],
    [{ model: 'smacs', input: Q, max_output_tokens: 0 }, 'max_output_tokens'],
    [{ model: 'smacs', input: Q, temperature: 'hot' }, 'temperature'],
  ];
  for (const [body, param] of cases)
    await assert.rejects(openai.responses.create(body), (e) => e.status === 400 && e.param === param, JSON.stringify(body));
  const deep = '{"model":"smacs","input":' + '['.repeat(200) + ']'.repeat(200) + '}';
  for (const [body, status] of [[deep, 400], ['{"model": "smacs", "input": "' + 'x'.repeat(70000) + '"}', 413], ['{nope', 400]]) {
    const res = await fetch(`${replayUrl}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body });
    assert.equal(res.status, status);
    assert.equal(typeof (await res.json()).error.message, 'string');
  }
});

// ---- The Vercel AI SDK's OpenAI provider (Responses mode) -----------------------------

for (const model of ['smacs', 'model-b']) {
  test(`Vercel AI SDK generateText and streamText over /v1/responses (${model})`, async () => {
    const provider = createOpenAI({ apiKey: KEY, baseURL: `${replayUrl}/v1` });
    const { text } = await generateText({ model: provider.responses(model), prompt: Q, maxRetries: 0 });
    assert.equal(text, 'B');
    const result = streamText({ model: provider.responses(model), prompt: Q, maxRetries: 0 });
    let streamed = '';
    for await (const piece of result.textStream) streamed += piece;
    assert.equal(streamed, 'B');
  });
}

// ---- Anthropic Messages API -----------------------------------------------------------

const WEATHER_TOOL = { name: 'get_weather', description: 'The weather in a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } };

for (const model of ['smacs', 'model-c']) {
  test(`messages.create answers (${model})`, async () => {
    const r = await anthropic.messages.create({ model, max_tokens: 64, system: 'One letter.', messages: [{ role: 'user', content: Q }] });
    assert.equal(r.type, 'message');
    assert.match(r.id, /^msg_/);
    assert.equal(r.content[0].type, 'text');
    assert.equal(r.content[0].text, model === 'model-c' ? 'A' : 'B');
    assert.equal(r.stop_reason, 'end_turn');
    assert.equal(typeof r.usage.input_tokens, 'number');
    if (model === 'smacs') assert.ok(POOL.includes(r.smacs.chosen));
  });

  test(`messages.create streams (${model})`, async () => {
    const stream = await anthropic.messages.create({ model, max_tokens: 64, stream: true, messages: [{ role: 'user', content: Q }] });
    const types = [];
    let text = '';
    for await (const e of stream) {
      types.push(e.type);
      if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
    }
    assert.equal(text, model === 'model-c' ? 'A' : 'B');
    assert.deepEqual([types[0], types.at(-2), types.at(-1)], ['message_start', 'message_delta', 'message_stop']);
    assert.ok(types.includes('content_block_start') && types.includes('content_block_stop'));
  });
}

for (const model of ['smacs', 'tool-b']) {
  test(`a tool_use / tool_result round trip (${model})`, async () => {
    const messages = [{ role: 'user', content: WEATHER }];
    const r1 = await anthropicTools.messages.create({ model, max_tokens: 64, tools: [WEATHER_TOOL], messages });
    assert.equal(r1.stop_reason, 'tool_use');
    const use = r1.content.find((b) => b.type === 'tool_use');
    assert.deepEqual(use.input, { city: 'Paris' });
    const r2 = await anthropicTools.messages.create({ model, max_tokens: 64, tools: [WEATHER_TOOL], messages: [
      ...messages, { role: 'assistant', content: r1.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: RESULT }] }] });
    assert.equal(r2.content[0].text, `The weather is ${RESULT}.`);
    // Streamed: the SDK's own accumulator rebuilds the tool input from input_json_delta.
    const final = await anthropicTools.messages.stream({ model, max_tokens: 64, tools: [WEATHER_TOOL], messages }).finalMessage();
    assert.deepEqual(final.content.find((b) => b.type === 'tool_use').input, { city: 'Paris' });
    assert.equal(final.stop_reason, 'tool_use');
  });
}

test('count_tokens answers an estimate', async () => {
  const r = await anthropic.messages.countTokens({ model: 'smacs', messages: [{ role: 'user', content: Q }] });
  assert.ok(r.input_tokens > 0);
  const longer = await anthropic.messages.countTokens({ model: 'smacs', messages: [{ role: 'user', content: Q + Q }] });
  assert.ok(longer.input_tokens > r.input_tokens);
  // Its body is parsed once, with the same bounds as every door's.
  const deep = '{"model":"smacs","messages":' + '['.repeat(200) + ']'.repeat(200) + '}';
  for (const body of [deep, '{nope', '[1]', '{"model":"smacs","messages":[]}']) {
    const res = await fetch(`${replayUrl}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': KEY }, body });
    assert.equal(res.status, 400, body.slice(0, 40));
    assert.equal(typeof (await res.json()).error.message, 'string');
  }
});

test('bad Messages requests get Anthropic errors', async () => {
  const isAnthropic = (status) => (e) => e.status === status && e.error?.type === 'error' && typeof e.error.error.message === 'string';
  await assert.rejects(anthropic.messages.create({ model: 'smacs', messages: [{ role: 'user', content: Q }] }), isAnthropic(400));
  await assert.rejects(anthropic.messages.create({ model: 'smacs', max_tokens: 9, tools: [{ type: 'web_search_20250305', name: 'web_search' }], messages: [{ role: 'user', content: Q }] }), isAnthropic(400));
  await assert.rejects(anthropic.messages.create({ model: 'smacs', max_tokens: 9, messages: [{ role: 'robot', content: Q }] }), isAnthropic(400));
  await assert.rejects(anthropic.messages.create({ model: 'nope', max_tokens: 9, messages: [{ role: 'user', content: Q }] }), isAnthropic(404));
  const wrong = new Anthropic({ apiKey: 'wrong', baseURL: replayUrl, maxRetries: 0 });
  await assert.rejects(wrong.messages.create({ model: 'smacs', max_tokens: 9, messages: [{ role: 'user', content: Q }] }), isAnthropic(401));
  const deep = '{"model":"smacs","max_tokens":9,"messages":' + '['.repeat(200) + ']'.repeat(200) + '}';
  for (const [body, status] of [[deep, 400], ['{"model": "smacs", "x": "' + 'x'.repeat(70000) + '"}', 413], ['{nope', 400]]) {
    const res = await fetch(`${replayUrl}/v1/messages`, { method: 'POST', headers: { 'x-api-key': KEY }, body });
    assert.equal(res.status, status);
    const json = await res.json();
    assert.equal(json.type, 'error');
    assert.equal(typeof json.error.type, 'string');
  }
});

test('metrics count each door', async () => {
  const text = await (await fetch(`${replayUrl}/metrics`)).text();
  for (const endpoint of ['/v1/responses', '/v1/messages', '/v1/messages/count_tokens'])
    assert.match(text, new RegExp(`smacs_requests_total\\{endpoint="${endpoint.replace(/\//g, '\\/')}",code="200"\\}`), endpoint);
  assert.match(text, /smacs_requests_total\{endpoint="\/v1\/messages",code="400"\}/);
});
