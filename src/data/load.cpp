#include "data/load.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace smacs {

using nlohmann::json;

std::string task_from_path(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string();
  for (const char* suffix : {"_train", "_test", "-train", "-test"}) {
    const std::string s(suffix);
    if (stem.size() > s.size() && stem.compare(stem.size() - s.size(), s.size(), s) == 0)
      return stem.substr(0, stem.size() - s.size());
  }
  return stem;
}

json parse_json_text(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e400
    throw Error(where + ": malformed JSON (" + std::string(e.what()) + ")");
  }
}

std::string read_text_file(const std::string& path) { return read_text_prefix(path, SIZE_MAX); }

std::string read_text_prefix(const std::string& path, size_t limit) {
  // A device (/dev/zero, a link to one) never ends: reading it whole would take all memory.
  std::error_code ec;
  const auto type = std::filesystem::status(path, ec).type();
  if (type == std::filesystem::file_type::character || type == std::filesystem::file_type::block)
    throw Error(path + ": is a device, not a file");
  if (path.ends_with(".gz")) {
    gzFile gz = gzopen(path.c_str(), "rb");
    if (!gz) throw Error(path + ": cannot open file");
    std::string out;
    char buf[1 << 16];
    int n = 0;
    while (out.size() < limit && (n = gzread(gz, buf, sizeof buf)) > 0)
      out.append(buf, std::min(static_cast<size_t>(n), limit - out.size()));
    // A file cut short reads as a clean end (n == 0): only gzerror tells, with Z_BUF_ERROR.
    int error = Z_OK;
    std::string what = gzerror(gz, &error);  // "PATH: what went wrong"
    if (what.starts_with(path + ": ")) what.erase(0, path.size() + 2);
    const bool failed = n < 0 || (out.size() < limit && error != Z_OK);
    gzclose(gz);
    if (failed)
      throw Error(path + ": corrupt gzip data (" +
                  (error == Z_BUF_ERROR ? std::string("the file is cut short") : what) + ")");
    return out;
  }
  if (type == std::filesystem::file_type::directory)
    throw Error(path + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  if (limit != SIZE_MAX) {
    std::string out(limit, '\0');
    in.read(out.data(), static_cast<std::streamsize>(limit));
    out.resize(static_cast<size_t>(in.gcount()));
    return out;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

// A directory's data files, sorted; a file as it is.
std::vector<std::string> expand(const std::string& path) {
  if (!std::filesystem::is_directory(path)) return {path};
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(path)) {
    const std::string p = e.path().string();
    if (e.is_regular_file() &&
        (p.ends_with(".json") || p.ends_with(".json.gz") || p.ends_with(".csv") ||
         p.ends_with(".jsonl") || p.ends_with(".jsonl.gz")))
      files.push_back(p);
  }
  if (files.empty())
    throw Error(path + ": no data files (.json, .csv, .jsonl, gzipped or not) in it");
  std::sort(files.begin(), files.end());
  return files;
}

Dataset load_one(const std::string& path) {
  std::string name = path;
  if (name.ends_with(".gz")) name.resize(name.size() - 3);
  const std::string ext = std::filesystem::path(name).extension().string();
  const std::string task = task_from_path(name);
  if (ext == ".json") return read_routerdc_json(path, task);
  if (ext == ".csv") return read_routerbench_csv(path, task);
  if (ext == ".jsonl") return read_smacs_jsonl(path);
  throw Error(path + ": unknown data format (expected .json, .csv or .jsonl, or a directory)");
}

}  // namespace

Dataset load_file(const std::string& path) { return load_files({path}); }

Dataset load_files(const std::vector<std::string>& paths) {
  Dataset all;
  std::vector<std::string> zeroeval;
  for (const auto& p : paths) {
    if (!std::filesystem::exists(p)) throw Error(p + ": no such file or directory");
    for (const auto& f : expand(p)) {
      if (is_zeroeval_file(f))
        zeroeval.push_back(f);
      else
        merge_into(all, load_one(f));
    }
  }
  if (!zeroeval.empty()) merge_into(all, read_zeroeval(zeroeval));
  return all;
}

namespace {

float score_value(const json& v, const std::string& where) {
  if (v.is_null()) return kMissing;
  if (!v.is_number()) throw Error(where + ": score must be a number or null");
  const double d = v.get<double>();
  if (!(d >= 0.0 && d <= 1.0)) throw Error(where + ": score " + v.dump() + " outside 0..1");
  return static_cast<float>(d);
}

}  // namespace

Dataset read_routerdc_json(const std::string& path, const std::string& task) {
  const json doc = parse_json_text(read_text_file(path), path);
  if (!doc.is_array()) throw Error(path + ": expected a JSON array of {question, scores}");
  Dataset data;
  const std::string stem = std::filesystem::path(path).stem().string();  // ids unique across splits
  for (size_t i = 0; i < doc.size(); ++i) {
    const std::string where = path + ": row " + std::to_string(i + 1);
    const json& row = doc[i];
    if (!row.is_object() || !row.contains("question") || !row["question"].is_string() ||
        !row.contains("scores") || !row["scores"].is_object())
      throw Error(where + ": expected {\"question\": string, \"scores\": {model: number}}");
    Record r;
    r.id = stem + "#" + std::to_string(i);
    r.task = task;
    r.question = row["question"].get<std::string>();
    r.scores.assign(data.models.size(), kMissing);
    for (const auto& [model, v] : row["scores"].items()) {
      int idx = data.model_index(model);
      if (idx < 0) {
        idx = static_cast<int>(data.models.size());
        data.models.push_back(model);
        for (auto& prev : data.records) prev.scores.push_back(kMissing);
        r.scores.push_back(kMissing);
      }
      r.scores[idx] = score_value(v, where + " model " + model);
    }
    data.records.push_back(std::move(r));
  }
  return data;
}

Dataset read_smacs_jsonl(const std::string& path) {
  std::istringstream in(read_text_file(path));  // a .jsonl.gz too
  Dataset data;
  std::string line;
  for (size_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ": line " + std::to_string(lineno);
    const json row = parse_json_text(line, where);
    if (!row.is_object() || !row.contains("question") || !row["question"].is_string() ||
        !row.contains("task") || !row["task"].is_string())
      throw Error(where + ": expected an object with string fields \"task\" and \"question\"");
    Record r;
    r.id = row.contains("id")
               ? (row["id"].is_string() ? row["id"].get<std::string>() : row["id"].dump())
               : path + "#" + std::to_string(lineno);
    r.task = row["task"].get<std::string>();
    r.question = row["question"].get<std::string>();
    if (row.contains("gold"))
      r.gold = row["gold"].is_string() ? row["gold"].get<std::string>() : row["gold"].dump();
    if (row.contains("tests") && row["tests"].is_string())
      r.tests = row["tests"].get<std::string>();
    if (row.contains("grader") && row["grader"].is_string())
      r.grader = row["grader"].get<std::string>();
    Dataset one;
    if (row.contains("results")) {
      if (!row["results"].is_object()) throw Error(where + ": \"results\" must be an object");
      bool any_response = false, any_cost = false;
      for (const auto& [model, res] : row["results"].items()) {
        if (!res.is_object()) throw Error(where + ": results." + model + " must be an object");
        one.models.push_back(model);
        r.scores.push_back(score_value(res.value("score", json()), where + " model " + model));
        const json resp = res.value("response", json());
        r.responses.push_back(resp.is_string() ? resp.get<std::string>() : "");
        any_response |= resp.is_string();
        const json cost = res.value("cost", json());
        r.costs.push_back(cost.is_number() ? cost.get<float>() : kMissing);
        any_cost |= cost.is_number();
      }
      if (!any_response) r.responses.clear();
      if (!any_cost) r.costs.clear();
    }
    one.records.push_back(std::move(r));
    merge_into(data, std::move(one));
  }
  return data;
}

void write_smacs_jsonl(const Dataset& data, const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw Error(path + ": cannot write file");
  for (const auto& r : data.records) {
    json row = {{"id", r.id}, {"task", r.task}, {"question", r.question}};
    if (!r.gold.empty()) row["gold"] = r.gold;
    if (!r.tests.empty()) row["tests"] = r.tests;
    if (!r.grader.empty()) row["grader"] = r.grader;
    json results = json::object();
    for (size_t m = 0; m < data.models.size(); ++m) {
      json res = json::object();
      res["score"] = is_missing(r.scores[m]) ? json() : json(r.scores[m]);
      if (!r.responses.empty()) res["response"] = r.responses[m];
      if (!r.costs.empty() && !is_missing(r.costs[m])) res["cost"] = r.costs[m];
      results[data.models[m]] = res;
    }
    row["results"] = results;
    out << row.dump() << '\n';
  }
  if (!out) throw Error(path + ": write failed");
}

}  // namespace smacs
