// The official `openai` npm client against `smacs serve` over replay-serve backends (loopback only).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { start, children, writeRecorded } from './smacs.mjs';


// Starts a smacs command and resolves with the port it reports on stderr.

// A small recorded data set the test owns: used both as the prior bank and by replay-serve.
const POOL = ['model-a', 'model-b', 'model-c'];
const QUESTIONS = [
  ['Which gas do plants take in?\nA) oxygen\nB) carbon dioxide\nC) helium\nD) neon', ['B', 'B', 'A']],
  ['Which is a mammal?\nA) shark\nB) trout\nC) whale\nD) eel', ['C', 'C', 'C']],
  ['What melts ice fastest?\nA) salt\nB) sand\nC) sawdust\nD) paper', ['A', 'B', 'A']],
];
const writeData = (dir) => writeRecorded(dir, POOL, QUESTIONS);
const firstQuestion = () => QUESTIONS[0][0];

let client;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'smacs-node-'));
  const data = writeData(dir);
  const replayPort = await start(['replay-serve', '--data', data, '--port', '0']);
  const pool = POOL.map((m) => `  - {name: ${m}, base_url: http://127.0.0.1:${replayPort}/v1}`).join('\n');
  writeFileSync(join(dir, 'smacs.yaml'),
    `listen: 127.0.0.1:0\napi_keys: [test-key]\nbank: ${data}\npool:\n${pool}\n`);
  const port = await start(['serve', '--config', join(dir, 'smacs.yaml')]);
  client = new OpenAI({ apiKey: 'test-key', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
});

after(() => { for (const c of children) c.kill('SIGTERM'); });

test('models list has smacs and the pool', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['smacs', ...POOL]);
});

test('plain chat completion through SMACS', async () => {
  const r = await client.chat.completions.create({ model: 'smacs', messages: [{ role: 'user', content: firstQuestion() }] });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, 'B');  // the majority, which is also right
  assert.ok(POOL.includes(r.smacs.chosen));
  assert.ok(r.smacs.selected.length >= 1);
});

test('streaming chat completion through SMACS', async () => {
  const stream = await client.chat.completions.create({
    model: 'smacs', stream: true, messages: [{ role: 'user', content: firstQuestion() }] });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.match(text, /^[A-D]/);
  assert.equal(finish, 'stop');
});

test('errors arrive as OpenAI errors', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e.status === 404 && /does not exist/.test(e.message));
  const bad = new OpenAI({ apiKey: 'wrong', baseURL: client.baseURL, maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e.status === 401);
});
