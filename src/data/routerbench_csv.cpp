// RouterBench CSV: one column per model with correctness, `<model>|model_response` holding a
// Python list literal with the response, `<model>|total_cost` in USD. Empty cells are missing.
#include <cstdlib>
#include <map>

#include "core/error.h"
#include "data/load.h"

namespace smacs {

namespace {

// Splits RFC 4180 CSV text into rows of fields (quoted fields may hold commas and newlines).
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
      rows.push_back(std::move(row));
      row.clear();
      ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) throw Error(path + ": line " + std::to_string(line) + ": unterminated quoted field");
  if (field_started || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

float parse_cell(const std::string& cell, const std::string& where) {
  if (cell.empty()) return kMissing;
  char* end = nullptr;
  const float v = std::strtof(cell.c_str(), &end);
  if (end != cell.c_str() + cell.size()) throw Error(where + ": not a number: '" + cell + "'");
  return v;
}

std::string first_or_empty(const std::string& cell, const std::string& where) {
  if (cell.empty()) return "";
  try {
    auto items = parse_python_str_list(cell);
    return items.empty() ? "" : items.front();
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

}  // namespace

Dataset read_routerbench_csv(const std::string& path, const std::string& task) {
  const auto rows = parse_csv(read_text_file(path), path);
  if (rows.empty()) throw Error(path + ": empty CSV file");
  const auto& header = rows.front();
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  if (!col.count("prompt")) throw Error(path + ": missing column 'prompt'");

  Dataset data;
  const std::string suffix = "|model_response";
  for (const auto& name : header)
    if (name.size() > suffix.size() && name.ends_with(suffix))
      data.models.push_back(name.substr(0, name.size() - suffix.size()));
  for (const auto& m : data.models)
    if (!col.count(m)) throw Error(path + ": missing correctness column '" + m + "'");

  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const std::string where = path + ": row " + std::to_string(i);
    if (row.size() == 1 && row[0].empty()) continue;  // trailing blank line
    if (row.size() != header.size())
      throw Error(where + ": has " + std::to_string(row.size()) + " fields, header has " +
                  std::to_string(header.size()));
    Record r;
    r.task = task;
    r.id = col.count("sample_id") ? row[col["sample_id"]] : task + "#" + std::to_string(i);
    r.question = first_or_empty(row[col["prompt"]], where + " column prompt");
    for (const auto& m : data.models) {
      const float score = parse_cell(row[col[m]], where + " column " + m);
      if (!is_missing(score) && (score < 0 || score > 1))
        throw Error(where + " column " + m + ": score outside 0..1");
      r.scores.push_back(score);
      r.responses.push_back(first_or_empty(row[col[m + suffix]], where + " column " + m + suffix));
      const auto cost_col = col.find(m + "|total_cost");
      r.costs.push_back(cost_col == col.end() ? kMissing
                                              : parse_cell(row[cost_col->second], where));
    }
    data.records.push_back(std::move(r));
  }
  return data;
}

}  // namespace smacs
