#include "data/load.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <vector>

#include "core/error.h"
#include "test_util.h"

using namespace smacs;
using smacs::test::write_temp;

TEST(Load, TaskNameFromFileStem) {
  EXPECT_EQ(task_from_path("/a/mmlu_train.json"), "mmlu");
  EXPECT_EQ(task_from_path("gsm8k-test.json"), "gsm8k");
  EXPECT_EQ(task_from_path("arc_challenge_test.csv"), "arc_challenge");
  EXPECT_EQ(task_from_path("my_bank.jsonl"), "my_bank");
}

TEST(Load, RouterDcJson) {
  const auto path = write_temp(
      "t_train.json",
      R"([{"question":"q1","scores":{"a":1,"b":0.5}},{"question":"q2","scores":{"a":0,"b":null}}])");
  const Dataset d = load_file(path);
  ASSERT_EQ(d.models, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_EQ(d.records[0].task, "t");
  EXPECT_FLOAT_EQ(d.records[0].scores[1], 0.5f);
  EXPECT_TRUE(is_missing(d.records[1].scores[1]));
}

TEST(Load, CorruptFilesNameFileAndRow) {
  const auto bad_json =
      write_temp("bad_train.json", R"([{"question":"q","scores":{"a":1}}, {"question": 3}])");
  try {
    load_file(bad_json);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad_train.json: row 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_file(write_temp("trunc_test.json", R"([{"question":"q")")), Error);
  EXPECT_THROW(load_file(write_temp("range_test.json", R"([{"question":"q","scores":{"a":7}}])")),
               Error);
  EXPECT_THROW(load_file(write_temp("x.txt", "hello")), Error);
  EXPECT_THROW(load_file("/no/such/file.json"), Error);
}

TEST(Load, RouterBenchCsvMissingCellsAreMissing) {
  const auto path = write_temp(
      "rb_test.csv",
      "sample_id,prompt,m1,m2,m1|model_response,m2|model_response,m1|total_cost,m2|total_cost\n"
      "s1,\"['Which?\\nA) x\\nB) y']\",1.0,,['B'],,0.001,\n"
      "s2,\"['He said \"\"hi\"\", ok']\",0.0,1.0,\"['A\\n']\",['B'],0.002,0.003\n");
  const Dataset d = load_file(path);
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_EQ(d.records[0].question, "Which?\nA) x\nB) y");
  EXPECT_TRUE(is_missing(d.records[0].scores[1]));
  EXPECT_EQ(d.records[1].question, "He said \"hi\", ok");
  EXPECT_EQ(d.records[1].responses[0], "A\n");
  EXPECT_FLOAT_EQ(d.records[1].costs[1], 0.003f);
}

TEST(Load, RouterBenchBadRowNamesRow) {
  const auto path = write_temp(
      "rb2_test.csv",
      "sample_id,prompt,m1,m1|model_response\ns1,['q'],1.0,['A']\ns2,['q2'],oops,['B']\n");
  try {
    load_file(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 2"), std::string::npos) << e.what();
  }
}

TEST(Load, PythonListLiteral) {
  EXPECT_EQ(parse_python_str_list(R"(['a\'b', "c\"d", 'e\nf', '\u00e9'])"),
            (std::vector<std::string>{"a'b", "c\"d", "e\nf", "\xC3\xA9"}));
  EXPECT_THROW(parse_python_str_list("['unterminated"), Error);
  EXPECT_THROW(parse_python_str_list("not a list"), Error);
}

TEST(Load, JsonlRoundTripAndMerge) {
  Dataset d;
  d.models = {"a", "b"};
  d.records.push_back(
      {"id1", "t", "question one", "B", {1.0f, kMissing}, {"B", ""}, {0.1f, kMissing}, "", ""});
  const auto path = smacs::test::temp_path("bank.jsonl");
  write_smacs_jsonl(d, path);
  const Dataset back = load_file(path);
  ASSERT_EQ(back.records.size(), 1u);
  EXPECT_EQ(back.records[0].gold, "B");
  EXPECT_FLOAT_EQ(back.records[0].scores[back.model_index("a")], 1.0f);
  EXPECT_TRUE(is_missing(back.records[0].scores[back.model_index("b")]));
  EXPECT_THROW(load_file(write_temp("bad.jsonl", "{\"task\":\"t\",\"question\":\"q\"}\n{oops\n")),
               Error);

  Dataset merged = load_files({path, path});
  EXPECT_EQ(merged.records.size(), 2u);
}

// Before: a .jsonl.gz was read as plain text ("malformed JSON" at line 1), though the
// directory listing and the docs said gzipped data loads.
TEST(Load, GzippedJsonlLoads) {
  const std::string plain =
      write_temp("gz.jsonl",
                 "{\"task\":\"t\",\"question\":\"q\",\"results\":{\"m\":{\"score\":0.25,"
                 "\"response\":\"hi\"}}}\n");
  ASSERT_EQ(std::system(("gzip -kf " + plain).c_str()), 0);
  const Dataset d = load_file(plain + ".gz");
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_FLOAT_EQ(d.records[0].scores[d.model_index("m")], 0.25f);
  EXPECT_EQ(d.records[0].responses[d.model_index("m")], "hi");
}

// Before: a .jsonl.gz cut short read as a clean end of file: the records before the cut loaded
// without a word (or the last, half line gave "malformed JSON"), and a header with garbage behind
// it loaded as an empty file.
TEST(Load, AGzipFileCutShortOrDamagedIsAnError) {
  std::string lines;
  for (int i = 0; i < 300; ++i)
    lines += "{\"task\":\"t\",\"question\":\"question " + std::to_string(i) +
             "\",\"results\":{\"m\":{\"score\":1}}}\n";
  const std::string plain = write_temp("whole.jsonl", lines);
  ASSERT_EQ(std::system(("gzip -kf " + plain).c_str()), 0);
  const std::string packed = test::file_text(plain + ".gz");
  ASSERT_EQ(load_file(plain + ".gz").records.size(), 300u);
  auto loading = [](const std::string& path) { return test::error_of([&] { load_file(path); }); };
  const std::string cut = loading(write_temp("cut.jsonl.gz", packed.substr(0, packed.size() / 2)));
  EXPECT_NE(cut.find("corrupt gzip data (the file is cut short)"), std::string::npos) << cut;
  std::string flipped = packed;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0xff);
  const std::string damaged = loading(write_temp("damaged.jsonl.gz", flipped));
  EXPECT_NE(damaged.find("corrupt gzip data"), std::string::npos) << damaged;
  const std::string header_only = loading(write_temp("header.jsonl.gz", packed.substr(0, 12)));
  EXPECT_NE(header_only.find("corrupt gzip data"), std::string::npos) << header_only;
}

