#include "eval/length_control.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

namespace smacs {

double length_controlled_score(const std::vector<JudgedAnswer>& answers) {
  const double n = static_cast<double>(answers.size());
  if (answers.empty()) return 0.0;
  double mean_y = 0, mean_d = 0;
  for (const auto& a : answers) mean_y += a.preference / n, mean_d += a.length_diff / n;
  double var = 0;
  for (const auto& a : answers) var += (a.length_diff - mean_d) * (a.length_diff - mean_d) / n;
  if (var <= 0) return 100.0 * mean_y;
  const double sd = std::sqrt(var);
  const double ridge = 1e-6 * n;  // keeps phi finite when the lengths separate the preferences
  Eigen::Vector2d w(0.0, 0.0);    // theta, phi
  for (int iter = 0; iter < 50; ++iter) {
    Eigen::Vector2d grad(0.0, ridge * w[1]);
    Eigen::Matrix2d hess;
    hess << 1e-9, 0, 0, ridge;
    for (const auto& a : answers) {
      const Eigen::Vector2d x(1.0, std::tanh(a.length_diff / sd));
      const double p = 1.0 / (1.0 + std::exp(-std::clamp(w.dot(x), -30.0, 30.0)));
      grad += (p - a.preference) * x;
      hess += p * (1 - p) * x * x.transpose();
    }
    const Eigen::Vector2d step = hess.ldlt().solve(grad);
    w -= step;
    if (step.norm() < 1e-10) break;
  }
  return 100.0 / (1.0 + std::exp(-w[0]));
}

}  // namespace smacs
