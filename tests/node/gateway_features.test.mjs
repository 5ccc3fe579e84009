// The official `openai` npm client against `smacs serve` in front of a loopback backend that
// streams, calls tools, refuses, stalls or is not there at all. Loopback only, bounded in time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { start, children } from './smacs.mjs';

const hits = {};         // upstream model -> requests seen
let lastChunkSentAt = 0; // when the upstream sent its last streamed chunk


const QUESTION = 'What is the weather in Paris?';
const TOOLS = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
// Two of three tool models agree (same call, keys in another order); the third calls another.
const CALLS = {
  'tool-a': { name: 'get_weather', arguments: '{"city": "Paris", "unit": "C"}' },
  'tool-b': { name: 'get_weather', arguments: '{"unit":"C","city":"Paris"}' },
  'tool-c': { name: 'get_time', arguments: '{"city": "Paris"}' },
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The upstream: one OpenAI-compatible endpoint whose behaviour the model name picks.
async function upstream(req, res) {
  let raw = '';
  for await (const part of req) raw += part;
  const body = JSON.parse(raw);
  const model = body.model;
  hits[model] = (hits[model] ?? 0) + 1;
  const json = (status, obj) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
  if (model.startsWith('refuser')) return json(400, { error: { message: `unsupported parameter 'foo' (${model})`, type: 'invalid_request_error' } });
  if (model.startsWith('slow')) { await sleep(3000); return json(200, {}); }
  const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
  const call = body.tools ? CALLS[model] : null;
  const message = call
    ? { role: 'assistant', content: null, tool_calls: [{ id: `call_${model}`, type: 'function', function: call }] }
    : { role: 'assistant', content: `Sunny, says ${model}.` };
  const finish = call ? 'tool_calls' : 'length';  // plain answers are cut off: must stay visible
  if (!body.stream) {
    return json(200, {
      id: `up-${model}`, object: 'chat.completion', created: 1, model, system_fingerprint: `fp_${model}`,
      choices: [{ index: 0, message, finish_reason: finish, logprobs: { content: [{ token: 'Sunny', logprob: -0.1, bytes: null, top_logprobs: [] }] } }],
      usage,
    });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = (delta, finish_reason = null) => `data: ${JSON.stringify({ id: `up-${model}`, object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason }] })}\n\n`;
  res.write(chunk({ role: 'assistant', content: 'Sun' }));
  await sleep(600);  // the rest comes later: a relay that waits for it is not streaming
  res.write(chunk({ content: 'ny.' }));
  res.write(chunk({}, 'stop'));
  if (body.stream_options?.include_usage)
    res.write(`data: ${JSON.stringify({ id: `up-${model}`, object: 'chat.completion.chunk', created: 1, model, choices: [], usage })}\n\n`);
  lastChunkSentAt = Date.now();
  res.end('data: [DONE]\n\n');
}

function writeBank(dir, name, models) {
  const rows = [QUESTION, 'Will it rain in Rome?', 'How cold is Oslo?'].map((q, i) => JSON.stringify({
    id: `w${i}`, task: 'weather', question: q,
    results: Object.fromEntries(models.map((m, j) => [m, { score: 1 - j * 0.1, response: 'x' }])),
  }));
  const path = join(dir, `${name}.jsonl`);
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
}

async function serve(dir, name, models, extra = '', backendExtra = '') {
  const bank = writeBank(dir, name, models);
  const pool = models.map((m) => `  - {name: ${m}, base_url: ${m === 'dead' ? 'http://127.0.0.1:1/v1' : upstreamUrl}, retries: 0${backendExtra}}`).join('\n');
  writeFileSync(join(dir, `${name}.yaml`), `listen: 127.0.0.1:0\naccess_log: none\nbank: ${bank}\n${extra}pool:\n${pool}\n`);
  const port = await start(['serve', '--config', join(dir, `${name}.yaml`)]);
  return new OpenAI({ apiKey: 'none', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
}

let upstreamServer, upstreamUrl, tools, refusing, slow, flaky;
before(async () => {
  upstreamServer = createServer((req, res) => { upstream(req, res).catch((e) => { res.writeHead(500); res.end(String(e)); }); });
  await new Promise((r) => upstreamServer.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${upstreamServer.address().port}/v1`;
  const dir = mkdtempSync(join(tmpdir(), 'smacs-node-features-'));
  tools = await serve(dir, 'tools', ['tool-a', 'tool-b', 'tool-c'], 'smacs: {k: 3, p_drop: 0}\n');
  refusing = await serve(dir, 'refusing', ['refuser-a', 'refuser-b'], 'smacs: {k: 2, p_drop: 0}\n');
  slow = await serve(dir, 'slow', ['slow-a', 'slow-b'], 'request_timeout_ms: 1000\nsmacs: {k: 2, p_drop: 0}\n', ', timeout_ms: 800');
  flaky = await serve(dir, 'flaky', ['dead', 'tool-a'], 'smacs: {k: 2, p_drop: 0}\n');
});

after(() => { for (const c of children) c.kill('SIGTERM'); upstreamServer.close(); });

test('SMACS returns the agreed tool call, with finish_reason, logprobs and system_fingerprint', async () => {
  const r = await tools.chat.completions.create({ model: 'smacs', tools: TOOLS, messages: [{ role: 'user', content: QUESTION }] });
  const call = r.choices[0].message.tool_calls?.[0];
  assert.ok(call, JSON.stringify(r));
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', unit: 'C' });
  assert.ok(['tool-a', 'tool-b'].includes(r.smacs.chosen));
  assert.equal(r.smacs.answer_kind, 'tool_calls');
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(r.system_fingerprint, `fp_${r.smacs.chosen}`);
  assert.equal(r.choices[0].logprobs.content[0].token, 'Sunny');
  assert.equal(r.model, 'smacs');
  assert.equal(r.usage.total_tokens, 45);  // three backends asked
});

test('a truncated answer keeps finish_reason "length" (SMACS and streamed)', async () => {
  const r = await tools.chat.completions.create({ model: 'smacs', messages: [{ role: 'user', content: QUESTION }] });
  assert.equal(r.choices[0].finish_reason, 'length');
  const stream = await tools.chat.completions.create({ model: 'smacs', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: QUESTION }] });
  let finish = null, usage = null, text = '';
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    usage = c.usage ?? usage;
  }
  assert.match(text, /^Sunny, says tool-/);
  assert.equal(finish, 'length');
  assert.equal(usage?.total_tokens, 45, 'include_usage through SMACS');
});

test('tool calls stream through SMACS', async () => {
  const stream = await tools.chat.completions.create({ model: 'smacs', stream: true, tools: TOOLS, messages: [{ role: 'user', content: QUESTION }] });
  let name = '', args = '', finish = null;
  for await (const c of stream) {
    for (const t of c.choices[0]?.delta?.tool_calls ?? []) { name += t.function?.name ?? ''; args += t.function?.arguments ?? ''; }
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(name, 'get_weather');
  assert.deepEqual(JSON.parse(args), { city: 'Paris', unit: 'C' });
  assert.equal(finish, 'tool_calls');
});

test('pass-through streaming relays tokens as they arrive, with include_usage', async () => {
  const stream = await tools.chat.completions.create({ model: 'tool-a', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: QUESTION }] });
  let firstAt = 0, text = '', usage = null;
  for await (const c of stream) {
    if (!firstAt && c.choices[0]?.delta?.content) firstAt = Date.now();
    text += c.choices[0]?.delta?.content ?? '';
    usage = c.usage ?? usage;
  }
  assert.equal(text, 'Sunny.');
  assert.ok(firstAt > 0 && firstAt < lastChunkSentAt, 'the first token came before the upstream had finished');
  assert.equal(usage?.total_tokens, 15);
});

test('requests every backend refuses are a 400 with their messages, never retried', async () => {
  const before = (hits['refuser-a'] ?? 0) + (hits['refuser-b'] ?? 0);
  const retrying = new OpenAI({ apiKey: 'none', baseURL: refusing.baseURL, maxRetries: 2 });
  await assert.rejects(retrying.chat.completions.create({ model: 'smacs', messages: [{ role: 'user', content: QUESTION }] }),
    (e) => e.status === 400 && /unsupported parameter 'foo'/.test(e.message));
  assert.equal((hits['refuser-a'] ?? 0) + (hits['refuser-b'] ?? 0) - before, 2, 'one call per backend: no client retries');
  await assert.rejects(refusing.chat.completions.create({ model: 'refuser-a', messages: [{ role: 'user', content: QUESTION }] }),
    (e) => e.status === 400 && /refuser-a refused the request/.test(e.message));
});

test('backends slower than the timeout give 504', async () => {
  await assert.rejects(slow.chat.completions.create({ model: 'smacs', messages: [{ role: 'user', content: QUESTION }] }),
    (e) => e.status === 504);
  await assert.rejects(slow.chat.completions.create({ model: 'slow-a', messages: [{ role: 'user', content: QUESTION }] }),
    (e) => e.status === 504);
});

test('OpenAI ranges are validated up front', async () => {
  for (const [field, value] of [['temperature', 99], ['max_tokens', -1], ['top_p', 1.5], ['presence_penalty', 3]])
    await assert.rejects(tools.chat.completions.create({ model: 'smacs', [field]: value, messages: [{ role: 'user', content: QUESTION }] }),
      (e) => e.status === 400 && e.param === field, field);
});

test('a backend that keeps failing is skipped (circuit breaker)', async () => {
  let last;
  for (let i = 0; i < 7; ++i)
    last = await flaky.chat.completions.create({ model: 'smacs', messages: [{ role: 'user', content: QUESTION }] });
  assert.equal(last.smacs.chosen, 'tool-a');
  assert.deepEqual(last.smacs.unhealthy_skipped, ['dead']);
  assert.deepEqual(last.smacs.selected, ['tool-a']);
  const metrics = await (await fetch(flaky.baseURL.replace('/v1', '/metrics'))).text();
  assert.match(metrics, /smacs_model_events_total\{event="circuit_opened",model="dead"\} 1/);
});

test('ids are random and shared with x-request-id; models.retrieve works', async () => {
  const { data, response } = await tools.chat.completions.create({ model: 'tool-a', messages: [{ role: 'user', content: QUESTION }] }).withResponse();
  assert.ok(data.id);
  const r1 = await tools.chat.completions.create({ model: 'smacs', messages: [{ role: 'user', content: QUESTION }] }).withResponse();
  assert.match(r1.data.id, /^chatcmpl-[0-9a-f]{32}$/);
  assert.equal(r1.response.headers.get('x-request-id'), r1.data.id);
  assert.ok(response.headers.get('x-request-id'));
  const m = await tools.models.retrieve('tool-b');
  assert.equal(m.id, 'tool-b');
  await assert.rejects(tools.models.retrieve('nope'), (e) => e.status === 404);
});
