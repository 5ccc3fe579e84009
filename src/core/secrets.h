// Passwords in connection URLs (a PostgreSQL bank's) must never reach an output: a message, a
// log line, an HTTP body or a file name. Two tools, used together:
//  - redact_url: a URL as it may be shown, its password replaced by "***" in every form libpq
//    reads (user:password@, ?password= and sslpassword=, unencoded '@', ':' or '/' in it);
//  - scrub: any text (libpq's own messages echo pieces of a bad URL) with every password of
//    the URLs registered so far cut out, raw and percent-decoded.
// PGPASSWORD and ~/.pgpass are read by libpq itself and never by smacs, so they cannot leak.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace smacs {

std::string redact_url(std::string_view url);

// The passwords a URL carries, raw and percent-decoded (none: empty).
std::vector<std::string> url_passwords(std::string_view url);

// Remembers the passwords of `url` for scrub() (process-wide, thread-safe).
void register_url_secrets(std::string_view url);

// `text` with every registered password replaced by "***".
std::string scrub(std::string text);

}  // namespace smacs
