// model.cpp: the DeepSeek forward pass, written once over the backend's coarse
// operations (spec §3-§6). Names follow the paper: c_q, c_kv, k_pe, q_nope, q_pe.
#include "engine/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

namespace mola {

namespace {

constexpr double kPi = 3.14159265358979323846;

std::string cache_blocks(int64_t n) { return std::to_string(n) + (n == 1 ? " cache block" : " cache blocks"); }

// YaRN's correction dimension for a number of rotations (spec §4.1).
double correction_dim(double rotations, double d, double base, double max_pos) {
    return d * std::log(max_pos / (rotations * 2.0 * kPi)) / (2.0 * std::log(base));
}

}  // namespace

std::vector<float> yarn_rope_theta(const DeepSeekConfig& c) {
    const int64_t d = c.qk_rope_head_dim, half = d / 2;
    std::vector<float> theta(static_cast<size_t>(half));
    const YarnConfig& y = c.yarn;
    double low = 0, high = 0;
    if (y.enabled) {
        const double L0 = double(y.original_max_position_embeddings);
        low = correction_dim(y.beta_fast, double(d), c.rope_theta, L0);
        high = correction_dim(y.beta_slow, double(d), c.rope_theta, L0);
        if (y.truncate) {
            low = std::floor(low);
            high = std::ceil(high);
        }
        low = std::max(low, 0.0);
        high = std::min(high, double(d - 1));
        if (low == high) high += 0.001;
    }
    for (int64_t i = 0; i < half; ++i) {
        const double extrapolated = std::pow(c.rope_theta, -2.0 * double(i) / double(d));
        double value = extrapolated;
        if (y.enabled) {
            const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
            value = extrapolated / y.factor * ramp + extrapolated * (1.0 - ramp);
        }
        theta[size_t(i)] = float(value);
    }
    return theta;
}

uint64_t default_kv_budget() {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page_size <= 0) return uint64_t(1) << 30;
    return uint64_t(pages) * uint64_t(page_size) / 4;
}

Model::Model(const std::string& dir, const ModelOptions& options) : mla_mode_(options.mla_mode) {
    const int64_t block_tokens = options.kv_block_tokens ? options.kv_block_tokens : kDefaultBlockTokens;
    if (block_tokens < 1 || block_tokens > kMaxBlockTokens || (block_tokens & (block_tokens - 1)) != 0)
        fail(MOLA_ERR_INVALID_ARG, "kv_block_tokens " + std::to_string(options.kv_block_tokens) +
                                       " is not a power of two in [1, " + std::to_string(kMaxBlockTokens) +
                                       "] (0 = " + std::to_string(kDefaultBlockTokens) + ")");
    checkpoint_ = std::make_unique<Checkpoint>(dir, [&](float f) {
        return options.progress ? options.progress(0.9f * f) : true;
    });
    config_ = parse_deepseek_config(checkpoint_->config(), checkpoint_->config_path());
    kv_layout_ = make_kv_layout(options.kv_dtype, config_.num_hidden_layers, config_.kv_lora_rank,
                                config_.qk_rope_head_dim, block_tokens);
    const uint64_t budget = options.kv_budget_bytes ? options.kv_budget_bytes : default_kv_budget();
    if (budget < kv_layout_.block_bytes)
        fail(MOLA_ERR_INVALID_ARG, "kv_cache_budget_bytes " + std::to_string(budget) +
                                       " is less than one cache block: " + std::to_string(block_tokens) +
                                       " tokens of " + std::to_string(kv_layout_.bytes_per_token) + " bytes (" +
                                       kv_dtype_name(options.kv_dtype) + ") = " +
                                       std::to_string(kv_layout_.block_bytes) + " bytes");
    weights_ = bind_weights(config_, *checkpoint_);
    struct stat st;
    if (::stat((dir + "/tokenizer.json").c_str(), &st) == 0 || ::stat((dir + "/tokenizer.model").c_str(), &st) == 0)
        tokenizer_ = Tokenizer::load(dir);
    if (options.backend != "auto" && options.backend != "cpu")
        fail(MOLA_ERR_UNSUPPORTED, "backend \"" + options.backend + "\" is not available (auto, cpu)");
    backend_ = make_cpu_backend(options.n_threads);
    rope_theta_ = yarn_rope_theta(config_);
    softmax_scale_ = float(config_.softmax_scale());
    routing_.scoring = config_.scoring;
    routing_.method = config_.topk_method;
    routing_.n_experts = config_.n_routed_experts;
    routing_.top_k = config_.num_experts_per_tok;
    routing_.n_group = config_.n_group;
    routing_.topk_group = config_.topk_group;
    routing_.normalize = config_.norm_topk_prob;
    routing_.scaling = float(config_.routed_scaling_factor);
    {
        // FNV-1a 64 over config.json and the tensor table (sorted by name).
        uint64_t h = 1469598103934665603ull;
        auto mix = [&](const std::string& text) {
            for (unsigned char ch : text) h = (h ^ ch) * 1099511628211ull;
            h = (h ^ 0xff) * 1099511628211ull;
        };
        mix(checkpoint_->config().dump());
        for (const auto& [name, t] : checkpoint_->tensors()) {
            std::string row = name + ":" + dtype_name(t.dtype) + ":";
            for (int64_t d : t.shape) row += std::to_string(d) + ",";
            mix(row + ":" + std::to_string(t.nbytes));
        }
        char hex[17];
        std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
        fingerprint_ = hex;
    }
    pool_ = std::make_shared<BlockPool>(*backend_, kv_layout_, budget, options.prefix_cache);
    if (options.progress && !options.progress(1.0f)) fail(MOLA_ERR_CANCELLED, dir + ": loading was cancelled");
}

