// `smacs grade`: every model's accuracy in recorded data, per task, as smacs grades it, or by
// ZeroEval's own rule (to set beside the numbers ZeroEval published).
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "data/load.h"

namespace smacs::cli {

namespace {

struct GradeFlags {
  std::vector<std::string> data;
  std::string rule = "smacs";
  std::string json_out;
};

int grade(const GradeFlags& f) {
  Dataset data = load_files(f.data);
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
            << (f.rule == "zeroeval" ? "by ZeroEval's rule (first number of the answer field)"
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
                  "smacs (default) or zeroeval: the first number of the answer field, as "
                  "ZeroEval's own scripts grade (to compare with its published numbers)")
      ->check(CLI::IsMember({"smacs", "zeroeval"}));
  cmd->add_option("--json", f->json_out, "Also write {rule, accuracy: {model: {task: %}}}");
  commands.emplace_back(cmd, [f] { return grade(*f); });
}

}  // namespace smacs::cli
