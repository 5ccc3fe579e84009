#include "eval/report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "core/error.h"

namespace smacs {

namespace {

struct Grid {  // a table of strings, shared by the terminal and Markdown renderers
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

std::string pct(const std::map<std::string, double>& acc, const std::string& name) {
  auto it = acc.find(name);
  if (it == acc.end()) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f", it->second);
  return buf;
}

bool method_present(const EvalReport& r, const std::string& method) {
  return r.average.count(method) > 0 ||
         std::any_of(r.tasks.begin(), r.tasks.end(),
                     [&](const TaskResult& t) { return t.accuracy.count(method) > 0; });
}

// The methods the report has (smacs_adaptive and smacs_escalate only when asked for).
// Every method, but the optional ones (adaptive rounds, escalation, the routers) only when
// they were run.
std::vector<std::string> methods_of(const EvalReport& r) {
  std::vector<std::string> out;
  for (const auto& m : kMethods) {
    const bool optional = m == "smacs_adaptive" || m == "smacs_escalate" ||
                          m.starts_with("smacs_aggregate") || m.starts_with("router_");
    if (method_present(r, m) || r.average_calls.count(m) || !optional) out.push_back(m);
  }
  return out;
}

// Mean cost per question, formatted in the report's unit: USD per 1,000 questions or calls.
std::string cost_cell(const EvalReport& r, const std::string& name) {
  auto it = r.average_cost.find(name);
  if (it == r.average_cost.end()) return "-";
  char buf[32];
  if (r.cost_unit == "usd")
    std::snprintf(buf, sizeof buf, "$%.3f", 1000 * it->second);
  else
    std::snprintf(buf, sizeof buf, "%.2f", it->second);
  return buf;
}

std::string cost_header(const EvalReport& r) {
  return r.cost_unit == "usd" ? "USD/1k questions" : "calls/question";
}

// Methods first, then every model in the test data; '*' marks the pool's members.
std::vector<std::pair<std::string, std::string>> row_names(const EvalReport& r) {
  std::vector<std::pair<std::string, std::string>> names;  // (label, key)
  for (const auto& m : methods_of(r)) names.emplace_back(m, m);
  for (const auto& m : r.models) {
    const bool in_pool = std::find(r.pool.begin(), r.pool.end(), m) != r.pool.end();
    names.emplace_back((in_pool ? "* " : "  ") + m, m);
  }
  return names;
}

Grid make_grid(const EvalReport& r) {
  Grid g;
  g.header.push_back("method / model");
  for (const auto& t : r.tasks) g.header.push_back(t.task + " (" + std::to_string(t.n) + ")");
  g.header.push_back("average");
  g.header.push_back(cost_header(r));
  for (const auto& [label, key] : row_names(r)) {
    std::vector<std::string> row = {label};
    for (const auto& t : r.tasks) row.push_back(pct(t.accuracy, key));
    row.push_back(pct(r.average, key));
    row.push_back(cost_cell(r, key));
    g.rows.push_back(std::move(row));
  }
  return g;
}

// Judged free text: each row's score beside its length-controlled score and its answers' mean
// length (rows whose answers have no recorded length are left out).
Grid length_grid(const EvalReport& r) {
  Grid g;
  g.header = {"method / model (vs " + r.length_reference + ")", "score", "length-controlled",
              "mean length (chars)"};
  for (const auto& [label, key] : row_names(r)) {
    const auto len = r.average_length.find(key);
    if (len == r.average_length.end()) continue;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", len->second);
    g.rows.push_back({label, pct(r.average, key), pct(r.average_length_controlled, key), buf});
  }
  return g;
}

const char* const kLengthNote =
    "length-controlled: the judge's preference predicted at the reference's length (a logistic "
    "fit per method on tanh(length difference / its spread), AlpacaEval 2.0's idea)";

}  // namespace

nlohmann::json report_to_json(const EvalReport& r) {
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& t : r.tasks) {
    tasks[t.task] = {{"n", t.n},
                     {"accuracy", t.accuracy},
                     {"cost", t.cost},
                     {"calls", t.calls},
                     {"answer_kind", to_string(t.kind)},
                     {"posterior_used", t.posterior_used}};
    if (!t.length.empty()) tasks[t.task]["length"] = t.length;
    if (!t.length_controlled.empty()) tasks[t.task]["length_controlled"] = t.length_controlled;
    if (t.accuracy.count("smacs_adaptive")) tasks[t.task]["adaptive_rounds"] = t.rounds;
    if (t.accuracy.count("smacs_escalate")) tasks[t.task]["escalated_percent"] = t.escalated;
    if (t.references_settled >= 0)
      tasks[t.task]["aggregate_references_settled_percent"] = t.references_settled;
  }
  nlohmann::json out = {{"tasks", tasks},
                        {"average", r.average},
                        {"average_cost", r.average_cost},
                        {"average_calls", r.average_calls},
                        {"cost_unit", r.cost_unit},
                        {"pool", r.pool},
                        {"params", params_to_json(r.params)},
                        {"notes", r.notes}};
  if (!r.escalate_to.empty()) out["escalate_to"] = r.escalate_to;
  if (!r.average_length.empty()) out["average_length"] = r.average_length;
  if (!r.length_reference.empty()) {
    out["length_reference"] = r.length_reference;
    out["average_length_controlled"] = r.average_length_controlled;
  }
  if (const auto& a = r.aggregate)
    out["aggregate_mode"] = {
        {"references", a->references},
        {"candidates", a->params.candidates},
        {"keep", a->params.keep},
        {"sampler", to_string(a->params.sampler)},
        {"ppl_coef", a->params.ppl_coef},
        {"temperature", a->params.temperature},
        {"aggregator", a->aggregator.empty() ? nlohmann::json() : nlohmann::json(a->aggregator)}};
  return out;
}

namespace {

// Aligned columns; a rule under the header and before row `rule_before` (if any).
void print_grid(std::ostream& out, const Grid& g, size_t rule_before) {
  std::vector<size_t> width(g.header.size(), 0);
  auto widen = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  };
  widen(g.header);
  for (const auto& row : g.rows) widen(row);
  auto line = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      out << (c == 0 ? row[c] + pad : "  " + pad + row[c]);
    }
    out << '\n';
  };
  line(g.header);
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  out << std::string(total - 2, '-') << '\n';
  for (size_t i = 0; i < g.rows.size(); ++i) {
    if (i == rule_before) out << std::string(total - 2, '-') << '\n';
    line(g.rows[i]);
  }
}

