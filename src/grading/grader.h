// Graders: how a model's response to a labelled question becomes a score in 0..1.
//
// Labelled questions are smacs JSONL rows: {id, task, question, gold | tests, grader?}.
// `grader` is choice (option letter), number (final number, GSM8K style), exact (normalised
// exact match; also "text") or code (the response's code must pass `tests`); without it the
// task's questions decide (options -> choice, numeric golds -> number, tests -> code, else exact).
// A grader reads answers as EPE's agreement term does, so both share AnswerKind.
#pragma once
#include <string>
#include <vector>

#include "core/record.h"
#include "answers/extract.h"

namespace smacs {

// The grader for every task of `questions` (a row's own `grader` field still wins).
std::vector<AnswerKind> default_graders(const std::vector<Record>& questions);

struct CodeLimits {
  int cpu_seconds = 10;
  int wall_ms = 15000;
  size_t memory_mb = 1024;
  std::string python = "python3";
};

double grade_response(const Record& question, AnswerKind kind, const std::string& response,
                      const CodeLimits& limits = {});

// Code from a response: the first fenced block (```python ... ```), else the whole text.
std::string extract_code(const std::string& response);

struct CodeRun {
  bool passed = false;
  bool timed_out = false;
  int exit_code = -1;
  std::string output;  // stdout and stderr, truncated
};

// Runs a Python program in a fresh temporary directory, in a child process with CPU, memory,
// file-size and wall-time limits and no network (a new network namespace). Never throws for
// what the program does; throws smacs::Error only when the sandbox cannot be set up.
CodeRun run_python_sandboxed(const std::string& program, const CodeLimits& limits);

}  // namespace smacs
