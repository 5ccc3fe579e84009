// A bank URL's password never reaches an output (core/secrets.h): every form libpq reads, and
// libpq's own messages that echo pieces of a bad URL.
#include "core/secrets.h"

#include <gtest/gtest.h>

using namespace smacs;

namespace {

bool shows(const std::string& text, const std::string& secret) {
  return text.find(secret) != std::string::npos;
}

}  // namespace

TEST(Secrets, EveryFormOfPasswordIsRedacted) {
  const std::string secret = "Sup3rSecret";
  const std::vector<std::string> urls = {
      "postgresql://u:" + secret + "@db.example:5432/bank",
      "postgres://u:" + secret + "@db.example/bank?sslmode=disable",
      "postgresql://u@db.example/bank?password=" + secret,
      "postgresql://u@db.example/bank?sslmode=disable&password=" + secret + "&x=1",
      "postgresql://u@db.example/bank?PASSWORD=" + secret,
      "postgresql://u@db.example/bank?sslpassword=" + secret,
      "postgresql://u:" + secret + "@db.example/bank?password=" + secret,
  };
  for (const auto& url : urls) {
    const std::string shown = redact_url(url);
    EXPECT_FALSE(shows(shown, secret)) << shown;
    EXPECT_TRUE(shows(shown, "db.example")) << "the host stays readable: " << shown;
  }
  EXPECT_EQ(redact_url("postgresql://u:" + secret + "@h:5/db"), "postgresql://u:***@h:5/db");
  EXPECT_EQ(redact_url("postgresql://u@h/db"), "postgresql://u@h/db");  // nothing to hide
  EXPECT_EQ(redact_url("bank.sqlite"), "bank.sqlite");
}

// Today's cut at the first '@' printed half of a password holding '@', ':' or '/'.
TEST(Secrets, PasswordsHoldingDelimitersAreRedactedWhole) {
  for (const std::string secret : {"pa@ss@w0rd", "pa:ss:w0rd", "pa/ss/w0rd", "pa?ss#w0rd"}) {
    const std::string url = "postgresql://alice:" + secret + "@db.example:5432/bank";
    const std::string shown = redact_url(url);
    for (const std::string piece : {"pa", "ss", "w0rd"})
      EXPECT_FALSE(shows(shown.substr(shown.find("alice")), piece + (piece == "w0rd" ? "" : "")))
          << secret << " -> " << shown;
    EXPECT_TRUE(shows(shown, "alice")) << shown;
  }
  // Percent-encoded: neither the encoded nor the decoded form is shown.
  const std::string shown = redact_url("postgresql://u@h/db?password=s%40cr%2Ft%25x");
  EXPECT_FALSE(shows(shown, "s%40cr")) << shown;
}

TEST(Secrets, ScrubCutsRegisteredPasswordsOutOfAnyText) {
  register_url_secrets("postgresql://u:Zebra%40Lion9@h/db?password=Otter_77");
  const std::string message =
      "could not connect: invalid percent-encoded token: \"Zebra%40Lion9\" (Zebra@Lion9, Otter_77)";
  const std::string clean = scrub(message);
  EXPECT_FALSE(shows(clean, "Zebra")) << clean;
  EXPECT_FALSE(shows(clean, "Otter_77")) << clean;
  EXPECT_TRUE(shows(clean, "could not connect")) << clean;
  EXPECT_EQ(scrub("nothing secret here"), "nothing secret here");
}
