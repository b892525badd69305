// common.cpp: default-model resolution, model loading with progress, file reading,
// generation statistics and Ctrl-C handling shared by the `mola` commands.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cli.h"

#ifndef MOLA_SOURCE_DEFAULT_MODEL
#define MOLA_SOURCE_DEFAULT_MODEL ""
#endif
#ifndef MOLA_INSTALL_DEFAULT_MODEL
#define MOLA_INSTALL_DEFAULT_MODEL ""
#endif

namespace fs = std::filesystem;

namespace mola_cli {

std::string resolve_model(const std::string& given) {
    if (!given.empty()) return given;
    if (const char* env = std::getenv("MOLA_DEFAULT_MODEL"); env && *env) return env;
    std::vector<std::string> tried;
    auto usable = [&](const std::string& dir) {
        if (dir.empty()) return false;
        tried.push_back(dir);
        std::error_code ec;
        return fs::is_directory(dir, ec);
    };
    if (usable(MOLA_SOURCE_DEFAULT_MODEL)) return MOLA_SOURCE_DEFAULT_MODEL;
    if (usable(MOLA_INSTALL_DEFAULT_MODEL)) return MOLA_INSTALL_DEFAULT_MODEL;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const std::string next_to_exe =
            (exe.parent_path() / ".." / "share" / "mola" / "models" / "mola-tiny-code").lexically_normal().string();
        if (usable(next_to_exe)) return next_to_exe;
    }
    std::string message = "no MODEL given and no default model found; tried:";
    for (const std::string& t : tried) message += "\n  " + t;
    message += "\npass a checkpoint directory as MODEL or set MOLA_DEFAULT_MODEL";
    throw std::runtime_error(message);
}

namespace {

// Load progress on stderr: a redrawn bar on a terminal, one line otherwise.
class LoadProgress {
public:
    LoadProgress(const std::string& path, bool quiet) : path_(path), quiet_(quiet), tty_(isatty(STDERR_FILENO)) {
        if (!quiet_ && !tty_) std::fprintf(stderr, "loading %s ...", path_.c_str());
    }
    ~LoadProgress() { finish(false); }
    // Ends the display: erases the bar, or ends the line with "done" or "failed".
    void finish(bool ok) {
        if (quiet_ || finished_) return;
        finished_ = true;
        if (tty_) {
            if (drawn_) std::fputs("\r\033[K", stderr);
        } else {
            std::fputs(ok ? " done\n" : " failed\n", stderr);
        }
        std::fflush(stderr);
    }
    bool update(float fraction) {
        if (quiet_ || !tty_) return true;
        const int pct = std::min(100, std::max(0, int(fraction * 100.0f + 0.5f)));
        if (pct == last_pct_) return true;
        last_pct_ = pct;
        constexpr int kWidth = 30;
        const int filled = pct * kWidth / 100;
        std::string bar(size_t(filled), '#');
        bar.append(size_t(kWidth - filled), '.');
        std::fprintf(stderr, "\rloading [%s] %3d%%", bar.c_str(), pct);
        std::fflush(stderr);
        drawn_ = true;
        return true;
    }

private:
    std::string path_;
    bool quiet_, tty_;
    bool drawn_ = false, finished_ = false;
    int last_pct_ = -1;
};

}  // namespace

mola::Model load(const Args& a) {
    using clock = std::chrono::steady_clock;
    mola::ModelParams p;
    p.n_threads = a.threads;
    p.mla_mode = a.mla;
    p.kv_cache_dtype = a.kv_dtype;
    p.kv_cache_budget_bytes = a.kv_budget;
    p.kv_block_tokens = a.kv_block;
    p.prefix_cache = a.prefix_cache;
    const auto t0 = clock::now();
    LoadProgress progress(a.model, a.quiet);
    p.progress = [&progress](float f) { return progress.update(f); };
    mola::Model model(a.model, p);
    progress.finish(true);
    if (a.verbose) {
        const double s = std::chrono::duration<double>(clock::now() - t0).count();
        std::fprintf(stderr, "load: %.3f s (%s)\n", s, a.model.c_str());
    }
    return model;
}

