// mola_bind.hpp: the classes bindings/mola.i exposes to Python, Java, C# and Go,
// header-only over the C++ facade (mola.hpp). They differ from the facade where a
// binding needs it:
//  - callbacks are abstract classes (SWIG directors) instead of std::function;
//  - handles are shared (copying a Model, Session or Tokenizer copies a reference),
//    close() drops this reference early, and any call after close() throws
//    mola::Error MOLA_ERR_MISUSE ("... is closed") instead of touching freed memory;
//  - a session serves one call at a time: a call while another (or a running
//    stream) uses it is refused with MOLA_ERR_MISUSE instead of racing;
//  - generation can be pulled piece by piece (TextStream), which each language turns
//    into its iterator idiom without running its own threads;
//  - options and results are plain structs of strings and numbers.
// Errors are mola::Error; mola.i turns them into each language's exception with
// the message "[mola:<status>] <text>", which the wrappers map to their own types.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mola/mola.hpp"

namespace mola::bind {

// ------------------------------------------------------------------ callbacks
// Subclassed in each language. The wrappers catch what user code throws inside
// them; anything that still escapes is kept by the facade, stops the native call
// and is rethrown after it returns: it never unwinds through mola's C frames.

class LoadProgress {
public:
    virtual ~LoadProgress() = default;
    // fraction in [0, 1]; return false to cancel the load.
    virtual bool on_progress(double fraction) = 0;
};

class PrefillProgress {
public:
    virtual ~PrefillProgress() = default;
    // After each chunk of a prefill; return false to cancel it.
    virtual bool on_prefill(int64_t done, int64_t total) = 0;
};

class TextSink {
public:
    virtual ~TextSink() = default;
    // Each piece of generated text (never a split character); return false to stop.
    virtual bool on_text(const std::string& text) = 0;
};

// ------------------------------------------------------------------ plain data

struct ModelOptions {
    int n_threads = 0;                  // 0 = all cores
    std::string backend = "auto";       // "auto", "cpu", "cuda"
    std::string mla = "auto";           // "auto", "absorbed", "naive"
    std::string kv_cache_dtype = "bf16";  // "bf16", "f32", "fp8_e4m3"
    int kv_block_tokens = 0;            // 0 = 64
    int64_t kv_cache_budget_bytes = 0;  // 0 = a quarter of physical memory
    bool prefix_cache = true;
};

struct ModelInfo {
    std::string architecture, variant, weight_dtypes, backend, kv_cache_dtype, fingerprint;
    int n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_ctx_train = 0;
    int n_routed_experts = 0, n_experts_per_token = 0, n_shared_experts = 0, kv_lora_rank = 0;
    int bos_token_id = -1, eos_token_id = -1;
    int64_t n_params = 0, n_params_active = 0, weight_bytes = 0, kv_bytes_per_token = 0;
};

struct CacheUsage {
    int block_tokens = 0;
    int64_t blocks_total = 0, blocks_used = 0, blocks_free = 0, bytes_budget = 0, bytes_used = 0;
    int64_t blocks_cached = 0, prefix_hits = 0, prefix_tokens_reused = 0, blocks_evicted = 0;
};

struct SessionOptions {
    int n_ctx = 0;     // 0 = min(4096, the model's max_position_embeddings)
    int n_batch = 0;   // 0 = 256
    std::string overflow = "error";  // "error" or "slide"
    int n_keep = 0, n_discard = 0;   // for "slide"
};

struct SamplerOptions {
    double temperature = 0.8;  // <= 0: greedy
    int top_k = 40;
    double top_p = 0.95, min_p = 0.05;
    double repeat_penalty = 1.0, presence_penalty = 0.0, frequency_penalty = 0.0;
    int penalty_window = 64;
    int64_t seed = 0;
};

struct GenerateOptions {
    int max_tokens = 256;  // 0: until EOS, a stop string or n_ctx
    std::vector<std::string> stop;
    bool ignore_eos = false;
};

struct GenerateResult {
    std::string text;
    std::vector<int32_t> tokens;
    std::string finish_reason;  // "eos", "stop", "length", "cancelled"
    int n_prompt_tokens = 0, n_generated_tokens = 0;
    double time_to_first_token_ms = 0, prefill_tokens_per_second = 0, decode_tokens_per_second = 0;
};

struct ChatTurn {
    std::string role, content;
};

// ------------------------------------------------------------------ handles

namespace detail {
template <typename T>
T& open(const std::shared_ptr<T>& p, const char* what) {
    if (!p) throw Error(MOLA_ERR_MISUSE, std::string(what) + " is closed");
    return *p;
}

// A session and whether a call is using it. Sessions serve one call at a time; a
// second call meanwhile (from another thread, or during a running stream) is
// refused with MOLA_ERR_MISUSE instead of racing on the session.
struct SessionCore {
    explicit SessionCore(mola::Session s) : session(std::move(s)) {}
    mola::Session session;
    std::atomic<bool> busy{false};
};

class SessionUse {
public:
    explicit SessionUse(SessionCore& core) : core_(&core) {
        if (core.busy.exchange(true))
            throw Error(MOLA_ERR_MISUSE,
                        "Session is busy: another call or a running stream is using it (a session serves one call "
                        "at a time)");
    }
    SessionUse(SessionUse&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
    SessionUse& operator=(SessionUse&&) = delete;
    ~SessionUse() {
        if (core_) core_->busy = false;
    }
    mola::Session* operator->() const { return &core_->session; }
    mola::Session& operator*() const { return core_->session; }

private:
    SessionCore* core_;
};

inline mola_kv_dtype kv_dtype(const std::string& s) {
    if (s == "bf16") return MOLA_KV_BF16;
    if (s == "f32") return MOLA_KV_F32;
    if (s == "fp8_e4m3" || s == "fp8") return MOLA_KV_FP8_E4M3;
    throw Error(MOLA_ERR_INVALID_ARG, "kv_cache_dtype '" + s + "': expected bf16, f32 or fp8_e4m3");
}

inline mola_mla_mode mla_mode(const std::string& s) {
    if (s == "auto") return MOLA_MLA_AUTO;
    if (s == "absorbed") return MOLA_MLA_ABSORBED;
    if (s == "naive") return MOLA_MLA_NAIVE;
    throw Error(MOLA_ERR_INVALID_ARG, "mla '" + s + "': expected auto, absorbed or naive");
}
}  // namespace detail

class Tokenizer {
public:
    // A tokenizer file or directory on its own.
    explicit Tokenizer(const std::string& path) : t_(std::make_shared<mola::Tokenizer>(path)) {}