// Before: a number out of the parser's range escaped as nlohmann's out_of_range, not as
// smacs::Error: the CLI said "unexpected error" and named neither the file nor the line.
TEST(Load, ANumberTooBigForADoubleIsMalformedJsonNamingTheLine) {
  const std::string jsonl =
      write_temp("big.jsonl",
                 "{\"task\":\"t\",\"question\":\"q\",\"results\":{\"m\":{\"score\":1}}}\n"
                 "{\"task\":\"t\",\"question\":\"r\",\"results\":{\"m\":{\"score\":1e400}}}\n");
  const std::string json = write_temp("big.json", R"([{"question":"q","scores":{"a":1e400}}])");
  for (const auto& [path, where] : {std::pair{jsonl, "big.jsonl: line 2: malformed JSON"},
                                    std::pair{json, "big.json: malformed JSON"}}) {
    try {
      load_file(path);
      ADD_FAILURE() << path << " loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << ": not a smacs::Error: " << e.what();
    }
  }
}

// Before: a link named like data to /dev/zero (or --smcs-bank /dev/zero) was read until memory
// ran out.
TEST(Load, ADeviceIsRefusedNotReadForever) {
  const std::string link = smacs::test::temp_path("zero.json");
  const std::string gz_link = smacs::test::temp_path("zero.jsonl.gz");
  for (const auto& path : {link, gz_link}) {
    std::filesystem::remove(path);
    std::filesystem::create_symlink("/dev/zero", path);
  }
  for (const auto& load : std::vector<std::function<void()>>{
           [&] { load_file(link); }, [&] { read_smcs_bank(link); }, [&] { load_file(gz_link); },
           [] { read_text_file("/dev/zero"); }}) {
    const std::string error = smacs::test::error_of(load);
    EXPECT_NE(error.find(": is a device, not a file"), std::string::npos) << error;
  }
}

TEST(Load, ShippedDataLoads) {
  const Dataset rb = load_file(smacs::test::data_file("routerbench/arc_challenge_test.csv"));
  EXPECT_EQ(rb.records.size(), 445u);
  EXPECT_EQ(rb.models.size(), 11u);
  const Dataset dc = load_file(smacs::test::data_file("routerdc/humaneval_test.json"));
  EXPECT_EQ(dc.records.size(), 49u);
  EXPECT_EQ(dc.models.size(), 7u);
}
