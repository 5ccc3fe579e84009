#include "eval/frontier.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "core/parallel.h"

namespace smacs {

namespace {

struct Candidate {
  SmacsParams params;
  bool escalate;
  double accuracy = 0, cost = 0;  // on the train data
};

// The knobs swept. `fixed_order`: the cascade -- no neighbours, so each model's prior is its
// bank-wide mean and the order is the same for every question; no prior dropping.
std::vector<SmacsParams> knob_grid(const SmacsParams& base, bool fixed_order) {
  std::vector<SmacsParams> grid;
  for (double lambda : {0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0})
    for (size_t k : {1, 2, 3, 4})
      for (double settle : {0.6, 1.0})
        for (double solo : {2.0, 0.95, 0.9}) {
          SmacsParams p = base;
          p.rps.cost_weight = lambda;
          p.k = k;
          p.adaptive.enabled = true;
          p.adaptive.settle = settle;
          p.adaptive.solo = solo;
          if (fixed_order) {
            p.rps.neighbors = 0;
            p.p_drop = 0;
          }
          grid.push_back(p);
        }
  return grid;
}

const char* method_of(bool escalate) { return escalate ? "smacs_escalate" : "smacs_adaptive"; }

// Each configuration measured on `in`, with and without escalation when `in` has it.
std::vector<Candidate> measure(const EvalInput& in, const std::vector<SmacsParams>& grid,
                               const Progress& progress, size_t& done, size_t total) {
  std::vector<std::vector<Candidate>> per(grid.size());
  std::atomic<size_t> finished{done};
  parallel_for(grid.size(), [&](size_t i) {
    const EvalReport r = run_eval(in, grid[i]);
    for (bool escalate : {false, true}) {
      const auto acc = r.average.find(method_of(escalate));
      if (acc == r.average.end()) continue;
      per[i].push_back({grid[i], escalate, acc->second, r.average_cost.at(method_of(escalate))});
    }
    if (progress) progress(++finished, total);
  });
  done = finished;
  std::vector<Candidate> out;
  for (auto& v : per) out.insert(out.end(), v.begin(), v.end());
  return out;
}

// The candidates no other beats on both accuracy and cost, cheapest first.
std::vector<Candidate> pareto(std::vector<Candidate> c) {
  std::stable_sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
    return a.cost != b.cost ? a.cost < b.cost : a.accuracy > b.accuracy;
  });
  std::vector<Candidate> front;
  for (const auto& x : c)
    if (front.empty() || x.accuracy > front.back().accuracy + 1e-9) front.push_back(x);
  return front;
}

// The train front's configurations, measured on the test data.
std::vector<FrontierPoint> on_test(const EvalInput& test, const std::vector<Candidate>& front) {
  std::vector<FrontierPoint> points(front.size());
  parallel_for(front.size(), [&](size_t i) {
    const EvalReport r = run_eval(test, front[i].params);
    const char* m = method_of(front[i].escalate);
    points[i] = {.accuracy = r.average.at(m),
                 .cost = r.average_cost.at(m),
                 .params = front[i].params,
                 .escalate = front[i].escalate};
  });
  std::stable_sort(points.begin(), points.end(),
                   [](const auto& a, const auto& b) { return a.cost < b.cost; });
  return points;
}

std::string money(const std::string& unit, double cost) {
  char buf[32];
  if (unit == "usd")
    std::snprintf(buf, sizeof buf, "$%.3f/1k", 1000 * cost);
  else
    std::snprintf(buf, sizeof buf, "%.2f calls", cost);
  return buf;
}

}  // namespace

double aiq(std::vector<FrontierPoint> points, double lo, double hi) {
  if (points.empty() || hi <= lo) return 0;
  std::sort(points.begin(), points.end(),
            [](const auto& a, const auto& b) { return a.cost < b.cost; });
  std::vector<std::pair<double, double>> hull;  // (cost, accuracy 0..1), accuracy rising
  for (const auto& p : points) {
    const double acc = p.accuracy / 100;
    if (!hull.empty() && acc <= hull.back().second) continue;
    // Upper hull: drop points under the chord from the one before to this one.
    while (hull.size() >= 2) {
      const auto [x1, y1] = hull[hull.size() - 2];
      const auto [x2, y2] = hull.back();
      if ((y2 - y1) * (p.cost - x1) <= (acc - y1) * (x2 - x1))
        hull.pop_back();
      else
        break;
    }
    hull.emplace_back(p.cost, acc);
  }
  auto at = [&](double c) {  // the hull's accuracy at cost c
    if (c < hull.front().first) return 0.0;
    for (size_t i = 1; i < hull.size(); ++i)
      if (c <= hull[i].first) {
        const auto [x1, y1] = hull[i - 1];
        const auto [x2, y2] = hull[i];
        return x2 > x1 ? y1 + (y2 - y1) * (c - x1) / (x2 - x1) : y2;
      }
    return hull.back().second;
  };
  const int steps = 2000;  // the midpoint rule; the curve is piecewise linear
  double area = 0;
  for (int i = 0; i < steps; ++i) area += at(lo + (hi - lo) * (i + 0.5) / steps);
  return area / steps;
}

