#!/usr/bin/env python3
"""A synthetic bank for the benchmarks (seeded): N questions of 8-20 words from a 20,000-word
vocabulary in 5 tasks, and 6 models m0..m5 whose per-task strengths decide their 0/1 scores.
Usage: synthetic_bank.py N OUT.jsonl"""
import json, random, sys

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(42)
words = [f"w{i}" for i in range(20000)]
strength = [[rng.uniform(0.2, 0.9) for _ in range(6)] for _ in range(5)]
with open(out, "w") as f:
    for i in range(n):
        t = i % 5
        q = " ".join(rng.choice(words) for _ in range(rng.randint(8, 20)))
        res = {f"m{m}": {"score": 1.0 if rng.random() < strength[t][m] else 0.0} for m in range(6)}
        f.write(json.dumps({"id": f"q{i}", "task": f"t{t}", "question": q, "results": res}) + "\n")
