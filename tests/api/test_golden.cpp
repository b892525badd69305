// test_golden.cpp: logits against the independent oracle (Hugging Face
// transformers on the same random weights, tools/make_test_models.py), and the
// engine's own consistency: decode vs full forward, absorbed vs naive MLA,
// chunked prefill, rewind.
#include <catch2/catch.hpp>

#include "golden.h"
#include "mola/mola.hpp"

namespace {

constexpr double kTolerance = 1e-4;  // relative L2 error against the fp32 oracle

// The oracle keeps its KV cache in fp32, so these tests ask for the exact F32
// cache (test_kv_cache.cpp measures the BF16 and FP8 caches against it).
mola::Model load(const std::string& name, mola_mla_mode mode = MOLA_MLA_AUTO, int threads = 2) {
    mola::ModelParams p;
    p.mla_mode = mode;
    p.n_threads = threads;
    p.kv_cache_dtype = MOLA_KV_F32;
    return mola::Model(golden::model_dir(name), p);
}

}  // namespace

TEST_CASE("full-sequence logits match the oracle for every model and MLA form", "[golden]") {
    for (const std::string& name : golden::models()) {
        for (mola_mla_mode mode : {MOLA_MLA_AUTO, MOLA_MLA_NAIVE, MOLA_MLA_ABSORBED}) {
            mola::Model model = load(name, mode);
            for (const golden::Case& c : golden::read_cases(name)) {
                mola::Session session(model, int(c.tokens.size()));
                const std::vector<float> logits = session.append_all_logits(c.tokens);
                const double err = golden::rel_l2(logits, c.logits);
                INFO(name << " mla_mode " << mode << " with " << c.tokens.size() << " tokens: rel L2 " << err);
                CHECK(err <= kTolerance);
                // The last row is also what get_logits reports.
                const std::vector<float> last = session.logits();
                CHECK(golden::rel_l2(last.data(), c.logits.data() + (c.tokens.size() - 1) * c.vocab, c.vocab) <=
                      kTolerance);
            }
        }
    }
}

TEST_CASE("token-by-token decode matches the full-sequence forward", "[golden][decode]") {
    for (const std::string& name : golden::models()) {
        mola::Model model = load(name);
        const golden::Case c = golden::read_cases(name).back();  // the longest case
        mola::Session session(model, int(c.tokens.size()));
        double worst = 0;
        for (size_t i = 0; i < c.tokens.size(); ++i) {
            session.decode(c.tokens[i]);
            const std::vector<float> logits = session.logits();
            worst = std::max(worst, golden::rel_l2(logits.data(), c.logits.data() + i * c.vocab, c.vocab));
        }
        INFO(name << ": worst per-token rel L2 " << worst);
        CHECK(worst <= kTolerance);
    }
}

TEST_CASE("absorbed and naive MLA agree, in prefill and in decode", "[mla]") {
    for (const std::string& name : golden::models()) {
        const golden::Case c = golden::read_cases(name).back();
        mola::Model naive = load(name, MOLA_MLA_NAIVE), absorbed = load(name, MOLA_MLA_ABSORBED);
        mola::Session a(naive, int(c.tokens.size())), b(absorbed, int(c.tokens.size()));
        const double prefill = golden::rel_l2(a.append_all_logits(c.tokens), b.append_all_logits(c.tokens));
        INFO(name << ": prefill rel L2 " << prefill);
        CHECK(prefill <= 1e-5);
        a.rewind(10);
        b.rewind(10);
        double decode = 0;
        for (size_t i = 10; i < c.tokens.size(); ++i) {
            a.decode(c.tokens[i]);
            b.decode(c.tokens[i]);
            decode = std::max(decode, golden::rel_l2(a.logits(), b.logits()));
        }
        INFO(name << ": decode rel L2 " << decode);
        CHECK(decode <= 1e-5);
    }
}

TEST_CASE("chunked prefill over an existing cache matches one pass", "[prefill]") {
    for (const std::string& name : golden::models()) {
        const golden::Case c = golden::read_cases(name).back();
        mola::Model model = load(name);
        for (int n_batch : {1, 5, 16, 64}) {
            mola::Session session(model, int(c.tokens.size()), n_batch);
            const std::vector<float> logits = session.append_all_logits(c.tokens);
            INFO(name << " n_batch " << n_batch);
            CHECK(golden::rel_l2(logits, c.logits) <= kTolerance);
        }
        // Appending in uneven pieces also lands on the same last logits.
        mola::Session session(model, int(c.tokens.size()));
        size_t done = 0;
        for (size_t piece : {size_t(3), size_t(20), size_t(1)}) {
            session.append(std::vector<int32_t>(c.tokens.begin() + long(done), c.tokens.begin() + long(done + piece)));
            done += piece;
        }
        session.append(std::vector<int32_t>(c.tokens.begin() + long(done), c.tokens.end()));
        CHECK(golden::rel_l2(session.logits().data(), c.logits.data() + (c.tokens.size() - 1) * c.vocab, c.vocab) <=
              kTolerance);
    }
}

TEST_CASE("rewind, then re-decode, gives the same logits", "[rewind]") {
    for (const std::string& name : golden::models()) {
        const golden::Case c = golden::read_cases(name).back();
        mola::Model model = load(name);
        mola::Session session(model, int(c.tokens.size()));
        // Decode once token by token, keeping every step's logits.
        std::vector<std::vector<float>> first;
        for (int32_t token : c.tokens) {
            session.decode(token);
            first.push_back(session.logits());
        }
        for (size_t keep : {size_t(0), size_t(1), size_t(17), c.tokens.size() - 1}) {
            session.rewind(keep);
            CHECK(session.n_tokens() == keep);
            CHECK_THROWS_AS(session.logits(), mola::Error);
            double worst = 0;
            for (size_t i = keep; i < c.tokens.size(); ++i) {
                session.decode(c.tokens[i]);
                worst = std::max(worst, golden::rel_l2(session.logits(), first[i]));
            }
            // The same computation over the same cache: identical up to rounding.
            INFO(name << " rewound to " << keep << ": worst rel L2 " << worst);
            CHECK(worst <= 1e-6);
            CHECK(session.tokens() == c.tokens);
        }
        // Rewinding to a point and continuing with different tokens forgets the old ones.
        session.rewind(5);
        std::vector<int32_t> other(c.tokens.begin(), c.tokens.begin() + 5);
        for (int i = 0; i < 6; ++i) other.push_back(int32_t((c.tokens[size_t(i)] + 7) % int32_t(c.vocab)));
        session.append(std::vector<int32_t>(other.begin() + 5, other.end()));
        mola::Session fresh(model, int(c.tokens.size()));
        fresh.append(other);
        CHECK(golden::rel_l2(session.logits(), fresh.logits()) <= kTolerance);
    }
}

TEST_CASE("results do not depend on the thread count", "[threads]") {
    const golden::Case c = golden::read_cases("v3").back();
    mola::Model one = load("v3", MOLA_MLA_AUTO, 1), two = load("v3", MOLA_MLA_AUTO, 2);
    mola::Session a(one, int(c.tokens.size())), b(two, int(c.tokens.size()));
    CHECK(golden::rel_l2(a.append_all_logits(c.tokens), b.append_all_logits(c.tokens)) <= 1e-6);
}
