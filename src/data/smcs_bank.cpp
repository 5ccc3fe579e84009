// The SMACS authors' released question bank: one JSON object keyed "0", "1", ..., each
// {question, src (task), src_subject, model_res: {model: {is_correct}}, embedding: [...]}.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/load.h"

namespace smacs {

namespace {

using nlohmann::json;

float correctness(const json& result, const std::string& where) {
  const json v = result.is_object() ? result.value("is_correct", json()) : result;
  if (v.is_boolean()) return v.get<bool>() ? 1.0f : 0.0f;
  if (v.is_number()) return v.get<float>();
  if (v.is_null()) return kMissing;
  throw Error(where + ": 'is_correct' must be a boolean or a number");
}

}  // namespace

SmcsBank read_smcs_bank(const std::string& path) {
  const json doc = parse_json_text(read_text_file(path), path);
  if (!doc.is_object())
    throw Error(path + ": expected the SMCS bank's object of questions keyed \"0\", \"1\", ...");
  SmcsBank out;
  std::map<std::string, int> column;
  size_t width = 0;
  for (const auto& [key, q] : doc.items()) {
    const std::string where = path + ": question \"" + key + "\"";
    if (!q.is_object() || !q.contains("question") || !q["question"].is_string() ||
        !q.contains("model_res") || !q["model_res"].is_object())
      throw Error(where +
                  ": expected {question, src, model_res: {model: {is_correct}}, "
                  "embedding}");
    Record r;
    r.id = "smcs/" + key;
    r.question = q["question"].get<std::string>();
    r.task = q.value("src", std::string("smcs"));
    for (const auto& [model, result] : q["model_res"].items()) {
      auto [it, fresh] = column.emplace(model, static_cast<int>(out.data.models.size()));
      if (fresh) {
        out.data.models.push_back(model);
        for (auto& earlier : out.data.records) earlier.scores.push_back(kMissing);
      }
      r.scores.resize(out.data.models.size(), kMissing);
      r.scores[static_cast<size_t>(it->second)] = correctness(result, where + " model " + model);
    }
    r.scores.resize(out.data.models.size(), kMissing);
    const auto e = q.find("embedding");
    if (e == q.end() || !e->is_array() || e->empty())
      throw Error(where + ": no 'embedding' (the bank's precomputed question vector)");
    std::vector<float> vec;
    for (const auto& x : *e) {
      if (!x.is_number()) throw Error(where + ": 'embedding' must hold numbers");
      vec.push_back(x.get<float>());
    }
    if (width == 0) width = vec.size();
    if (vec.size() != width)
      throw Error(where + ": an embedding of " + std::to_string(vec.size()) +
                  " numbers where the others have " + std::to_string(width));
    out.data.records.push_back(std::move(r));
    out.embeddings.push_back(std::move(vec));
  }
  for (auto& r : out.data.records) r.scores.resize(out.data.models.size(), kMissing);
  if (out.data.records.empty()) throw Error(path + ": no questions");
  return out;
}

}  // namespace smacs