mola::SessionParams session_params(const Args& a) {
    mola::SessionParams p;
    p.n_ctx = a.ctx;
    if (a.slide) {
        p.overflow = MOLA_OVERFLOW_SLIDE;
        p.n_keep = a.keep;
    }
    if (!a.quiet && isatty(STDERR_FILENO)) {
        // A bar while a prompt of more than one chunk (256 tokens) prefills, erased at its end.
        p.prefill_progress = [](size_t done, size_t total) {
            if (total <= 256) return true;
            if (done < total) {
                constexpr size_t kWidth = 30;
                const size_t filled = done * kWidth / total;
                std::string bar(filled, '#');
                bar.append(kWidth - filled, '.');
                std::fprintf(stderr, "\rprefill [%s] %3d%% of %zu tokens", bar.c_str(), int(100 * done / total), total);
            } else
                std::fputs("\r\033[K", stderr);
            std::fflush(stderr);
            return true;
        };
    }
    return p;
}

mola::Session make_session(const mola::Model& model, const Args& a) { return mola::Session(model, session_params(a)); }

mola::Tokenizer model_tokenizer(const mola::Model& model, const Args& a) {
    try {
        return mola::Tokenizer(model);
    } catch (const mola::Error& e) {
        if (e.status() != MOLA_ERR_UNSUPPORTED) throw;
        throw mola::Error(e.status(), "'" + a.command + "' needs a model with a tokenizer: " + e.what());
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    return text;
}

bool stdin_is_tty() { return isatty(STDIN_FILENO) != 0; }

void print_generate_stats(const mola::GenerateResult& r, const mola::Model& model) {
    std::fprintf(stderr, "prompt:      %d tokens, prefill %.1f ms (%.1f tokens/s)\n", r.n_prompt_tokens, r.prefill_ms,
                 r.prefill_tokens_per_second);
    std::fprintf(stderr, "first token: %.1f ms\n", r.time_to_first_token_ms);
    std::fprintf(stderr, "generated:   %d tokens, decode %.1f ms (%.1f tokens/s)\n", r.n_generated_tokens,
                 r.decode_ms, r.decode_tokens_per_second);
    std::fprintf(stderr, "finish:      %s\n", mola::finish_reason_name(r.finish_reason));
    const mola_cache_usage u = model.cache_usage();
    std::fprintf(stderr, "kv cache:    %" PRIu64 " of %" PRIu64 " blocks in use, %" PRIu64 " cached", u.blocks_used,
                 u.blocks_total, u.blocks_cached);
    if (u.prefix_cache)
        std::fprintf(stderr, "; prefix cache: %" PRIu64 " hits, %" PRIu64 " tokens reused\n", u.prefix_hits,
                     u.prefix_tokens_reused);
    else
        std::fprintf(stderr, "; prefix cache off\n");
}

// ---------------------------------------------------------------- Ctrl-C

namespace {

std::atomic<mola_session*> g_session{nullptr};
volatile sig_atomic_t g_generating = 0;
volatile sig_atomic_t g_interrupted = 0;
static_assert(std::atomic<mola_session*>::is_always_lock_free, "the signal handler needs a lock-free pointer");

extern "C" void on_sigint(int) {
    if (g_generating && !g_interrupted) {
        g_interrupted = 1;
        if (mola_session* s = g_session.load()) mola_session_cancel(s);  // only sets an atomic flag
        return;
    }
    const char newline = '\n';
    if (write(STDERR_FILENO, &newline, 1) < 0) {
    }
    _exit(130);
}

}  // namespace

void install_sigint_handler() {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
}

Generating::Generating(mola::Session& session) {
    g_interrupted = 0;
    g_session.store(session.get());
    g_generating = 1;
}

Generating::~Generating() {
    g_generating = 0;
    g_session.store(nullptr);
}

bool Generating::interrupted() const { return g_interrupted != 0; }

}  // namespace mola_cli
