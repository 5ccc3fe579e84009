// The CLI's subcommands: each registers its options on the app, and each leaf subcommand
// (`eval`, `prior import`, ...) the function that runs it when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <utility>
#include <vector>

namespace smacs::cli {

using Runner = std::function<int()>;
using Commands = std::vector<std::pair<const CLI::App*, Runner>>;  // leaf -> its runner

void add_eval_command(CLI::App& app, Commands& commands);
void add_grade_command(CLI::App& app, Commands& commands);
void add_prior_commands(CLI::App& app, Commands& commands);
void add_serve_commands(CLI::App& app, Commands& commands);
void add_llama_commands(CLI::App& app, Commands& commands);

}  // namespace smacs::cli
