// Renders an EvalReport: a terminal table, the JSON contract, Markdown and an SVG plot.
#pragma once
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>

#include "eval/evaluate.h"

namespace smacs {

// {"tasks": {"<task>": {"n", "accuracy": {name: percent}}}, "average": {...}, "pool": [...],
//  "params": {...}} -- other tools read this; keep it stable.
nlohmann::json report_to_json(const EvalReport& r);

void print_table(std::ostream& out, const EvalReport& r);
std::string report_to_markdown(const EvalReport& r);
std::string report_to_svg(const EvalReport& r);  // bar chart of the average accuracy

// The collective against the models of the test data outside the pool (closed models, say):
// smacs, the best pool model of each task, vote, vote_best_k and each of them, with margins.
bool has_comparators(const EvalReport& r);
void print_versus(std::ostream& out, const EvalReport& r);
std::string versus_to_markdown(const EvalReport& r);
std::string versus_to_svg(const EvalReport& r);

void write_file(const std::string& path, const std::string& content);

}  // namespace smacs
