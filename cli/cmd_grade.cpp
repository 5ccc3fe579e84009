// `smacs grade`: every model's accuracy in recorded data, per task, as smacs grades it, or by
// ZeroEval's own rule (to set beside the numbers ZeroEval published).
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "answers/extract.h"
#include "cli/checks.h"
#include "cli/commands.h"
#include "core/error.h"
#include "data/load.h"

namespace smacs::cli {

namespace {

struct GradeFlags {
  std::vector<std::string> data;
  std::string rule = "smacs";
  std::string json_out;
  size_t differences = 0;
};

// Up to `limit` rows per task where smacs's grader and ZeroEval's rule disagree, with what
// smacs read as the answer: to see why the two numbers differ.
void print_differences(const Dataset& smacs, const Dataset& zeroeval, size_t limit) {
  std::map<std::string, size_t> shown, total;
  for (size_t i = 0; i < smacs.records.size(); ++i) {
    const Record& r = smacs.records[i];
    for (size_t m = 0; m < r.scores.size(); ++m) {
      if (is_missing(r.scores[m]) || r.scores[m] == zeroeval.records[i].scores[m]) continue;
      ++total[r.task];
      if (shown[r.task]++ >= limit) continue;
      const std::string reply = r.responses[m].size() > 300
                                    ? r.responses[m].substr(r.responses[m].size() - 300)
                                    : r.responses[m];
      std::cout << r.id << "  " << smacs.models[m] << ": smacs "
                << (r.scores[m] > 0 ? "right" : "wrong") << ", zeroeval "
                << (r.scores[m] > 0 ? "wrong" : "right") << "\n  gold:    " << r.gold
                << "\n  smacs read: " << extract_answer(parse_answer_kind(r.grader), r.responses[m])
                << "\n  reply (end): "
                << nlohmann::json(reply).dump(-1, ' ', false,
                                              nlohmann::json::error_handler_t::replace)
                << "\n";
    }
  }
  for (const auto& [task, n] : total)
    std::cout << task << ": the two rules differ on " << n << " graded replies\n";
}

int grade(const GradeFlags& f) {
  Dataset data = load_files(f.data);
  if (data.records.empty()) throw Error("no rows to grade in --data");
  if (f.differences > 0) {
    Dataset theirs = data;
    regrade_with_zeroeval_rule(theirs);
    print_differences(data, theirs, f.differences);
  }
  if (f.rule == "zeroeval") regrade_with_zeroeval_rule(data);
  std::vector<std::string> tasks;
  for (const auto& r : data.records)
    if (std::find(tasks.begin(), tasks.end(), r.task) == tasks.end()) tasks.push_back(r.task);
  // (model, task) -> right, graded
  std::map<std::pair<size_t, std::string>, std::pair<double, size_t>> tally;
  for (const auto& r : data.records)
    for (size_t m = 0; m < r.scores.size(); ++m)
      if (!is_missing(r.scores[m])) {
        auto& [right, n] = tally[{m, r.task}];
        right += r.scores[m];
        ++n;
      }
  nlohmann::json report = {{"rule", f.rule}, {"accuracy", nlohmann::json::object()}};
  std::cout << std::left << std::setw(34) << "model";
  for (const auto& t : tasks) std::cout << std::right << std::setw(12) << t;
  std::cout << "\n" << std::fixed << std::setprecision(2);
  for (size_t m = 0; m < data.models.size(); ++m) {
    std::cout << std::left << std::setw(34) << data.models[m];
    for (const auto& t : tasks) {
      const auto it = tally.find({m, t});
      if (it == tally.end()) {
        std::cout << std::right << std::setw(12) << "-";
        continue;
      }
      const double pct = 100.0 * it->second.first / static_cast<double>(it->second.second);
      report["accuracy"][data.models[m]][t] = pct;
      std::cout << std::right << std::setw(12) << pct;
    }
    std::cout << '\n';
  }
  std::cout << "accuracy in % of the graded rows, "
            << (f.rule == "zeroeval"
                    ? "by ZeroEval's rule (gsm, math-l5: the first number of the answer field; "
                      "crux: the answer field as text, quotes stripped)"
                    : "as smacs grades")
            << '\n';
  if (!f.json_out.empty()) {
    std::ofstream out(f.json_out);
    if (!(out << report.dump(2) << '\n')) throw Error(f.json_out + ": cannot write");
  }
  return 0;
}

}  // namespace

void add_grade_command(CLI::App& app, Commands& commands) {
  auto f = std::make_shared<GradeFlags>();
  auto* cmd = app.add_subcommand(
      "grade", "Every model's accuracy in recorded data, per task (smacs's grader or ZeroEval's)");
  cmd->add_option("--data", f->data, "Recorded results: files or directories")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--rule", f->rule,
                  "smacs (default) or zeroeval: ZeroEval's own rule per benchmark (the first "
                  "number of the answer field; for CRUXEval-O the field as text with quotes "
                  "stripped), to compare with its published numbers")
      ->check(CLI::IsMember({"smacs", "zeroeval"}));
  cmd->add_option("--json", f->json_out, "Also write {rule, accuracy: {model: {task: %}}}");
  cmd->add_option("--differences", f->differences,
                  "Also print up to N replies per task where smacs's grader and ZeroEval's "
                  "rule disagree, with the answer smacs read");
  commands.emplace_back(cmd, [f] {
    check_output_path(f->json_out);
    return grade(*f);
  });
}

}  // namespace smacs::cli
