// The one exception type smacs throws across its library boundary.
//
// Library code throws smacs::Error with a message meant for a person (it names the
// file, row, key or backend at fault). Front-ends catch it: the CLI prints the message
// on one line and exits non-zero; the server turns it into OpenAI-style error JSON.
#pragma once
#include <new>
#include <stdexcept>
#include <string>

namespace smacs {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What went wrong, for a person: a smacs::Error's message, "out of memory" for std::bad_alloc,
// else what() of an exception no smacs code meant to throw (a front-end that must survive it,
// such as the gateway's reload, says this).
inline std::string reason(const std::exception& e) {
  return dynamic_cast<const std::bad_alloc*>(&e) ? "out of memory" : e.what();
}

}  // namespace smacs
