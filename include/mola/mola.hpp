// mola.hpp: a header-only C++ facade over the C ABI in mola.h: RAII handles,
// exceptions instead of status codes, std::vector instead of raw buffers. It adds
// no symbols to libmola; everything here is inline over the C functions.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
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

// A token history with its latent KV cache. One thread at a time. Move-only.
class Session {
public:
    explicit Session(const Model& model, int n_ctx = 0, int n_batch = 0) {
        mola_session_params p;
        mola_session_params_default(&p);
        p.n_ctx = n_ctx;
        p.n_batch = n_batch;
        check(mola_session_create(model.get(), &p, &handle_));
        mola_model_info info{};
        info.struct_size = sizeof(info);
        check(mola_model_get_info(model.get(), &info));
        n_vocab_ = size_t(info.n_vocab);
    }
    Session(Session&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), n_vocab_(other.n_vocab_) {}
    Session& operator=(Session&& other) noexcept {
        std::swap(handle_, other.handle_);
        std::swap(n_vocab_, other.n_vocab_);
        return *this;
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session() { mola_session_destroy(handle_); }

    void append(const std::vector<int32_t>& tokens) {
        check(mola_session_append(handle_, tokens.data(), tokens.size()));
    }
    // Appends and returns the logits of every token, row-major [tokens][n_vocab].
    std::vector<float> append_all_logits(const std::vector<int32_t>& tokens) {
        std::vector<float> logits(tokens.size() * n_vocab_);
        check(mola_session_append_all_logits(handle_, tokens.data(), tokens.size(), logits.data(), logits.size()));
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
    std::vector<int32_t> tokens() const {
        std::vector<int32_t> out(n_tokens());
        size_t n = 0;
        check(mola_session_get_tokens(handle_, out.data(), out.size(), &n));
        return out;
    }
    size_t n_vocab() const noexcept { return n_vocab_; }
    mola_session* get() const noexcept { return handle_; }

private:
    mola_session* handle_ = nullptr;
    size_t n_vocab_ = 0;
};

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
