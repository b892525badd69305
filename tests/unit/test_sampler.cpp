// test_sampler.cpp: the sampler chain against numpy goldens
// (tools/make_sampler_goldens.py, an independent float64 implementation of the
// rules in lib/sampling/sampler.h), PRNG goldens, determinism, greedy, empirical
// frequencies and parameter validation.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "sampling/sampler.h"

using mola::Sampler;
using mola::SamplerParams;
using nlohmann::json;
namespace ms = mola::sampling;

namespace {

const json& goldens() {
    static const json g = [] {
        std::ifstream f(std::string(MOLA_TEST_DATA) + "/sampling/goldens.json", std::ios::binary);
        REQUIRE(f.good());
        std::stringstream ss;
        ss << f.rdbuf();
        return json::parse(ss.str());
    }();
    return g;
}

double num(const json& v) {
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        if (s == "-inf") return -std::numeric_limits<double>::infinity();
        if (s == "inf") return std::numeric_limits<double>::infinity();
        FAIL("bad number string " << s);
    }
    return v.get<double>();
}

std::vector<double> vec(const json& a) {
    std::vector<double> out;
    for (const auto& v : a) out.push_back(num(v));
    return out;
}

std::vector<std::pair<int32_t, float>> bias_of(const json& a) {
    std::vector<std::pair<int32_t, float>> out;
    for (const auto& b : a) out.emplace_back(b[0].get<int32_t>(), static_cast<float>(num(b[1])));
    return out;
}

// Exact on zeros and infinities, 1e-6 relative otherwise.
bool close(double got, double want) {
    if (std::isinf(want) || want == 0.0) return got == want;
    return std::fabs(got - want) <= 1e-6 * std::fabs(want);
}

void check_vec(const std::vector<double>& got, const std::vector<double>& want,
               const std::string& what) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        INFO(what << " index " << i << ": got " << got[i] << " want " << want[i]);
        CHECK(close(got[i], want[i]));
    }
}

SamplerParams params_of(const json& p) {
    SamplerParams s;
    s.temperature = static_cast<float>(num(p["temperature"]));
    s.top_k = p["top_k"].get<int32_t>();
    s.top_p = static_cast<float>(num(p["top_p"]));
    s.min_p = static_cast<float>(num(p["min_p"]));
    s.repeat_penalty = static_cast<float>(num(p["repeat_penalty"]));
    s.presence_penalty = static_cast<float>(num(p["presence_penalty"]));
    s.frequency_penalty = static_cast<float>(num(p["frequency_penalty"]));
    s.penalty_window = p["penalty_window"].get<int32_t>();
    s.logit_bias = bias_of(p["logit_bias"]);
    return s;
}

std::vector<float> floats(const std::vector<double>& v) {
    return std::vector<float>(v.begin(), v.end());
}

std::vector<float> random_logits(size_t n, uint64_t seed) {
    ms::SplitMix64 g(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(g.uniform() * 8.0 - 4.0);
    return v;
}

}  // namespace

TEST_CASE("splitmix64 matches the Python reimplementation", "[sampler]") {
    for (const auto& r : goldens()["prng"]) {
        const uint64_t seed = r["seed"].get<uint64_t>();
        ms::SplitMix64 g(seed);
        for (const auto& v : r["next"]) CHECK(g.next() == v.get<uint64_t>());
        g.seed(seed);
        for (const auto& v : r["uniform"]) CHECK(g.uniform() == v.get<double>());
    }
    ms::SplitMix64 g(0);
    CHECK(g.next() == 0xE220A8397B1DCDAFull);  // published splitmix64(0) first output
}

