// `ctest -L unit` runs tests that start no process and no server (CMakeLists.txt sets
// SMACS_TEST_LABEL=unit for them). The helpers that start one call integration_only first, so
// a test in the wrong label fails at once, saying where it belongs.
#pragma once
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace smacs::test {

inline void integration_only(const std::string& what) {
  const char* label = std::getenv("SMACS_TEST_LABEL");
  if (label && std::string_view(label) == "unit")
    throw std::logic_error(what +
                           " in a unit test: add its suite to SMACS_INTEGRATION_SUITES "
                           "in CMakeLists.txt");
}

}  // namespace smacs::test
