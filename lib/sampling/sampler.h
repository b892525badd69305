// sampler.h: the token sampler chain, configured by SamplerParams.
//
// Pipeline (llama.cpp-like), applied by Sampler::sample in exactly this order.
// All arithmetic after the input copy is in double precision; float parameters
// are widened to double exactly (so an independent float64 implementation, such
// as tools/make_sampler_goldens.py, reproduces every stage).
//
//   0. copy:       logits -> double; NaN becomes -inf.
//   1. logit bias: logit[id] += bias for each (id, bias) in params.logit_bias
//                  (in list order; a bias of -inf bans the token).
//   2. penalties:  over the last `penalty_window` tokens of the history
//                  (0: no penalties, -1: the whole history), for each distinct
//                  token t seen c > 0 times:
//                    repetition: logit > 0 ? logit / repeat_penalty
//                                          : logit * repeat_penalty
//                    then:       logit -= c * frequency_penalty + presence_penalty
//   3. greedy:     if temperature <= 0, return argmax (ties: lower id). Greedy
//                  draws no random number, and ignores stages 4-9.
//   4. top-k:      if 0 < top_k < number of finite logits, keep the top_k largest
//                  (order: logit descending, then id ascending); others -> -inf.
//   5. softmax:    p = exp((logit - max) / temperature) / sum; -inf -> 0.
//   6. top-p:      if top_p < 1, sort by (p descending, id ascending) and keep the
//                  smallest prefix whose running sum (in that order) >= top_p,
//                  at least one token; others -> 0. No renormalization here.
//   7. min-p:      if min_p > 0, zero every p < min_p * max(p).
//   8. renormalize: p /= sum(p).
//   9. draw:       u = (splitmix64() >> 11) * 2^-53, in [0, 1). Walk ids in
//                  ascending order accumulating p; pick the first id with p > 0
//                  and u < running sum (the last id with p > 0 if rounding leaves
//                  u >= the total).
//
// The PRNG is splitmix64 (Steele, Lea & Flood 2014), seeded with params.seed
// as-is (0 is a valid seed); each non-greedy sample() consumes exactly one value,
// so the same seed, params and inputs give the same tokens on every platform.
// Sampler::sample allocates nothing once constructed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace mola {

struct SamplerParams {
    float temperature = 0.8f;       // <= 0: greedy
    int32_t top_k = 40;             // 0: disabled; must be >= 0
    float top_p = 0.95f;            // in (0, 1]; 1: disabled
    float min_p = 0.05f;            // in [0, 1]; 0: disabled
    float repeat_penalty = 1.0f;    // > 0; 1: disabled
    float presence_penalty = 0.0f;  // finite
    float frequency_penalty = 0.0f; // finite
    int32_t penalty_window = 64;    // last N history tokens; 0: none; -1: all
    uint64_t seed = 0;
    std::vector<std::pair<int32_t, float>> logit_bias;  // (token id, added logit)
};

// Throws mola::Error(MOLA_ERR_INVALID_ARG, ...) naming the first bad field.
void validate_sampler_params(const SamplerParams& params, int32_t n_vocab);

namespace sampling {

// splitmix64: state += 0x9E3779B97F4A7C15, then the Stafford "Mix13" finalizer.
class SplitMix64 {
public:
    explicit SplitMix64(uint64_t seed = 0) : state_(seed) {}
    void seed(uint64_t seed) { state_ = seed; }
    uint64_t state() const { return state_; }
    uint64_t next();
    // (next() >> 11) * 2^-53: a double in [0, 1) with 53 random bits.
    double uniform();

private:
    uint64_t state_;
};

// Reusable buffers so the stages allocate nothing in steady state.
struct Scratch {
    std::vector<int32_t> counts;   // n_vocab zeros between calls
    std::vector<int32_t> touched;
    std::vector<int32_t> order;
};

// Each stage below is a pure function of its arguments (scratch is only
// working memory; pass nullptr to use a temporary). Vectors hold n_vocab entries.
void apply_logit_bias(std::vector<double>& logits,
                      const std::vector<std::pair<int32_t, float>>& bias);
void apply_penalties(std::vector<double>& logits, const int32_t* history, size_t n_history,
                     int32_t penalty_window, float repeat_penalty, float presence_penalty,
                     float frequency_penalty, Scratch* scratch = nullptr);
// Argmax, ties to the lower id; throws INVALID_ARG if every logit is -inf.
int32_t greedy(const std::vector<double>& logits);
void top_k_filter(std::vector<double>& logits, int32_t top_k, Scratch* scratch = nullptr);
// probs[i] = exp((logits[i] - max) / temperature) / sum (temperature > 0);
// throws INVALID_ARG if every logit is -inf.
void softmax(const std::vector<double>& logits, double temperature, std::vector<double>& probs);
void top_p_filter(std::vector<double>& probs, double top_p, Scratch* scratch = nullptr);
void min_p_filter(std::vector<double>& probs, double min_p);
void renormalize(std::vector<double>& probs);
// The draw of stage 9 for a given u in [0, 1).
int32_t draw(const std::vector<double>& probs, double u);

}  // namespace sampling

class Sampler {
public:
    // Validates params (see validate_sampler_params).
    Sampler(const SamplerParams& params, int32_t n_vocab);

    // logits: n_vocab floats; history: the tokens so far (oldest first), each in
    // [0, n_vocab). Returns the chosen token id.
    int32_t sample(const float* logits, const int32_t* history, size_t n_history);
    // Restart the random sequence from `seed`.
    void reset(uint64_t seed);
    // Where the random sequence stands: a sampler whose state is set to another's
    // draws the same numbers from then on (saved sessions keep it).
    uint64_t rng_state() const;
    void set_rng_state(uint64_t state);

    const SamplerParams& params() const { return params_; }
    int32_t n_vocab() const { return n_vocab_; }
    // The final (renormalized) distribution of the last non-greedy sample().
    const std::vector<double>& last_probs() const { return probs_; }

private:
    SamplerParams params_;
    int32_t n_vocab_;
    sampling::SplitMix64 rng_;
    std::vector<double> logits_;
    std::vector<double> probs_;
    sampling::Scratch scratch_;
};

}  // namespace mola
