#include "core/secrets.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>

#include "core/percent_decode.h"

namespace smacs {

namespace {

std::string_view after_scheme(std::string_view url) {
  const size_t scheme = url.find("://");
  return scheme == std::string_view::npos ? url : url.substr(scheme + 3);
}

void replace_all(std::string& text, const std::string& secret) {
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3))
    text.replace(at, secret.size(), "***");
}

// Longest first, so a password that holds another one is cut out whole.
std::string cut(std::string text, std::vector<std::string> secrets) {
  std::sort(secrets.begin(), secrets.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& s : secrets)
    if (!s.empty()) replace_all(text, s);
  return text;
}

// Without the readings that lie inside a longer one: those are cut with it, and alone they
// would cut too much ("p" of "p@ss").
std::vector<std::string> outermost(const std::vector<std::string>& all) {
  std::vector<std::string> out;
  for (const auto& p : all)
    if (std::none_of(all.begin(), all.end(), [&](const auto& q) {
          return q.size() > p.size() && q.find(p) != std::string::npos;
        }))
      out.push_back(p);
  return out;
}

std::mutex registry_mutex;
std::set<std::string>& registry() {
  static std::set<std::string> secrets;
  return secrets;
}

}  // namespace

// Generous on purpose: every reading a person or libpq could give the URL. A candidate that is
// not a password only hides a little more of a printed URL.
std::vector<std::string> url_passwords(std::string_view url) {
  const std::string_view rest = after_scheme(url);
  std::set<std::string> found;
  // user:password@ up to any '@' (libpq stops at the first, a password holding '@' at the last).
  for (size_t at = rest.find('@'); at != std::string_view::npos; at = rest.find('@', at + 1)) {
    const std::string_view info = rest.substr(0, at);
    if (const size_t colon = info.find(':'); colon != std::string_view::npos)
      found.emplace(info.substr(colon + 1));
  }
  // password=... and sslpassword=... parameters, up to '&' (libpq) and to the end (the user).
  std::string lower(rest);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (size_t at = lower.find("password="); at != std::string::npos;
       at = lower.find("password=", at + 1)) {
    const std::string_view value = rest.substr(at + 9);
    found.emplace(value.substr(0, value.find('&')));
    found.emplace(value);
  }
  std::vector<std::string> out;
  for (const auto& f : found) {
    if (f.empty()) continue;
    out.push_back(f);
    if (std::string d = percent_decode(f); d != f && !d.empty()) out.push_back(std::move(d));
  }
  return out;
}

std::string redact_url(std::string_view url) {
  const std::string_view rest = after_scheme(url);
  const size_t start = url.size() - rest.size();
  std::string head(url.substr(0, start)), tail(rest);
  // The usual form first, so the user stays readable: scheme://user:***@host...
  const size_t at = rest.substr(0, rest.find('?')).rfind('@');
  if (at != std::string_view::npos) {
    const size_t colon = rest.substr(0, at).find(':');
    if (colon != std::string_view::npos) {
      head += std::string(rest.substr(0, colon + 1)) + "***";
      tail = rest.substr(at);
    }
  }
  // Then whatever else holds a password: parameters, a password with '?' in it.
  return head + cut(std::move(tail), outermost(url_passwords(url)));
}

void register_url_secrets(std::string_view url) {
  const std::vector<std::string> whole = outermost(url_passwords(url));
  std::vector<std::string> secrets = whole;
  for (const std::string& p : whole) {
    // libpq reads a password holding '@', ':' or '/' as user, host or database: it may echo the
    // pieces.
    size_t begin = 0;
    for (size_t i = 0; i <= p.size(); ++i)
      if (i == p.size() || p[i] == '@' || p[i] == ':' || p[i] == '/' || p[i] == '?' ||
          p[i] == '&') {
        if (i - begin >= 4 && i - begin < p.size()) secrets.push_back(p.substr(begin, i - begin));
        begin = i + 1;
      }
  }
  std::lock_guard lock(registry_mutex);
  registry().insert(secrets.begin(), secrets.end());
}

std::string scrub(std::string text) {
  std::vector<std::string> secrets;
  {
    std::lock_guard lock(registry_mutex);
    if (registry().empty()) return text;
    secrets.assign(registry().begin(), registry().end());
  }
  return cut(std::move(text), std::move(secrets));
}

}  // namespace smacs