std::string grid_markdown(const Grid& g) {
  std::ostringstream md;
  auto line = [&](const std::vector<std::string>& row) {
    md << '|';
    for (const auto& cell : row) md << ' ' << cell << " |";
    md << '\n';
  };
  line(g.header);
  md << '|';
  for (size_t c = 0; c < g.header.size(); ++c) md << (c == 0 ? " --- |" : " ---: |");
  md << '\n';
  for (const auto& row : g.rows) line(row);
  return md.str();
}

struct Bar {
  std::string label;
  double value;
  bool method;  // a method (blue), not a single model (grey); smacs is red
};

std::string bars_svg(const std::string& title, const std::vector<Bar>& bars) {
  const int row_h = 22, left = 330, width = 900, top = 40;
  const int height = top + static_cast<int>(bars.size()) * row_h + 20;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
    << "' font-family='sans-serif' font-size='13'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n"
    << "<text x='10' y='24' font-size='16'>" << title << "</text>\n";
  for (size_t i = 0; i < bars.size(); ++i) {
    const auto& [label, value, method] = bars[i];
    const int y = top + static_cast<int>(i) * row_h;
    const double w = (width - left - 70) * value / 100.0;
    std::string escaped;
    for (char c : label) escaped += c == '&' ? "&amp;" : c == '<' ? "&lt;" : std::string(1, c);
    s << "<text x='" << left - 8 << "' y='" << y + 15 << "' text-anchor='end'>" << escaped
      << "</text>"
      << "<rect x='" << left << "' y='" << y + 3 << "' width='" << w << "' height='" << row_h - 6
      << "' fill='"
      << (label.rfind("smacs", 0) == 0 ? "#d62728"
          : method                     ? "#1f77b4"
                                       : "#9e9e9e")
      << "'/>"
      << "<text x='" << left + w + 6 << "' y='" << y + 15 << "'>";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2f", value);
    s << buf << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace

// What the trained routers are (their training time goes to stderr: reports are
// deterministic).
std::string router_note() {
  return "router_knn / router_mlp / router_mf: trained routers (k nearest train questions; a "
         "one-hidden-layer network; matrix factorisation), fitted on the bank only";
}

namespace {

// Aggregate mode's cost side: how often the references settle, hence what adaptive saves.
std::string aggregate_note(const EvalReport& r) {
  if (!r.aggregate) return "";
  const AggregateSetup& a = *r.aggregate;
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "aggregate mode: %zu references, %zu candidates of %zu each%s; references "
                "settle ",
                a.references, a.params.candidates, a.params.keep,
                a.aggregator.empty() ? " (no aggregator asked: calls only)" : "");
  std::string out = buf;
  for (size_t i = 0; i < r.tasks.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%s %.1f%%", i ? ", " : "", r.tasks[i].task.c_str(),
                  r.tasks[i].references_settled);
    out += buf;
  }
  const auto fixed = r.average_calls.find("smacs_aggregate");
  const auto adaptive = r.average_calls.find("smacs_aggregate_adaptive");
  if (fixed != r.average_calls.end() && adaptive != r.average_calls.end()) {
    std::snprintf(buf, sizeof buf,
                  "; calls per question %.2f (k + N), %.2f with adaptive (k + N x unsettled)",
                  fixed->second, adaptive->second);
    out += buf;
  }
  return out;
}

}  // namespace