    std::vector<int32_t> encode(const std::string& text, bool add_special = true, bool parse_special = true) const {
        return get().encode(text, add_special, parse_special);
    }
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const {
        return get().decode(ids, skip_special);
    }
    // The prompt of a conversation in the tokenizer's chat format.
    std::string apply_chat(const std::vector<ChatTurn>& turns, bool add_generation_prompt = true) const {
        std::vector<mola::ChatMessage> messages;
        for (const ChatTurn& t : turns) messages.push_back({t.role, t.content, ""});
        return get().apply_chat(messages, add_generation_prompt);
    }
    std::string chat_format() const { return get().chat_format(); }
    // A fill-in-the-middle prompt (prefix-suffix-middle, or suffix-prefix-middle
    // when spm); throws MOLA_ERR_UNSUPPORTED where the vocabulary has no FIM tokens.
    std::string build_fim(const std::string& prefix, const std::string& suffix, bool spm = false) const {
        return get().build_fim(prefix, suffix, spm ? MOLA_FIM_SPM : MOLA_FIM_PSM);
    }
    std::string token_to_piece(int32_t id) const { return get().token_to_piece(id); }
    int32_t token_id(const std::string& text) const { return get().token_id(text); }

    void close() { t_.reset(); }
    bool is_closed() const { return !t_; }

private:
    friend class Model;
    explicit Tokenizer(std::shared_ptr<mola::Tokenizer> t) : t_(std::move(t)) {}
    mola::Tokenizer& get() const { return detail::open(t_, "Tokenizer"); }
    std::shared_ptr<mola::Tokenizer> t_;
};

class Model {
public:
    // Loads a checkpoint directory; progress (may be null) sees the load's progress.
    explicit Model(const std::string& path, const ModelOptions& options = ModelOptions(),
                   LoadProgress* progress = nullptr) {
        mola::ModelParams p;
        p.n_threads = options.n_threads;
        p.backend = options.backend;
        p.mla_mode = detail::mla_mode(options.mla);
        p.kv_cache_dtype = detail::kv_dtype(options.kv_cache_dtype);
        p.kv_block_tokens = options.kv_block_tokens;
        p.kv_cache_budget_bytes = uint64_t(options.kv_cache_budget_bytes);
        p.prefix_cache = options.prefix_cache;
        if (progress) p.progress = [progress](float f) { return progress->on_progress(double(f)); };
        m_ = std::make_shared<mola::Model>(path, p);
    }

