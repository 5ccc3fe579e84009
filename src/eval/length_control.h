// Length-controlled judged scores (AlpacaEval 2.0's idea): judges prefer longer answers, so a
// rule could win by picking the longest. Per method, a logistic model of the judge's
// preference y_i (0..1) on the length difference to the reference answer,
//
//   y_i ~ sigmoid(theta + phi * tanh(d_i / sd(d)))
//
// fitted by maximum likelihood (Newton's method); the controlled score is the preference it
// predicts with the difference set to 0: sigmoid(theta). AlpacaEval's model also has a term
// per instruction (its difficulty), fitted across many models; with one method at a time
// here, that term is left out.
#pragma once
#include <vector>

namespace smacs {

struct JudgedAnswer {
  double preference;   // the judge's, 0..1
  double length_diff;  // characters: the answer's length minus the reference's
};

// In percent; the plain mean when the lengths do not vary (nothing to control).
double length_controlled_score(const std::vector<JudgedAnswer>& answers);

}  // namespace smacs