void print_table(std::ostream& out, const EvalReport& r) {
  print_grid(out, make_grid(r), methods_of(r).size());
  out << "accuracy in %, '*' = pool member; average = mean over tasks; cost = mean per question"
         " ("
      << cost_header(r) << "), averaged over tasks\n";
  for (const auto& note : r.notes) out << "note: " << note << '\n';
  if (!r.router_seconds.empty()) out << "note: " << router_note() << '\n';
  if (r.aggregate) out << "note: " << aggregate_note(r) << '\n';
  if (r.length_reference.empty()) return;
  out << '\n';
  const Grid g = length_grid(r);
  const auto methods = std::count_if(g.rows.begin(), g.rows.end(), [](const auto& row) {
    return row[0][0] != '*' && row[0][0] != ' ';  // models are marked or indented
  });
  print_grid(out, g, static_cast<size_t>(methods));
  out << kLengthNote << '\n';
}

std::string report_to_markdown(const EvalReport& r) {
  std::string md = grid_markdown(make_grid(r));
  md +=
      "\nAccuracy in %, `*` = pool member; average = mean over tasks; cost = mean per "
      "question (" +
      cost_header(r) + "), averaged over tasks.\n";
  for (const auto& note : r.notes) md += "\n- " + note;
  if (!r.router_seconds.empty()) md += "\n- " + router_note();
  if (r.aggregate) md += "\n- " + aggregate_note(r);
  if (!r.length_reference.empty())
    md += "\n\n" + grid_markdown(length_grid(r)) + "\n" + kLengthNote + ".";
  return md + "\n";
}

std::string report_to_svg(const EvalReport& r) {
  std::vector<Bar> bars;
  const auto names = row_names(r);
  for (size_t i = 0; i < names.size(); ++i)
    if (auto it = r.average.find(names[i].second); it != r.average.end())
      bars.push_back({names[i].first, it->second, i < methods_of(r).size()});
  return bars_svg("Average accuracy over " + std::to_string(r.tasks.size()) + " task(s), %", bars);
}

namespace {

// The collective against everyone outside the pool: smacs, the best pool model of each task
// (chosen on the test data: the strongest single comparator), the two votes, each other model.
Grid versus_grid(const EvalReport& r, std::vector<Bar>* bars) {
  Grid g;
  g.header.push_back("");
  for (const auto& t : r.tasks) g.header.push_back(t.task);
  g.header.push_back("average");
  g.header.push_back("smacs margin");
  std::vector<std::pair<std::string, std::vector<double>>> rows;
  std::vector<double> best_open;
  for (const auto& t : r.tasks) {
    double best = 0;
    for (const auto& m : r.pool)
      if (auto it = t.accuracy.find(m); it != t.accuracy.end()) best = std::max(best, it->second);
    best_open.push_back(best);
  }
  auto of = [&](const std::string& name) {
    std::vector<double> v;
    for (const auto& t : r.tasks) v.push_back(t.accuracy.count(name) ? t.accuracy.at(name) : 0);
    return v;
  };
  rows.emplace_back("smacs (" + std::to_string(r.pool.size()) + " open models)", of("smacs"));
  rows.emplace_back("best open model of each task", best_open);
  rows.emplace_back("vote (all pool models)", of("vote"));
  rows.emplace_back("vote_best_k (static best k)", of("vote_best_k"));
  for (const auto& m : r.models)
    if (std::find(r.pool.begin(), r.pool.end(), m) == r.pool.end()) rows.emplace_back(m, of(m));
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / static_cast<double>(v.size());
  };
  auto fmt = [](double v, bool sign) {
    char buf[16];
    std::snprintf(buf, sizeof buf, sign ? "%+.2f" : "%.2f", v);
    return std::string(buf);
  };
  const double ours = mean(rows.front().second);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& [label, acc] = rows[i];
    std::vector<std::string> row = {label};
    for (double a : acc) row.push_back(fmt(a, false));
    row.push_back(fmt(mean(acc), false));
    row.push_back(i == 0 ? "" : fmt(ours - mean(acc), true));
    g.rows.push_back(std::move(row));
    if (bars) bars->push_back({label, mean(acc), i < 4});
  }
  return g;
}

}  // namespace

bool has_comparators(const EvalReport& r) {
  for (const auto& m : r.models)
    if (std::find(r.pool.begin(), r.pool.end(), m) == r.pool.end()) return true;
  return false;
}

void print_versus(std::ostream& out, const EvalReport& r) {
  out << "\nThe collective vs the models outside the pool (accuracy %, margin = smacs - row, "
         "on the average):\n";
  print_grid(out, versus_grid(r, nullptr), 4);
}

std::string versus_to_markdown(const EvalReport& r) {
  return "## The collective vs the models outside the pool\n\n" +
         grid_markdown(versus_grid(r, nullptr)) +
         "\nAccuracy in %; margin = smacs minus the row, on the average over tasks. The best "
         "open model of each task is picked on the test data itself: the strongest single "
         "comparator.\n";
}

std::string versus_to_svg(const EvalReport& r) {
  std::vector<Bar> bars;
  versus_grid(r, &bars);
  return bars_svg("The collective vs the models outside the pool: average accuracy over " +
                      std::to_string(r.tasks.size()) + " task(s), %",
                  bars);
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  if (!out || !(out << content)) throw Error(path + ": cannot write file");
}

}  // namespace smacs
