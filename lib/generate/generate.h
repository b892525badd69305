// generate.h: the generation loop: prompt in, sampled tokens out, streamed as
// UTF-8-safe text with stop strings held back and cut, until EOS, a stop string,
// a token limit, a full session or cancellation.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model.h"
#include "sampling/sampler.h"

namespace mola {

// Finds stop strings in text that arrives in pieces. Text that could still be the
// start of a stop string is held back until the next piece decides it.
class StopMatcher {
public:
    explicit StopMatcher(std::vector<std::string> stops);
    // Adds text; returns what is now final (never stop text). After a match,
    // stopped() is true and later pushes return nothing.
    std::string push(std::string_view text);
    // Returns the held-back text (no stop string followed it).
    std::string flush();
    bool stopped() const { return stopped_; }

private:
    std::vector<std::string> stops_;
    std::string pending_;
    bool stopped_ = false;
};

enum class FinishReason { None = 0, Eos = 1, Stop = 2, Length = 3, Cancelled = 4 };

struct GenerateOptions {
    int32_t max_tokens = 256;  // 0: no limit but n_ctx
    std::vector<std::string> stop;
    bool ignore_eos = false;
    // Receives final text and the tokens sampled since the last call; returns
    // false to stop (FinishReason::Cancelled).
    std::function<bool(std::string_view text, const int32_t* tokens, size_t n_tokens)> stream;
};

struct GenerateResult {
    FinishReason finish_reason = FinishReason::None;
    int32_t n_prompt_tokens = 0, n_generated_tokens = 0;
    double time_to_first_token_ms = 0, prefill_ms = 0, decode_ms = 0;
    double prefill_tokens_per_second = 0, decode_tokens_per_second = 0;
};

// The token ids that end a generation: the tokenizer's EOS and <|EOT|> and the
// config's eos_token_id.
std::vector<int32_t> end_of_sequence_tokens(const Model& model);

// Runs the loop on session (see mola_session_generate in mola.h for the contract).
// cancel is polled before every forward pass and cleared when it is honored.
GenerateResult generate(Session& session, const int32_t* prompt, size_t n_prompt, const SamplerParams& sampler,
                        const GenerateOptions& options, std::atomic<bool>& cancel);

}  // namespace mola
