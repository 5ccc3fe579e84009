// A file mapped read-only (core/mapped_file.h).
#include "core/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "test_util.h"

using namespace smacs;

namespace {

bool mapped_in_this_process(const std::string& path) {
  return test::file_text("/proc/self/maps").find(path) != std::string::npos;
}

}  // namespace

// A mapping is now dropped in 8 MiB pieces before it is unmapped (a reload's 400 MB munmap held
// the process's memory map for 40-100 ms): every byte reads back while it is mapped, and once
// the last holder lets go nothing of it is left mapped.
TEST(MappedFile, ReadsTheWholeFileAndIsGoneWhenLetGo) {
  const std::string path = test::temp_path("mapped-pieces.bin");
  std::string bytes(size_t{20} << 20, '\0');  // 20 MiB: two whole pieces and a part
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 + i / 4096);
  std::ofstream(path, std::ios::binary) << bytes;
  auto file = map_file(path);
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(file->size, bytes.size());
  EXPECT_EQ(std::string(file->data, file->size), bytes);
  EXPECT_TRUE(mapped_in_this_process(path));
  file.reset();
  EXPECT_FALSE(mapped_in_this_process(path));
  EXPECT_EQ(map_file(test::temp_path("no-such-file.bin")), nullptr);
}

// Every page of a mapping is in the process's page tables once map_file returns: a reload maps
// its snapshot anew, and without that the requests searching the new index took each page's
// fault themselves (about 1,200 per reload of a million-question bank, beside the reload's
// own), on the request path.
TEST(MappedFile, EveryPageIsMappedWhenItReturns) {
  const std::string path = test::temp_path("mapped-populated.bin");
  std::ofstream(path, std::ios::binary) << std::string(size_t{4} << 20, 'x');
  const auto file = map_file(path);
  ASSERT_NE(file, nullptr);
  // The mapping's resident size in /proc/self/smaps, untouched by this test.
  const auto start = reinterpret_cast<uintptr_t>(file->data);
  char head[32];
  std::snprintf(head, sizeof head, "%lx-", static_cast<unsigned long>(start));
  const std::string smaps = test::file_text("/proc/self/smaps");
  const size_t at = smaps.find(std::string("\n") + head);
  ASSERT_NE(at, std::string::npos) << "the mapping is not in smaps";
  const size_t rss = smaps.find("\nRss:", at);
  ASSERT_NE(rss, std::string::npos);
  EXPECT_EQ(std::stoul(smaps.substr(rss + 5)), 4096u) << "kB of the 4 MiB mapped";
}
