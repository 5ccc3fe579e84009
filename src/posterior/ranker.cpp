#include "posterior/ranker.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>

#include "core/sorted_common.h"

namespace smacs {

namespace {

// A response's words (ASCII letters and digits lowercased; any byte >= 0x80 counts as a letter,
// so other scripts form words too), hashed and sorted: a multiset to intersect.
std::vector<size_t> word_hashes(std::string_view text) {
  std::vector<size_t> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(std::hash<std::string>{}(word));
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80)
      word.push_back(static_cast<char>(std::tolower(c)));
    else
      flush();
  }
  flush();
  std::sort(out.begin(), out.end());
  return out;
}

double word_f1(const std::vector<size_t>& a, const std::vector<size_t>& b) {
  if (a.empty() || b.empty()) return 0.0;
  const size_t common = count_common(a, b);
  return 2.0 * static_cast<double>(common) / static_cast<double>(a.size() + b.size());
}

struct Shape {
  double lists = 0, headings = 0, emphasis = 0, fences = 0, paragraphs = 0;
};

Shape shape_of(std::string_view text) {
  Shape s;
  bool after_blank = true;  // a paragraph starts after a blank line or at the top
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    const size_t lead = line.find_first_not_of(" \t\r");
    if (lead == std::string_view::npos) {
      after_blank = true;
      continue;
    }
    if (after_blank) s.paragraphs += 1;
    after_blank = false;
    line.remove_prefix(lead);
    if (line.starts_with("```")) s.fences += 0.5;
    if (line.starts_with('#')) s.headings += 1;
    const bool bullet = line.size() > 1 && (line[0] == '-' || line[0] == '*') && line[1] == ' ';
    size_t digits = 0;
    while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits]))) ++digits;
    const bool numbered = digits > 0 && digits + 1 < line.size() &&
                          (line[digits] == '.' || line[digits] == ')') && line[digits + 1] == ' ';
    if (bullet || numbered) s.lists += 1;
  }
  for (size_t at = text.find("**"); at != std::string_view::npos; at = text.find("**", at + 2))
    s.emphasis += 0.5;
  return s;
}

// Distinct words over words: low for a reply that repeats itself.
double diversity(const std::vector<size_t>& sorted_words) {
  if (sorted_words.empty()) return 0.0;
  size_t n = 1;
  for (size_t i = 1; i < sorted_words.size(); ++i) n += sorted_words[i] != sorted_words[i - 1];
  return static_cast<double>(n) / static_cast<double>(sorted_words.size());
}

bool summarises(std::string_view text) {
  static const char* const kSigns[] = {"In summary", "In conclusion", "Overall,", "To summarize",
                                       "Ultimately,"};
  const std::string_view tail = text.substr(text.size() > 600 ? text.size() - 600 : 0);
  return std::any_of(std::begin(kSigns), std::end(kSigns),
                     [&](const char* s) { return tail.find(s) != std::string_view::npos; });
}

bool refuses(std::string_view text) {
  static const char* const kSigns[] = {"I'm sorry", "I am sorry",  "As an AI",   "I cannot",
                                       "I can't",   "I apologize", "I'm unable", "I am unable"};
  const std::string_view head = text.substr(0, 300);
  return std::any_of(std::begin(kSigns), std::end(kSigns),
                     [&](const char* s) { return head.find(s) != std::string_view::npos; });
}

// Cut off: an odd number of code fences (`shape` is the text's), or a last character that ends
// no sentence.
bool truncated(std::string_view text, const Shape& shape) {
  const size_t last = text.find_last_not_of(" \t\r\n");
  if (last == std::string_view::npos) return true;
  if (std::fmod(shape.fences, 1.0) != 0.0) return true;
  return std::string_view(".!?)]}\"'`*:;>|").find(text[last]) == std::string_view::npos &&
         !std::isdigit(static_cast<unsigned char>(text[last]));
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-std::clamp(z, -30.0, 30.0))); }

}  // namespace

const std::array<const char*, kRankerFeatures>& ranker_feature_names() {
  static const std::array<const char*, kRankerFeatures> names = {
      "length",    "lists", "headings",  "emphasis",   "code",      "refusal",
      "truncated", "prior", "consensus", "paragraphs", "diversity", "summary"};
  return names;
}

