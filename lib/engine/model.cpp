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

Session::Session(std::shared_ptr<const Model> model, int64_t n_ctx, int64_t n_batch)
    : model_(std::move(model)),
      be_(model_->backend()),
      n_ctx_(n_ctx),
      n_batch_(n_batch),
      cache_(model_->cache_pool()) {
    const DeepSeekConfig& c = model_->config();
    auto buffer = [&](int64_t n_floats) {
        float* p = be_.alloc(size_t(n_floats));
        buffers_.push_back(p);
        return p;
    };
    try {
        const int64_t D = c.hidden_size, H = c.num_attention_heads;
        x_ = buffer(n_batch_ * D);
        h_ = buffer(n_batch_ * D);
        tmp_ = buffer(n_batch_ * D);
        q_ = buffer(n_batch_ * H * c.qk_head_dim());
        cq_ = buffer(n_batch_ * std::max<int64_t>(c.q_lora_rank, 1));
        kv_ = buffer(n_batch_ * c.latent_dim());
        attn_ = buffer(n_batch_ * H * c.v_head_dim);
        logits_dev_ = buffer(c.vocab_size);
        logits_.resize(size_t(c.vocab_size));
        tokens_.reserve(size_t(n_ctx_));
    } catch (...) {
        for (float* p : buffers_) be_.free(p);
        throw;
    }
}

Session::~Session() {
    for (float* p : buffers_) be_.free(p);
}

