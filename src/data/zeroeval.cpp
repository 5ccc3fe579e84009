// ZeroEval result files: one JSON array per model and benchmark (the file stem names the
// model), rows {id, dataset, question | problem, answer, output: [response]}. Rows of several
// files are joined by (dataset, id); every response is graded here against the gold answer,
// with the same extraction the posterior uses to compare candidates.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "answers/extract.h"
#include "answers/python_literal.h"
#include "answers/zeroeval_rule.h"
#include "core/error.h"
#include "core/parallel.h"
#include "data/load.h"

namespace smacs {

using nlohmann::json;

namespace {

std::string model_of(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  for (const char* ext : {".json.gz", ".json"})
    if (name.ends_with(ext)) return name.substr(0, name.size() - std::string(ext).size());
  return name;
}

std::string text_field(const json& row, const char* key) {
  const auto it = row.find(key);
  if (it == row.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// GSM8K-like tasks (every gold a plain number) are graded as numbers; CRUXEval-like ones (every
// gold a Python literal, some of them strings or containers) as Python values; the rest as math.
AnswerKind kind_of_task(const std::vector<const Record*>& rows) {
  static const std::regex number(R"(^\s*#*\s*-?[\d,]+(\.\d+)?\s*$)");
  bool numbers = true, literals = true, quoted = false;
  for (const Record* r : rows) {
    if (numbers && std::regex_match(r->gold, number)) continue;
    numbers = false;
    const auto v = parse_python_literal(r->gold);
    literals = literals && v;
    quoted = quoted || (v && v->type != PyValue::Type::kInt && v->type != PyValue::Type::kFloat);
    if (!literals) break;
  }
  if (numbers) return AnswerKind::kNumber;
  return literals && quoted ? AnswerKind::kLiteral : AnswerKind::kMath;
}

}  // namespace

bool is_zeroeval_file(const std::string& path) {
  if (!path.ends_with(".json") && !path.ends_with(".json.gz")) return false;
  const std::string head = read_text_prefix(path, 65536);
  const auto first = head.find_first_not_of(" \t\r\n");
  return first != std::string::npos && head[first] == '[' &&
         head.find("\"output\"") != std::string::npos &&
         head.find("\"dataset\"") != std::string::npos;
}

Dataset read_zeroeval(const std::vector<std::string>& files) {
  Dataset data;
  std::map<std::pair<std::string, std::string>, size_t> row_of;  // (task, id) -> record
  std::map<size_t, std::string> first_file;                      // record -> file that made it
  std::vector<std::map<size_t, std::string>> replies;            // per record: column -> text
  for (const auto& path : files) {
    const std::string model = model_of(path);
    int col = data.model_index(model);
    if (col < 0) col = static_cast<int>(data.models.size()), data.models.push_back(model);
    const json doc = parse_json_text(read_text_file(path), path);
    if (!doc.is_array()) throw Error(path + ": expected a JSON array of ZeroEval result rows");
    for (size_t i = 0; i < doc.size(); ++i) {
      const json& row = doc[i];
      const std::string where = path + ": row " + std::to_string(i + 1);
      if (!row.is_object() || !row.contains("id") || !row.contains("dataset") ||
          !row.contains("output") || !row["output"].is_array())
        throw Error(where + ": expected {id, dataset, question|problem, answer, output: [...]}");
      const std::string task = text_field(row, "dataset"), id = text_field(row, "id");
      std::string question = text_field(row, "question");
      if (question.empty()) question = text_field(row, "problem");
      if (question.empty()) throw Error(where + ": no 'question' or 'problem'");
      const json& out = row["output"];
      const std::string reply = out.empty() || !out[0].is_string() ? "" : out[0].get<std::string>();
      auto [it, fresh] = row_of.emplace(std::make_pair(task, id), data.records.size());
      if (fresh) {
        Record r;
        r.id = task + "/" + id;
        r.task = task;
        r.question = question;
        r.gold = text_field(row, "answer");
        data.records.push_back(std::move(r));
        replies.emplace_back();
        first_file[it->second] = path;
      } else if (data.records[it->second].question != question) {
        throw Error(where + ": id '" + id + "' of " + task + " has another question than in " +
                    first_file[it->second]);
      }
      replies[it->second][static_cast<size_t>(col)] = reply;
    }
  }
  std::map<std::string, std::vector<const Record*>> by_task;
  for (const auto& r : data.records) by_task[r.task].push_back(&r);
  std::map<std::string, AnswerKind> kinds;
  for (const auto& [task, rows] : by_task) kinds[task] = kind_of_task(rows);
  const size_t width = data.models.size();
  parallel_for(data.records.size(), [&](size_t i) {
    Record& r = data.records[i];
    const AnswerKind kind = kinds.at(r.task);
    r.grader = to_string(kind);
    r.scores.assign(width, kMissing);
    r.responses.assign(width, "");
    const std::string gold = extract_gold(kind, r.gold);
    for (const auto& [col, text] : replies[i]) {
      r.responses[col] = text;
      r.scores[col] = answer_matches(kind, text, gold) ? 1.0f : 0.0f;
    }
  });
  return data;
}

void regrade_with_zeroeval_rule(Dataset& data) {
  parallel_for(data.records.size(), [&](size_t i) {
    Record& r = data.records[i];
    if (r.gold.empty()) return;
    for (size_t col = 0; col < r.responses.size() && col < r.scores.size(); ++col)
      if (!is_missing(r.scores[col]))
        r.scores[col] = r.grader == to_string(AnswerKind::kLiteral)
                            ? zeroeval_crux_correct(data.models[col], r.responses[col], r.gold)
                            : zeroeval_rule_correct(data.models[col], r.responses[col], r.gold);
  });
}

}  // namespace smacs