    ModelInfo info() const {
        const mola_model_info i = get().info();
        ModelInfo o;
        o.architecture = i.architecture;
        o.variant = i.variant;
        o.weight_dtypes = i.weight_dtypes;
        o.backend = i.backend;
        o.kv_cache_dtype = i.kv_cache_dtype;
        o.fingerprint = i.fingerprint;
        o.n_vocab = i.n_vocab;
        o.n_embd = i.n_embd;
        o.n_layer = i.n_layer;
        o.n_head = i.n_head;
        o.n_ctx_train = i.n_ctx_train;
        o.n_routed_experts = i.n_routed_experts;
        o.n_experts_per_token = i.n_experts_per_token;
        o.n_shared_experts = i.n_shared_experts;
        o.kv_lora_rank = i.kv_lora_rank;
        o.bos_token_id = i.bos_token_id;
        o.eos_token_id = i.eos_token_id;
        o.n_params = int64_t(i.n_params);
        o.n_params_active = int64_t(i.n_params_active);
        o.weight_bytes = int64_t(i.weight_bytes);
        o.kv_bytes_per_token = int64_t(i.kv_bytes_per_token);
        return o;
    }
    CacheUsage cache_usage() const {
        const mola_cache_usage u = get().cache_usage();
        CacheUsage o;
        o.block_tokens = u.block_tokens;
        o.blocks_total = int64_t(u.blocks_total);
        o.blocks_used = int64_t(u.blocks_used);
        o.blocks_free = int64_t(u.blocks_free);
        o.bytes_budget = int64_t(u.bytes_budget);
        o.bytes_used = int64_t(u.bytes_used);
        o.blocks_cached = int64_t(u.blocks_cached);
        o.prefix_hits = int64_t(u.prefix_hits);
        o.prefix_tokens_reused = int64_t(u.prefix_tokens_reused);
        o.blocks_evicted = int64_t(u.blocks_evicted);
        return o;
    }
    void clear_prefix_cache() { get().clear_prefix_cache(); }
    // The checkpoint's tokenizer.
    Tokenizer tokenizer() const { return Tokenizer(std::make_shared<mola::Tokenizer>(get())); }

    // Drops this reference; the model is freed when its sessions are gone too.
    void close() { m_.reset(); }
    bool is_closed() const { return !m_; }

private:
    friend class Session;
    friend class Batch;
    mola::Model& get() const { return detail::open(m_, "Model"); }
    std::shared_ptr<mola::Model> m_;
};

class TextStream;

// A token history with its KV cache. One thread at a time, except cancel().
class Session {
public:
    // progress (may be null) sees every prefill of two or more tokens; it must
    // outlive the session and its forks.
    explicit Session(const Model& model, const SessionOptions& options = SessionOptions(),
                     PrefillProgress* progress = nullptr)
        : s_(std::make_shared<detail::SessionCore>(mola::Session(model.get(), params(options, progress)))) {}

    // A session saved by save(); options.n_ctx 0 = the saved one's.
    static Session load(const Model& model, const std::string& path, const SessionOptions& options = SessionOptions(),
                        PrefillProgress* progress = nullptr) {
        return Session(std::make_shared<detail::SessionCore>(
            mola::Session::load(model.get(), path, params(options, progress))));
    }
    // Saves atomically (a crash mid-save keeps the previous file).
    void save(const std::string& path) const { get()->save(path); }

    void append(const std::vector<int32_t>& tokens) { get()->append(tokens); }
    // The logits after the last token (n_vocab floats).
    std::vector<float> logits() const { return get()->logits(); }
    // Keeps the first n_tokens tokens.
    void rewind(int64_t n_tokens) {
        if (n_tokens < 0) throw Error(MOLA_ERR_INVALID_ARG, "Session::rewind: negative token count");
        get()->rewind(size_t(n_tokens));
    }
    // A copy-on-write copy sharing this session's cache blocks.
    Session fork() const { return Session(std::make_shared<detail::SessionCore>(get()->fork())); }

    // Appends prompt and samples until EOS, a stop string, max_tokens or cancel();
    // sink (may be null) receives the text as it is produced.
    GenerateResult generate(const std::vector<int32_t>& prompt, const SamplerOptions& sampler = SamplerOptions(),
                            const GenerateOptions& options = GenerateOptions(), TextSink* sink = nullptr) {
        mola::GenerateOptions o = options_of(options);
        if (sink) o.stream = [sink](std::string_view text, const std::vector<int32_t>&) {
            return sink->on_text(std::string(text));
        };
        return result_of(get()->generate(prompt, sampler_of(sampler), o));
    }
    // The same, pulled piece by piece (see TextStream). The session is busy until
    // the stream ends or is closed.
    TextStream stream(const std::vector<int32_t>& prompt, const SamplerOptions& sampler = SamplerOptions(),
                      const GenerateOptions& options = GenerateOptions());

