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
class Sampler;
class Batch;
// Saved sessions (session_file/session_file.h). A sampler given to save_session
// is stored with the session (its parameters and where its random sequence
// stands); load_session restores it into *sampler when the file has one and
// sampler is not null (null otherwise).
void save_session(const Session& session, const std::string& path, const Sampler* sampler = nullptr);
std::unique_ptr<Session> load_session(std::shared_ptr<const Model> model, const std::string& path, int64_t n_ctx,
                                      int64_t n_batch, std::unique_ptr<Sampler>* sampler = nullptr);

// The activation buffers of forward passes over up to `rows` token rows, in
// backend memory, with room for the logits of `logit_rows` rows.
struct Workspace {
    Workspace(Backend& backend, const DeepSeekConfig& config, int64_t rows, int64_t logit_rows);
    ~Workspace();
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;

    Backend& be;
    std::vector<float*> buffers;  // every buffer below, for freeing
    float *x, *h, *tmp, *q, *cq, *kv, *attn, *logits;
};

// What an append that would pass a session's n_ctx does (mola_overflow_policy).
struct OverflowPolicy {
    bool slide = false;     // false: fail with MOLA_ERR_CONTEXT_FULL
    int64_t n_keep = 0;     // tokens at the start that never slide out
    int64_t n_discard = 0;  // tokens dropped per slide at least; 0 = half of n_ctx - n_keep
};

// Prefill progress: tokens of the append done so far and in all; false cancels.
using PrefillProgress = std::function<bool(int64_t done, int64_t total)>;

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
    // An append that would pass n_ctx fails (the default) or first slides the
    // context (see slide). Checked here: n_keep < n_ctx, n_discard >= 0.
    void set_overflow(const OverflowPolicy& policy);
    const OverflowPolicy& overflow() const { return overflow_; }
    // Called after every n_batch chunk of an append of two or more tokens; false
    // cancels it (MOLA_ERR_CANCELLED, the session as before the append).
    void set_prefill_progress(PrefillProgress progress) { prefill_progress_ = std::move(progress); }
    const PrefillProgress& prefill_progress() const { return prefill_progress_; }
    // Makes room for n_more tokens under the sliding policy: drops the tokens
    // [n_keep, n_keep + d), d = max(n_discard, what n_more needs), moves the later
    // ones down (their cache rows re-rotated to the new positions) and gives freed
    // blocks back. MOLA_ERR_CONTEXT_FULL if n_more exceeds n_ctx - n_keep; a no-op
    // when n_more already fits. Logits stay as they are.
    void slide(int64_t n_more);
    // True once a slide moved cache rows: the cache is then no longer the one a
    // fresh prefill of tokens() would give (deeper layers saw the dropped tokens).
    bool has_slid() const { return has_slid_; }
    const float* logits() const;  // throws MISUSE when none are available
    int64_t n_tokens() const { return int64_t(tokens_.size()); }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_batch() const { return n_batch_; }
    int64_t n_cache_blocks() const { return cache_.n_blocks(); }
    const std::vector<int32_t>& tokens() const { return tokens_; }
    const Model& model() const { return *model_; }
    // Application bytes kept with the session: saved and loaded with it, copied by
    // fork(). MOLA_ERR_INVALID_ARG past MOLA_SESSION_METADATA_MAX_BYTES.
    void set_metadata(std::string data);
    const std::string& metadata() const { return metadata_; }

private:
    // Saved sessions (session_file/session_file.h) read and restore the state.
    friend void save_session(const Session& session, const std::string& path, const Sampler* sampler);
    friend std::unique_ptr<Session> load_session(std::shared_ptr<const Model> model, const std::string& path,
                                                 int64_t n_ctx, int64_t n_batch, std::unique_ptr<Sampler>* sampler);
    // Batched decoding (batch.h) runs the sessions' rows through one forward pass.
    friend class Batch;
    // The token rows of one session in a forward pass: rows [row0, row0 + n) of the
    // workspace are its tokens at positions pos0...
    struct Rows {
        Session* session;
        int64_t row0, n, pos0;
    };
    // One forward pass over n token rows (the spans of several sessions, or of this
    // one): every row-wise step runs over all rows at once, attention per span over
    // its session's cache. Leaves the final hidden states in ws.x.
    static void forward_rows(const Model& model, Workspace& ws, const int32_t* tokens, int64_t n,
                             const Rows* spans, int64_t n_spans);
    // The logits of n rows of hidden states (final norm, then lm_head), into out.
    static void logits_of_rows(const Model& model, Workspace& ws, const float* x, int64_t n, float* out);
    // One forward pass over n <= n_batch tokens at positions n_tokens()...
    void forward(const int32_t* tokens, int64_t n, float* all_logits);
    // This session's part of attention in layer `layer` for n rows at positions
    // pos0..: RoPE of q and kv, the cache write, MLA over the session's blocks.
    void attend(int64_t layer, float* q, float* kv, int64_t n, int64_t pos0, float* out);
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
    Workspace ws_;
    BlockTable cache_;  // the latent cache: blocks of the model's pool, in token order
    std::string metadata_;
    OverflowPolicy overflow_;
    PrefillProgress prefill_progress_;
    bool has_slid_ = false;
};

}  // namespace mola
