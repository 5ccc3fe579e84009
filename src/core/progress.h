// Progress of long work, reported as (done, total); front-ends draw it (cli/progress.h).
#pragma once
#include <cstddef>
#include <functional>

namespace smacs {

using Progress = std::function<void(size_t done, size_t total)>;

}  // namespace smacs
