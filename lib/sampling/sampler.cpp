// sampler.cpp: the sampler chain; see sampler.h for the documented pipeline.
#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/error.h"

namespace mola {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

[[noreturn]] void invalid(const std::string& msg) { fail(MOLA_ERR_INVALID_ARG, "sampler: " + msg); }

}  // namespace

void validate_sampler_params(const SamplerParams& p, int32_t n_vocab) {
    if (n_vocab <= 0) invalid("n_vocab must be > 0, got " + std::to_string(n_vocab));
    if (std::isnan(p.temperature)) invalid("temperature is NaN");
    if (p.top_k < 0) invalid("top_k must be >= 0 (0 disables it), got " + std::to_string(p.top_k));
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
        invalid("top_p must be in (0, 1], got " + std::to_string(p.top_p));
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
        invalid("min_p must be in [0, 1], got " + std::to_string(p.min_p));
    if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty))
        invalid("repeat_penalty must be finite and > 0, got " + std::to_string(p.repeat_penalty));
    if (!std::isfinite(p.presence_penalty))
        invalid("presence_penalty must be finite, got " + std::to_string(p.presence_penalty));
    if (!std::isfinite(p.frequency_penalty))
        invalid("frequency_penalty must be finite, got " + std::to_string(p.frequency_penalty));
    if (p.penalty_window < -1)
        invalid("penalty_window must be >= -1 (-1: whole history, 0: none), got " +
                std::to_string(p.penalty_window));
    for (const auto& b : p.logit_bias) {
        if (b.first < 0 || b.first >= n_vocab)
            invalid("logit_bias token id " + std::to_string(b.first) + " outside [0, " +
                    std::to_string(n_vocab) + ")");
        if (std::isnan(b.second) || b.second == std::numeric_limits<float>::infinity())
            invalid("logit_bias for token " + std::to_string(b.first) + " must be finite or -inf");
    }
}

namespace sampling {

uint64_t SplitMix64::next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

void apply_logit_bias(std::vector<double>& logits,
                      const std::vector<std::pair<int32_t, float>>& bias) {
    const auto n = static_cast<int64_t>(logits.size());
    for (const auto& b : bias) {
        if (b.first < 0 || b.first >= n)
            invalid("logit_bias token id " + std::to_string(b.first) + " outside the vocabulary");
        logits[static_cast<size_t>(b.first)] += static_cast<double>(b.second);
    }
}

void apply_penalties(std::vector<double>& logits, const int32_t* history, size_t n_history,
                     int32_t penalty_window, float repeat_penalty, float presence_penalty,
                     float frequency_penalty, Scratch* scratch) {
    if (penalty_window == 0 || n_history == 0) return;
    if (repeat_penalty == 1.0f && presence_penalty == 0.0f && frequency_penalty == 0.0f) return;
    Scratch local;
    Scratch& s = scratch ? *scratch : local;
    const size_t n = logits.size();
    if (s.counts.size() != n) s.counts.assign(n, 0);
    s.touched.clear();
    size_t start = 0;
    if (penalty_window > 0 && n_history > static_cast<size_t>(penalty_window))
        start = n_history - static_cast<size_t>(penalty_window);
    for (size_t i = start; i < n_history; ++i) {
        const int32_t t = history[i];
        if (t < 0 || static_cast<size_t>(t) >= n) {
            for (int32_t u : s.touched) s.counts[static_cast<size_t>(u)] = 0;
            s.touched.clear();
            invalid("history token id " + std::to_string(t) + " outside the vocabulary");
        }
        if (s.counts[static_cast<size_t>(t)]++ == 0) s.touched.push_back(t);
    }
    const double rp = repeat_penalty, pp = presence_penalty, fp = frequency_penalty;
    for (int32_t t : s.touched) {
        const auto i = static_cast<size_t>(t);
        const int32_t c = s.counts[i];
        double& l = logits[i];
        if (l > 0) l = l / rp;
        else l = l * rp;
        l -= static_cast<double>(c) * fp + pp;
        s.counts[i] = 0;
    }
    s.touched.clear();
}

int32_t greedy(const std::vector<double>& logits) {
    int32_t best = -1;
    double best_v = kNegInf;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (logits[i] > best_v) {
            best_v = logits[i];
            best = static_cast<int32_t>(i);
        }
    }
    if (best < 0) invalid("every logit is -inf (or NaN); nothing can be sampled");
    return best;
}

void top_k_filter(std::vector<double>& logits, int32_t top_k, Scratch* scratch) {
    if (top_k < 0) invalid("top_k must be >= 0, got " + std::to_string(top_k));
    if (top_k == 0) return;
    Scratch local;
    Scratch& s = scratch ? *scratch : local;
    s.order.clear();
    for (size_t i = 0; i < logits.size(); ++i)
        if (logits[i] > kNegInf) s.order.push_back(static_cast<int32_t>(i));
    const auto k = static_cast<size_t>(top_k);
    if (k >= s.order.size()) return;
    const auto better = [&logits](int32_t a, int32_t b) {
        const double la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
        return la > lb || (la == lb && a < b);
    };
    std::nth_element(s.order.begin(), s.order.begin() + static_cast<std::ptrdiff_t>(k),
                     s.order.end(), better);
    for (size_t j = k; j < s.order.size(); ++j) logits[static_cast<size_t>(s.order[j])] = kNegInf;
}