TEST_CASE("each stage matches the numpy goldens", "[sampler]") {
    size_t n_checked = 0;
    for (const auto& r : goldens()["stages"]) {
        const std::string stage = r["stage"].get<std::string>();
        const std::string what = stage + " " + r["case"].get<std::string>() + " " + r["params"].dump();
        INFO(what);
        std::vector<double> x = vec(r["input"]);
        const json& p = r["params"];
        if (stage == "logit_bias") {
            ms::apply_logit_bias(x, bias_of(p["logit_bias"]));
            check_vec(x, vec(r["output"]), what);
        } else if (stage == "penalties") {
            const auto hist = p["history"].get<std::vector<int32_t>>();
            ms::apply_penalties(x, hist.data(), hist.size(), p["penalty_window"].get<int32_t>(),
                                static_cast<float>(num(p["repeat_penalty"])),
                                static_cast<float>(num(p["presence_penalty"])),
                                static_cast<float>(num(p["frequency_penalty"])));
            check_vec(x, vec(r["output"]), what);
        } else if (stage == "greedy") {
            CHECK(ms::greedy(x) == r["token"].get<int32_t>());
        } else if (stage == "top_k") {
            ms::top_k_filter(x, p["top_k"].get<int32_t>());
            check_vec(x, vec(r["output"]), what);
        } else if (stage == "softmax") {
            std::vector<double> probs;
            ms::softmax(x, static_cast<double>(static_cast<float>(num(p["temperature"]))), probs);
            check_vec(probs, vec(r["output"]), what);
        } else if (stage == "top_p") {
            ms::top_p_filter(x, static_cast<double>(static_cast<float>(num(p["top_p"]))));
            check_vec(x, vec(r["output"]), what);
        } else if (stage == "min_p") {
            ms::min_p_filter(x, static_cast<double>(static_cast<float>(num(p["min_p"]))));
            check_vec(x, vec(r["output"]), what);
        } else if (stage == "renormalize") {
            ms::renormalize(x);
            check_vec(x, vec(r["output"]), what);
        } else if (stage == "draw") {
            CHECK(ms::draw(x, num(p["u"])) == r["token"].get<int32_t>());
        } else {
            FAIL("unknown stage " << stage);
        }
        ++n_checked;
    }
    CHECK(n_checked > 400);
}

TEST_CASE("the full chain matches the numpy goldens, token for token", "[sampler]") {
    for (const auto& r : goldens()["pipeline"]) {
        INFO(r["case"].get<std::string>() << " seed " << r["seed"].get<uint64_t>());
        SamplerParams sp = params_of(r["params"]);
        sp.seed = r["seed"].get<uint64_t>();
        const std::vector<float> logits = floats(vec(r["logits"]));
        const auto hist = r["history"].get<std::vector<int32_t>>();
        Sampler s(sp, static_cast<int32_t>(logits.size()));
        std::vector<int32_t> got;
        for (size_t i = 0; i < r["tokens"].size(); ++i)
            got.push_back(s.sample(logits.data(), hist.data(), hist.size()));
        CHECK(got == r["tokens"].get<std::vector<int32_t>>());
        if (r.contains("probs")) check_vec(s.last_probs(), vec(r["probs"]), "final probs");
    }
}

TEST_CASE("empirical frequencies over 20000 draws match the numpy distribution", "[sampler]") {
    int n_cases = 0;
    for (const auto& r : goldens()["pipeline"]) {
        if (!r.contains("probs") || r["seed"].get<uint64_t>() != 12345) continue;
        INFO(r["case"].get<std::string>());
        SamplerParams sp = params_of(r["params"]);
        sp.seed = 987654321;
        const std::vector<float> logits = floats(vec(r["logits"]));
        const auto hist = r["history"].get<std::vector<int32_t>>();
        const std::vector<double> want = vec(r["probs"]);
        Sampler s(sp, static_cast<int32_t>(logits.size()));
        const int N = 20000;
        std::vector<int> counts(logits.size(), 0);
        for (int i = 0; i < N; ++i) ++counts[static_cast<size_t>(s.sample(logits.data(), hist.data(), hist.size()))];
        for (size_t i = 0; i < want.size(); ++i) {
            const double f = static_cast<double>(counts[i]) / N;
            const double sigma = std::sqrt(want[i] * (1.0 - want[i]) / N);
            INFO("token " << i << " freq " << f << " want " << want[i]);
            if (want[i] == 0.0) CHECK(counts[i] == 0);
            else CHECK(std::fabs(f - want[i]) <= 5.0 * sigma + 1e-4);
        }
        ++n_cases;
    }
    CHECK(n_cases >= 10);
}

TEST_CASE("same seed gives the same 1000 tokens; different seeds differ", "[sampler]") {
    const std::vector<float> logits = random_logits(500, 99);
    std::vector<int32_t> hist = {1, 2, 3, 3, 7, 400};
    SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.1f;
    auto run = [&](uint64_t seed) {
        p.seed = seed;
        Sampler s(p, 500);
        std::vector<int32_t> out;
        for (int i = 0; i < 1000; ++i) out.push_back(s.sample(logits.data(), hist.data(), hist.size()));
        return out;
    };
    const auto a = run(7), b = run(7), c = run(8);
    CHECK(a == b);
    CHECK(a != c);

    // reset() restarts the sequence
    p.seed = 7;
    Sampler s(p, 500);
    for (int i = 0; i < 10; ++i) s.sample(logits.data(), hist.data(), hist.size());
    s.reset(7);
    std::vector<int32_t> again;
    for (int i = 0; i < 1000; ++i) again.push_back(s.sample(logits.data(), hist.data(), hist.size()));
    CHECK(again == a);
}