uint64_t Model::kv_bytes_per_token(KvDType dtype) const {
    return mola::kv_bytes_per_token(dtype, config_.num_hidden_layers, config_.kv_lora_rank, config_.qk_rope_head_dim);
}

uint64_t Model::weight_bytes_per_token() const {
    auto bytes = [](const Matrix& m) { return m.empty() ? 0 : uint64_t(m.rows * m.cols) * dtype_size(m.dtype); };
    auto mlp_bytes = [&](const MlpWeights& m) { return bytes(m.gate) + bytes(m.up) + bytes(m.down); };
    uint64_t total = uint64_t(config_.hidden_size) * dtype_size(weights_.embed.dtype) + bytes(weights_.lm_head);
    for (const LayerWeights& L : weights_.layers) {
        total += bytes(L.q_proj) + bytes(L.q_a) + bytes(L.q_b) + bytes(L.kv_a) + bytes(L.kv_b) + bytes(L.o);
        if (L.is_moe)
            total += bytes(L.moe.router) + mlp_bytes(L.moe.shared) +
                     uint64_t(config_.num_experts_per_tok) * mlp_bytes(L.moe.experts[0]);
        else
            total += mlp_bytes(L.dense);
    }
    return total;
}

Workspace::Workspace(Backend& backend, const DeepSeekConfig& c, int64_t rows, int64_t logit_rows) : be(backend) {
    auto buffer = [&](int64_t n_floats) {
        float* p = be.alloc(size_t(n_floats));
        buffers.push_back(p);
        return p;
    };
    try {
        const int64_t D = c.hidden_size, H = c.num_attention_heads;
        x = buffer(rows * D);
        h = buffer(rows * D);
        tmp = buffer(rows * D);
        q = buffer(rows * H * c.qk_head_dim());
        cq = buffer(rows * std::max<int64_t>(c.q_lora_rank, 1));
        kv = buffer(rows * c.latent_dim());
        attn = buffer(rows * H * c.v_head_dim);
        logits = buffer(logit_rows * c.vocab_size);
    } catch (...) {
        for (float* p : buffers) be.free(p);
        throw;
    }
}

