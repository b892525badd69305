// test_batch.cpp: continuous batching (mola_batch_decode). Sessions at different
// positions decode together step after step, joining and leaving, and each one's
// logits match a twin session decoding the same tokens alone; a fork and its
// parent share a batch (copy-on-write); every misuse fails before any session
// changes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "golden.h"
#include "mola/mola.hpp"

namespace {

// Batched steps run the projections as one matrix product over all sessions'
// rows, where a solo step runs a matrix-vector product: the sums run in another
// order, so the logits agree to float rounding, not bit for bit (measured: at
// most 8e-7 relative L2 on these models).
constexpr double kTolerance = 1e-5;

mola::Model load(const std::string& name, int block_tokens = 16, uint64_t budget = 0) {
    mola::ModelParams p;
    p.n_threads = 2;
    p.kv_cache_dtype = MOLA_KV_F32;
    p.kv_block_tokens = block_tokens;
    p.kv_cache_budget_bytes = budget;
    return mola::Model(golden::model_dir(name), p);
}

int32_t n_vocab(const mola::Model& model) { return model.info().n_vocab; }

int32_t argmax(const std::vector<float>& logits) {
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// A session under test and its twin, which receives the same tokens one at a time.
struct Pair {
    std::unique_ptr<mola::Session> batched, solo;
};

Pair twins(const mola::Model& model, size_t prompt_length, uint32_t seed) {
    const std::vector<int32_t> prompt = golden::some_tokens(prompt_length, n_vocab(model), seed);
    Pair p{std::make_unique<mola::Session>(model, 128), std::make_unique<mola::Session>(model, 128)};
    p.batched->append(prompt);
    p.solo->append(prompt);
    return p;
}

// What a session shows from outside: its tokens, logits (if any) and blocks.
struct State {
    std::vector<int32_t> tokens;
    std::vector<float> logits;
    size_t blocks;
    bool operator==(const State& o) const { return tokens == o.tokens && logits == o.logits && blocks == o.blocks; }
};

State state(const mola::Session& s) {
    State st{s.tokens(), {}, s.n_cache_blocks()};
    const float* data = nullptr;
    size_t n = 0;
    if (mola_session_get_logits(s.get(), &data, &n) == MOLA_OK) st.logits.assign(data, data + n);
    return st;
}

uint64_t blocks_used(const mola::Model& model) {
    mola_cache_usage u{};
    u.struct_size = sizeof(u);
    mola::check(mola_model_get_cache_usage(model.get(), &u));
    return u.blocks_used;
}

}  // namespace

TEST_CASE("sessions decoded in one batch match each session decoded alone", "[batch]") {
    for (const std::string name : {"v2_lite", "v3"}) {  // q_proj and q_lora queries
        DYNAMIC_SECTION(name) {
            const mola::Model model = load(name);
            mola::Batch batch(model, 8);
            std::vector<Pair> pairs;
            for (size_t length : {1, 5, 16, 29}) pairs.push_back(twins(model, length, uint32_t(length)));
            std::vector<size_t> active = {0, 1, 2, 3};
            for (int step = 0; step < 8; ++step) {
                if (step == 2) {  // a new session joins
                    pairs.push_back(twins(model, 11, 77));
                    active.push_back(pairs.size() - 1);
                }
                if (step == 4) active.erase(active.begin() + 1);  // one leaves
                if (step == 6) active.push_back(1);               // and comes back
                std::vector<mola::Session*> sessions;
                std::vector<int32_t> tokens;
                for (size_t i : active) {
                    sessions.push_back(pairs[i].batched.get());
                    tokens.push_back(argmax(pairs[i].batched->logits()));  // greedy
                }
                batch.decode(sessions, tokens);
                for (size_t k = 0; k < active.size(); ++k) {
                    Pair& p = pairs[active[k]];
                    p.solo->decode(tokens[k]);
                    const double diff = golden::rel_l2(p.batched->logits(), p.solo->logits());
                    INFO("step " << step << ", session " << active[k]);
                    CHECK(diff < kTolerance);
                    CHECK(p.batched->tokens() == p.solo->tokens());
                }
            }
        }
    }
}

TEST_CASE("one session in a batch of one equals a plain decode", "[batch]") {
    const mola::Model model = load("v3");
    mola::Batch batch(model, 1);
    Pair p = twins(model, 9, 3);
    for (int step = 0; step < 4; ++step) {
        const int32_t token = argmax(p.solo->logits());
        batch.decode({p.batched.get()}, {token});
        p.solo->decode(token);
        CHECK(golden::rel_l2(p.batched->logits(), p.solo->logits()) < kTolerance);
    }
}

TEST_CASE("a fork and its parent decode in one batch, copy-on-write", "[batch][fork]") {
    const mola::Model model = load("v3", 16);
    const std::vector<int32_t> prompt = golden::some_tokens(20, n_vocab(model), 5);  // mid-block
    mola::Session parent(model, 128);
    parent.append(prompt);
    mola::Session child = parent.fork();
    mola::Session parent_twin(model, 128), child_twin(model, 128);
    parent_twin.append(prompt);
    child_twin.append(prompt);
    const uint64_t shared = blocks_used(model);

    mola::Batch batch(model, 4);
    const std::vector<int32_t> a = golden::some_tokens(6, n_vocab(model), 8), b = golden::some_tokens(6, n_vocab(model), 9);
    for (size_t i = 0; i < a.size(); ++i) {
        batch.decode({&parent, &child}, {a[i], b[i]});
        parent_twin.decode(a[i]);
        child_twin.decode(b[i]);
        CHECK(golden::rel_l2(parent.logits(), parent_twin.logits()) < kTolerance);
        CHECK(golden::rel_l2(child.logits(), child_twin.logits()) < kTolerance);
    }
    // The block both wrote into was copied once; the first block stays shared.
    CHECK(blocks_used(model) == shared + 1);
    CHECK(parent.tokens() != child.tokens());
}

TEST_CASE("a batch that cannot run leaves every session unchanged", "[batch][errors]") {
    mola::Model probe = load("v3", 16);
    const uint64_t block_bytes = probe.info().kv_block_bytes;
    // Five blocks: four sessions of one full block each leave one free.
    const mola::Model model = load("v3", 16, 5 * block_bytes);
    const mola::Model other = load("v3", 16);
    const int32_t V = n_vocab(model);
    mola::Session a(model, 64), b(model, 64), c(model, 64), full(model, 16), elsewhere(other, 64);
    a.append(golden::some_tokens(16, V, 1));
    b.append(golden::some_tokens(16, V, 2));
    c.append(golden::some_tokens(16, V, 3));
    full.append(golden::some_tokens(16, V, 6));
    elsewhere.append(golden::some_tokens(3, V, 4));
    mola::Batch batch(model, 3);
    std::vector<mola::Session*> all = {&a, &b, &c, &full};
    std::vector<State> before;
    for (mola::Session* s : all) before.push_back(state(*s));
    const uint64_t used = blocks_used(model);

    auto fails = [&](std::vector<mola_session*> sessions, std::vector<int32_t> tokens, mola_status want,
                     const std::string& message) {
        CHECK(mola_batch_decode(batch.get(), sessions.data(), tokens.data(), sessions.size()) == want);
        CHECK_THAT(std::string(mola_last_error()), Catch::Contains(message));
        for (size_t i = 0; i < all.size(); ++i) CHECK(state(*all[i]) == before[i]);
        CHECK(blocks_used(model) == used);
    };
    fails({a.get(), b.get(), c.get(), full.get()}, {1, 2, 3, 4}, MOLA_ERR_INVALID_ARG, "at most 3");
    fails({a.get(), elsewhere.get()}, {1, 2}, MOLA_ERR_INVALID_ARG, "session 1 belongs to another model");
    fails({a.get(), b.get(), a.get()}, {1, 2, 3}, MOLA_ERR_INVALID_ARG, "session 2 is session 0 again");
    fails({a.get(), nullptr}, {1, 2}, MOLA_ERR_INVALID_ARG, "session 1 is NULL");
    fails({a.get(), b.get()}, {1, V}, MOLA_ERR_INVALID_ARG, "token 1 is " + std::to_string(V));
    fails({a.get(), b.get()}, {-1, 2}, MOLA_ERR_INVALID_ARG, "token 0 is -1");
    // a takes the one free block, b finds none: a gives its block back.
    fails({a.get(), b.get()}, {1, 2}, MOLA_ERR_CACHE_FULL, "session 1");
    CHECK(mola_batch_decode(nullptr, nullptr, nullptr, 0) == MOLA_ERR_INVALID_ARG);
    CHECK(mola_batch_decode(batch.get(), nullptr, nullptr, 1) == MOLA_ERR_INVALID_ARG);
    CHECK_THROWS_AS(batch.decode({&a}, {1, 2}), mola::Error);

    // A session at n_ctx is CONTEXT_FULL, also beside others that fit.
    fails({a.get(), full.get()}, {1, 2}, MOLA_ERR_CONTEXT_FULL, "session 1 holds 16 of 16");

    // Nothing to do is not an error; one session alone takes the free block.
    CHECK(mola_batch_decode(batch.get(), nullptr, nullptr, 0) == MOLA_OK);
    batch.decode({&a}, {1});
    CHECK(a.n_tokens() == 17);
}

TEST_CASE("batch creation checks its arguments; cancel does not stop a step", "[batch][errors]") {
    const mola::Model model = load("v3");
    mola_batch* batch = nullptr;
    CHECK(mola_batch_create(nullptr, 4, &batch) == MOLA_ERR_INVALID_ARG);
    CHECK(mola_batch_create(model.get(), 0, &batch) == MOLA_ERR_INVALID_ARG);
    CHECK_THAT(std::string(mola_last_error()), Catch::Contains("max_sessions 0"));
    CHECK(mola_batch_create(model.get(), 5000, &batch) == MOLA_ERR_INVALID_ARG);
    CHECK(mola_batch_create(model.get(), 4, nullptr) == MOLA_ERR_INVALID_ARG);
    CHECK(batch == nullptr);
    mola_batch_destroy(nullptr);

    mola::Batch b(model, 2);
    mola::Session s(model, 32);
    s.append({1, 2, 3});
    s.cancel();
    b.decode({&s}, {4});
    CHECK(s.n_tokens() == 4);
    // The request stays for the next generate, which stops at once.
    const mola::GenerateResult r = s.generate({}, mola::SamplerParams(), mola::GenerateOptions());
    CHECK(r.finish_reason == MOLA_FINISH_CANCELLED);
}
