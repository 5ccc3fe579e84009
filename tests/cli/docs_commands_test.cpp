// Every `smacs ...` command the README and docs/ show runs: at least its --help, so a renamed
// or removed command cannot stay documented; and every file of the repository they name or link
// to exists.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "test_util.h"

namespace smacs {
namespace {

// The code in a Markdown page: fenced blocks and inline `spans`, where commands are shown.
std::string code_of(const std::string& page) {
  std::string code;
  bool fenced = false;
  std::istringstream lines(page);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("```")) {
      fenced = !fenced;
      continue;
    }
    if (fenced) {
      code += line + "\n";
      continue;
    }
    static const std::regex span("`([^`]+)`");
    for (std::sregex_iterator m(line.begin(), line.end(), span), end; m != end; ++m)
      code += (*m)[1].str() + "\n";
  }
  return code;
}

const std::filesystem::path& repo_root() {
  static const std::filesystem::path root = std::filesystem::path(SMACS_SHARED_DATA).parent_path();
  return root;
}

// The README and every page under docs/.
std::vector<std::filesystem::path> doc_pages() {
  std::vector<std::filesystem::path> pages = {repo_root() / "README.md"};
  for (const auto& e : std::filesystem::recursive_directory_iterator(repo_root() / "docs"))
    if (e.path().extension() == ".md") pages.push_back(e.path());
  return pages;
}

// "smacs WORD [WORD]" as shown, by page: the command and what may be its subcommand.
std::map<std::string, std::string> shown_commands() {
  const auto pages = doc_pages();
  static const std::regex command(R"((?:^|[\s(/])smacs +([a-z][a-z-]*)(?: +([a-z][a-z-]*))?)");
  std::map<std::string, std::string> out;  // "a b" -> the page it was first seen in
  for (const auto& page : pages) {
    const std::string code = code_of(test::file_text(page));
    for (std::sregex_iterator m(code.begin(), code.end(), command), end; m != end; ++m)
      out.emplace((*m)[1].str() + " " + (*m)[2].str(), page.filename().string());
  }
  return out;
}

// CLI11 prints the parent's help for an unknown subcommand, so each must be in its list.
bool lists(const std::string& help, const std::string& name) {
  const auto at = help.find("Subcommands:");
  return at != std::string::npos && help.find("\n  " + name + " ", at) != std::string::npos;
}

TEST(DocsCommands, EveryCommandShownInTheDocsRuns) {
  const auto shown = shown_commands();
  ASSERT_GE(shown.size(), 8u) << "the docs show fewer commands than they do: is the scan broken?";
  const std::string commands = test::run_smacs("--help").output;
  std::set<std::string> seen;
  for (const auto& [words, page] : shown) {
    const std::string first = words.substr(0, words.find(' '));
    const std::string second = words.substr(words.find(' ') + 1);
    EXPECT_TRUE(lists(commands, first))
        << page << " shows `smacs " << words << "`: no such command";
    const auto top = test::run_smacs(first + " --help");
    ASSERT_EQ(top.exit_code, 0) << page << " shows `smacs " << words << "`: " << top.output;
    seen.insert(first);
    if (second.empty() || top.output.find("Subcommands:") == std::string::npos) continue;
    EXPECT_TRUE(lists(top.output, second))
        << page << " shows `smacs " << words << "`, which `smacs " << first << "` does not have";
    const auto sub = test::run_smacs(first + " " + second + " --help");
    EXPECT_EQ(sub.exit_code, 0) << page << " shows `smacs " << words << "`: " << sub.output;
    seen.insert(words);
  }
  for (const char* must : {"eval", "serve", "replay-serve", "grade", "prior import", "prior build",
                           "prior add-model", "prior info", "llama tiny"})
    EXPECT_TRUE(seen.count(must)) << "the docs never show `smacs " << must << "`";
}

// A file the docs name in their code (`src/eval/tune.cpp`, `bench/hostile_run3.sh`, or
// `src/posterior/ranker.*` for its header and source) or link to ([text](../examples/x.yaml)).
TEST(DocsPaths, EveryFileTheDocsNameOrLinkToExists) {
  namespace fs = std::filesystem;
  static const std::regex named(
      R"((?:^|[^\w./-])((?:scripts|bench|src|tests|cli|data|examples|docs|cmake|\.ci)/[\w./-]*\w)(\.\*)?)");
  static const std::regex link(R"(\]\(([^)#\s:]+)(?:#[^)]*)?\))");
  size_t checked = 0;
  for (const auto& page : doc_pages()) {
    const std::string text = test::file_text(page);
    const std::string code = code_of(text);
    for (std::sregex_iterator m(code.begin(), code.end(), named), end; m != end; ++m) {
      const fs::path path = repo_root() / (*m)[1].str();
      const bool any_extension = (*m)[2].matched;  // ranker.* : ranker.h or ranker.cpp
      const bool found =
          any_extension ? fs::exists(path.string() + ".h") || fs::exists(path.string() + ".cpp")
                        : fs::exists(path);
      EXPECT_TRUE(found) << page.filename() << " names " << (*m)[1].str() << (*m)[2].str()
                         << ": no such file";
      ++checked;
    }
    for (std::sregex_iterator m(text.begin(), text.end(), link), end; m != end; ++m) {
      EXPECT_TRUE(fs::exists(page.parent_path() / (*m)[1].str()))
          << page.filename() << " links to " << (*m)[1].str() << ": no such file";
      ++checked;
    }
  }
  EXPECT_GE(checked, 50u) << "the docs name fewer files than they do: is the scan broken?";
}

}  // namespace
}  // namespace smacs
