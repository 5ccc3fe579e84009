#include "server/access.h"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "server/http_util.h"

namespace smacs {

using nlohmann::json;

namespace {

bool known(const std::vector<std::string>& keys, const std::string& key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

}  // namespace

std::optional<std::string> client_key(const std::vector<std::string>& keys,
                                      const HttpRequest& req) {
  if (keys.empty()) return std::string();
  const std::string auth = req.header("Authorization");
  if (auth.empty()) {  // Anthropic's clients send the key on its own
    const std::string key = req.header("x-api-key");
    return known(keys, key) ? std::optional(key) : std::nullopt;
  }
  const auto space = auth.find(' ');
  if (space == std::string::npos) return std::nullopt;
  std::string scheme = auth.substr(0, space);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
  if (scheme != "bearer") return std::nullopt;  // RFC 7235: the scheme is case-insensitive
  const auto key_start = auth.find_first_not_of(' ', space);
  if (key_start == std::string::npos) return std::nullopt;  // "Bearer " and nothing after
  const std::string key = auth.substr(key_start);
  return known(keys, key) ? std::optional(key) : std::nullopt;
}

bool reject_unauthorized(const std::vector<std::string>& keys, const HttpRequest& req,
                         HttpResponse& res) {
  if (client_key(keys, req)) return false;
  send_error(res, {.status = 401,
                   .type = "authentication_error",
                   .message = "invalid or missing API key",
                   .code = "invalid_api_key"});
  return true;
}

bool usable_request_id(const std::string& id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
}

AccessLog::AccessLog(const std::string& where) {
  if (where == "stderr") {
    file_ = stderr;
  } else if (where != "none") {
    file_ = std::fopen(where.c_str(), "a");
    if (!file_) throw Error("access_log: cannot open '" + where + "'");
  }
}

AccessLog::~AccessLog() {
  if (file_ && file_ != stderr) std::fclose(file_);
}

void AccessLog::write(const HttpRequest& req, const HttpResponse& res, double ms) {
  if (!file_) return;
  json line = {{"time", static_cast<int64_t>(std::time(nullptr))},
               {"remote", req.remote},
               {"method", req.method},
               {"path", req.path.substr(0, 200)},
               {"status", res.status},
               {"latency_ms", ms}};
  for (const auto& [k, v] : res.notes) line[k] = v;
  if (const std::string own = req.header("x-request-id"); usable_request_id(own))
    line["request_id"] = own;  // the client's own, to find its requests
  const std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fflush(file_);
}

}  // namespace smacs