Frontier sweep_frontier(const EvalInput& train_in, const EvalInput& test_in,
                        const SmacsParams& base, const Progress& progress) {
  EvalInput train = train_in, test = test_in;
  train.methods_only = test.methods_only = true;
  const auto smacs_grid = knob_grid(base, false), cascade_grid = knob_grid(base, true);
  size_t done = 0;
  const size_t total = smacs_grid.size() + cascade_grid.size();
  // Each pool model as the router that always asks it: a failed call (no recorded result)
  // counts wrong, as it does for every method on the curves.
  const Dataset& data = *test_in.test;
  std::vector<RunningMean> acc(test_in.pool_test.size()), cost(test_in.pool_test.size());
  for (const Record& r : data.records) {
    const bool any = std::any_of(test_in.pool_test.begin(), test_in.pool_test.end(),
                                 [&](int col) { return !is_missing(r.scores[col]); });
    if (!any) continue;  // as eval: a question no pool model answered is left out
    for (size_t j = 0; j < test_in.pool_test.size(); ++j) {
      const int col = test_in.pool_test[j];
      acc[j].add(is_missing(r.scores[col]) ? 0.0 : r.scores[col]);
      cost[j].add(cost_in_unit(test_in, r, col));
    }
  }
  Frontier f;
  f.cost_unit = test_in.cost_in_usd ? "usd" : "calls";
  double best = -1, lo = 1e300, hi = 0;
  for (size_t j = 0; j < test_in.pool_test.size(); ++j) {
    const double a = 100 * acc[j].value(), c = cost[j].value();
    FrontierPoint model;  // (not designated: GCC 12 then warns falsely on the params' map)
    model.accuracy = a;
    model.cost = c;
    model.label = test_in.pool_names[j];
    f.models.push_back(std::move(model));
    lo = std::min(lo, c);
    hi = std::max(hi, c);
    if (a > best) {
      best = a;
      f.best_model = test_in.pool_names[j];
    }
  }
  f.smacs = on_test(test, pareto(measure(train, smacs_grid, progress, done, total)));
  f.cascade = on_test(test, pareto(measure(train, cascade_grid, progress, done, total)));
  f.aiq_smacs = aiq(f.smacs, lo, hi);
  f.aiq_cascade = aiq(f.cascade, lo, hi);
  f.aiq_models = aiq(f.models, lo, hi);
  return f;
}

nlohmann::json frontier_to_json(const Frontier& f) {
  auto curve = [](const std::vector<FrontierPoint>& points) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : points)
      out.push_back({{"accuracy", p.accuracy},
                     {"cost", p.cost},
                     {"params",
                      {{"cost_weight", p.params.rps.cost_weight},
                       {"k", p.params.k},
                       {"settle", p.params.adaptive.settle},
                       {"solo", p.params.adaptive.solo},
                       {"escalate", p.escalate}}}});
    return out;
  };
  nlohmann::json models = nlohmann::json::object();
  for (const auto& m : f.models) models[m.label] = {{"accuracy", m.accuracy}, {"cost", m.cost}};
  return {{"frontier", curve(f.smacs)}, {"cascade", curve(f.cascade)},
          {"models", models},           {"best_model", f.best_model},
          {"aiq", f.aiq_smacs},         {"aiq_cascade", f.aiq_cascade},
          {"aiq_models", f.aiq_models}, {"cost_unit", f.cost_unit}};
}

void print_frontier(std::ostream& out, const Frontier& f) {
  out << "\nAccuracy vs cost per question (knobs fitted on the train data; test numbers; a "
         "failed call counts wrong, for single models too):\n";
  char line[256];
  for (const auto& [name, curve] : {std::pair{"smacs", &f.smacs}, {"cascade", &f.cascade}}) {
    for (const auto& p : *curve) {
      std::snprintf(line, sizeof line,
                    "  %-8s %7.2f %%  %-16s  lambda %-5g k %zu settle %-4g solo %-4g %s\n", name,
                    p.accuracy, money(f.cost_unit, p.cost).c_str(), p.params.rps.cost_weight,
                    p.params.k, p.params.adaptive.settle,
                    p.params.adaptive.solo > 1 ? 0.0 : p.params.adaptive.solo,
                    p.escalate ? "+escalation" : "");
      out << line;
    }
  }
  for (const auto& m : f.models) {
    std::snprintf(line, sizeof line, "  model    %7.2f %%  %-16s  %s%s\n", m.accuracy,
                  money(f.cost_unit, m.cost).c_str(), m.label.c_str(),
                  m.label == f.best_model ? "  (best single)" : "");
    out << line;
  }
  std::snprintf(line, sizeof line,
                "AIQ (area under the accuracy-cost hull over the models' cost "
                "range): smacs %.4f, cascade %.4f, single models %.4f\n",
                f.aiq_smacs, f.aiq_cascade, f.aiq_models);
  out << line;
}

