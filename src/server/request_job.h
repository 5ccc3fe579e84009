// One SMACS request from question to answer, in either EPE mode; request_job.cpp reads in the
// order it happens:
//   start      plan (pipeline: embed, retrieve, proxy, select among the eligible backends),
//              then fit the budget
//   rounds     fan out to the selected models (all at once, or adaptively round by round),
//              choose by the posterior
//   aggregate  (aggregate mode) the aggregator's calls over subsets of the references, their
//              candidates scored on a worker, never on the I/O thread
//   escalate   (unsure, with an escalation model) ask it; its answer is the chosen one
//   finish     the chosen reply with its trace (server/answer_trace.h), or why none
// No thread waits for a backend: each step runs on the thread of the reply that lets it go on.
#pragma once
#include <atomic>
#include <memory>

#include "server/backend_pool.h"
#include "server/bank_view.h"
#include "server/gateway_answer.h"

namespace smacs {

// What every job of a gateway shares; it must outlive them.
struct JobContext {
  BackendPool& pool;
  const SmacsParams& params;
  Metrics& metrics;
};

// Answers `request` over `view` (one bank for the whole request): `done` once, on the thread
// of the last reply. `client_gone`, when given, turns true once the client has left: the
// calls out stop (their connections closed), no further round, escalation or aggregator call
// is made, and the answer is a 499. Throws
// smacs::Error only before asking anyone (a question the embedder could not embed).
void start_request_job(const JobContext& context, std::shared_ptr<const BankView> view,
                       std::shared_ptr<const ChatRequest> request, Deadline deadline, AnswerFn done,
                       AbandonFlag client_gone);

}  // namespace smacs
