// URL percent-decoding, for a bank URL's password and a model id in a request path.
#pragma once
#include <string>
#include <string_view>

namespace smacs {

// Each "%XY" (two hex digits) as the byte it stands for; anything else, a lone or broken '%'
// included, kept as it is.
std::string percent_decode(std::string_view s);

}  // namespace smacs