    // Stops a running (or the next) generate() or prefill. Safe from any thread.
    void cancel() {
        if (auto s = s_) s->session.cancel();
    }

    int64_t n_tokens() const { return int64_t(get()->n_tokens()); }
    int64_t n_ctx() const { return int64_t(get()->n_ctx()); }
    int64_t n_vocab() const { return int64_t(get()->n_vocab()); }
    std::vector<int32_t> tokens() const { return get()->tokens(); }
    // Application bytes saved, loaded and forked with the session.
    void set_metadata(const std::vector<uint8_t>& data) { get()->set_metadata(std::string(data.begin(), data.end())); }
    std::vector<uint8_t> metadata() const {
        const std::string m = get()->metadata();
        return std::vector<uint8_t>(m.begin(), m.end());
    }

    void close() { s_.reset(); }
    bool is_closed() const { return !s_; }

    Session() = default;  // closed (for containers)

    // The facade's conversions, shared with TextStream.
    static mola::SamplerParams sampler_of(const SamplerOptions& s) {
        mola::SamplerParams p;
        p.temperature = float(s.temperature);
        p.top_k = s.top_k;
        p.top_p = float(s.top_p);
        p.min_p = float(s.min_p);
        p.repeat_penalty = float(s.repeat_penalty);
        p.presence_penalty = float(s.presence_penalty);
        p.frequency_penalty = float(s.frequency_penalty);
        p.penalty_window = s.penalty_window;
        p.seed = uint64_t(s.seed);
        return p;
    }
    static mola::GenerateOptions options_of(const GenerateOptions& g) {
        mola::GenerateOptions o;
        o.max_tokens = g.max_tokens;
        o.stop = g.stop;
        o.ignore_eos = g.ignore_eos;
        return o;
    }
    static GenerateResult result_of(const mola::GenerateResult& r) {
        GenerateResult o;
        o.text = r.text;
        o.tokens = r.tokens;
        o.finish_reason = finish_reason_name(r.finish_reason);
        o.n_prompt_tokens = r.n_prompt_tokens;
        o.n_generated_tokens = r.n_generated_tokens;
        o.time_to_first_token_ms = r.time_to_first_token_ms;
        o.prefill_tokens_per_second = r.prefill_tokens_per_second;
        o.decode_tokens_per_second = r.decode_tokens_per_second;
        return o;
    }

private:
    friend class Batch;
    friend class TextStream;
    explicit Session(std::shared_ptr<detail::SessionCore> s) : s_(std::move(s)) {}
    static mola::SessionParams params(const SessionOptions& o, PrefillProgress* progress) {
        mola::SessionParams p;
        p.n_ctx = o.n_ctx;
        p.n_batch = o.n_batch;
        if (o.overflow == "slide")
            p.overflow = MOLA_OVERFLOW_SLIDE;
        else if (o.overflow != "error")
            throw Error(MOLA_ERR_INVALID_ARG, "overflow '" + o.overflow + "': expected error or slide");
        p.n_keep = o.n_keep;
        p.n_discard = o.n_discard;
        if (progress)
            p.prefill_progress = [progress](size_t done, size_t total) {
                return progress->on_prefill(int64_t(done), int64_t(total));
            };
        return p;
    }
    detail::SessionUse get() const { return detail::SessionUse(detail::open(s_, "Session")); }
    std::shared_ptr<detail::SessionCore> s_;
};

// Generation pulled piece by piece: a native thread runs generate() and queues
// its text; next() waits for the next piece (mola.i releases Python's GIL around
// it). cancel(), close() or dropping the last copy of the stream stop the
// generation at its next piece (a prefill in progress runs to its end first; use
// Session::cancel to stop that) and wait for the thread.
class TextStream {
public:
    // Waits for the next piece: true and text() set, or false at the end (then
    // result() is ready; a failure of the generation is thrown here).
    bool next() {
        State& st = detail::open(state_, "TextStream");
        std::unique_lock<std::mutex> lock(st.mutex);
        st.ready.wait(lock, [&] { return !st.pieces.empty() || st.done; });
        if (!st.pieces.empty()) {
            text_ = std::move(st.pieces.front());
            st.pieces.pop_front();
            return true;
        }
        if (st.error) std::rethrow_exception(std::exchange(st.error, nullptr));
        return false;
    }
    std::string text() const { return text_; }
    // The generation's result once next() has returned false.
    GenerateResult result() const {
        State& st = detail::open(state_, "TextStream");
        std::lock_guard<std::mutex> lock(st.mutex);
        if (!st.done) throw Error(MOLA_ERR_MISUSE, "TextStream::result before the stream ended");
        return st.result;
    }
    // Asks the generation to stop at its next piece; the stream then ends with
    // finish_reason "cancelled". Safe from any thread.
    void cancel() {
        if (auto st = state_) st->stop = true;
    }
    void close() {
        if (auto st = std::exchange(state_, nullptr)) st->finish();
    }
    bool is_closed() const { return !state_; }

