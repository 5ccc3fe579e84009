// Checks of the CLI's options, before a command runs. Numbers: CLI11's own (PositiveNumber,
// NonNegativeNumber, Range) let NaN through, since every comparison with it is false (`eval --tau
// nan` ran and routed by NaN scores), and print an open range as a 300-digit number ("not in range
// 0.000000 to 1797...").
#pragma once
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>

#include "core/error.h"

namespace smacs::cli {

inline std::string shown(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// A finite number within [lo, hi]; with `lo_open` above lo ("> 0" rather than ">= 0").
inline CLI::Validator number_check(double lo, double hi, bool lo_open, const std::string& name) {
  const std::string wanted = std::isfinite(hi) ? "in [" + shown(lo) + ", " + shown(hi) + "]"
                                               : (lo_open ? "> " : ">= ") + shown(lo);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v))
          return "'" + text + "' is not a finite number";
        if ((lo_open ? v <= lo : v < lo) || v > hi) return "must be " + wanted + ", not " + text;
        return "";
      },
      name);
}

inline CLI::Validator positive() {
  return number_check(0, std::numeric_limits<double>::infinity(), true, "POSITIVE");
}
inline CLI::Validator non_negative() {
  return number_check(0, std::numeric_limits<double>::infinity(), false, "NONNEGATIVE");
}
inline CLI::Validator finite() {
  const double inf = std::numeric_limits<double>::infinity();
  return number_check(-inf, inf, false, "FINITE");
}
inline CLI::Validator within(double lo, double hi) {
  return number_check(lo, hi, false, "in [" + shown(lo) + ", " + shown(hi) + "]");
}

// An output file goes where it can be written, or the command stops before it runs (a tuned
// eval takes minutes, and learnt only at the end that its report had nowhere to go).
inline void check_output_path(const std::string& path) {
  if (path.empty()) return;
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path();
  if (fs::is_directory(path)) throw Error(path + ": is a directory, not a file to write");
  if (!fs::is_directory(dir)) throw Error(path + ": no such directory: " + dir.string());
  if (::access(dir.c_str(), W_OK) != 0) throw Error(path + ": cannot write in " + dir.string());
}

}  // namespace smacs::cli