Workspace::~Workspace() {
    for (float* p : buffers) be.free(p);
}

Session::Session(std::shared_ptr<const Model> model, int64_t n_ctx, int64_t n_batch)
    : model_(std::move(model)),
      be_(model_->backend()),
      n_ctx_(n_ctx),
      n_batch_(n_batch),
      ws_(be_, model_->config(), n_batch_, 1),
      cache_(model_->cache_pool()) {
    logits_.resize(size_t(model_->config().vocab_size));
    tokens_.reserve(size_t(n_ctx_));
}

Session::~Session() = default;

void Session::append(const int32_t* tokens, int64_t n, float* all_logits) {
    const DeepSeekConfig& c = model_->config();
    if (n <= 0) fail(MOLA_ERR_INVALID_ARG, "append needs at least one token");
    if (n > n_ctx_ - n_tokens() && !overflow_.slide)
        fail(MOLA_ERR_CONTEXT_FULL, "the session holds " + std::to_string(n_tokens()) + " of " +
                                        std::to_string(n_ctx_) + " tokens; " + std::to_string(n) + " more do not fit");
    for (int64_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
            fail(MOLA_ERR_INVALID_ARG, "token " + std::to_string(i) + " is " + std::to_string(tokens[i]) +
                                           ", outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    if (n > n_ctx_ - n_tokens()) slide(n);
    // A failed or cancelled append leaves the session as it was before it (after
    // the slide, which stays); the host logits are only overwritten at the end.
    const int64_t n_before = n_tokens();
    const bool had_logits = has_logits_;
    const int64_t reused = all_logits ? 0 : reuse_cached_prefix(tokens, n);
    try {
        try {
            cache_.prepare_write(n_tokens(), n_before + n);
        } catch (const Error& e) {
            if (e.status() != MOLA_ERR_CACHE_FULL) throw;
            fail(MOLA_ERR_CACHE_FULL, "cannot append " + std::to_string(n) + " token" + (n == 1 ? "" : "s") +
                                          " to a session of " + std::to_string(n_before) + " (" +
                                          cache_blocks(cache_.n_blocks()) + "): " + e.what());
        }
        has_logits_ = false;
        for (int64_t done = reused; done < n;) {
            const int64_t chunk = std::min(n_batch_, n - done);
            forward(tokens + done, chunk, all_logits ? all_logits + done * c.vocab_size : nullptr);
            tokens_.insert(tokens_.end(), tokens + done, tokens + done + chunk);
            done += chunk;
            if (n > 1 && prefill_progress_ && !prefill_progress_(done, n))
                fail(MOLA_ERR_CANCELLED, "the append of " + std::to_string(n) + " tokens was cancelled after " +
                                             std::to_string(done) + "; the session is as before it");
        }
    } catch (...) {
        tokens_.resize(size_t(n_before));
        cache_.truncate(n_before);
        has_logits_ = had_logits;
        throw;
    }
    be_.read_back(ws_.logits, logits_.data(), logits_.size());
    has_logits_ = true;
    cache_full_blocks(n - reused);
}

int64_t Session::reuse_cached_prefix(const int32_t* tokens, int64_t n) {
    BlockPool& pool = model_->cache_pool();
    const KvLayout& L = model_->kv_layout();
    const int64_t n0 = n_tokens(), first = n0 >> L.block_shift;
    // Whole blocks from a block boundary on, short of the last token: its logits
    // need its forward pass.
    const int64_t n_blocks = ((n0 + n - 1) >> L.block_shift) - first;
    // A slid session's rows are not what a prefill of its tokens gives: it neither
    // takes nor gives cached blocks.
    if (!pool.prefix_cache_enabled() || has_slid_ || (n0 & (L.block_tokens - 1)) != 0 || n_blocks <= 0) return 0;
    std::vector<int32_t> prefix(tokens_);
    prefix.insert(prefix.end(), tokens, tokens + (n_blocks << L.block_shift));
    std::vector<int32_t> ids;
    std::vector<uint8_t*> data;
    if (pool.share_cached(prefix.data(), first, n_blocks, ids, data) == 0) return 0;
    cache_.place(first, ids, data);
    const int64_t reused = int64_t(ids.size()) << L.block_shift;
    try {
        // The rest's blocks now, so that the append cannot fail after taking the
        // cached ones; without room, the plain path computes everything (evicting
        // the blocks just let go if it must) or reports the full cache.
        cache_.prepare_write(n0 + reused, n0 + n);
    } catch (const Error& e) {
        cache_.truncate(n0);
        if (e.status() != MOLA_ERR_CACHE_FULL) throw;
        return 0;
    } catch (...) {
        cache_.truncate(n0);
        throw;
    }
    tokens_.insert(tokens_.end(), tokens, tokens + reused);
    pool.count_reuse(reused);
    return reused;
}

void Session::cache_full_blocks(int64_t n_computed) {
    const KvLayout& L = model_->kv_layout();
    if (has_slid_ || (n_tokens() & (L.block_tokens - 1)) >= n_computed) return;  // no block completed
    model_->cache_pool().cache_blocks(tokens_.data(), cache_.ids().data(), n_tokens() >> L.block_shift);
}

void Session::reserve(int64_t n_more) {
    if (n_more <= 0) return;
    try {
        cache_.prepare_write(n_tokens(), n_tokens() + std::min(n_more, n_ctx_ - n_tokens()));
    } catch (const Error& e) {
        if (e.status() != MOLA_ERR_CACHE_FULL) throw;
        fail(MOLA_ERR_CACHE_FULL, "cannot make room for " + std::to_string(n_more) + " more token" +
                                      (n_more == 1 ? "" : "s") + " in a session of " + std::to_string(n_tokens()) +
                                      " (" + cache_blocks(cache_.n_blocks()) + "): " + e.what());
    }
}

void Session::rewind(int64_t n) {
    if (n < 0 || n > n_tokens())
        fail(MOLA_ERR_INVALID_ARG, "cannot rewind to " + std::to_string(n) + " tokens; the session holds " +
                                       std::to_string(n_tokens()));
    tokens_.resize(size_t(n));
    cache_.truncate(n);
    has_logits_ = false;
}

void Session::set_overflow(const OverflowPolicy& policy) {
    if (policy.n_keep < 0 || policy.n_keep >= n_ctx_)
        fail(MOLA_ERR_INVALID_ARG, "n_keep " + std::to_string(policy.n_keep) + " is outside [0, n_ctx " +
                                       std::to_string(n_ctx_) + "): the sliding policy needs room to slide");
    if (policy.n_discard < 0)
        fail(MOLA_ERR_INVALID_ARG, "n_discard " + std::to_string(policy.n_discard) + " is negative");
    overflow_ = policy;
}

void Session::slide(int64_t n_more) {
    const int64_t n = n_tokens(), need = n + n_more - n_ctx_;
    if (need <= 0) return;
    const int64_t keep = std::min(overflow_.n_keep, n);
    if (!overflow_.slide || n_more > n_ctx_ - keep)
        fail(MOLA_ERR_CONTEXT_FULL, "the session holds " + std::to_string(n) + " of " + std::to_string(n_ctx_) +
                                        " tokens; " + std::to_string(n_more) + " more do not fit" +
                                        (overflow_.slide ? " even after sliding out all but the " +
                                                               std::to_string(overflow_.n_keep) + " kept tokens"
                                                         : ""));
    const int64_t by_default = overflow_.n_discard > 0 ? overflow_.n_discard : std::max<int64_t>((n_ctx_ - keep) / 2, 1);
    const int64_t discard = std::min(std::max(need, by_default), n - keep);
    const int64_t moved = n - keep - discard;
    if (moved > 0) {
        try {
            cache_.prepare_write(keep, keep + moved);  // copy-on-write of shared blocks; no growth
        } catch (const Error& e) {
            if (e.status() != MOLA_ERR_CACHE_FULL) throw;
            fail(MOLA_ERR_CACHE_FULL, "cannot slide the context of a session of " + std::to_string(n) +
                                          " tokens: its shared blocks need copies: " + e.what());
        }
        be_.kv_shift(model_->kv_layout(), cache_.data(), keep + discard, keep, moved, model_->rope_theta().data());
        has_slid_ = true;
    }
    cache_.truncate(keep + moved);
    tokens_.erase(tokens_.begin() + keep, tokens_.begin() + keep + discard);
}

std::unique_ptr<Session> Session::fork() const {
    auto child = std::make_unique<Session>(model_, n_ctx_, n_batch_);
    child->cache_.share(cache_, n_tokens());
    child->tokens_ = tokens_;
    child->tokens_.reserve(size_t(n_ctx_));
    child->logits_ = logits_;
    child->has_logits_ = has_logits_;
    child->metadata_ = metadata_;
    child->overflow_ = overflow_;
    child->has_slid_ = has_slid_;
    return child;
}

void Session::set_metadata(std::string data) {
    if (data.size() > MOLA_SESSION_METADATA_MAX_BYTES)
        fail(MOLA_ERR_INVALID_ARG, "session metadata of " + std::to_string(data.size()) + " bytes exceeds the limit of " +
                                       std::to_string(MOLA_SESSION_METADATA_MAX_BYTES) + " bytes");
    metadata_ = std::move(data);
}

const float* Session::logits() const {
    if (!has_logits_) fail(MOLA_ERR_MISUSE, "no logits: append or decode a token first");
    return logits_.data();
}

void Session::forward(const int32_t* tokens, int64_t n, float* all_logits) {
    const int64_t D = model_->config().hidden_size, V = model_->config().vocab_size;
    const Rows rows{this, 0, n, n_tokens()};
    forward_rows(*model_, ws_, tokens, n, &rows, 1);
    if (all_logits) {
        // The caller's buffer is host memory; go through the device buffer row by row.
        for (int64_t i = 0; i < n; ++i) {
            logits_of_rows(*model_, ws_, ws_.x + i * D, 1, ws_.logits);
            be_.read_back(ws_.logits, all_logits + i * V, size_t(V));
        }
    } else {
        logits_of_rows(*model_, ws_, ws_.x + (n - 1) * D, 1, ws_.logits);
    }
}

void Session::logits_of_rows(const Model& model, Workspace& ws, const float* x, int64_t n, float* out) {
    const DeepSeekConfig& c = model.config();
    const ModelWeights& w = model.weights();
    ws.be.rms_norm(x, c.hidden_size, w.final_norm.data(), n, c.hidden_size, float(c.rms_norm_eps), ws.h,
                   c.hidden_size);
    ws.be.linear(w.lm_head, ws.h, n, out);
}

void Session::forward_rows(const Model& model, Workspace& ws, const int32_t* tokens, int64_t n, const Rows* spans,
                           int64_t n_spans) {
    const DeepSeekConfig& c = model.config();
    const ModelWeights& w = model.weights();
    Backend& be = ws.be;
    const int64_t D = c.hidden_size, H = c.num_attention_heads, d_kv = c.latent_dim();
    const float eps = float(c.rms_norm_eps);

    be.embed(w.embed, tokens, n, ws.x);
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        const LayerWeights& L = w.layers[size_t(l)];
        be.rms_norm(ws.x, D, L.attn_norm.data(), n, D, eps, ws.h, D);

        // Queries: q = W_qb RMSNorm(W_qa x), or q = W_q x without q_lora; per head [q_nope | q_pe].
        if (c.q_lora_rank > 0) {
            be.linear(L.q_a, ws.h, n, ws.cq);
            be.rms_norm(ws.cq, c.q_lora_rank, L.q_a_norm.data(), n, c.q_lora_rank, eps, ws.cq, c.q_lora_rank);
            be.linear(L.q_b, ws.cq, n, ws.q);
        } else {
            be.linear(L.q_proj, ws.h, n, ws.q);
        }
        // Keys and values: [c_kv | k_pe] = W_kva x; the cache keeps RMSNorm(c_kv) and
        // RoPE(k_pe) (k_pe is not normalized), in the cache's dtype.
        be.linear(L.kv_a, ws.h, n, ws.kv);
        be.rms_norm(ws.kv, d_kv, L.kv_a_norm.data(), n, c.kv_lora_rank, eps, ws.kv, d_kv);
        for (int64_t s = 0; s < n_spans; ++s) {
            const Rows& r = spans[s];
            r.session->attend(l, ws.q + r.row0 * H * c.qk_head_dim(), ws.kv + r.row0 * d_kv, r.n, r.pos0,
                              ws.attn + r.row0 * H * c.v_head_dim);
        }
        be.linear(L.o, ws.attn, n, ws.tmp);
        be.add(ws.x, ws.tmp, n * D);

        be.rms_norm(ws.x, D, L.ffn_norm.data(), n, D, eps, ws.h, D);
        if (L.is_moe)
            be.moe(L.moe, model.routing(), ws.h, n, ws.tmp);
        else
            be.mlp(L.dense, ws.h, n, ws.tmp);
        be.add(ws.x, ws.tmp, n * D);
    }
}

void Session::attend(int64_t layer, float* q, float* kv, int64_t n, int64_t pos0, float* out) {
    const DeepSeekConfig& c = model_->config();
    const LayerWeights& L = model_->weights().layers[size_t(layer)];
    const int64_t H = c.num_attention_heads, d_n = c.qk_nope_head_dim, d_r = c.qk_rope_head_dim;
    const int64_t d_qk = c.qk_head_dim(), d_c = c.kv_lora_rank, d_kv = c.latent_dim();
    const float attention_factor = float(c.yarn.attention_factor);

    be_.rope(q, n, H * d_qk, H, d_qk, d_n, d_r, pos0, model_->rope_theta().data(), attention_factor);
    be_.rope(kv, n, d_kv, 1, d_kv, d_c, d_r, pos0, model_->rope_theta().data(), attention_factor);
    KvCacheView cache;
    cache.layout = &model_->kv_layout();
    cache.blocks = cache_.data();
    cache.layer = layer;
    be_.kv_write(cache, pos0, n, kv, d_kv);

    MlaAttention a;
    a.q = q;
    a.cache = cache;
    a.kv_b = L.kv_b;
    a.n = n;
    a.pos0 = pos0;
    a.n_heads = H;
    a.d_nope = d_n;
    a.d_rope = d_r;
    a.d_v = c.v_head_dim;
    a.d_c = d_c;
    a.scale = model_->softmax_scale();
    a.out = out;
    switch (model_->mla_mode()) {
        case MlaMode::Absorbed: a.form = MlaForm::Absorbed; break;
        case MlaMode::Naive: a.form = MlaForm::Naive; break;
        case MlaMode::Auto: {
            // Choose the form that costs less time (spec §3.6 trade-off): multiply-adds,
            // with the absorbed form's counted at half, since its kernel runs them as
            // tiled matrix products over the cache at about twice the naive form's rate
            // (a 2,048-token prefill of the V2-Lite-shaped bench model: 10.3 s absorbed,
            // 13.0 s naive; 8,192 tokens of the bundled model: 3.7 s against 9.3 s).
            const double T = double(pos0 + n), N = double(n), dv = double(a.d_v);
            const double naive = T * double(d_n + a.d_v) * double(d_c) + N * T * double(d_qk + a.d_v);
            const double absorbed = N * (double(d_n) + dv) * double(d_c) + N * T * double(2 * d_c + d_r);
            a.form = naive < 0.5 * absorbed ? MlaForm::Naive : MlaForm::Absorbed;
        }
    }
    be_.mla_attention(a);
}

}  // namespace mola
