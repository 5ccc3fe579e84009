// The CLI's subcommands: each registers its options on the app and runs when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace smacs::cli {

using Runner = std::function<int()>;
Runner add_eval_command(CLI::App& app);
Runner add_prior_commands(CLI::App& app);
Runner add_serve_commands(CLI::App& app);
Runner add_llama_commands(CLI::App& app);

}  // namespace smacs::cli
