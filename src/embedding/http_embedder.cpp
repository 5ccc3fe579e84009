// An Embedder on an OpenAI-compatible POST /v1/embeddings endpoint (vLLM, llama.cpp's server
// with --embedding, Ollama, hosted APIs): texts go in batches, vectors come back dense
// (ids 0..d-1) and are L2-normalised here. Any failure throws smacs::Error naming the endpoint.
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/http_client.h"
#include "embedding/embedder.h"

namespace smacs {

namespace {

using nlohmann::json;

class HttpEmbedder final : public Embedder {
 public:
  explicit HttpEmbedder(const HttpEmbedderConfig& c)
      : config_(c), pool_({c.base_url, c.api_key, c.max_connections, c.timeout_ms, c.retries, 50}) {
    if (config_.model.empty()) throw Error("embedder " + c.base_url + ": a model name is required");
    if (config_.batch == 0) config_.batch = 1;
  }

  void fit(const std::vector<std::string>&) override {}  // pretrained: nothing to fit

  SparseVec embed(std::string_view text) const override {
    return embed_all({std::string(text)}).front();
  }

  std::vector<SparseVec> embed_all(const std::vector<std::string>& texts) const override {
    std::vector<SparseVec> out;
    out.reserve(texts.size());
    for (size_t i = 0; i < texts.size(); i += config_.batch) {
      const std::vector<std::string> batch(
          texts.begin() + static_cast<long>(i),
          texts.begin() + static_cast<long>(std::min(texts.size(), i + config_.batch)));
      for (auto& v : request(batch)) out.push_back(std::move(v));
    }
    return out;
  }

  std::string name() const override { return "http:" + config_.base_url + "#" + config_.model; }

 private:
  std::vector<SparseVec> request(const std::vector<std::string>& batch) const {
    const json payload = {{"model", config_.model}, {"input", batch}};
    std::vector<SparseVec> vecs;
    auto parsed = [&](const std::string& body) { return parse(body, batch.size(), vecs); };
    const auto attempts = config_.retries + 1;
    const Deadline deadline = Clock::now() +
                              std::chrono::milliseconds(config_.timeout_ms) * attempts +
                              std::chrono::milliseconds(50 << attempts);
    const HttpResult r = pool_.post("/embeddings", payload.dump(), deadline, parsed,
                                    std::to_string(batch.size()) + " embeddings of one width");
    if (!r.ok())
      throw Error("embedder " + config_.base_url + " (" + config_.model +
                  "): " + r.error().message);
    return vecs;
  }

  // {"data": [{"index": i, "embedding": [...]}, ...]}: one finite vector per input, one width.
  bool parse(const std::string& body, size_t n, std::vector<SparseVec>& vecs) const {
    const json j = json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("data") || !j["data"].is_array() || j["data"].size() != n)
      return false;
    vecs.assign(n, {});
    size_t width = 0;
    for (size_t k = 0; k < n; ++k) {
      const json& item = j["data"][k];
      const size_t at = item.contains("index") && item["index"].is_number_unsigned()
                            ? item["index"].get<size_t>()
                            : k;
      if (at >= n || !item.contains("embedding") || !item["embedding"].is_array()) return false;
      const json& e = item["embedding"];
      if (e.empty() || (width && e.size() != width)) return false;
      width = e.size();
      std::vector<float> values(width);
      for (size_t d = 0; d < width; ++d) {
        if (!e[d].is_number() || !std::isfinite(e[d].get<double>())) return false;
        values[d] = e[d].get<float>();
      }
      vecs[at] = dense_vector(std::move(values));
      l2_normalize(vecs[at]);
    }
    for (const auto& v : vecs)
      if (v.idx.size() != width) return false;  // an index given twice left one empty
    return true;
  }

  HttpEmbedderConfig config_;
  HttpClientPool pool_;
};

}  // namespace

std::shared_ptr<Embedder> make_http_embedder(const HttpEmbedderConfig& config) {
  return std::make_shared<HttpEmbedder>(config);
}

}  // namespace smacs
