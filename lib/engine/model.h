// model.h: a loaded DeepSeek model (immutable, shareable, with the pool its
// sessions' KV-cache blocks come from) and a session (a token history with its
// block table), with the forward pass that reads like the paper:
// embed -> [RMSNorm -> MLA -> +, RMSNorm -> FFN/MoE -> +] x L -> RMSNorm -> lm_head.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/config.h"
#include "engine/weights.h"
#include "format/safetensors.h"
#include "kvcache/block_pool.h"
#include "kvcache/block_table.h"
#include "tokenizer/tokenizer.h"

namespace mola {

enum class MlaMode { Auto, Absorbed, Naive };

struct ModelOptions {
    int n_threads = 0;
    MlaMode mla_mode = MlaMode::Auto;
    std::string backend = "auto";
    std::function<bool(float)> progress;  // returns false to cancel
    KvDType kv_dtype = KvDType::BF16;
    int64_t kv_block_tokens = 0;   // a power of two in [1, kMaxBlockTokens]; 0 = kDefaultBlockTokens
    uint64_t kv_budget_bytes = 0;  // 0 = default_kv_budget()
    bool prefix_cache = true;      // sessions share the cached full blocks of common prompt prefixes
};

constexpr int64_t kDefaultBlockTokens = 64, kMaxBlockTokens = 4096;
// The cache budget when none is given: a quarter of physical memory (1 GiB where
// that is unknown).
uint64_t default_kv_budget();

class Model {
public:
    Model(const std::string& dir, const ModelOptions& options);

    const DeepSeekConfig& config() const { return config_; }
    const ModelWeights& weights() const { return weights_; }
    const Checkpoint& checkpoint() const { return *checkpoint_; }
    Backend& backend() const { return *backend_; }
    MlaMode mla_mode() const { return mla_mode_; }
    const std::vector<float>& rope_theta() const { return rope_theta_; }
    const RoutingRule& routing() const { return routing_; }
    // The checkpoint's tokenizer (tokenizer.json or tokenizer.model beside the
    // weights), or null when the directory has none.
    const std::shared_ptr<const Tokenizer>& tokenizer() const { return tokenizer_; }
    float softmax_scale() const { return softmax_scale_; }
    // Latent-cache bytes per token over all layers, in the cache's dtype or another.
    uint64_t kv_bytes_per_token() const { return kv_layout_.bytes_per_token; }
    uint64_t kv_bytes_per_token(KvDType dtype) const;
    const KvLayout& kv_layout() const { return kv_layout_; }
    // The pool of cache blocks: the one mutable, internally synchronized part of a model.
    BlockPool& cache_pool() const { return *pool_; }
    // Weight bytes one decode step reads (attention, dense or selected experts, lm_head).
    uint64_t weight_bytes_per_token() const;
    // 16 hex digits identifying the checkpoint: a hash of config.json and of every
    // tensor's name, dtype, shape and byte size (not the weight bytes). Saved
    // sessions carry it so they load only into the model that wrote them.
    const std::string& fingerprint() const { return fingerprint_; }

private:
    std::unique_ptr<Checkpoint> checkpoint_;
    DeepSeekConfig config_;
    ModelWeights weights_;
    std::unique_ptr<Backend> backend_;
    std::shared_ptr<const Tokenizer> tokenizer_;
    MlaMode mla_mode_;
    std::vector<float> rope_theta_;  // YaRN-corrected frequency of each rope pair (spec §4.1)
    RoutingRule routing_;
    float softmax_scale_;
    KvLayout kv_layout_;
    std::string fingerprint_;
    std::shared_ptr<BlockPool> pool_;  // after backend_: its blocks go back to the backend first
};

// Per-pair RoPE frequencies with YaRN's correction (spec §4.1).
std::vector<float> yarn_rope_theta(const DeepSeekConfig& config);

class Session;
void save_session(const Session& session, const std::string& path);
std::unique_ptr<Session> load_session(std::shared_ptr<const Model> model, const std::string& path, int64_t n_ctx,
                                      int64_t n_batch);

class Session {
public:
    Session(std::shared_ptr<const Model> model, int64_t n_ctx, int64_t n_batch);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Appends tokens; if all_logits is non-null it receives [n][vocab] logits.
    // Cache blocks for all n are taken first: MOLA_ERR_CACHE_FULL leaves the
    // session unchanged.
    void append(const int32_t* tokens, int64_t n, float* all_logits);
    // Makes sure the cache holds blocks for n_more tokens beyond n_tokens() (kept
    // until a rewind or the session's end); MOLA_ERR_CACHE_FULL otherwise.
    void reserve(int64_t n_more);
    // Keeps the first n_tokens tokens; blocks past them go back to the pool.
    void rewind(int64_t n_tokens);
    // A new session on the same model with the same tokens, logits, n_ctx and
    // n_batch whose cache shares this session's blocks (one more reference each,
    // nothing copied). A block either session later writes into while the other
    // still holds it is first copied (copy-on-write), so the two are independent.
    // This session must not be used by another thread during the call.
    std::unique_ptr<Session> fork() const;
    const float* logits() const;  // throws MISUSE when none are available
    int64_t n_tokens() const { return int64_t(tokens_.size()); }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_batch() const { return n_batch_; }
    int64_t n_cache_blocks() const { return cache_.n_blocks(); }
    const std::vector<int32_t>& tokens() const { return tokens_; }
    const Model& model() const { return *model_; }

private:
    // Saved sessions (session_file/session_file.h) read and restore the state.
    friend void save_session(const Session& session, const std::string& path);
    friend std::unique_ptr<Session> load_session(std::shared_ptr<const Model> model, const std::string& path,
                                                 int64_t n_ctx, int64_t n_batch);
    // One forward pass over n <= n_batch tokens at positions n_tokens()...
    void forward(const int32_t* tokens, int64_t n, float* all_logits);
    void attention(int64_t layer, const float* x, int64_t n, int64_t pos0, float* out);
    void feed_forward(int64_t layer, const float* x, int64_t n, float* out);
    // The prefix cache's part of append: takes the cached blocks for the first
    // tokens of an append and returns how many tokens they hold, and records the
    // full blocks an append of n_computed tokens completed.
    int64_t reuse_cached_prefix(const int32_t* tokens, int64_t n);
    void cache_full_blocks(int64_t n_computed);

    std::shared_ptr<const Model> model_;
    Backend& be_;
    int64_t n_ctx_, n_batch_;
    std::vector<int32_t> tokens_;
    bool has_logits_ = false;
    std::vector<float> logits_;
    std::vector<float*> buffers_;  // every backend buffer below, for freeing
    float *x_, *h_, *tmp_, *q_, *cq_, *kv_, *attn_, *logits_dev_;
    BlockTable cache_;  // the latent cache: blocks of the model's pool, in token order
};

}  // namespace mola
