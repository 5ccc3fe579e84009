// The official `openai` npm client against `smacs serve` in front of the misbehaving backend
// (tests/fake_backend.h, run as smacs_fake_backend): ids with slashes, rate limits. Loopback only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { RateLimitError } from 'openai';
import { start, startFake, children } from './smacs.mjs';

// Pool name -> the fake backend's mode for it.
const POOL = {
  'zero-one-ai/Yi-34B-Chat': 'ok',
  'mistralai/mixtral-8x7b-chat': 'ok',
  'limited/always': '429:1',
  'limited/once': '429-then-ok:1:1',
};


let baseURL;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'smacs-node-hostile-'));
  const names = Object.keys(POOL);
  const bank = join(dir, 'bank.jsonl');
  writeFileSync(bank, ['Which gas do plants take in?', 'Which is a mammal?'].map((q, i) => JSON.stringify({
    id: `q${i}`, task: 'science', question: q, gold: 'A',
    results: Object.fromEntries(names.map((m) => [m, { score: 1, response: 'A' }])),
  })).join('\n') + '\n');
  const fake = await startFake();
  const pool = names.map((m) => `  - {name: "${m}", model: "${POOL[m]}", base_url: http://127.0.0.1:${fake}/v1, retries: 0}`).join('\n');
  writeFileSync(join(dir, 'smacs.yaml'),
    `listen: 127.0.0.1:0\naccess_log: none\nfeedback_journal: none\nbank: ${bank}\npool:\n${pool}\n`);
  const port = await start(['serve', '--config', join(dir, 'smacs.yaml')]);
  baseURL = `http://127.0.0.1:${port}/v1`;
});

after(() => { for (const c of children) c.kill('SIGTERM'); });

test('models.retrieve finds every pool model, slashes and all', async () => {
  const client = new OpenAI({ apiKey: 'none', baseURL, maxRetries: 0 });
  for (const id of ['smacs', ...Object.keys(POOL)]) {
    const m = await client.models.retrieve(id);
    assert.equal(m.id, id);
  }
});

test('a 429 with Retry-After surfaces as RateLimitError', async () => {
  const client = new OpenAI({ apiKey: 'none', baseURL, maxRetries: 0 });
  await assert.rejects(
    client.chat.completions.create({ model: 'limited/always', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof RateLimitError && e.status === 429 && e.headers.get('retry-after') === '1');
});

test('the SDK retries a 429 after the Retry-After delay', async () => {
  const client = new OpenAI({ apiKey: 'none', baseURL, maxRetries: 1 });
  const started = Date.now();
  const r = await client.chat.completions.create({ model: 'limited/once', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.choices[0].message.content, 'The answer is A.');
  assert.ok(Date.now() - started >= 900, `retried after ${Date.now() - started} ms, before the delay`);
});
