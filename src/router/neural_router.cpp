// router_mlp and router_mf: two small networks from a question's (sparse) embedding to every
// model's probability of answering it right, trained full-batch with Adam on the bank's
// scores (cross-entropy on the scores there are; fractional scores are soft labels) and
// early-stopped on a seeded held-out slice. Both have the same shape:
//   h = f(x W1 + b1),   z = h W2 + b2,   p = sigmoid(z)
// with f = ReLU for the MLP, and f = identity for MF, where W1 projects the question and the
// rows of W2ᵀ are the models' vectors (RouteLLM's MF, generalised from 2 models to N).
#include <Eigen/Dense>
#include <Eigen/Sparse>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <unordered_map>

#include "core/error.h"
#include "core/parallel.h"
#include "router/router.h"

namespace smacs {

namespace {

// Row-major: the sparse input times the first layer reads one input term's weights as one
// contiguous row (column-major, they lay 16 KB apart: the routers trained twice as slowly).
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;
using Sparse = Eigen::SparseMatrix<float, Eigen::RowMajor>;

// Embedding ids -> input columns: the `max_inputs` terms found in the most train questions,
// of those in at least two (a term seen once cannot generalise, and the embedder's id space
// is millions of hash buckets wide). The cap keeps training in seconds: the first layer's
// gradient is dense, inputs x hidden, every epoch; RouterDC's 49,985 terms took 14-16 s per
// network; with the most frequent 4,096 they take 1-3 s and score within 0.5 of before.
struct Vocabulary {
  std::unordered_map<uint32_t, int> column;
  Sparse rows(const std::vector<SparseVec>& vecs) const {
    std::vector<Eigen::Triplet<float>> t;
    for (size_t i = 0; i < vecs.size(); ++i)
      for (size_t k = 0; k < vecs[i].idx.size(); ++k)
        if (const auto it = column.find(vecs[i].idx[k]); it != column.end())
          t.emplace_back(static_cast<int>(i), it->second, vecs[i].val[k]);
    Sparse x(static_cast<Eigen::Index>(vecs.size()), static_cast<Eigen::Index>(column.size()));
    x.setFromTriplets(t.begin(), t.end());
    return x;
  }
};

Vocabulary vocabulary_of(const std::vector<SparseVec>& vecs, size_t max_inputs) {
  std::unordered_map<uint32_t, int> seen;
  for (const auto& v : vecs)
    for (uint32_t id : v.idx) ++seen[id];
  std::vector<std::pair<int, uint32_t>> kept;  // (questions, id)
  for (const auto& [id, n] : seen)
    if (n >= 2) kept.emplace_back(n, id);
  // The most frequent first, ties by id: the same bank, the same columns.
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  if (kept.size() > max_inputs) kept.resize(max_inputs);
  std::sort(kept.begin(), kept.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  Vocabulary out;
  for (size_t c = 0; c < kept.size(); ++c) out.column[kept[c].second] = static_cast<int>(c);
  return out;
}

// One parameter and its Adam moments.
struct Param {
  Matrix value, m, v;
  bool decay = true;  // L2 on weights, not on biases
  void init(Eigen::Index r, Eigen::Index c) { value = m = v = Matrix::Zero(r, c); }
  void step(const Matrix& grad, double lr, double wd, int t) {
    constexpr float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const Matrix g = decay ? Matrix(grad + static_cast<float>(wd) * value) : grad;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g.cwiseProduct(g);
    const float c1 = 1 - std::pow(b1, static_cast<float>(t));
    const float c2 = 1 - std::pow(b2, static_cast<float>(t));
    value.array() -= static_cast<float>(lr) * (m.array() / c1) / ((v.array() / c2).sqrt() + eps);
  }
};

struct Network {
  bool relu = true;
  Param w1, b1, w2, b2;

  Matrix hidden(const Sparse& x) const {
    Matrix h = x * w1.value;
    h.rowwise() += b1.value.row(0);
    if (relu) h = h.cwiseMax(0.0f);
    return h;
  }
  Matrix logits(const Matrix& h) const {
    Matrix z = h * w2.value;
    z.rowwise() += b2.value.row(0);
    return z;
  }
};

Matrix sigmoid(const Matrix& z) { return (1.0f / (1.0f + (-z.array()).exp())).matrix(); }

// Mean cross-entropy over the scores there are (mask 1).
double loss_of(const Matrix& p, const Matrix& y, const Matrix& mask) {
  const Eigen::ArrayXXf q = p.array().max(1e-6f).min(1 - 1e-6f);
  const Eigen::ArrayXXf ce = -(y.array() * q.log() + (1 - y.array()) * (1 - q).log());
  const double n = std::max(1.0f, mask.sum());
  return static_cast<double>((ce * mask.array()).sum()) / n;
}

struct TrainingSet {
  Sparse x;
  Matrix y, mask;
};

// Rows `rows` of x (whose row i is bank row bank_row[i]) with their scores.
TrainingSet training_set(const Sparse& x, const PriorBank& bank,
                         const std::vector<size_t>& bank_row, const std::vector<size_t>& rows) {
  const auto models = static_cast<Eigen::Index>(bank.data.models.size());
  TrainingSet t;
  std::vector<Eigen::Triplet<float>> kept;
  t.y = Matrix::Zero(static_cast<Eigen::Index>(rows.size()), models);
  t.mask = t.y;
  Sparse picked(static_cast<Eigen::Index>(rows.size()), x.cols());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (Sparse::InnerIterator it(x, static_cast<Eigen::Index>(rows[i])); it; ++it)
      kept.emplace_back(static_cast<int>(i), static_cast<int>(it.col()), it.value());
    const Record& r = bank.data.records[bank_row[rows[i]]];
    for (Eigen::Index m = 0; m < models; ++m)
      if (!is_missing(r.scores[static_cast<size_t>(m)])) {
        t.y(static_cast<Eigen::Index>(i), m) = r.scores[static_cast<size_t>(m)];
        t.mask(static_cast<Eigen::Index>(i), m) = 1;
      }
  }
  picked.setFromTriplets(kept.begin(), kept.end());
  t.x = std::move(picked);
  return t;
}

// One full-batch step: gradients of the mean cross-entropy, then Adam.
void train_step(Network& net, const TrainingSet& t, const RouterOptions& o, double decay,
                int step) {
  const Matrix h = net.hidden(t.x);
  const Matrix p = sigmoid(net.logits(h));
  const float n = std::max(1.0f, t.mask.sum());
  const Matrix dz = ((p - t.y).array() * t.mask.array() / n).matrix();
  Matrix dh = dz * net.w2.value.transpose();
  if (net.relu) dh = (h.array() > 0).select(dh, 0.0f);
  net.w2.step(h.transpose() * dz, o.learning_rate, decay, step);
  net.b2.step(dz.colwise().sum(), o.learning_rate, decay, step);
  net.w1.step(Matrix(t.x.transpose() * dh), o.learning_rate, decay, step);
  net.b1.step(dh.colwise().sum(), o.learning_rate, decay, step);
}

struct Fit {
  Network net;  // at its best epoch
  double loss = 0;
  size_t best_epoch = 0, epochs = 0;
};

// Full-batch training from `start` until the held-out loss has not improved for `patience`
// epochs; the network of the best epoch.
Fit fit(const Network& start, const TrainingSet& train, const TrainingSet& check,
        const RouterOptions& o, double decay) {
  auto held_out_loss = [&](const Network& n) {
    return loss_of(sigmoid(n.logits(n.hidden(check.x))), check.y, check.mask);
  };
  Network net = start;
  Fit best{start, held_out_loss(start), 0, 0};
  for (size_t epoch = 1; epoch <= o.max_epochs && epoch - best.best_epoch <= o.patience; ++epoch) {
    train_step(net, train, o, decay, static_cast<int>(epoch));
    best.epochs = epoch;
    const double loss = held_out_loss(net);
    if (loss < best.loss - 1e-6) {
      best.loss = loss;
      best.best_epoch = epoch;
      best.net = net;
    }
  }
  return best;
}

Network initial_network(bool relu, Eigen::Index inputs, Eigen::Index hidden, Eigen::Index models,
                        const PriorBank& bank, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  Network net;
  net.relu = relu;
  net.w1.init(inputs, hidden);
  net.b1.init(1, hidden);
  net.w2.init(hidden, models);
  net.b2.init(1, models);
  net.b1.decay = net.b2.decay = false;
  // Inputs are unit vectors: unit-variance weights give unit-variance hidden units.
  // Drawn column by column (the seeded start is the same whatever the matrices' layout).
  for (Eigen::Index c = 0; c < hidden; ++c)
    for (Eigen::Index r = 0; r < inputs; ++r) net.w1.value(r, c) = normal(rng);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hidden));
  for (Eigen::Index c = 0; c < models; ++c)
    for (Eigen::Index r = 0; r < hidden; ++r) net.w2.value(r, c) = normal(rng) * scale;
  for (Eigen::Index m = 0; m < models; ++m) {  // start from each model's bank accuracy
    const float g = bank.global_mean[static_cast<size_t>(m)];
    const float p = is_missing(g) ? 0.5f : std::clamp(g, 0.02f, 0.98f);
    net.b2.value(0, m) = std::log(p / (1 - p));
  }
  return net;
}

}  // namespace