void softmax(const std::vector<double>& logits, double temperature, std::vector<double>& probs) {
    if (!(temperature > 0)) invalid("softmax temperature must be > 0");
    probs.resize(logits.size());
    double mx = kNegInf;
    for (double l : logits) mx = std::max(mx, l);
    if (!(mx > kNegInf)) invalid("every logit is -inf (or NaN); nothing can be sampled");
    const bool inf_max = std::isinf(mx);
    double sum = 0.0;
    for (size_t i = 0; i < logits.size(); ++i) {
        double p;
        if (inf_max) p = logits[i] == mx ? 1.0 : 0.0;
        else p = logits[i] > kNegInf ? std::exp((logits[i] - mx) / temperature) : 0.0;
        probs[i] = p;
        sum += p;
    }
    for (double& p : probs) p /= sum;
}

void top_p_filter(std::vector<double>& probs, double top_p, Scratch* scratch) {
    if (!(top_p > 0 && top_p <= 1)) invalid("top_p must be in (0, 1]");
    if (top_p >= 1.0) return;
    Scratch local;
    Scratch& s = scratch ? *scratch : local;
    s.order.clear();
    for (size_t i = 0; i < probs.size(); ++i)
        if (probs[i] > 0) s.order.push_back(static_cast<int32_t>(i));
    std::sort(s.order.begin(), s.order.end(), [&probs](int32_t a, int32_t b) {
        const double pa = probs[static_cast<size_t>(a)], pb = probs[static_cast<size_t>(b)];
        return pa > pb || (pa == pb && a < b);
    });
    double cum = 0.0;
    size_t keep = s.order.size();
    for (size_t j = 0; j < s.order.size(); ++j) {
        cum += probs[static_cast<size_t>(s.order[j])];
        if (cum >= top_p) {
            keep = j + 1;
            break;
        }
    }
    for (size_t j = keep; j < s.order.size(); ++j) probs[static_cast<size_t>(s.order[j])] = 0.0;
}

void min_p_filter(std::vector<double>& probs, double min_p) {
    if (!(min_p >= 0 && min_p <= 1)) invalid("min_p must be in [0, 1]");
    if (min_p <= 0) return;
    double mx = 0.0;
    for (double p : probs) mx = std::max(mx, p);
    const double threshold = min_p * mx;
    for (double& p : probs)
        if (p < threshold) p = 0.0;
}

void renormalize(std::vector<double>& probs) {
    double sum = 0.0;
    for (double p : probs) sum += p;
    if (!(sum > 0)) invalid("no token has nonzero probability");
    for (double& p : probs) p /= sum;
}

int32_t draw(const std::vector<double>& probs, double u) {
    double cum = 0.0;
    int32_t last = -1;
    for (size_t i = 0; i < probs.size(); ++i) {
        if (!(probs[i] > 0)) continue;
        cum += probs[i];
        last = static_cast<int32_t>(i);
        if (u < cum) return last;
    }
    if (last < 0) invalid("no token has nonzero probability");
    return last;
}

}  // namespace sampling

Sampler::Sampler(const SamplerParams& params, int32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), rng_(params.seed) {
    validate_sampler_params(params_, n_vocab_);
    const auto n = static_cast<size_t>(n_vocab_);
    logits_.assign(n, 0.0);
    probs_.assign(n, 0.0);
    scratch_.counts.assign(n, 0);
    scratch_.order.reserve(n);
    size_t distinct = n;
    if (params_.penalty_window >= 0)
        distinct = std::min(n, static_cast<size_t>(params_.penalty_window));
    scratch_.touched.reserve(distinct);
}

int32_t Sampler::sample(const float* logits, const int32_t* history, size_t n_history) {
    if (!logits) invalid("logits is NULL");
    if (n_history > 0 && !history) invalid("history is NULL but n_history > 0");
    const auto n = static_cast<size_t>(n_vocab_);
    for (size_t i = 0; i < n; ++i) {
        const float l = logits[i];
        logits_[i] = std::isnan(l) ? kNegInf : static_cast<double>(l);
    }
    sampling::apply_logit_bias(logits_, params_.logit_bias);
    sampling::apply_penalties(logits_, history, n_history, params_.penalty_window,
                              params_.repeat_penalty, params_.presence_penalty,
                              params_.frequency_penalty, &scratch_);
    if (params_.temperature <= 0.0f) return sampling::greedy(logits_);
    sampling::top_k_filter(logits_, params_.top_k, &scratch_);
    sampling::softmax(logits_, static_cast<double>(params_.temperature), probs_);
    sampling::top_p_filter(probs_, static_cast<double>(params_.top_p), &scratch_);
    sampling::min_p_filter(probs_, static_cast<double>(params_.min_p));
    sampling::renormalize(probs_);
    return sampling::draw(probs_, rng_.uniform());
}

void Sampler::reset(uint64_t seed) { rng_.seed(seed); }

uint64_t Sampler::rng_state() const { return rng_.state(); }

void Sampler::set_rng_state(uint64_t state) { rng_.seed(state); }

}  // namespace mola
