// The one exception type smacs throws across its library boundary.
//
// Library code throws smacs::Error with a message meant for a person (it names the
// file, row, key or backend at fault). Front-ends catch it: the CLI prints the message
// on one line and exits non-zero; the server turns it into OpenAI-style error JSON.
#pragma once
#include <stdexcept>
#include <string>

namespace smacs {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace smacs
