// Starting smacs commands for the Node.js tests: each resolves with the port it listens on.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SMACS = process.env.SMACS_BINARY;
export const children = [];  // every process started; the tests stop them with SIGTERM

export function start(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(SMACS, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no port from smacs ${args[0]}: ${err}`)), 30000);
    child.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on('exit', (code) => reject(new Error(`smacs ${args[0]} exited ${code}: ${err}`)));
  });
}

// Starts smacs_fake_backend (tests/fake_backend.h) and resolves with its port.
export function startFake() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.SMACS_FAKE_BACKEND, ['--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`smacs_fake_backend exited ${code}`)));
  });
}

// A small recorded data set a test owns (smacs JSONL, task "science"): each question's answers
// by the pool's models in order, the first answer gold. Used as the bank and by replay-serve.
export function writeRecorded(dir, pool, questions) {
  const lines = questions.map(([q, answers], i) => JSON.stringify({
    id: `q${i}`, task: 'science', question: q, gold: answers[0],
    results: Object.fromEntries(pool.map((m, j) => [m, { score: answers[j] === answers[0] ? 1 : 0, response: answers[j] }])),
  }));
  const path = join(dir, 'science.jsonl');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}