TEST_CASE("greedy equals argmax with ties to the lower id", "[sampler]") {
    SamplerParams p;
    p.temperature = 0.0f;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        const auto logits = random_logits(1000, seed);
        Sampler s(p, 1000);
        size_t best = 0;
        for (size_t i = 1; i < logits.size(); ++i)
            if (logits[i] > logits[best]) best = i;
        CHECK(s.sample(logits.data(), nullptr, 0) == static_cast<int32_t>(best));
    }
    std::vector<float> tie = {0.f, 3.f, 1.f, 3.f};
    Sampler s(p, 4);
    CHECK(s.sample(tie.data(), nullptr, 0) == 1);
    // Greedy still applies logit bias and penalties.
    p.logit_bias = {{1, -1.0f}};
    Sampler sb(p, 4);
    CHECK(sb.sample(tie.data(), nullptr, 0) == 3);
    // top_k = 1 at any temperature is greedy too.
    SamplerParams k1;
    k1.top_k = 1;
    Sampler sk(k1, 4);
    for (int i = 0; i < 50; ++i) CHECK(sk.sample(tie.data(), nullptr, 0) == 1);
}

TEST_CASE("invalid sampler params are rejected with INVALID_ARG", "[sampler]") {
    auto rejects = [](const SamplerParams& p, int32_t n_vocab, const std::string& field) {
        try {
            Sampler s(p, n_vocab);
            FAIL("accepted bad " << field);
        } catch (const mola::Error& e) {
            CHECK(e.status() == MOLA_ERR_INVALID_ARG);
            CHECK(std::string(e.what()).find(field) != std::string::npos);
        }
    };
    SamplerParams ok;
    CHECK_NOTHROW(Sampler(ok, 10));
    rejects(ok, 0, "n_vocab");
    SamplerParams p;
    p.top_k = -1;
    rejects(p, 10, "top_k");
    p = ok;
    p.top_p = 0.0f;
    rejects(p, 10, "top_p");
    p.top_p = 1.5f;
    rejects(p, 10, "top_p");
    p.top_p = std::nanf("");
    rejects(p, 10, "top_p");
    p = ok;
    p.min_p = -0.1f;
    rejects(p, 10, "min_p");
    p.min_p = 1.1f;
    rejects(p, 10, "min_p");
    p = ok;
    p.repeat_penalty = 0.0f;
    rejects(p, 10, "repeat_penalty");
    p = ok;
    p.presence_penalty = std::numeric_limits<float>::infinity();
    rejects(p, 10, "presence_penalty");
    p = ok;
    p.frequency_penalty = std::nanf("");
    rejects(p, 10, "frequency_penalty");
    p = ok;
    p.penalty_window = -2;
    rejects(p, 10, "penalty_window");
    p = ok;
    p.temperature = std::nanf("");
    rejects(p, 10, "temperature");
    p = ok;
    p.logit_bias = {{10, 1.0f}};
    rejects(p, 10, "logit_bias");
    p.logit_bias = {{-1, 1.0f}};
    rejects(p, 10, "logit_bias");
    p.logit_bias = {{2, std::numeric_limits<float>::infinity()}};
    rejects(p, 10, "logit_bias");

    // Bad history ids and an all -inf input are errors at sample() time.
    Sampler s(ok, 4);
    std::vector<float> logits = {0.f, 1.f, 2.f, 3.f};
    std::vector<int32_t> hist = {1, 4};
    SamplerParams pen = ok;
    pen.repeat_penalty = 1.2f;
    Sampler sp(pen, 4);
    CHECK_THROWS_AS(sp.sample(logits.data(), hist.data(), hist.size()), mola::Error);
    hist = {1, 2};
    CHECK_NOTHROW(sp.sample(logits.data(), hist.data(), hist.size()));
    const float ninf = -std::numeric_limits<float>::infinity();
    std::vector<float> dead = {ninf, ninf, ninf, ninf};
    CHECK_THROWS_AS(s.sample(dead.data(), nullptr, 0), mola::Error);
}
