// Files written whole and then renamed over their destination (a bank, a snapshot): each writer
// gets a temporary name of its own, and a write that fails leaves no temporary file behind.
// Two writers of one destination (replicas and `prior` commands on one database) once shared a
// temporary name: one truncated or deleted the other's file while it was written or read back.
#pragma once
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace smacs {

// "<path>.tmp.<pid>.<n>": unique among this process's writers and any other process's.
inline std::string unique_temp_path(const std::string& path) {
  static std::atomic<uint64_t> writes{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(writes++);
}

// Removes `files` when it goes out of scope (those renamed away are gone already).
struct RemoveUnlessRenamed {
  std::vector<std::string> files;
  ~RemoveUnlessRenamed() {
    std::error_code ec;
    for (const auto& f : files) std::filesystem::remove(f, ec);
  }
};

}  // namespace smacs