std::string frontier_to_svg(const Frontier& f) {
  const double W = 900, H = 560, left = 70, right = 220, top = 40, bottom = 60;
  double lo = 1e300, hi = 0, amin = 100, amax = 0;
  for (const auto* curve : {&f.smacs, &f.cascade, &f.models})
    for (const auto& p : *curve) {
      lo = std::min(lo, p.cost);
      hi = std::max(hi, p.cost);
      amin = std::min(amin, p.accuracy);
      amax = std::max(amax, p.accuracy);
    }
  if (hi <= 0) hi = 1;
  const bool log_x = f.cost_unit == "usd" && lo > 0 && hi / lo > 10;
  auto fx = [&](double c) {
    const double t =
        log_x ? std::log(c / lo) / std::log(hi / lo) : (c - lo) / std::max(hi - lo, 1e-12);
    return left + t * (W - left - right);
  };
  amin = std::floor(amin / 5) * 5;
  amax = std::min(100.0, std::ceil(amax / 5) * 5);
  auto fy = [&](double a) {
    return top + (amax - a) / std::max(amax - amin, 1e-9) * (H - top - bottom);
  };
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n"
    << "<text x='10' y='24' font-size='16'>Accuracy vs cost per question ("
    << (f.cost_unit == "usd" ? "USD per 1,000 questions" : "calls per question")
    << (log_x ? ", log scale" : "") << "); knobs fitted on train</text>\n"
    << "<line x1='" << left << "' y1='" << H - bottom << "' x2='" << W - right << "' y2='"
    << H - bottom << "' stroke='black'/><line x1='" << left << "' y1='" << top << "' x2='" << left
    << "' y2='" << H - bottom << "' stroke='black'/>\n";
  for (double a = amin; a <= amax + 1e-9; a += 5)
    s << "<text x='" << left - 6 << "' y='" << fy(a) + 4 << "' text-anchor='end'>" << a
      << "</text><line x1='" << left << "' y1='" << fy(a) << "' x2='" << W - right << "' y2='"
      << fy(a) << "' stroke='#eee'/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double c = log_x ? lo * std::pow(hi / lo, i / 4.0) : lo + (hi - lo) * i / 4.0;
    s << "<text x='" << fx(c) << "' y='" << H - bottom + 18 << "' text-anchor='middle'>"
      << (f.cost_unit == "usd" ? money(f.cost_unit, c) : money(f.cost_unit, c)) << "</text>\n";
  }
  // The line joins the points no cheaper point beats on the test data; the others (fitted on
  // train, beaten on test) stay as hollow circles.
  auto polyline = [&](const std::vector<FrontierPoint>& pts, const char* color, const char* name,
                      int legend) {
    std::vector<bool> on_line;
    double best = -1;
    for (const auto& p : pts) {  // pts are sorted by cost
      on_line.push_back(p.accuracy > best);
      best = std::max(best, p.accuracy);
    }
    s << "<polyline fill='none' stroke='" << color << "' stroke-width='2' points='";
    for (size_t i = 0; i < pts.size(); ++i)
      if (on_line[i]) s << fx(pts[i].cost) << ',' << fy(pts[i].accuracy) << ' ';
    s << "'/>\n";
    for (size_t i = 0; i < pts.size(); ++i)
      s << "<circle cx='" << fx(pts[i].cost) << "' cy='" << fy(pts[i].accuracy) << "' r='3' fill='"
        << (on_line[i] ? color : "white") << "' stroke='" << color << "'/>\n";
    s << "<text x='" << W - right + 10 << "' y='" << top + 16 * legend << "' fill='" << color
      << "'>" << name << "</text>\n";
  };
  polyline(f.smacs, "#d62728", "SMACS (per-question)", 0);
  polyline(f.cascade, "#1f77b4", "cascade (fixed order)", 1);
  for (const auto& m : f.models) {
    const bool best = m.label == f.best_model;
    s << "<circle cx='" << fx(m.cost) << "' cy='" << fy(m.accuracy) << "' r='" << (best ? 6 : 4)
      << "' fill='" << (best ? "#ff7f0e" : "#7f7f7f") << "'/><text x='" << fx(m.cost) + 7 << "' y='"
      << fy(m.accuracy) + 4 << "' font-size='10'>";
    for (char c : m.label)
      s << (c == '&' ? std::string("&amp;") : c == '<' ? std::string("&lt;") : std::string(1, c));
    s << (best ? " (best single)" : "") << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace smacs
