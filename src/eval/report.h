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

void write_file(const std::string& path, const std::string& content);

}  // namespace smacs