std::vector<double> consensus_scores(const std::vector<std::string_view>& responses,
                                     const std::vector<double>& prior_norm) {
  const size_t n = responses.size();
  std::vector<std::vector<size_t>> words;
  for (auto r : responses) words.push_back(word_hashes(r));
  std::vector<std::vector<double>> sim(n, std::vector<double>(n, 0.0));
  for (size_t j = 0; j < n; ++j)
    for (size_t k = j + 1; k < n; ++k) sim[j][k] = sim[k][j] = word_f1(words[j], words[k]);
  return prior_weighted_agreement(sim, prior_norm);
}

std::vector<double> prior_weighted_agreement(const std::vector<std::vector<double>>& sim,
                                             const std::vector<double>& prior_norm) {
  const size_t n = sim.size();
  std::vector<double> out(n, 0.0);
  for (size_t j = 0; j < n; ++j) {
    double num = 0, den = 0;
    for (size_t k = 0; k < n; ++k) {
      if (k == j) continue;
      num += prior_norm[k] * sim[j][k];
      den += prior_norm[k];
    }
    out[j] = den > 0 ? num / den : 0.0;
  }
  return out;
}

std::vector<RankerFeatures> answer_features(const std::vector<std::string_view>& responses,
                                            const std::vector<double>& prior_norm,
                                            const std::vector<double>& consensus) {
  const size_t n = responses.size();
  std::vector<RankerFeatures> out(n);
  for (size_t j = 0; j < n; ++j) {
    const std::string_view r = responses[j];
    const Shape s = shape_of(r);
    out[j] = {std::log1p(static_cast<double>(r.size())),
              std::log1p(s.lists),
              std::log1p(s.headings),
              std::log1p(s.emphasis),
              std::log1p(std::floor(s.fences)),
              refuses(r) ? 1.0 : 0.0,
              truncated(r, s) ? 1.0 : 0.0,
              prior_norm[j],
              consensus[j],
              std::log1p(s.paragraphs),
              diversity(word_hashes(r)),
              summarises(r) ? 1.0 : 0.0};
  }
  // Relative to the candidate set: what matters is how an answer differs from the others.
  for (size_t f = 0; f < kRankerFeatures && n > 0; ++f) {
    double mean = 0;
    for (const auto& x : out) mean += x[f];
    mean /= static_cast<double>(n);
    for (auto& x : out) x[f] -= mean;
  }
  return out;
}

double AnswerRanker::score(const RankerFeatures& f) const {
  double s = 0;
  for (size_t i = 0; i < kRankerFeatures; ++i) s += weights[i] * f[i];
  return s;
}

AnswerRanker fit_ranker(const std::vector<JudgedQuestion>& questions, double l2, double min_gap) {
  using Vec = Eigen::Matrix<double, kRankerFeatures, 1>;
  using Mat = Eigen::Matrix<double, kRankerFeatures, kRankerFeatures>;
  struct Pair {
    Vec x;  // f_better - f_worse
    double weight;
  };
  std::vector<Pair> pairs;
  AnswerRanker out;
  for (const auto& q : questions) {
    const auto f =
        answer_features(q.responses, q.prior_norm, consensus_scores(q.responses, q.prior_norm));
    bool used = false;
    for (size_t a = 0; a < f.size(); ++a)
      for (size_t b = 0; b < f.size(); ++b) {
        const double gap = q.score[a] - q.score[b];
        if (gap < min_gap) continue;  // each pair once, the better answer first
        Vec x;
        for (size_t i = 0; i < kRankerFeatures; ++i) x[i] = f[a][i] - f[b][i];
        pairs.push_back({x, gap});
        used = true;
      }
    out.questions += used ? 1 : 0;
  }
  out.pairs = pairs.size();
  if (pairs.empty()) return out;
  // Every pair is labelled "first wins": the likelihood is sum weight * log sigmoid(w . x).
  Vec w = Vec::Zero();
  for (int iter = 0; iter < 30; ++iter) {
    Vec grad = l2 * w;
    Mat hess = l2 * Mat::Identity();
    for (const auto& p : pairs) {
      const double s = sigmoid(w.dot(p.x));
      grad -= p.weight * (1 - s) * p.x;
      hess += p.weight * s * (1 - s) * p.x * p.x.transpose();
    }
    const Vec step = hess.ldlt().solve(grad);
    w -= step;
    if (step.norm() < 1e-9) break;
  }
  for (size_t i = 0; i < kRankerFeatures; ++i) out.weights[i] = w[i];
  return out;
}

}  // namespace smacs
