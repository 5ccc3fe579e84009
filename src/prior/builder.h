// Growing the bank: run models on labelled questions, grade every answer, store each result
// the moment it is graded. Resumable: a re-run asks only what is not stored yet, so an
// interrupted build (even kill -9) loses and repeats nothing that had finished.
#pragma once
#include <functional>
#include <memory>

#include "bank/bank_store.h"
#include "core/progress.h"
#include "generation/backend.h"
#include "grading/grader.h"

namespace smacs {

struct ModelEndpoint {
  std::unique_ptr<Backend> backend;  // its name() is the model's name in the bank
  size_t concurrency = 4;            // requests in flight to this backend
  Price price;                       // with the reply's token counts: each result's cost
};

struct BuildOptions {
  int request_timeout_ms = 120000;
  // How long a claimed (question, model) pair is this builder's: a builder killed mid-way
  // leaves its claims to the others after this (0: the request timeout plus 30 s).
  int lease_ms = 0;
  CodeLimits code_limits;
};

struct BuildReport {
  size_t asked = 0;    // calls made in this run
  size_t stored = 0;   // results graded and stored
  size_t skipped = 0;  // already in the bank
  size_t failed = 0;   // backend errors: not stored, asked again by the next run
  std::vector<std::string> first_errors;
};

// Adds `questions` (labelled: gold or tests) to the bank and fills in every model's result.
// Many builders may run at once against one shared bank (PostgreSQL): each claims pairs no
// other holds (BankFile::offer/claim), so no pair is asked twice, and a killed builder's
// claims are taken over once their lease runs out (its calls in flight are asked again).
BuildReport build_prior(BankFile& bank, const std::vector<Record>& questions,
                        std::vector<ModelEndpoint>& models, const BuildOptions& options,
                        const Progress& progress = {});

// The bank's own questions, or a seeded sample of `sample` of them (0 = all): what add-model asks.
std::vector<Record> bank_questions(const BankFile& bank, size_t sample, uint64_t seed);

}  // namespace smacs
