// generate.cpp: the generation loop and the stop-string matcher.
#include "generate/generate.h"

#include <algorithm>
#include <chrono>

#include "common/error.h"
#include "tokenizer/detokenizer.h"

namespace mola {

namespace {

bool valid_utf8(std::string_view s) {
    std::string replaced;
    return !tokenizer_sanitize_utf8(s, replaced);
}

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
    for (size_t i = 0; i < stops_.size(); ++i) {
        if (stops_[i].empty()) fail(MOLA_ERR_INVALID_ARG, "stop string " + std::to_string(i) + " is empty");
        if (!valid_utf8(stops_[i]))
            fail(MOLA_ERR_INVALID_ARG, "stop string " + std::to_string(i) + " is not valid UTF-8");
    }
}

std::string StopMatcher::push(std::string_view text) {
    if (stopped_) return {};
    pending_.append(text);
    // The earliest match wins, so text before it is all that is ever released.
    size_t cut = std::string::npos;
    for (const std::string& stop : stops_) cut = std::min(cut, pending_.find(stop));
    if (cut != std::string::npos) {
        stopped_ = true;
        std::string out = pending_.substr(0, cut);
        pending_.clear();
        return out;
    }
    // Hold back the longest tail that is a proper prefix of some stop string. A
    // stop string starts on a character boundary, so the cut never splits one.
    size_t hold = 0;
    for (const std::string& stop : stops_)
        for (size_t n = std::min(stop.size() - 1, pending_.size()); n > hold; --n)
            if (pending_.compare(pending_.size() - n, n, stop, 0, n) == 0) {
                hold = n;
                break;
            }
    std::string out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return out;
}

std::string StopMatcher::flush() {
    std::string out;
    out.swap(pending_);
    return out;
}

std::vector<int32_t> end_of_sequence_tokens(const Model& model) {
    std::vector<int32_t> ids;
    auto add = [&](int64_t id) {
        if (id >= 0 && id < model.config().vocab_size && std::find(ids.begin(), ids.end(), id) == ids.end())
            ids.push_back(int32_t(id));
    };
    add(model.config().eos_token_id);
    if (const auto& tok = model.tokenizer()) {
        add(tok->special().eos);
        add(tok->special().eot);
    }
    return ids;
}

GenerateResult generate(Session& session, const int32_t* prompt, size_t n_prompt, const SamplerParams& sampler_params,
                        const GenerateOptions& options, std::atomic<bool>& cancel) {
    const Clock::time_point start = Clock::now();
    const Model& model = session.model();
    const int32_t n_vocab = int32_t(model.config().vocab_size);
    if (options.max_tokens < 0)
        fail(MOLA_ERR_INVALID_ARG, "max_tokens is " + std::to_string(options.max_tokens) + "; it must be >= 0");
    const Tokenizer* tokenizer = model.tokenizer().get();
    if (!options.stop.empty() && !tokenizer)
        fail(MOLA_ERR_UNSUPPORTED, "stop strings need the model's tokenizer, and this checkpoint has none");
    StopMatcher matcher(options.stop);
    Sampler sampler(sampler_params, n_vocab);
    for (size_t i = 0; i < n_prompt; ++i)
        if (prompt[i] < 0 || prompt[i] >= n_vocab)
            fail(MOLA_ERR_INVALID_ARG, "prompt token " + std::to_string(i) + " is " + std::to_string(prompt[i]) +
                                           ", outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
    // (Sliding can free all but the kept tokens.)
    const int64_t n_fixed =
        session.overflow().slide ? std::min(session.overflow().n_keep, session.n_tokens()) : session.n_tokens();
    if (int64_t(n_prompt) > session.n_ctx() - n_fixed)
        fail(MOLA_ERR_CONTEXT_FULL, "the session holds " + std::to_string(session.n_tokens()) + " of " +
                                        std::to_string(session.n_ctx()) + " tokens; the prompt's " +
                                        std::to_string(n_prompt) + " do not fit");
    const std::vector<int32_t> eos = options.ignore_eos ? std::vector<int32_t>() : end_of_sequence_tokens(model);

    GenerateResult result;
    result.n_prompt_tokens = int32_t(n_prompt);

    // Prefill in n_batch chunks; cancel() is heard before the first and after each
    // (through the session's prefill progress, which still reports to its caller).
    // A cancelled or failed prompt leaves the session as it was (a slide it made stays).
    const int64_t n_before = session.n_tokens();
    if (cancel.exchange(false)) {
        result.finish_reason = FinishReason::Cancelled;
        return result;
    }
    if (n_prompt > 0) {
        PrefillProgress saved = session.prefill_progress();
        session.set_prefill_progress([&](int64_t done, int64_t total) {
            return !cancel.exchange(false) && (!saved || saved(done, total));
        });
        try {
            session.reserve(int64_t(n_prompt));  // the whole prompt's cache blocks, or MOLA_ERR_CACHE_FULL now
            session.append(prompt, int64_t(n_prompt), nullptr);
            session.set_prefill_progress(std::move(saved));
        } catch (const Error& e) {
            session.set_prefill_progress(std::move(saved));
            if (e.status() != MOLA_ERR_CANCELLED) {
                session.rewind(std::min(n_before, session.n_tokens()));
                throw;
            }
            result.finish_reason = FinishReason::Cancelled;
            result.prefill_ms = ms_between(start, Clock::now());
            return result;
        } catch (...) {
            session.set_prefill_progress(std::move(saved));
            session.rewind(std::min(n_before, session.n_tokens()));
            throw;
        }
    }
    const Clock::time_point prefilled = Clock::now();
    result.prefill_ms = ms_between(start, prefilled);
    if (n_prompt > 0 && result.prefill_ms > 0) result.prefill_tokens_per_second = 1000.0 * n_prompt / result.prefill_ms;

    std::unique_ptr<StreamDecoder> detokenizer;
    if (tokenizer) detokenizer = std::make_unique<StreamDecoder>(*tokenizer, false);
    auto next_text = [&](int32_t token) -> std::string {
        return detokenizer ? matcher.push(detokenizer->push(token)) : std::string();
    };
    auto rest_of_text = [&]() -> std::string {
        if (!detokenizer || matcher.stopped()) return {};
        std::string text = matcher.push(detokenizer->flush());
        return text + matcher.flush();
    };
    bool listening = true;
    auto emit = [&](const std::string& text, const int32_t* tokens, size_t n) {
        if (listening && options.stream && (n > 0 || !text.empty()) && !options.stream(text, tokens, n))
            listening = false;
        return listening;
    };

    Clock::time_point first{}, last{};
    for (;;) {
        if (cancel.exchange(false)) {
            result.finish_reason = FinishReason::Cancelled;
            emit(rest_of_text(), nullptr, 0);
            break;
        }
        if (session.n_tokens() >= session.n_ctx()) {
            if (!session.overflow().slide) {
                result.finish_reason = FinishReason::Length;
                emit(rest_of_text(), nullptr, 0);
                break;
            }
            session.slide(1);  // before sampling: nothing streamed that the session cannot keep
        }
        // The next token's cache row, before the token is sampled and streamed:
        // MOLA_ERR_CACHE_FULL leaves nothing streamed that the session lacks.
        session.reserve(1);
        const int32_t token = sampler.sample(session.logits(), session.tokens().data(), session.tokens().size());
        last = Clock::now();
        if (result.n_generated_tokens++ == 0) {
            first = last;
            result.time_to_first_token_ms = ms_between(start, first);
        }
        if (std::find(eos.begin(), eos.end(), token) != eos.end()) {
            result.finish_reason = FinishReason::Eos;
            emit(rest_of_text(), &token, 1);
            break;
        }
        std::string text = next_text(token);
        const bool at_limit = options.max_tokens > 0 && result.n_generated_tokens >= options.max_tokens;
        if (matcher.stopped())
            result.finish_reason = FinishReason::Stop;
        else if (at_limit) {
            result.finish_reason = FinishReason::Length;
            text += rest_of_text();
        }
        const bool keep_going = emit(text, &token, 1);
        session.append(&token, 1, nullptr);
        if (result.finish_reason != FinishReason::None) break;
        if (!keep_going) {
            result.finish_reason = FinishReason::Cancelled;
            break;
        }
    }
    if (result.n_generated_tokens > 0) {
        result.decode_ms = ms_between(first, Clock::now());
        const double sampling_ms = ms_between(first, last);
        if (result.n_generated_tokens > 1 && sampling_ms > 0)
            result.decode_tokens_per_second = 1000.0 * (result.n_generated_tokens - 1) / sampling_ms;
    }
    return result;
}

}  // namespace mola
