// capi.cpp: the only extern "C" code: argument checks, exception-to-status
// translation and the per-thread error message of the C ABI in mola.h.
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "common/error.h"
#include "engine/batch.h"
#include "engine/model.h"
#include "session_file/session_file.h"
#include "generate/generate.h"
#include "mola/mola.h"
#include "sampling/sampler.h"
#include "tokenizer/chat.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"

struct mola_model {
    std::shared_ptr<const mola::Model> model;
    std::string architecture, variant, dtypes, backend;
};

struct mola_session {
    std::unique_ptr<mola::Session> session;
    std::atomic<bool> cancel{false};  // set by mola_session_cancel from any thread
    mola_prefill_progress_fn prefill_progress = nullptr;
    void* prefill_progress_user_data = nullptr;
};

struct mola_batch {
    std::unique_ptr<mola::Batch> batch;
    std::vector<mola::Session*> sessions;  // the engine's sessions of the current step
};

struct mola_sampler {
    std::unique_ptr<mola::Sampler> sampler;
};

struct mola_tokenizer {
    std::shared_ptr<const mola::Tokenizer> tokenizer;
};

struct mola_detokenizer {
    std::shared_ptr<const mola::Tokenizer> tokenizer;  // keeps the decoder's tokenizer alive
    mola::StreamDecoder decoder;
};

