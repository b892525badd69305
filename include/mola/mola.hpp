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

}  // namespace mola
