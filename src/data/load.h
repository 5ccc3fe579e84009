// Loading recorded results: RouterDC JSON, RouterBench CSV, ZeroEval result files and smacs's
// own JSONL. Any file may be gzip-compressed (name.json.gz).
//
// A corrupt file throws smacs::Error naming the file and the row.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/record.h"

namespace smacs {

// Task name = file stem without a trailing `_train`, `_test`, `-train` or `-test`.
std::string task_from_path(const std::string& path);

// Picks the reader by extension and content: .json (RouterDC, or ZeroEval when its rows carry
// `output` and `dataset`), .csv (RouterBench), .jsonl (smacs bank). A directory stands for
// the data files in it. ZeroEval files are read together: their rows join by question id.
Dataset load_file(const std::string& path);
Dataset load_files(const std::vector<std::string>& paths);

// Readers for one format each; `task` names the records (RouterDC, RouterBench).
Dataset read_routerdc_json(const std::string& path, const std::string& task);
Dataset read_routerbench_csv(const std::string& path, const std::string& task);
Dataset read_smacs_jsonl(const std::string& path);
Dataset read_zeroeval(const std::vector<std::string>& files);  // one model per file
bool is_zeroeval_file(const std::string& path);
// The same records scored by ZeroEval's own rule (answers/zeroeval_rule.h) instead of smacs's
// grader, where a record has a gold answer and a response; to compare with ZeroEval's numbers.
void regrade_with_zeroeval_rule(Dataset& data);

// Writes records in the smacs JSONL format (the inverse of read_smacs_jsonl).
void write_smacs_jsonl(const Dataset& data, const std::string& path);

// The SMACS authors' released bank (data/smcs_bank.cpp): its questions and results, and the
// precomputed question vectors (one width), aligned with data.records.
struct SmcsBank {
  Dataset data;
  std::vector<std::vector<float>> embeddings;
};
SmcsBank read_smcs_bank(const std::string& path);

// Parses a Python list literal of strings, e.g. ['a\n', "b"]; throws on bad syntax.
std::vector<std::string> parse_python_str_list(const std::string& text);

std::string read_text_file(const std::string& path);  // gunzips a .gz file
// At most the first `limit` bytes of the (gunzipped) text: enough to tell a format.
std::string read_text_prefix(const std::string& path, size_t limit);
// `text` as JSON; anything the parser refuses (bad syntax, a number out of range such as 1e400)
// throws smacs::Error "WHERE: malformed JSON (...)".
nlohmann::json parse_json_text(const std::string& text, const std::string& where);

}  // namespace smacs
