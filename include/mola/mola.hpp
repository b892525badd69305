// mola.hpp: a header-only C++ facade over the C ABI in mola.h: RAII handles,
// exceptions instead of status codes, std::vector instead of raw buffers. It adds
// no symbols to libmola; everything here is inline over the C functions.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mola/mola.h"

namespace mola {

// A failed mola call: the status code and mola_last_error()'s message.
class Error : public std::runtime_error {
public:
    Error(mola_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    mola_status status() const noexcept { return status_; }

private:
    mola_status status_;
};

inline void check(mola_status status) {
    if (status != MOLA_OK) throw Error(status, mola_last_error());
}

inline std::string version() { return mola_version_string(); }
inline std::string build_info() { return mola_build_info(); }

struct ModelParams {
    int n_threads = 0;                 // 0 = all cores
    mola_mla_mode mla_mode = MOLA_MLA_AUTO;
    std::string backend = "auto";
    // Called with the load progress in [0, 1]; return false to cancel. An exception
    // thrown here cancels the load and is rethrown from the Model constructor.
    std::function<bool(float)> progress;
    // The KV cache (see mola_model_params): its dtype, tokens per block (0 = 64) and
    // the pool's byte budget (0 = a quarter of physical memory).
    mola_kv_dtype kv_cache_dtype = MOLA_KV_BF16;
    int kv_block_tokens = 0;
    uint64_t kv_cache_budget_bytes = 0;
    // Sessions reuse the cached full blocks of a common prompt prefix (see
    // mola_model_params.prefix_cache).
    bool prefix_cache = true;
};

// A loaded model: immutable, shareable between threads and sessions. Move-only.
class Model {
public:
    explicit Model(const std::string& path, const ModelParams& params = ModelParams()) {
        mola_model_params p;
        mola_model_params_default(&p);
        p.n_threads = params.n_threads;
        p.mla_mode = params.mla_mode;
        p.backend = params.backend.c_str();
        p.kv_cache_dtype = params.kv_cache_dtype;
        p.kv_block_tokens = params.kv_block_tokens;
        p.kv_cache_budget_bytes = params.kv_cache_budget_bytes;
        p.prefix_cache = params.prefix_cache ? 1 : 0;
        Progress progress{&params.progress, nullptr};
        if (params.progress) {
            p.progress = &Progress::trampoline;
            p.progress_user_data = &progress;
        }
        const mola_status status = mola_model_load(path.c_str(), &p, &handle_);
        if (progress.error) std::rethrow_exception(progress.error);
        check(status);
    }
    Model(Model&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Model& operator=(Model&& other) noexcept {
        std::swap(handle_, other.handle_);
        return *this;
    }
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;
    ~Model() { mola_model_destroy(handle_); }

    // Strings inside stay valid while this model lives.
    mola_model_info info() const {
        mola_model_info info{};
        info.struct_size = sizeof(info);
        check(mola_model_get_info(handle_, &info));
        return info;
    }
    // A snapshot of the KV-cache pool's blocks and bytes. Safe from any thread.
    mola_cache_usage cache_usage() const {
        mola_cache_usage usage{};
        usage.struct_size = sizeof(usage);
        check(mola_model_get_cache_usage(handle_, &usage));
        return usage;
    }
    // Empties the prefix cache (see mola_model_clear_prefix_cache). Safe from any thread.
    void clear_prefix_cache() { check(mola_model_clear_prefix_cache(handle_)); }
    mola_model* get() const noexcept { return handle_; }

private:
    struct Progress {
        const std::function<bool(float)>* fn;
        std::exception_ptr error;
        // Exceptions never cross the C frames: keep them, cancel, rethrow later.
        static int trampoline(void* user, float fraction) {
            auto* self = static_cast<Progress*>(user);
            try {
                return (*self->fn)(fraction) ? 0 : 1;
            } catch (...) {
                self->error = std::current_exception();
                return 1;
            }
        }
    };
    mola_model* handle_ = nullptr;
};

// The sampler chain's settings (see mola_sampler_params). temperature <= 0 is greedy.
struct SamplerParams {
    float temperature = 0.8f;
    int32_t top_k = 40;
    float top_p = 0.95f;
    float min_p = 0.05f;
    float repeat_penalty = 1.0f;
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    int32_t penalty_window = 64;
    uint64_t seed = 0;
    std::vector<mola_logit_bias> logit_bias;