void Session::append(const int32_t* tokens, int64_t n, float* all_logits) {
    const DeepSeekConfig& c = model_->config();
    if (n <= 0) fail(MOLA_ERR_INVALID_ARG, "append needs at least one token");
    if (n > n_ctx_ - n_tokens())
        fail(MOLA_ERR_CONTEXT_FULL, "the session holds " + std::to_string(n_tokens()) + " of " +
                                        std::to_string(n_ctx_) + " tokens; " + std::to_string(n) + " more do not fit");
    for (int64_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
            fail(MOLA_ERR_INVALID_ARG, "token " + std::to_string(i) + " is " + std::to_string(tokens[i]) +
                                           ", outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    const int64_t reused = all_logits ? 0 : reuse_cached_prefix(tokens, n);
    tokens += reused;
    n -= reused;
    try {
        cache_.prepare_write(n_tokens(), n_tokens() + n);
    } catch (const Error& e) {
        if (e.status() != MOLA_ERR_CACHE_FULL) throw;
        fail(MOLA_ERR_CACHE_FULL, "cannot append " + std::to_string(n) + " token" + (n == 1 ? "" : "s") +
                                      " to a session of " + std::to_string(n_tokens()) + " (" +
                                      cache_blocks(cache_.n_blocks()) + "): " + e.what());
    }
    has_logits_ = false;
    try {
        for (int64_t done = 0; done < n;) {
            const int64_t chunk = std::min(n_batch_, n - done);
            forward(tokens + done, chunk, all_logits ? all_logits + done * c.vocab_size : nullptr);
            tokens_.insert(tokens_.end(), tokens + done, tokens + done + chunk);
            done += chunk;
        }
    } catch (...) {
        cache_.truncate(n_tokens());
        throw;
    }
    be_.read_back(logits_dev_, logits_.data(), logits_.size());
    has_logits_ = true;
    cache_full_blocks(n);
}

int64_t Session::reuse_cached_prefix(const int32_t* tokens, int64_t n) {
    BlockPool& pool = model_->cache_pool();
    const KvLayout& L = model_->kv_layout();
    const int64_t n0 = n_tokens(), first = n0 >> L.block_shift;
    // Whole blocks from a block boundary on, short of the last token: its logits
    // need its forward pass.
    const int64_t n_blocks = ((n0 + n - 1) >> L.block_shift) - first;
    if (!pool.prefix_cache_enabled() || (n0 & (L.block_tokens - 1)) != 0 || n_blocks <= 0) return 0;
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
    if ((n_tokens() & (L.block_tokens - 1)) >= n_computed) return;  // no block completed
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

std::unique_ptr<Session> Session::fork() const {
    auto child = std::make_unique<Session>(model_, n_ctx_, n_batch_);
    child->cache_.share(cache_, n_tokens());
    child->tokens_ = tokens_;
    child->tokens_.reserve(size_t(n_ctx_));
    child->logits_ = logits_;
    child->has_logits_ = has_logits_;
    return child;
}

const float* Session::logits() const {
    if (!has_logits_) fail(MOLA_ERR_MISUSE, "no logits: append or decode a token first");
    return logits_.data();
}

void Session::forward(const int32_t* tokens, int64_t n, float* all_logits) {
    const DeepSeekConfig& c = model_->config();
    const ModelWeights& w = model_->weights();
    const int64_t D = c.hidden_size, pos0 = n_tokens();
    const float eps = float(c.rms_norm_eps);

    be_.embed(w.embed, tokens, n, x_);
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        const LayerWeights& L = w.layers[size_t(l)];
        be_.rms_norm(x_, D, L.attn_norm.data(), n, D, eps, h_, D);
        attention(l, h_, n, pos0, tmp_);
        be_.add(x_, tmp_, n * D);
        be_.rms_norm(x_, D, L.ffn_norm.data(), n, D, eps, h_, D);
        feed_forward(l, h_, n, tmp_);
        be_.add(x_, tmp_, n * D);
    }
    if (all_logits) {
        be_.rms_norm(x_, D, w.final_norm.data(), n, D, eps, h_, D);
        // The caller's buffer is host memory; go through the device buffer row by row.
        for (int64_t i = 0; i < n; ++i) {
            be_.linear(w.lm_head, h_ + i * D, 1, logits_dev_);
            be_.read_back(logits_dev_, all_logits + i * c.vocab_size, size_t(c.vocab_size));
        }
    } else {
        be_.rms_norm(x_ + (n - 1) * D, D, w.final_norm.data(), 1, D, eps, h_, D);
        be_.linear(w.lm_head, h_, 1, logits_dev_);
    }
}

void Session::attention(int64_t layer, const float* x, int64_t n, int64_t pos0, float* out) {
    const DeepSeekConfig& c = model_->config();
    const LayerWeights& L = model_->weights().layers[size_t(layer)];
    const int64_t H = c.num_attention_heads, d_n = c.qk_nope_head_dim, d_r = c.qk_rope_head_dim;
    const int64_t d_qk = c.qk_head_dim(), d_c = c.kv_lora_rank;
    const float eps = float(c.rms_norm_eps), attention_factor = float(c.yarn.attention_factor);

    // Queries: q = W_qb RMSNorm(W_qa x), or q = W_q x without q_lora; per head [q_nope | q_pe].
    if (c.q_lora_rank > 0) {
        be_.linear(L.q_a, x, n, cq_);
        be_.rms_norm(cq_, c.q_lora_rank, L.q_a_norm.data(), n, c.q_lora_rank, eps, cq_, c.q_lora_rank);
        be_.linear(L.q_b, cq_, n, q_);
    } else {
        be_.linear(L.q_proj, x, n, q_);
    }
    be_.rope(q_, n, H * d_qk, H, d_qk, d_n, d_r, pos0, model_->rope_theta().data(), attention_factor);

    // Keys and values: [c_kv | k_pe] = W_kva x; the cache keeps RMSNorm(c_kv) and
    // RoPE(k_pe) (k_pe is not normalized), in the cache's dtype.
    const int64_t d_kv = c.latent_dim();
    be_.linear(L.kv_a, x, n, kv_);
    be_.rms_norm(kv_, d_kv, L.kv_a_norm.data(), n, d_c, eps, kv_, d_kv);
    be_.rope(kv_, n, d_kv, 1, d_kv, d_c, d_r, pos0, model_->rope_theta().data(), attention_factor);
    KvCacheView cache;
    cache.layout = &model_->kv_layout();
    cache.blocks = cache_.data();
    cache.layer = layer;
    be_.kv_write(cache, pos0, n, kv_, d_kv);

    MlaAttention a;
    a.q = q_;
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
    a.out = attn_;
    switch (model_->mla_mode()) {
        case MlaMode::Absorbed: a.form = MlaForm::Absorbed; break;
        case MlaMode::Naive: a.form = MlaForm::Naive; break;
        case MlaMode::Auto: {
            // Choose the form with fewer multiply-adds (spec §3.6 trade-off).
            const double T = double(pos0 + n), N = double(n), dv = double(a.d_v);
            const double naive = T * double(d_n + a.d_v) * double(d_c) + N * T * double(d_qk + a.d_v);
            const double absorbed = N * (double(d_n) + dv) * double(d_c) + N * T * double(2 * d_c + d_r);
            a.form = naive < absorbed ? MlaForm::Naive : MlaForm::Absorbed;
        }
    }
    be_.mla_attention(a);
    be_.linear(L.o, attn_, n, out);
}

void Session::feed_forward(int64_t layer, const float* x, int64_t n, float* out) {
    const LayerWeights& L = model_->weights().layers[size_t(layer)];
    if (L.is_moe)
        be_.moe(L.moe, model_->routing(), x, n, out);
    else
        be_.mlp(L.dense, x, n, out);
}

}  // namespace mola
