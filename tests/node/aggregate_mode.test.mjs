// Aggregate mode (the paper's EPE) through the official `openai` npm client: replay-serve of the
// ZeroEval MATH-L5 files answers as the 7 references, smacs_fake_backend's vote-aggregator
// (tests/fake_backend.h) writes the 8 candidates. Loopback only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { start, startFake, children } from './smacs.mjs';

const DATA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'zeroeval', 'math-l5');
const POOL = ['Athene-70B', 'Llama-3.1-405B-Inst@sambanova', 'Meta-Llama-3-70B-Instruct',
  'Meta-Llama-3-8B-Instruct', 'Meta-Llama-3.1-70B-Instruct', 'Meta-Llama-3.1-8B-Instruct',
  'Mistral-Large-2', 'Phi-3.5-mini-instruct', 'Qwen2-72B-Instruct', 'Qwen2-7B-Instruct',
  'Yi-1.5-34B-Chat', 'Yi-1.5-9B-Chat', 'deepseek-v2.5-0908', 'gemma-2-2b-it', 'gemma-2-9b-it'];
const AGGREGATOR_MS = 400;
const rows = JSON.parse(gunzipSync(readFileSync(join(DATA, 'Athene-70B.json.gz'))).toString());
const question = (i) => rows[i].question ?? rows[i].problem;


async function serve(dir, name, aggregatorUrl, smacs) {
  const replayPort = await start(['replay-serve', '--data', DATA, '--port', '0']);
  const pool = POOL.map((m) => `  - {name: "${m}", base_url: "http://127.0.0.1:${replayPort}/v1"}`).join('\n');
  const config = join(dir, `${name}.yaml`);
  writeFileSync(config, `listen: 127.0.0.1:0\naccess_log: none\nfeedback_journal: none\nbank: ${DATA}\n` +
    `smacs: {k: 7, mode: aggregate, aggregator: agg, candidates: 8, keep: 6${smacs}}\n` +
    `aggregators:\n  - {name: agg, base_url: "${aggregatorUrl}", model: "vote-aggregator:${AGGREGATOR_MS}", retries: 0}\n` +
    `pool:\n${pool}\n`);
  const port = await start(['serve', '--config', config]);
  return new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
}

let live, down, adaptive;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'smacs-node-aggregate-'));
  const fake = `http://127.0.0.1:${await startFake()}/v1`;
  live = await serve(dir, 'live', fake, '');
  down = await serve(dir, 'down', 'http://127.0.0.1:1/v1', '');
  adaptive = await serve(dir, 'adaptive', fake, ', adaptive: true');
});

after(() => { for (const c of children) c.kill('SIGTERM'); });

async function streamed(client, q) {
  const stream = await client.chat.completions.create({
    model: 'smacs', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: q }] });
  let text = '', trace = null, usage = null, finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    trace = chunk.smacs ?? trace;
    usage = chunk.usage ?? usage;
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  return { text, trace, usage, finish };
}

test('a streamed answer from 8 candidates of 6 references, the best chosen, the calls at once', async () => {
  const t0 = Date.now();
  const { text, trace, usage, finish } = await streamed(live, question(3));
  const wall = Date.now() - t0;
  const a = trace.aggregate;
  assert.equal(a.references.length, 7);
  assert.equal(a.candidates.length, 8);
  for (const c of a.candidates) {
    assert.equal(c.subset.length, 6);
    assert.ok(c.latency_ms >= AGGREGATOR_MS * 0.9);
    assert.equal(typeof c.ppl, 'number');
  }
  const totals = a.candidates.map((c) => c.total);
  assert.equal(a.chosen, totals.indexOf(Math.max(...totals)));
  assert.equal(trace.chosen, 'agg');
  assert.ok(text.length > 0);
  assert.equal(finish, 'stop');
  assert.ok(usage.total_tokens >= 8 * 120, 'include_usage sums the aggregator calls too');
  assert.ok(wall < 2 * AGGREGATOR_MS + 600, `8 overlapping calls, not 8 in a row (${wall} ms)`);
});

test('aggregator down: the select-mode answer, and the trace says so', async () => {
  const { text, trace } = await streamed(down, question(3));
  assert.match(trace.aggregate.fallback, /no aggregator call gave a usable candidate/);
  assert.ok(POOL.includes(trace.chosen));
  assert.ok(text.length > 0);
});

test('adaptive: settled questions skip the aggregator', async () => {
  const seen = { settled: 0, asked: 0 };
  for (let i = 0; i < 10; ++i) {
    const r = await adaptive.chat.completions.create({ model: 'smacs', messages: [{ role: 'user', content: question(i) }] });
    if (r.smacs.aggregate.skipped === 'settled') {
      seen.settled += 1;
      assert.equal(r.smacs.aggregate.candidates.length, 0);
      assert.ok(POOL.includes(r.smacs.chosen));
    } else {
      seen.asked += 1;
      assert.equal(r.smacs.aggregate.candidates.length, 8);
    }
  }
  assert.ok(seen.settled > 0 && seen.asked > 0, JSON.stringify(seen));
});