TrainedRouter train_neural_router(RouterKind kind, const PriorBank& bank, const RouterOptions& o,
                                  const std::vector<size_t>& rows) {
  if (kind == RouterKind::kKnn) throw Error("router_knn is not a network");
  std::vector<size_t> order = rows;
  if (order.empty()) {
    order.resize(bank.size());
    std::iota(order.begin(), order.end(), 0);
  }
  std::vector<std::string> questions;
  for (size_t row : order) questions.push_back(bank.data.records[row].question);
  const std::vector<SparseVec> vecs = bank.embedder->embed_all(questions);
  auto vocab = std::make_shared<Vocabulary>(vocabulary_of(vecs, o.max_inputs));
  const Sparse x = vocab->rows(vecs);  // row i: bank row order[i]

  // A seeded held-out slice for early stopping; the rest trains.
  std::mt19937_64 rng(o.seed);
  std::vector<size_t> local(order.size());
  std::iota(local.begin(), local.end(), 0);
  order.swap(local);  // from here `order` indexes x's rows; `local` holds their bank rows
  std::shuffle(order.begin(), order.end(), rng);
  const size_t held = std::clamp<size_t>(static_cast<size_t>(o.held_out * order.size()), 1,
                                         order.size() > 1 ? order.size() - 1 : 1);
  const TrainingSet check = training_set(x, bank, local, {order.begin(), order.begin() + held});
  const TrainingSet train = training_set(x, bank, local, {order.begin() + held, order.end()});

  // The weight decay by held-out loss too (the slice is train data): each candidate trained
  // from the same start, on all cores.
  const bool mlp = kind == RouterKind::kMlp;
  const Network start =
      initial_network(mlp, x.cols(), static_cast<Eigen::Index>(mlp ? o.mlp_hidden : o.mf_rank),
                      static_cast<Eigen::Index>(bank.data.models.size()), bank, o.seed);
  std::vector<Fit> fits(o.weight_decays.size());
  parallel_for(fits.size(),
               [&](size_t i) { fits[i] = fit(start, train, check, o, o.weight_decays[i]); });
  size_t chosen = 0;
  for (size_t i = 1; i < fits.size(); ++i)
    if (fits[i].loss < fits[chosen].loss - 1e-6) chosen = i;
  Fit& f = fits[chosen];
  TrainedRouter out;
  out.kind = kind;
  char what[160];
  std::snprintf(
      what, sizeof what, "weight decay %g, epoch %zu of %zu (held-out loss %.3f, %ld input terms)",
      o.weight_decays[chosen], f.best_epoch, f.epochs, f.loss, static_cast<long>(x.cols()));
  out.fitted = what;
  auto shared = std::make_shared<const Network>(std::move(f.net));
  out.predict = [shared, vocab](const SparseVec& q, uint32_t) {
    const Matrix p = sigmoid(shared->logits(shared->hidden(vocab->rows({q}))));
    return std::vector<double>(p.data(), p.data() + p.size());
  };
  return out;
}

}  // namespace smacs