    static SamplerParams greedy() {
        SamplerParams p;
        p.temperature = 0.0f;
        return p;
    }
    // The C struct; it points into this object, which must outlive its use.
    mola_sampler_params c_params() const {
        mola_sampler_params p;
        mola_sampler_params_default(&p);
        p.temperature = temperature;
        p.top_k = top_k;
        p.top_p = top_p;
        p.min_p = min_p;
        p.repeat_penalty = repeat_penalty;
        p.presence_penalty = presence_penalty;
        p.frequency_penalty = frequency_penalty;
        p.penalty_window = penalty_window;
        p.seed = seed;
        p.logit_bias = logit_bias.empty() ? nullptr : logit_bias.data();
        p.n_logit_bias = logit_bias.size();
        return p;
    }
};

// Receives each piece of generated text (never a split character, never stop text)
// and the tokens sampled since the previous call; return false to stop.
using StreamFn = std::function<bool(std::string_view text, const std::vector<int32_t>& tokens)>;

struct GenerateOptions {
    int32_t max_tokens = 256;         // 0: until EOS, a stop string or n_ctx
    std::vector<std::string> stop;    // stop strings, matched across token boundaries
    bool ignore_eos = false;
    // An exception thrown here stops generation and is rethrown from generate().
    StreamFn stream;
};

struct GenerateResult {
    mola_finish_reason finish_reason = MOLA_FINISH_NONE;
    int32_t n_prompt_tokens = 0, n_generated_tokens = 0;
    double time_to_first_token_ms = 0, prefill_ms = 0, decode_ms = 0;
    double prefill_tokens_per_second = 0, decode_tokens_per_second = 0;
    std::vector<int32_t> tokens;  // the tokens sampled by this call
    std::string text;             // the streamed text, joined
};

inline const char* finish_reason_name(mola_finish_reason reason) {
    switch (reason) {
        case MOLA_FINISH_EOS: return "eos";
        case MOLA_FINISH_STOP: return "stop";
        case MOLA_FINISH_LENGTH: return "length";
        case MOLA_FINISH_CANCELLED: return "cancelled";
        default: return "none";
    }
}

// A session's settings (see mola_session_params).
struct SessionParams {
    int n_ctx = 0;    // up to the model's max_position_embeddings; 0 = min(4096, that)
    int n_batch = 0;  // 0 = 256
    // Called after every n_batch chunk of a prefill of two or more tokens with the
    // tokens done and in all; return false to cancel (the call then throws Error
    // MOLA_ERR_CANCELLED, or generate finishes CANCELLED). An exception thrown here
    // cancels too and is rethrown from the call. Forks share it.
    std::function<bool(size_t done, size_t total)> prefill_progress;
    // What a call that would pass n_ctx does: MOLA_OVERFLOW_ERROR or MOLA_OVERFLOW_SLIDE
    // (keep n_keep tokens, drop n_discard or more after them; 0 = (n_ctx - n_keep) / 2).
    mola_overflow_policy overflow = MOLA_OVERFLOW_ERROR;
    int n_keep = 0;
    int n_discard = 0;
};

class Sampler;

// A token history with its latent KV cache. One thread at a time. Move-only.
class Session {
public:
    explicit Session(const Model& model, int n_ctx = 0, int n_batch = 0)
        : Session(model, SessionParams{n_ctx, n_batch, {}, MOLA_OVERFLOW_ERROR, 0, 0}) {}
    Session(const Model& model, const SessionParams& params) {
        mola_session_params p = c_params(params);
        check(mola_session_create(model.get(), &p, &handle_));
        mola_model_info info{};
        info.struct_size = sizeof(info);
        check(mola_model_get_info(model.get(), &info));
        n_vocab_ = size_t(info.n_vocab);
    }
    // A session restored from a file written by save() (see mola_session_load);
    // n_ctx 0 = the saved session's.
    static Session load(const Model& model, const std::string& path, int n_ctx = 0, int n_batch = 0) {
        SessionParams params;
        params.n_ctx = n_ctx;
        params.n_batch = n_batch;
        return load(model, path, params);
    }
    static Session load(const Model& model, const std::string& path, const SessionParams& params) {
        Session s(model, nullptr);
        mola_session_params p = s.c_params(params);
        check(mola_session_load(model.get(), path.c_str(), &p, &s.handle_));
        return s;
    }
    // Saves the session atomically to path (see mola_session_save).
    void save(const std::string& path) const { check(mola_session_save(handle_, path.c_str())); }
    // Saves the session with a sampler (see mola_session_save_with_sampler), and
    // loads both back: *sampler is set to the saved sampler, or left empty when the
    // file holds none. Defined after Sampler below.
    void save(const std::string& path, const Sampler& sampler) const;
    static Session load(const Model& model, const std::string& path, const SessionParams& params,
                        std::unique_ptr<Sampler>* sampler);
    // Application bytes saved, loaded and forked with the session (see
    // mola_session_set_metadata).
    void set_metadata(const std::string& data) { check(mola_session_set_metadata(handle_, data.data(), data.size())); }
    std::string metadata() const {
        const void* data = nullptr;
        size_t n = 0;
        check(mola_session_get_metadata(handle_, &data, &n));
        return std::string(static_cast<const char*>(data), n);
    }
    Session(Session&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)),
          n_vocab_(other.n_vocab_),
          progress_(std::move(other.progress_)) {}
    Session& operator=(Session&& other) noexcept {
        std::swap(handle_, other.handle_);
        std::swap(n_vocab_, other.n_vocab_);
        std::swap(progress_, other.progress_);
        return *this;
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session() { mola_session_destroy(handle_); }

    void append(const std::vector<int32_t>& tokens) {
        checked(mola_session_append(handle_, tokens.data(), tokens.size()));
    }
    // Appends and returns the logits of every token, row-major [tokens][n_vocab].
    std::vector<float> append_all_logits(const std::vector<int32_t>& tokens) {
        std::vector<float> logits(tokens.size() * n_vocab_);
        checked(mola_session_append_all_logits(handle_, tokens.data(), tokens.size(), logits.data(), logits.size()));
        return logits;
    }
    void decode(int32_t token) { check(mola_session_decode(handle_, token)); }
    // A copy of the logits after the last appended token.
    std::vector<float> logits() const {
        const float* data = nullptr;
        size_t n = 0;
        check(mola_session_get_logits(handle_, &data, &n));
        return std::vector<float>(data, data + n);
    }
    void rewind(size_t n_tokens) { check(mola_session_rewind(handle_, n_tokens)); }
    // A new session sharing this one's tokens, logits and cache blocks,
    // copy-on-write (see mola_session_fork).
    Session fork() const {
        Session child(nullptr, n_vocab_);
        child.progress_ = progress_;
        check(mola_session_fork(handle_, &child.handle_));
        return child;
    }
    size_t n_tokens() const {
        size_t n = 0;
        check(mola_session_get_n_tokens(handle_, &n));
        return n;
    }
    size_t n_ctx() const {
        size_t n = 0;
        check(mola_session_get_n_ctx(handle_, &n));
        return n;
    }
    // The KV-cache blocks this session holds.
    size_t n_cache_blocks() const {
        size_t n = 0;
        check(mola_session_get_n_cache_blocks(handle_, &n));
        return n;
    }
    std::vector<int32_t> tokens() const {
        std::vector<int32_t> out(n_tokens());
        size_t n = 0;
        check(mola_session_get_tokens(handle_, out.data(), out.size(), &n));
        return out;
    }
    // Appends prompt, then samples until EOS, a stop string, max_tokens, a full
    // session or cancel() (see mola_session_generate).
    GenerateResult generate(const std::vector<int32_t>& prompt, const SamplerParams& sampler = SamplerParams(),
                            const GenerateOptions& options = GenerateOptions()) {
        const mola_sampler_params sp = sampler.c_params();
        mola_generate_params gp;
        mola_generate_params_default(&gp);
        gp.max_tokens = options.max_tokens;
        std::vector<const char*> stop;
        for (const std::string& s : options.stop) stop.push_back(s.c_str());
        gp.stop = stop.empty() ? nullptr : stop.data();
        gp.n_stop = stop.size();
        gp.ignore_eos = options.ignore_eos ? 1 : 0;
        GenerateResult out;
        Stream stream{&options.stream, &out, nullptr, {}};
        gp.stream = &Stream::trampoline;
        gp.stream_user_data = &stream;
        mola_generate_result r{};
        r.struct_size = sizeof(r);
        const mola_status status = mola_session_generate(handle_, prompt.data(), prompt.size(), &sp, &gp, &r);
        if (stream.error) std::rethrow_exception(stream.error);
        checked(status);
        out.finish_reason = mola_finish_reason(r.finish_reason);
        out.n_prompt_tokens = r.n_prompt_tokens;
        out.n_generated_tokens = r.n_generated_tokens;
        out.time_to_first_token_ms = r.time_to_first_token_ms;
        out.prefill_ms = r.prefill_ms;
        out.decode_ms = r.decode_ms;
        out.prefill_tokens_per_second = r.prefill_tokens_per_second;
        out.decode_tokens_per_second = r.decode_tokens_per_second;
        return out;
    }
    // Stops a running (or the next) generate() within one forward pass. Safe from
    // any thread and from signal handlers.
    void cancel() noexcept { mola_session_cancel(handle_); }

    size_t n_vocab() const noexcept { return n_vocab_; }
    mola_session* get() const noexcept { return handle_; }

private:
    struct Stream {
        const StreamFn* fn;
        GenerateResult* out;
        std::exception_ptr error;
        std::vector<int32_t> tokens;
        // Exceptions never cross the C frames: keep them, stop, rethrow later.
        static int trampoline(void* user, const char* text, size_t len, const int32_t* ids, size_t n) {
            auto* self = static_cast<Stream*>(user);
            try {
                self->tokens.assign(ids, ids + n);
                self->out->tokens.insert(self->out->tokens.end(), ids, ids + n);
                self->out->text.append(text, len);
                if (*self->fn && !(*self->fn)(std::string_view(text, len), self->tokens)) return 1;
                return 0;
            } catch (...) {
                self->error = std::current_exception();
                return 1;
            }
        }
    };
    // The facade's prefill callback, shared by forks (the C side keeps its address).
    struct Progress {
        std::function<bool(size_t, size_t)> fn;
        std::exception_ptr error;
        // Exceptions never cross the C frames: keep them, cancel, rethrow later.
        static int trampoline(void* user, size_t done, size_t total) {
            auto* self = static_cast<Progress*>(user);
            try {
                return self->fn(done, total) ? 0 : 1;
            } catch (...) {
                self->error = std::current_exception();
                return 1;
            }
        }
    };
    mola_session_params c_params(const SessionParams& params) {
        mola_session_params p;
        mola_session_params_default(&p);
        p.n_ctx = params.n_ctx;
        p.n_batch = params.n_batch;
        p.overflow = params.overflow;
        p.n_keep = params.n_keep;
        p.n_discard = params.n_discard;
        if (params.prefill_progress) {
            progress_ = std::make_shared<Progress>();
            progress_->fn = params.prefill_progress;
            p.prefill_progress = &Progress::trampoline;
            p.prefill_progress_user_data = progress_.get();
        }
        return p;
    }
    // check(), after rethrowing what the prefill callback threw.
    void checked(mola_status status) const {
        if (progress_ && progress_->error) std::rethrow_exception(std::exchange(progress_->error, nullptr));
        check(status);
    }
    // An empty session of model's vocabulary, for load().
    Session(const Model& model, std::nullptr_t) {
        mola_model_info info{};
        info.struct_size = sizeof(info);
        check(mola_model_get_info(model.get(), &info));
        n_vocab_ = size_t(info.n_vocab);
    }
    Session(std::nullptr_t, size_t n_vocab) : n_vocab_(n_vocab) {}
    mola_session* handle_ = nullptr;
    size_t n_vocab_ = 0;
    std::shared_ptr<Progress> progress_;
};

// Continuous batching: one decode step for several sessions of one model in one
// forward pass (see mola_batch_decode). Move-only.
class Batch {
public:
    Batch(const Model& model, size_t max_sessions) { check(mola_batch_create(model.get(), max_sessions, &handle_)); }
    Batch(Batch&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Batch& operator=(Batch&& other) noexcept {
        std::swap(handle_, other.handle_);
        return *this;
    }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    ~Batch() { mola_batch_destroy(handle_); }

    // Appends tokens[i] to *sessions[i] and computes its logits, all or none.
    void decode(const std::vector<Session*>& sessions, const std::vector<int32_t>& tokens) {
        if (sessions.size() != tokens.size())
            throw Error(MOLA_ERR_INVALID_ARG, "Batch::decode: " + std::to_string(sessions.size()) + " sessions but " +
                                                  std::to_string(tokens.size()) + " tokens");
        std::vector<mola_session*> handles;
        handles.reserve(sessions.size());
        for (Session* s : sessions) handles.push_back(s ? s->get() : nullptr);
        check(mola_batch_decode(handle_, handles.data(), tokens.data(), handles.size()));
    }

    mola_batch* get() const noexcept { return handle_; }

private:
    mola_batch* handle_ = nullptr;
};

// The sampler chain for callers that drive decoding themselves. Move-only.
class Sampler {
public:
    Sampler(const SamplerParams& params, size_t n_vocab) {
        const mola_sampler_params p = params.c_params();
        check(mola_sampler_create(&p, int32_t(n_vocab), &handle_));
    }
    Sampler(Sampler&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Sampler& operator=(Sampler&& other) noexcept {
        std::swap(handle_, other.handle_);
        return *this;
    }
    Sampler(const Sampler&) = delete;
    Sampler& operator=(const Sampler&) = delete;
    ~Sampler() { mola_sampler_destroy(handle_); }

    // The next token from the session's logits (penalized by its tokens); not appended.
    int32_t sample(Session& session) {
        int32_t token = -1;
        check(mola_sampler_sample(handle_, session.get(), &token));
        return token;
    }
    void reset(uint64_t seed) { check(mola_sampler_reset(handle_, seed)); }
    mola_sampler* get() const noexcept { return handle_; }

private:
    friend class Session;
    explicit Sampler(mola_sampler* adopted) noexcept : handle_(adopted) {}
    mola_sampler* handle_ = nullptr;
};

inline void Session::save(const std::string& path, const Sampler& sampler) const {
    check(mola_session_save_with_sampler(handle_, sampler.get(), path.c_str()));
}

inline Session Session::load(const Model& model, const std::string& path, const SessionParams& params,
                             std::unique_ptr<Sampler>* sampler) {
    Session s(model, nullptr);
    mola_session_params p = s.c_params(params);
    mola_sampler* restored = nullptr;
    check(mola_session_load_with_sampler(model.get(), path.c_str(), &p, &s.handle_, sampler ? &restored : nullptr));
    if (sampler) sampler->reset(restored ? new Sampler(restored) : nullptr);
    return s;
}

// One turn of a conversation for Tokenizer::apply_chat.
struct ChatMessage {
    std::string role;       // "system", "user" or "assistant"
    std::string content;
    std::string reasoning;  // an assistant turn's thinking text (V4); empty for none
};

namespace detail {
// Runs a C call that writes text with the size-query-then-fill idiom.
template <typename F>
std::string read_text(F&& call) {
    size_t n = 0;
    const mola_status status = call(nullptr, size_t(0), &n);
    if (status != MOLA_ERR_BUFFER_TOO_SMALL) check(status);
    std::string text(n + 1, '\0');
    check(call(&text[0], text.size(), &n));
    text.resize(n);
    return text;
}
}  // namespace detail

// A tokenizer: loaded on its own or taken from a model. Immutable, shareable
// between threads. Move-only.
class Tokenizer {
public:
    explicit Tokenizer(const std::string& path) { check(mola_tokenizer_load(path.c_str(), &handle_)); }
    // The tokenizer that came with the model's checkpoint.
    explicit Tokenizer(const Model& model) { check(mola_model_get_tokenizer(model.get(), &handle_)); }
    Tokenizer(Tokenizer&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Tokenizer& operator=(Tokenizer&& other) noexcept {
        std::swap(handle_, other.handle_);
        return *this;
    }
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;
    ~Tokenizer() { mola_tokenizer_destroy(handle_); }

    // add_special: BOS/EOS as the tokenizer's config says (Hugging Face's default);
    // parse_special: special tokens written in the text become their ids.
    std::vector<int32_t> encode(const std::string& text, bool add_special = true, bool parse_special = true) const {
        const uint32_t flags = (add_special ? MOLA_TOKENIZE_ADD_SPECIAL : 0u) |
                               (parse_special ? MOLA_TOKENIZE_PARSE_SPECIAL : 0u);
        size_t n = 0;
        const mola_status status = mola_tokenizer_encode(handle_, text.data(), text.size(), flags, nullptr, 0, &n);
        if (status != MOLA_ERR_BUFFER_TOO_SMALL) check(status);
        std::vector<int32_t> ids(n);
        check(mola_tokenizer_encode(handle_, text.data(), text.size(), flags, ids.data(), ids.size(), &n));
        return ids;
    }
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const {
        const uint32_t flags = skip_special ? MOLA_DETOKENIZE_SKIP_SPECIAL : 0u;
        return detail::read_text([&](char* out, size_t capacity, size_t* n) {
            return mola_tokenizer_decode(handle_, ids.data(), ids.size(), flags, out, capacity, n);
        });
    }
    // The prompt text of a conversation; format "" means the detected one.
    std::string apply_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt = true,
                           bool thinking = false, const std::string& format = "") const {
        std::vector<mola_chat_message> turns;
        for (const ChatMessage& m : messages)
            turns.push_back({m.role.c_str(), m.content.c_str(), m.reasoning.empty() ? nullptr : m.reasoning.c_str()});
        const uint32_t flags = (add_generation_prompt ? MOLA_CHAT_ADD_GENERATION_PROMPT : 0u) |
                               (thinking ? MOLA_CHAT_THINKING : 0u);
        return detail::read_text([&](char* out, size_t capacity, size_t* n) {
            return mola_tokenizer_apply_chat(handle_, format.empty() ? nullptr : format.c_str(), turns.data(),
                                             turns.size(), flags, out, capacity, n);
        });
    }
    std::string chat_format() const {
        const char* name = nullptr;
        check(mola_tokenizer_get_chat_format(handle_, &name));
        return name;
    }
    // A fill-in-the-middle prompt; throws MOLA_ERR_UNSUPPORTED without FIM tokens.
    std::string build_fim(const std::string& prefix, const std::string& suffix, mola_fim_layout layout = MOLA_FIM_PSM,
                          const std::string& path = "", const std::string& context = "") const {
        return detail::read_text([&](char* out, size_t capacity, size_t* n) {
            return mola_tokenizer_build_fim(handle_, layout, prefix.c_str(), suffix.c_str(),
                                            path.empty() ? nullptr : path.c_str(),
                                            context.empty() ? nullptr : context.c_str(), out, capacity, n);
        });
    }
    // The bytes of one token (may be part of a UTF-8 character).
    std::string token_to_piece(int32_t id) const {
        const char* piece = nullptr;
        size_t n = 0;
        check(mola_tokenizer_token_to_piece(handle_, id, &piece, &n));
        return std::string(piece, n);
    }
    // -1 if no token is spelled exactly text.
    int32_t token_id(const std::string& text) const {
        int32_t id = -1;
        check(mola_tokenizer_token_id(handle_, text.c_str(), &id));
        return id;
    }
    mola_special_tokens special_tokens() const {
        mola_special_tokens s{};
        s.struct_size = sizeof(s);
        check(mola_tokenizer_get_special_tokens(handle_, &s));
        return s;
    }
    mola_tokenizer* get() const noexcept { return handle_; }

private:
    mola_tokenizer* handle_ = nullptr;
};

// Streaming detokenization: push ids, receive text that never splits a character.
class Detokenizer {
public:
    explicit Detokenizer(const Tokenizer& tokenizer, bool skip_special = false) {
        check(mola_detokenizer_create(tokenizer.get(), skip_special ? MOLA_DETOKENIZE_SKIP_SPECIAL : 0u, &handle_));
    }
    Detokenizer(Detokenizer&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Detokenizer& operator=(Detokenizer&& other) noexcept {
        std::swap(handle_, other.handle_);
        return *this;
    }
    Detokenizer(const Detokenizer&) = delete;
    Detokenizer& operator=(const Detokenizer&) = delete;
    ~Detokenizer() { mola_detokenizer_destroy(handle_); }

    std::string push(int32_t id) {
        const char* text = nullptr;
        size_t n = 0;
        check(mola_detokenizer_push(handle_, id, &text, &n));
        return std::string(text, n);
    }
    std::string flush() {
        const char* text = nullptr;
        size_t n = 0;
        check(mola_detokenizer_flush(handle_, &text, &n));
        return std::string(text, n);
    }

private:
    mola_detokenizer* handle_ = nullptr;
};

}  // namespace mola