namespace {

thread_local std::string g_last_error;

mola_status set_error(mola_status status, const std::string& message) {
    g_last_error = message;
    return status;
}

// Runs body, turning every exception into a status; clears the message on success.
template <typename F>
mola_status guarded(F&& body) {
    try {
        body();
        g_last_error.clear();
        return MOLA_OK;
    } catch (const mola::Error& e) {
        return set_error(e.status(), e.what());
    } catch (const std::bad_alloc&) {
        return set_error(MOLA_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return set_error(MOLA_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return set_error(MOLA_ERR_INTERNAL, "internal error: unknown exception");
    }
}

void require(bool ok, const char* message) {
    if (!ok) mola::fail(MOLA_ERR_INVALID_ARG, message);
}

// Copies the caller's struct over the defaults, no more than both sides know.
template <typename T>
T read_params(const T* given, void (*defaults)(T*), const char* what) {
    T params;
    defaults(&params);
    if (given) {
        if (given->struct_size < sizeof(uint32_t) || given->struct_size > 4096)
            mola::fail(MOLA_ERR_INVALID_ARG, std::string(what) + ": struct_size " +
                                                 std::to_string(given->struct_size) +
                                                 " is not a size; call the *_default() function first");
        std::memcpy(&params, given, std::min<size_t>(given->struct_size, sizeof(T)));
        params.struct_size = sizeof(T);
    }
    return params;
}

// Gives the handle's session its prefill progress: mola_session_cancel first, then
// the caller's callback (copied into the handle).
void attach_prefill_progress(mola_session* handle, mola_prefill_progress_fn fn, void* user_data) {
    handle->prefill_progress = fn;
    handle->prefill_progress_user_data = user_data;
    handle->session->set_prefill_progress([handle](int64_t done, int64_t total) {
        if (handle->cancel.exchange(false)) return false;
        return !handle->prefill_progress ||
               handle->prefill_progress(handle->prefill_progress_user_data, size_t(done), size_t(total)) == 0;
    });
}

// The params' overflow policy, checked against the session's n_ctx.
void apply_overflow(mola::Session& session, const mola_session_params& p, const std::string& what) {
    if (p.overflow != MOLA_OVERFLOW_ERROR && p.overflow != MOLA_OVERFLOW_SLIDE)
        mola::fail(MOLA_ERR_INVALID_ARG, what + ": overflow " + std::to_string(p.overflow) +
                                             " is not a mola_overflow_policy (0 = ERROR, 1 = SLIDE)");
    mola::OverflowPolicy policy;
    policy.slide = p.overflow == MOLA_OVERFLOW_SLIDE;
    policy.n_keep = p.n_keep;
    policy.n_discard = p.n_discard;
    try {
        session.set_overflow(policy);
    } catch (const mola::Error& e) {
        mola::fail(e.status(), what + ": " + e.what());
    }
}

// Copies an output struct into the caller's, no more bytes than both sides know;
// struct_size then says how many were written.
template <typename T>
void write_struct(const T& full, T* out) {
    const uint32_t size = std::min<uint32_t>(out->struct_size, sizeof(full));
    std::memcpy(out, &full, size);
    out->struct_size = size;
}

// Copies text into the caller's buffer, NUL-terminated (the two-call idiom).
void write_text(const char* function, const std::string& text, char* out, size_t capacity, size_t* out_len) {
    *out_len = text.size();
    if (!out || capacity < text.size() + 1)
        mola::fail(MOLA_ERR_BUFFER_TOO_SMALL, std::string(function) + ": out holds " +
                                                  std::to_string(out ? capacity : 0) + " bytes, the text needs " +
                                                  std::to_string(text.size() + 1));
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
}

}  // namespace

extern "C" {

const char* mola_last_error(void) { return g_last_error.c_str(); }

const char* mola_status_string(mola_status status) {
    switch (status) {
        case MOLA_OK: return "MOLA_OK";
        case MOLA_ERR_INVALID_ARG: return "MOLA_ERR_INVALID_ARG";
        case MOLA_ERR_MISUSE: return "MOLA_ERR_MISUSE";
        case MOLA_ERR_OUT_OF_MEMORY: return "MOLA_ERR_OUT_OF_MEMORY";
        case MOLA_ERR_IO: return "MOLA_ERR_IO";
        case MOLA_ERR_BAD_FORMAT: return "MOLA_ERR_BAD_FORMAT";
        case MOLA_ERR_UNSUPPORTED: return "MOLA_ERR_UNSUPPORTED";
        case MOLA_ERR_BACKEND: return "MOLA_ERR_BACKEND";
        case MOLA_ERR_CANCELLED: return "MOLA_ERR_CANCELLED";
        case MOLA_ERR_CONTEXT_FULL: return "MOLA_ERR_CONTEXT_FULL";
        case MOLA_ERR_BUFFER_TOO_SMALL: return "MOLA_ERR_BUFFER_TOO_SMALL";
        case MOLA_ERR_INTERNAL: return "MOLA_ERR_INTERNAL";
        case MOLA_ERR_CACHE_FULL: return "MOLA_ERR_CACHE_FULL";
        default: return "MOLA_ERR_UNKNOWN";
    }
}

uint32_t mola_version(void) { return MOLA_VERSION_NUMBER; }

const char* mola_version_string(void) { return MOLA_VERSION_STRING; }

const char* mola_build_info(void) {
    static const std::string info = std::string("mola ") + MOLA_VERSION_STRING + " (git " + MOLA_GIT_HASH +
                                    "); backends: cpu; cpu kernels: " + mola::cpu::kernels().isa;
    return info.c_str();
}

void mola_model_params_default(mola_model_params* params) {
    if (!params) return;
    std::memset(params, 0, sizeof(*params));
    params->struct_size = sizeof(*params);
    params->n_threads = 0;
    params->mla_mode = MOLA_MLA_AUTO;
    params->backend = nullptr;
    params->kv_cache_dtype = MOLA_KV_BF16;
    params->kv_block_tokens = 0;
    params->kv_cache_budget_bytes = 0;
    params->prefix_cache = 1;
}

mola_status mola_model_load(const char* path, const mola_model_params* given, mola_model** out_model) {
    if (out_model) *out_model = nullptr;
    return guarded([&] {
        require(path != nullptr, "mola_model_load: path is NULL");
        require(out_model != nullptr, "mola_model_load: out_model is NULL");
        const mola_model_params p = read_params(given, mola_model_params_default, "mola_model_load");
        require(p.n_threads >= 0 && p.n_threads <= 4096, "mola_model_load: n_threads must be in [0, 4096]");
        require(p.mla_mode >= MOLA_MLA_AUTO && p.mla_mode <= MOLA_MLA_NAIVE,
                "mola_model_load: mla_mode is not a mola_mla_mode");
        mola::ModelOptions options;
        options.n_threads = p.n_threads;
        options.mla_mode = p.mla_mode == MOLA_MLA_ABSORBED ? mola::MlaMode::Absorbed
                           : p.mla_mode == MOLA_MLA_NAIVE  ? mola::MlaMode::Naive
                                                           : mola::MlaMode::Auto;
        options.backend = p.backend ? p.backend : "auto";
        switch (p.kv_cache_dtype) {
            case MOLA_KV_BF16: options.kv_dtype = mola::KvDType::BF16; break;
            case MOLA_KV_F32: options.kv_dtype = mola::KvDType::F32; break;
            case MOLA_KV_FP8_E4M3: options.kv_dtype = mola::KvDType::FP8_E4M3; break;
            default:
                mola::fail(MOLA_ERR_INVALID_ARG, "mola_model_load: kv_cache_dtype " + std::to_string(p.kv_cache_dtype) +
                                                     " is not a mola_kv_dtype (MOLA_KV_BF16, MOLA_KV_F32, "
                                                     "MOLA_KV_FP8_E4M3)");
        }
        options.kv_block_tokens = p.kv_block_tokens;
        options.kv_budget_bytes = p.kv_cache_budget_bytes;
        if (p.prefix_cache != 0 && p.prefix_cache != 1)
            mola::fail(MOLA_ERR_INVALID_ARG, "mola_model_load: prefix_cache " + std::to_string(p.prefix_cache) +
                                                 " is not 0 (off) or 1 (on)");
        options.prefix_cache = p.prefix_cache == 1;
        if (p.progress) {
            mola_progress_fn fn = p.progress;
            void* user = p.progress_user_data;
            options.progress = [fn, user](float f) { return fn(user, f) == 0; };
        }
        auto handle = std::make_unique<mola_model>();
        try {
            handle->model = std::make_shared<const mola::Model>(path, options);
        } catch (const mola::Error& e) {
            if (e.status() != MOLA_ERR_INVALID_ARG) throw;
            throw mola::Error(e.status(), std::string("mola_model_load: ") + e.what());
        }
        const mola::DeepSeekConfig& c = handle->model->config();
        handle->architecture = c.model_type;
        handle->variant = c.variant();
        handle->dtypes = handle->model->weights().dtypes;
        handle->backend = handle->model->backend().name();
        *out_model = handle.release();
    });
}

void mola_model_destroy(mola_model* model) { delete model; }

mola_status mola_model_get_info(const mola_model* model, mola_model_info* info) {
    return guarded([&] {
        require(model != nullptr, "mola_model_get_info: model is NULL");
        require(info != nullptr, "mola_model_get_info: info is NULL");
        require(info->struct_size >= sizeof(uint32_t) && info->struct_size <= 4096,
                "mola_model_get_info: set info->struct_size to sizeof(mola_model_info) first");
        const mola::DeepSeekConfig& c = model->model->config();
        const mola::ModelWeights& w = model->model->weights();
        mola_model_info full;
        std::memset(&full, 0, sizeof(full));
        full.struct_size = sizeof(full);
        full.architecture = model->architecture.c_str();
        full.variant = model->variant.c_str();
        full.weight_dtypes = model->dtypes.c_str();
        full.backend = model->backend.c_str();
        full.n_vocab = int32_t(c.vocab_size);
        full.n_embd = int32_t(c.hidden_size);
        full.n_layer = int32_t(c.num_hidden_layers);
        full.n_head = int32_t(c.num_attention_heads);
        full.n_ctx_train = int32_t(c.max_position_embeddings);
        full.n_routed_experts = int32_t(c.n_routed_experts);
        full.n_experts_per_token = int32_t(c.num_experts_per_tok);
        full.n_shared_experts = int32_t(c.n_shared_experts);
        full.kv_lora_rank = int32_t(c.kv_lora_rank);
        full.qk_rope_head_dim = int32_t(c.qk_rope_head_dim);
        full.n_mtp_layers = int32_t(w.n_mtp_layers);
        full.bos_token_id = int32_t(c.bos_token_id);
        full.eos_token_id = int32_t(c.eos_token_id);
        full.n_params = w.n_params;
        full.n_params_active = w.n_params_active;
        full.weight_bytes = w.weight_bytes;
        full.kv_bytes_per_token = model->model->kv_bytes_per_token();
        full.decode_bytes_per_token = model->model->weight_bytes_per_token();
        const mola::KvLayout& kv = model->model->kv_layout();
        full.kv_cache_dtype = mola::kv_dtype_name(kv.dtype);
        full.kv_cache_budget_bytes = model->model->cache_pool().budget_bytes();
        full.kv_bytes_per_token_f32 = model->model->kv_bytes_per_token(mola::KvDType::F32);
        full.kv_bytes_per_token_bf16 = model->model->kv_bytes_per_token(mola::KvDType::BF16);
        full.kv_bytes_per_token_fp8 = model->model->kv_bytes_per_token(mola::KvDType::FP8_E4M3);
        full.kv_block_bytes = kv.block_bytes;
        full.kv_block_tokens = int32_t(kv.block_tokens);
        full.kv_cache_blocks = int32_t(model->model->cache_pool().capacity());
        full.fingerprint = model->model->fingerprint().c_str();
        write_struct(full, info);
    });
}

mola_status mola_model_get_cache_usage(const mola_model* model, mola_cache_usage* out_usage) {
    return guarded([&] {
        require(model != nullptr, "mola_model_get_cache_usage: model is NULL");
        require(out_usage != nullptr, "mola_model_get_cache_usage: out_usage is NULL");
        require(out_usage->struct_size >= sizeof(uint32_t) && out_usage->struct_size <= 4096,
                "mola_model_get_cache_usage: set out_usage->struct_size to sizeof(mola_cache_usage) first");
        const mola::BlockPool::Usage u = model->model->cache_pool().usage();
        mola_cache_usage full;
        std::memset(&full, 0, sizeof(full));
        full.struct_size = sizeof(full);
        full.block_tokens = int32_t(u.block_tokens);
        full.block_bytes = u.block_bytes;
        full.blocks_total = uint64_t(u.blocks_total);
        full.blocks_used = uint64_t(u.blocks_used);
        full.blocks_free = uint64_t(u.blocks_total - u.blocks_used);
        full.bytes_budget = u.bytes_budget;
        full.bytes_used = u.bytes_used;
        full.bytes_allocated = u.bytes_allocated;
        full.prefix_cache = u.prefix_cache ? 1 : 0;
        full.blocks_cached = uint64_t(u.blocks_cached);
        full.prefix_hits = uint64_t(u.prefix_hits);
        full.prefix_tokens_reused = uint64_t(u.prefix_tokens_reused);
        full.blocks_evicted = uint64_t(u.blocks_evicted);
        write_struct(full, out_usage);
    });
}

mola_status mola_model_clear_prefix_cache(mola_model* model) {
    return guarded([&] {
        require(model != nullptr, "mola_model_clear_prefix_cache: model is NULL");
        model->model->cache_pool().clear_cache();
    });
}

void mola_session_params_default(mola_session_params* params) {
    if (!params) return;
    std::memset(params, 0, sizeof(*params));
    params->struct_size = sizeof(*params);
}

mola_status mola_session_create(mola_model* model, const mola_session_params* given, mola_session** out_session) {
    if (out_session) *out_session = nullptr;
    return guarded([&] {
        require(model != nullptr, "mola_session_create: model is NULL");
        require(out_session != nullptr, "mola_session_create: out_session is NULL");
        const mola_session_params p = read_params(given, mola_session_params_default, "mola_session_create");
        const int64_t n_ctx_train = model->model->config().max_position_embeddings;
        require(p.n_ctx >= 0 && p.n_batch >= 0, "mola_session_create: n_ctx and n_batch must be >= 0");
        if (p.n_ctx > n_ctx_train)
            mola::fail(MOLA_ERR_INVALID_ARG, "mola_session_create: n_ctx " + std::to_string(p.n_ctx) +
                                                 " exceeds the model's max_position_embeddings " +
                                                 std::to_string(n_ctx_train));
        const int64_t n_ctx = p.n_ctx > 0 ? p.n_ctx : std::min<int64_t>(4096, n_ctx_train);
        const int64_t n_batch = std::min<int64_t>(p.n_batch > 0 ? p.n_batch : 256, n_ctx);
        auto handle = std::make_unique<mola_session>();
        handle->session = std::make_unique<mola::Session>(model->model, n_ctx, n_batch);
        apply_overflow(*handle->session, p, "mola_session_create");
        attach_prefill_progress(handle.get(), p.prefill_progress, p.prefill_progress_user_data);
        *out_session = handle.release();
    });
}

void mola_session_destroy(mola_session* session) { delete session; }

mola_status mola_session_save(const mola_session* session, const char* path) {
    return mola_session_save_with_sampler(session, nullptr, path);
}

mola_status mola_session_save_with_sampler(const mola_session* session, const mola_sampler* sampler,
                                           const char* path) {
    return guarded([&] {
        require(session != nullptr && path != nullptr, "mola_session_save: NULL argument");
        mola::save_session(*session->session, path, sampler ? sampler->sampler.get() : nullptr);
    });
}

mola_status mola_session_load(mola_model* model, const char* path, const mola_session_params* given,
                              mola_session** out_session) {
    return mola_session_load_with_sampler(model, path, given, out_session, nullptr);
}

mola_status mola_session_load_with_sampler(mola_model* model, const char* path, const mola_session_params* given,
                                           mola_session** out_session, mola_sampler** out_sampler) {
    if (out_session) *out_session = nullptr;
    if (out_sampler) *out_sampler = nullptr;
    return guarded([&] {
        require(model != nullptr && path != nullptr && out_session != nullptr, "mola_session_load: NULL argument");
        const mola_session_params p = read_params(given, mola_session_params_default, "mola_session_load");
        require(p.n_ctx >= 0 && p.n_batch >= 0, "mola_session_load: n_ctx and n_batch must be >= 0");
        auto handle = std::make_unique<mola_session>();
        auto sampler = std::make_unique<mola_sampler>();
        handle->session = mola::load_session(model->model, path, p.n_ctx, p.n_batch > 0 ? p.n_batch : 256,
                                             out_sampler ? &sampler->sampler : nullptr);
        apply_overflow(*handle->session, p, "mola_session_load");
        attach_prefill_progress(handle.get(), p.prefill_progress, p.prefill_progress_user_data);
        *out_session = handle.release();
        if (out_sampler && sampler->sampler) *out_sampler = sampler.release();
    });
}

mola_status mola_session_append(mola_session* session, const int32_t* tokens, size_t n_tokens) {
    return guarded([&] {
        require(session != nullptr, "mola_session_append: session is NULL");
        require(tokens != nullptr || n_tokens == 0, "mola_session_append: tokens is NULL");
        session->session->append(tokens, int64_t(n_tokens), nullptr);
    });
}

mola_status mola_session_append_all_logits(mola_session* session, const int32_t* tokens, size_t n_tokens,
                                           float* out_logits, size_t capacity) {
    return guarded([&] {
        require(session != nullptr, "mola_session_append_all_logits: session is NULL");
        require(tokens != nullptr || n_tokens == 0, "mola_session_append_all_logits: tokens is NULL");
        const size_t needed = n_tokens * size_t(session->session->model().config().vocab_size);
        if (!out_logits || capacity < needed)
            mola::fail(MOLA_ERR_BUFFER_TOO_SMALL, "mola_session_append_all_logits: out_logits holds " +
                                                      std::to_string(out_logits ? capacity : 0) + " floats, " +
                                                      std::to_string(needed) + " are needed");
        session->session->append(tokens, int64_t(n_tokens), out_logits);
    });
}

mola_status mola_session_decode(mola_session* session, int32_t token) {
    return guarded([&] {
        require(session != nullptr, "mola_session_decode: session is NULL");
        session->session->append(&token, 1, nullptr);
    });
}

mola_status mola_session_get_logits(mola_session* session, const float** out_logits, size_t* out_n_vocab) {
    if (out_logits) *out_logits = nullptr;
    return guarded([&] {
        require(session != nullptr, "mola_session_get_logits: session is NULL");
        require(out_logits != nullptr, "mola_session_get_logits: out_logits is NULL");
        *out_logits = session->session->logits();
        if (out_n_vocab) *out_n_vocab = size_t(session->session->model().config().vocab_size);
    });
}

mola_status mola_session_rewind(mola_session* session, size_t n_tokens) {
    return guarded([&] {
        require(session != nullptr, "mola_session_rewind: session is NULL");
        session->session->rewind(int64_t(std::min<size_t>(n_tokens, size_t(INT64_MAX))));
    });
}

mola_status mola_session_set_metadata(mola_session* session, const void* data, size_t len) {
    return guarded([&] {
        require(session != nullptr, "mola_session_set_metadata: session is NULL");
        require(data != nullptr || len == 0, "mola_session_set_metadata: data is NULL but len is not 0");
        session->session->set_metadata(len == 0 ? std::string() : std::string(static_cast<const char*>(data), len));
    });
}

mola_status mola_session_get_metadata(const mola_session* session, const void** out_data, size_t* out_len) {
    return guarded([&] {
        require(session != nullptr && out_data != nullptr && out_len != nullptr,
                "mola_session_get_metadata: NULL argument");
        const std::string& m = session->session->metadata();
        *out_data = m.data();
        *out_len = m.size();
    });
}

mola_status mola_session_fork(const mola_session* parent, mola_session** out_child) {
    if (out_child) *out_child = nullptr;
    return guarded([&] {
        require(parent != nullptr, "mola_session_fork: parent is NULL");
        require(out_child != nullptr, "mola_session_fork: out_child is NULL");
        auto handle = std::make_unique<mola_session>();
        handle->session = parent->session->fork();
        attach_prefill_progress(handle.get(), parent->prefill_progress, parent->prefill_progress_user_data);
        *out_child = handle.release();
    });
}

mola_status mola_session_get_n_tokens(const mola_session* session, size_t* out_n_tokens) {
    return guarded([&] {
        require(session != nullptr && out_n_tokens != nullptr, "mola_session_get_n_tokens: NULL argument");
        *out_n_tokens = size_t(session->session->n_tokens());
    });
}

mola_status mola_session_get_n_ctx(const mola_session* session, size_t* out_n_ctx) {
    return guarded([&] {
        require(session != nullptr && out_n_ctx != nullptr, "mola_session_get_n_ctx: NULL argument");
        *out_n_ctx = size_t(session->session->n_ctx());
    });
}

mola_status mola_session_get_n_cache_blocks(const mola_session* session, size_t* out_n_blocks) {
    return guarded([&] {
        require(session != nullptr && out_n_blocks != nullptr, "mola_session_get_n_cache_blocks: NULL argument");
        *out_n_blocks = size_t(session->session->n_cache_blocks());
    });
}

mola_status mola_session_get_tokens(const mola_session* session, int32_t* out, size_t capacity, size_t* out_n) {
    return guarded([&] {
        require(session != nullptr && out_n != nullptr, "mola_session_get_tokens: NULL argument");
        const std::vector<int32_t>& tokens = session->session->tokens();
        *out_n = tokens.size();
        // An empty session fits any buffer, NULL included (an empty std::vector's data()).
        if (tokens.empty()) return;
        if (!out || capacity < tokens.size())
            mola::fail(MOLA_ERR_BUFFER_TOO_SMALL, "mola_session_get_tokens: the buffer holds " +
                                                      std::to_string(out ? capacity : 0) + " tokens, the session has " +
                                                      std::to_string(tokens.size()));
        std::copy(tokens.begin(), tokens.end(), out);
    });
}


mola_status mola_batch_create(mola_model* model, size_t max_sessions, mola_batch** out_batch) {
    if (out_batch) *out_batch = nullptr;
    return guarded([&] {
        require(model != nullptr, "mola_batch_create: model is NULL");
        require(out_batch != nullptr, "mola_batch_create: out_batch is NULL");
        if (max_sessions < 1 || max_sessions > 4096)
            mola::fail(MOLA_ERR_INVALID_ARG, "mola_batch_create: max_sessions " + std::to_string(max_sessions) +
                                                 " is not in [1, 4096]");
        auto handle = std::make_unique<mola_batch>();
        handle->batch = std::make_unique<mola::Batch>(model->model, int64_t(max_sessions));
        handle->sessions.reserve(max_sessions);
        *out_batch = handle.release();
    });
}

void mola_batch_destroy(mola_batch* batch) { delete batch; }

mola_status mola_batch_decode(mola_batch* batch, mola_session* const* sessions, const int32_t* tokens, size_t n) {
    return guarded([&] {
        require(batch != nullptr, "mola_batch_decode: batch is NULL");
        require(n == 0 || (sessions != nullptr && tokens != nullptr), "mola_batch_decode: sessions or tokens is NULL");
        if (n > size_t(batch->batch->max_sessions()))
            mola::fail(MOLA_ERR_INVALID_ARG, "mola_batch_decode: " + std::to_string(n) +
                                                 " sessions given; the batch holds at most " +
                                                 std::to_string(batch->batch->max_sessions()));
        batch->sessions.clear();
        for (size_t i = 0; i < n; ++i)
            batch->sessions.push_back(sessions[i] ? sessions[i]->session.get() : nullptr);
        try {
            batch->batch->decode(batch->sessions.data(), tokens, int64_t(n));
        } catch (const mola::Error& e) {
            throw mola::Error(e.status(), std::string("mola_batch_decode: ") + e.what());
        }
    });
}


mola_status mola_tokenizer_load(const char* path, mola_tokenizer** out_tokenizer) {
    if (out_tokenizer) *out_tokenizer = nullptr;
    return guarded([&] {
        require(path != nullptr, "mola_tokenizer_load: path is NULL");
        require(out_tokenizer != nullptr, "mola_tokenizer_load: out_tokenizer is NULL");
        auto handle = std::make_unique<mola_tokenizer>();
        handle->tokenizer = mola::Tokenizer::load(path);
        *out_tokenizer = handle.release();
    });
}

mola_status mola_model_get_tokenizer(const mola_model* model, mola_tokenizer** out_tokenizer) {
    if (out_tokenizer) *out_tokenizer = nullptr;
    return guarded([&] {
        require(model != nullptr, "mola_model_get_tokenizer: model is NULL");
        require(out_tokenizer != nullptr, "mola_model_get_tokenizer: out_tokenizer is NULL");
        const auto& tokenizer = model->model->tokenizer();
        if (!tokenizer)
            mola::fail(MOLA_ERR_UNSUPPORTED, model->model->checkpoint().dir() +
                                                 ": the checkpoint has no tokenizer.json or tokenizer.model");
        *out_tokenizer = new mola_tokenizer{tokenizer};
    });
}

void mola_tokenizer_destroy(mola_tokenizer* tokenizer) { delete tokenizer; }

mola_status mola_tokenizer_encode(const mola_tokenizer* tokenizer, const char* text, size_t text_len, uint32_t flags,
                                  int32_t* out_ids, size_t capacity, size_t* out_n) {
    // A result the caller's buffer was too small for, kept on this thread until it
    // is delivered, so the size-query-then-fill idiom encodes once.
    thread_local struct {
        const mola::Tokenizer* tokenizer = nullptr;
        std::string text;
        uint32_t flags = 0;
        std::vector<int32_t> ids;
    } last;
    return guarded([&] {
        require(tokenizer != nullptr, "mola_tokenizer_encode: tokenizer is NULL");
        require(text != nullptr || text_len == 0, "mola_tokenizer_encode: text is NULL");
        require(out_n != nullptr, "mola_tokenizer_encode: out_n is NULL");
        require((flags & ~(MOLA_TOKENIZE_ADD_SPECIAL | MOLA_TOKENIZE_PARSE_SPECIAL)) == 0,
                "mola_tokenizer_encode: unknown flags");
        const std::string_view input(text ? text : "", text_len);
        if (last.tokenizer != tokenizer->tokenizer.get() || last.flags != flags || last.text != input) {
            last.tokenizer = nullptr;  // invalid until the encode below succeeds
            last.ids = tokenizer->tokenizer->encode(input, flags & MOLA_TOKENIZE_ADD_SPECIAL,
                                                    flags & MOLA_TOKENIZE_PARSE_SPECIAL);
            last.text.assign(input);
            last.flags = flags;
            last.tokenizer = tokenizer->tokenizer.get();
        }
        *out_n = last.ids.size();
        if (capacity < last.ids.size() || (!out_ids && !last.ids.empty()))
            mola::fail(MOLA_ERR_BUFFER_TOO_SMALL, "mola_tokenizer_encode: out_ids holds " +
                                                      std::to_string(out_ids ? capacity : 0) + " ids, the text has " +
                                                      std::to_string(last.ids.size()));
        std::copy(last.ids.begin(), last.ids.end(), out_ids);
        // Delivered: forget it, so a later identical call encodes afresh.
        last.tokenizer = nullptr;
        std::string().swap(last.text);
        std::vector<int32_t>().swap(last.ids);
    });
}

mola_status mola_tokenizer_decode(const mola_tokenizer* tokenizer, const int32_t* ids, size_t n_ids, uint32_t flags,
                                  char* out, size_t capacity, size_t* out_len) {
    return guarded([&] {
        require(tokenizer != nullptr, "mola_tokenizer_decode: tokenizer is NULL");
        require(ids != nullptr || n_ids == 0, "mola_tokenizer_decode: ids is NULL");
        require(out_len != nullptr, "mola_tokenizer_decode: out_len is NULL");
        require((flags & ~MOLA_DETOKENIZE_SKIP_SPECIAL) == 0, "mola_tokenizer_decode: unknown flags");
        const int32_t n_vocab = tokenizer->tokenizer->n_vocab();
        for (size_t i = 0; i < n_ids; ++i)
            if (ids[i] < 0 || ids[i] >= n_vocab)
                mola::fail(MOLA_ERR_INVALID_ARG, "mola_tokenizer_decode: ids[" + std::to_string(i) + "] is " +
                                                     std::to_string(ids[i]) + ", outside the vocabulary [0, " +
                                                     std::to_string(n_vocab) + ")");
        write_text("mola_tokenizer_decode", tokenizer->tokenizer->decode(ids, n_ids, flags & MOLA_DETOKENIZE_SKIP_SPECIAL),
                   out, capacity, out_len);
    });
}

mola_status mola_tokenizer_token_to_piece(const mola_tokenizer* tokenizer, int32_t id, const char** out_piece,
                                          size_t* out_len) {
    thread_local std::string piece;
    return guarded([&] {
        require(tokenizer != nullptr && out_piece != nullptr && out_len != nullptr,
                "mola_tokenizer_token_to_piece: NULL argument");
        require(id >= 0 && id < tokenizer->tokenizer->n_vocab(), "mola_tokenizer_token_to_piece: id outside the vocabulary");
        piece = tokenizer->tokenizer->token_to_piece(id);
        *out_piece = piece.c_str();
        *out_len = piece.size();
    });
}

mola_status mola_tokenizer_token_id(const mola_tokenizer* tokenizer, const char* text, int32_t* out_id) {
    return guarded([&] {
        require(tokenizer != nullptr && text != nullptr && out_id != nullptr, "mola_tokenizer_token_id: NULL argument");
        *out_id = tokenizer->tokenizer->token_id(text);
    });
}

mola_status mola_tokenizer_get_special_tokens(const mola_tokenizer* tokenizer, mola_special_tokens* out) {
    return guarded([&] {
        require(tokenizer != nullptr && out != nullptr, "mola_tokenizer_get_special_tokens: NULL argument");
        require(out->struct_size >= sizeof(uint32_t) && out->struct_size <= 4096,
                "mola_tokenizer_get_special_tokens: set out->struct_size to sizeof(mola_special_tokens) first");
        const mola::SpecialTokens& s = tokenizer->tokenizer->special();
        mola_special_tokens full;
        full.struct_size = sizeof(full);
        full.bos = s.bos;
        full.eos = s.eos;
        full.pad = s.pad;
        full.unk = s.unk;
        full.fim_begin = s.fim_begin;
        full.fim_hole = s.fim_hole;
        full.fim_end = s.fim_end;
        full.user = s.user;
        full.assistant = s.assistant;
        full.eot = s.eot;
        full.think_begin = s.think_begin;
        full.think_end = s.think_end;
        full.n_vocab = tokenizer->tokenizer->n_vocab();
        write_struct(full, out);
    });
}

mola_status mola_detokenizer_create(const mola_tokenizer* tokenizer, uint32_t flags,
                                    mola_detokenizer** out_detokenizer) {
    if (out_detokenizer) *out_detokenizer = nullptr;
    return guarded([&] {
        require(tokenizer != nullptr && out_detokenizer != nullptr, "mola_detokenizer_create: NULL argument");
        require((flags & ~MOLA_DETOKENIZE_SKIP_SPECIAL) == 0, "mola_detokenizer_create: unknown flags");
        *out_detokenizer = new mola_detokenizer{
            tokenizer->tokenizer, mola::StreamDecoder(*tokenizer->tokenizer, flags & MOLA_DETOKENIZE_SKIP_SPECIAL)};
    });
}

void mola_detokenizer_destroy(mola_detokenizer* detokenizer) { delete detokenizer; }

mola_status mola_detokenizer_push(mola_detokenizer* detokenizer, int32_t id, const char** out_text, size_t* out_len) {
    return guarded([&] {
        require(detokenizer != nullptr && out_text != nullptr && out_len != nullptr,
                "mola_detokenizer_push: NULL argument");
        require(id >= 0 && id < detokenizer->tokenizer->n_vocab(), "mola_detokenizer_push: id outside the vocabulary");
        const std::string& text = detokenizer->decoder.push(id);
        *out_text = text.c_str();
        *out_len = text.size();
    });
}

mola_status mola_detokenizer_flush(mola_detokenizer* detokenizer, const char** out_text, size_t* out_len) {
    return guarded([&] {
        require(detokenizer != nullptr && out_text != nullptr && out_len != nullptr,
                "mola_detokenizer_flush: NULL argument");
        const std::string& text = detokenizer->decoder.flush();
        *out_text = text.c_str();
        *out_len = text.size();
    });
}


mola_status mola_tokenizer_get_chat_format(const mola_tokenizer* tokenizer, const char** out_name) {
    return guarded([&] {
        require(tokenizer != nullptr && out_name != nullptr, "mola_tokenizer_get_chat_format: NULL argument");
        const mola::Tokenizer& t = *tokenizer->tokenizer;
        *out_name = mola::chat_format_name(mola::detect_chat_format(t.model_config(), t.config()));
    });
}

mola_status mola_tokenizer_apply_chat(const mola_tokenizer* tokenizer, const char* format,
                                      const mola_chat_message* messages, size_t n_messages, uint32_t flags, char* out,
                                      size_t capacity, size_t* out_len) {
    return guarded([&] {
        require(tokenizer != nullptr && out_len != nullptr, "mola_tokenizer_apply_chat: NULL argument");
        require(messages != nullptr || n_messages == 0, "mola_tokenizer_apply_chat: messages is NULL");
        require((flags & ~(MOLA_CHAT_ADD_GENERATION_PROMPT | MOLA_CHAT_THINKING)) == 0,
                "mola_tokenizer_apply_chat: unknown flags");
        const mola::Tokenizer& t = *tokenizer->tokenizer;
        std::vector<mola::ChatMessage> turns(n_messages);
        for (size_t i = 0; i < n_messages; ++i) {
            if (!messages[i].role || !messages[i].content)
                mola::fail(MOLA_ERR_INVALID_ARG, "mola_tokenizer_apply_chat: messages[" + std::to_string(i) +
                                                     "] has a NULL role or content");
            turns[i] = {messages[i].role, messages[i].content, messages[i].reasoning ? messages[i].reasoning : ""};
        }
        const mola::ChatFormat f =
            format ? mola::chat_format_from_name(format) : mola::detect_chat_format(t.model_config(), t.config());
        const std::string bos = t.special().bos >= 0 ? t.token_text(t.special().bos) : std::string();
        write_text("mola_tokenizer_apply_chat",
                   mola::apply_chat_format(f, turns, flags & MOLA_CHAT_ADD_GENERATION_PROMPT, flags & MOLA_CHAT_THINKING,
                                           bos),
                   out, capacity, out_len);
    });
}

mola_status mola_tokenizer_build_fim(const mola_tokenizer* tokenizer, int32_t layout, const char* prefix,
                                     const char* suffix, const char* path, const char* context, char* out,
                                     size_t capacity, size_t* out_len) {
    return guarded([&] {
        require(tokenizer != nullptr && out_len != nullptr, "mola_tokenizer_build_fim: NULL argument");
        require(prefix != nullptr && suffix != nullptr, "mola_tokenizer_build_fim: prefix or suffix is NULL");
        require(layout == MOLA_FIM_PSM || layout == MOLA_FIM_SPM, "mola_tokenizer_build_fim: layout is not a mola_fim_layout");
        const mola::Tokenizer& t = *tokenizer->tokenizer;
        const mola::SpecialTokens& s = t.special();
        auto text = [&](int32_t id) { return id >= 0 ? t.token_text(id) : std::string(); };
        mola::FimRequest request{prefix, suffix, path ? path : "", context ? context : ""};
        write_text("mola_tokenizer_build_fim",
                   mola::build_fim_prompt({text(s.fim_begin), text(s.fim_hole), text(s.fim_end)},
                                          layout == MOLA_FIM_SPM ? mola::FimLayout::SPM : mola::FimLayout::PSM, request,
                                          t.path()),
                   out, capacity, out_len);
    });
}

/* ---------------------------------------------------------------- sampling */

void mola_sampler_params_default(mola_sampler_params* params) {
    if (!params) return;
    std::memset(params, 0, sizeof(*params));
    params->struct_size = sizeof(*params);
    const mola::SamplerParams d;
    params->temperature = d.temperature;
    params->top_k = d.top_k;
    params->top_p = d.top_p;
    params->min_p = d.min_p;
    params->repeat_penalty = d.repeat_penalty;
    params->presence_penalty = d.presence_penalty;
    params->frequency_penalty = d.frequency_penalty;
    params->penalty_window = d.penalty_window;
    params->seed = d.seed;
}

}  // extern "C"

namespace {

mola::SamplerParams to_sampler_params(const mola_sampler_params* given, const char* function) {
    const mola_sampler_params p = read_params(given, mola_sampler_params_default, function);
    if (p.n_logit_bias > 0 && !p.logit_bias)
        mola::fail(MOLA_ERR_INVALID_ARG, std::string(function) + ": logit_bias is NULL but n_logit_bias is " +
                                             std::to_string(p.n_logit_bias));
    mola::SamplerParams s;
    s.temperature = p.temperature;
    s.top_k = p.top_k;
    s.top_p = p.top_p;
    s.min_p = p.min_p;
    s.repeat_penalty = p.repeat_penalty;
    s.presence_penalty = p.presence_penalty;
    s.frequency_penalty = p.frequency_penalty;
    s.penalty_window = p.penalty_window;
    s.seed = p.seed;
    for (size_t i = 0; i < p.n_logit_bias; ++i) s.logit_bias.emplace_back(p.logit_bias[i].token, p.logit_bias[i].bias);
    return s;
}

// Prefixes a sampler validation message with the function that was called.
template <typename F>
auto with_context(const char* function, F&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const mola::Error& e) {
        throw mola::Error(e.status(), std::string(function) + ": " + e.what());
    }
}

}  // namespace

extern "C" {

mola_status mola_sampler_create(const mola_sampler_params* params, int32_t n_vocab, mola_sampler** out_sampler) {
    if (out_sampler) *out_sampler = nullptr;
    return guarded([&] {
        require(out_sampler != nullptr, "mola_sampler_create: out_sampler is NULL");
        const mola::SamplerParams p = to_sampler_params(params, "mola_sampler_create");
        auto handle = std::make_unique<mola_sampler>();
        handle->sampler = with_context("mola_sampler_create",
                                       [&] { return std::make_unique<mola::Sampler>(p, n_vocab); });
        *out_sampler = handle.release();
    });
}

void mola_sampler_destroy(mola_sampler* sampler) { delete sampler; }

mola_status mola_sampler_sample(mola_sampler* sampler, mola_session* session, int32_t* out_token) {
    return guarded([&] {
        require(sampler != nullptr, "mola_sampler_sample: sampler is NULL");
        require(session != nullptr, "mola_sampler_sample: session is NULL");
        require(out_token != nullptr, "mola_sampler_sample: out_token is NULL");
        const mola::Session& s = *session->session;
        if (sampler->sampler->n_vocab() != s.model().config().vocab_size)
            mola::fail(MOLA_ERR_INVALID_ARG, "mola_sampler_sample: the sampler was made for " +
                                                 std::to_string(sampler->sampler->n_vocab()) +
                                                 " tokens, the session's model has " +
                                                 std::to_string(s.model().config().vocab_size));
        *out_token = sampler->sampler->sample(s.logits(), s.tokens().data(), s.tokens().size());
    });
}

mola_status mola_sampler_reset(mola_sampler* sampler, uint64_t seed) {
    return guarded([&] {
        require(sampler != nullptr, "mola_sampler_reset: sampler is NULL");
        sampler->sampler->reset(seed);
    });
}

/* ---------------------------------------------------------------- generation */

void mola_generate_params_default(mola_generate_params* params) {
    if (!params) return;
    std::memset(params, 0, sizeof(*params));
    params->struct_size = sizeof(*params);
    params->max_tokens = 256;
}

mola_status mola_session_generate(mola_session* session, const int32_t* prompt, size_t n_prompt,
                                  const mola_sampler_params* sampler, const mola_generate_params* given,
                                  mola_generate_result* result) {
    return guarded([&] {
        require(session != nullptr, "mola_session_generate: session is NULL");
        require(prompt != nullptr || n_prompt == 0, "mola_session_generate: prompt is NULL");
        require(result == nullptr || result->struct_size >= sizeof(uint32_t),
                "mola_session_generate: result->struct_size is not set");
        const mola::SamplerParams sp = to_sampler_params(sampler, "mola_session_generate");
        const mola_generate_params p = read_params(given, mola_generate_params_default, "mola_session_generate");
        require(p.stop != nullptr || p.n_stop == 0, "mola_session_generate: stop is NULL but n_stop is not 0");
        mola::GenerateOptions options;
        options.max_tokens = p.max_tokens;
        options.ignore_eos = p.ignore_eos != 0;
        for (size_t i = 0; i < p.n_stop; ++i) {
            if (!p.stop[i])
                mola::fail(MOLA_ERR_INVALID_ARG, "mola_session_generate: stop[" + std::to_string(i) + "] is NULL");
            options.stop.emplace_back(p.stop[i]);
        }
        if (p.stream)
            options.stream = [&p](std::string_view text, const int32_t* tokens, size_t n) {
                return p.stream(p.stream_user_data, text.data(), text.size(), tokens, n) == 0;
            };
        const mola::GenerateResult r = with_context("mola_session_generate", [&] {
            return mola::generate(*session->session, prompt, n_prompt, sp, options, session->cancel);
        });
        if (result) {
            mola_generate_result full{};
            full.struct_size = sizeof(full);
            full.finish_reason = int32_t(r.finish_reason);
            full.n_prompt_tokens = r.n_prompt_tokens;
            full.n_generated_tokens = r.n_generated_tokens;
            full.time_to_first_token_ms = r.time_to_first_token_ms;
            full.prefill_ms = r.prefill_ms;
            full.decode_ms = r.decode_ms;
            full.prefill_tokens_per_second = r.prefill_tokens_per_second;
            full.decode_tokens_per_second = r.decode_tokens_per_second;
            write_struct(full, result);
        }
    });
}

mola_status mola_session_cancel(mola_session* session) {
    if (!session) return MOLA_ERR_INVALID_ARG;  // no message: this must stay async-signal-safe
    session->cancel.store(true);
    return MOLA_OK;
}

}  // extern "C"