    TextStream() = default;

private:
    friend class Session;
    struct State {
        std::shared_ptr<detail::SessionCore> session;
        std::unique_ptr<detail::SessionUse> use;  // held by the worker until it ends
        std::atomic<bool> stop{false};
        std::mutex mutex;
        std::condition_variable ready;
        std::deque<std::string> pieces;
        bool done = false;
        std::exception_ptr error;
        GenerateResult result;
        std::thread worker;

        void finish() {
            stop = true;
            std::lock_guard<std::mutex> once(join_mutex);
            if (worker.joinable()) worker.join();
        }
        std::mutex join_mutex;
    };
    // The last copy of a stream stops it (SWIG copies returned values): every copy
    // shares one Handle, and the worker holds only a raw pointer to the state.
    struct Handle {
        std::shared_ptr<State> st;
        ~Handle() {
            if (st) st->finish();
        }
    };

    static TextStream start(std::shared_ptr<detail::SessionCore> session, const std::vector<int32_t>& prompt,
                            const SamplerOptions& sampler, const GenerateOptions& options) {
        auto st = std::make_shared<State>();
        st->use = std::make_unique<detail::SessionUse>(*session);  // throws if the session is busy
        st->session = std::move(session);
        State* raw = st.get();
        mola::GenerateOptions o = Session::options_of(options);
        o.stream = [raw](std::string_view text, const std::vector<int32_t>&) {
            std::lock_guard<std::mutex> lock(raw->mutex);
            raw->pieces.emplace_back(text);
            raw->ready.notify_one();
            return !raw->stop;
        };
        const mola::SamplerParams sp = Session::sampler_of(sampler);
        raw->worker = std::thread([raw, prompt, sp, o] {
            GenerateResult result;
            std::exception_ptr error;
            try {
                result = Session::result_of(raw->session->session.generate(prompt, sp, o));
            } catch (...) {
                error = std::current_exception();
            }
            std::lock_guard<std::mutex> lock(raw->mutex);
            raw->use.reset();  // the session is free before next() reports the end
            raw->result = std::move(result);
            raw->error = error;
            raw->done = true;
            raw->ready.notify_one();
        });
        TextStream out;
        out.handle_ = std::make_shared<Handle>();
        out.handle_->st = st;
        out.state_ = std::move(st);
        return out;
    }

    std::shared_ptr<Handle> handle_;
    std::shared_ptr<State> state_;
    std::string text_;
};

inline TextStream Session::stream(const std::vector<int32_t>& prompt, const SamplerOptions& sampler,
                                  const GenerateOptions& options) {
    detail::open(s_, "Session");  // throws if closed
    return TextStream::start(s_, prompt, sampler, options);
}

// Continuous batching: one decode step for several sessions of one model.
class Batch {
public:
    Batch(const Model& model, int max_sessions)
        : b_(std::make_shared<mola::Batch>(model.get(), max_sessions > 0 ? size_t(max_sessions) : 0)) {}
    // Appends tokens[i] to sessions[i] and computes its logits, all or none.
    void decode(const std::vector<Session>& sessions, const std::vector<int32_t>& tokens) {
        std::vector<detail::SessionUse> uses;
        uses.reserve(sessions.size());
        std::vector<mola::Session*> handles;
        for (const Session& s : sessions) {
            uses.push_back(s.get());
            handles.push_back(&*uses.back());
        }
        detail::open(b_, "Batch").decode(handles, tokens);
    }
    void close() { b_.reset(); }
    bool is_closed() const { return !b_; }

private:
    std::shared_ptr<mola::Batch> b_;
};

inline std::string version() { return mola::version(); }

}  // namespace mola::bind
