// test_session_fork.cpp: mola_session_fork: a child session that shares its
// parent's cache blocks copy-on-write. Forks mid-block and at a block boundary
// (block sizes 16 and 64, F32 and BF16 caches) decode divergent continuations
// with the logits of fresh sessions; the pool shows the sharing; rewinding or
// destroying one side leaves the other intact; eight forks decode on eight
// threads at once; a copy the budget cannot hold is MOLA_ERR_CACHE_FULL with the
// session unchanged.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "golden.h"
#include "mola/mola.hpp"

namespace {

const std::string kV3 = golden::model_dir("v3");
constexpr int32_t kVocab = 352;

std::string last_error() { return mola_last_error(); }

// Without the prefix cache: these tests compare forks bit for bit with fresh
// sessions that replay the same kernel calls, which a fresh session taking cached
// blocks would not (test_prefix_cache.cpp covers forks with the prefix cache).
mola::Model load(mola_kv_dtype dtype, int block_tokens, uint64_t budget = 0) {
    mola::ModelParams p;
    p.n_threads = 1;
    p.kv_cache_dtype = dtype;
    p.kv_block_tokens = block_tokens;
    p.kv_cache_budget_bytes = budget;
    p.prefix_cache = false;
    return mola::Model(kV3, p);
}

std::vector<int32_t> some_tokens(size_t n, uint32_t seed) { return golden::some_tokens(n, kVocab, seed); }

std::vector<int32_t> concat(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    std::vector<int32_t> out(a);
    out.insert(out.end(), b.begin(), b.end());
    return out;
}

// Logits after each token, decoded one at a time.
std::vector<std::vector<float>> decode_all(mola::Session& s, const std::vector<int32_t>& tokens) {
    std::vector<std::vector<float>> all;
    for (int32_t t : tokens) {
        s.decode(t);
        all.push_back(s.logits());
    }
    return all;
}

double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
        den += double(want[i]) * want[i];
    }
    return std::sqrt(num / den);
}

// The logits of a fresh session that prefills all of tokens at once.
std::vector<float> full_prefill(const mola::Model& model, const std::vector<int32_t>& tokens) {
    mola::Session s(model, 256);
    s.append(tokens);
    return s.logits();
}

// A fresh session that appends prompt and then decodes cont one at a time: the
// same kernel calls a forked session makes, so the logits are bit for bit equal.
std::vector<std::vector<float>> replay(const mola::Model& model, const std::vector<int32_t>& prompt,
                                       const std::vector<int32_t>& cont) {
    mola::Session s(model, 256);
    s.append(prompt);
    return decode_all(s, cont);
}

}  // namespace

TEST_CASE("a fork shares the blocks and decodes like a fresh session", "[fork]") {
    for (const mola_kv_dtype dtype : {MOLA_KV_F32, MOLA_KV_BF16})
        for (const int bt : {16, 64})
            for (const bool boundary : {false, true}) {
                const size_t n_prompt = boundary ? size_t(2 * bt) : size_t(bt + bt / 2 + 3);
                INFO("dtype " << (dtype == MOLA_KV_F32 ? "f32" : "bf16") << ", block " << bt << ", prompt "
                              << n_prompt);
                mola::Model model = load(dtype, bt);
                const std::vector<int32_t> prompt = some_tokens(n_prompt, 3);
                const std::vector<int32_t> cont_a = some_tokens(5, 11), cont_b = some_tokens(5, 12);
                const int64_t u = int64_t((n_prompt + size_t(bt) - 1) / size_t(bt));

                mola::Session parent(model, 256);
                parent.append(prompt);
                const std::vector<float> prompt_logits = parent.logits();
                REQUIRE(model.cache_usage().blocks_used == uint64_t(u));

                mola::Session child = parent.fork();
                CHECK(child.n_tokens() == n_prompt);
                CHECK(child.tokens() == prompt);
                CHECK(child.n_ctx() == parent.n_ctx());
                CHECK(child.logits() == prompt_logits);
                CHECK(child.n_cache_blocks() == size_t(u));
                CHECK(model.cache_usage().blocks_used == uint64_t(u));  // shared, nothing copied

                // Mid-block, the parent's first write copies the shared last block;
                // then the child holds the original alone and writes in place. At a
                // boundary each side takes one new block of its own.
                const std::vector<std::vector<float>> got_a = decode_all(parent, cont_a);
                CHECK(model.cache_usage().blocks_used == uint64_t(u + 1));
                const std::vector<std::vector<float>> got_b = decode_all(child, cont_b);
                CHECK(model.cache_usage().blocks_used == uint64_t(boundary ? u + 2 : u + 1));
                CHECK(parent.n_cache_blocks() == size_t(boundary ? u + 1 : u));
                CHECK(child.n_cache_blocks() == size_t(boundary ? u + 1 : u));

                CHECK(got_a == replay(model, prompt, cont_a));
                CHECK(got_b == replay(model, prompt, cont_b));
                const double e_a = rel_l2(got_a.back(), full_prefill(model, concat(prompt, cont_a)));
                const double e_b = rel_l2(got_b.back(), full_prefill(model, concat(prompt, cont_b)));
                INFO("relative L2 to a full prefill: " << e_a << ", " << e_b);
                CHECK(e_a < 1e-5);
                CHECK(e_b < 1e-5);
                CHECK(parent.tokens() == concat(prompt, cont_a));
                CHECK(child.tokens() == concat(prompt, cont_b));
            }
}

TEST_CASE("rewinding a fork leaves its parent intact", "[fork][rewind]") {
    mola::Model model = load(MOLA_KV_F32, 16);
    const std::vector<int32_t> prompt = some_tokens(21, 5), other = some_tokens(9, 6), cont = some_tokens(4, 7);
    mola::Session parent(model, 256);
    parent.append(prompt);
    const std::vector<float> prompt_logits = parent.logits();

    mola::Session child = parent.fork();
    child.rewind(10);
    CHECK(child.n_tokens() == 10);
    CHECK(child.n_cache_blocks() == 1);
    CHECK(model.cache_usage().blocks_used == 2);  // the second block is the parent's alone now
    const std::vector<std::vector<float>> got_child = decode_all(child, other);  // overwrites rows 10.. of a copy
    CHECK(parent.n_tokens() == 21);
    CHECK(parent.logits() == prompt_logits);
    CHECK(decode_all(parent, cont) == replay(model, prompt, cont));
    {  // A fresh session with the child's history: the prompt's prefill, a rewind, the decodes.
        mola::Session fresh(model, 256);
        fresh.append(prompt);
        fresh.rewind(10);
        CHECK(got_child == decode_all(fresh, other));
    }

    // And the other way round: the parent rewinds, the child is unaffected.
    const std::vector<float> before = parent.logits();
    mola::Session child2 = parent.fork();
    parent.rewind(3);
    parent.decode(other[0]);
    CHECK(child2.logits() == before);
    mola::Session fresh(model, 256);
    fresh.append(prompt);
    decode_all(fresh, cont);
    CHECK(decode_all(child2, other) == decode_all(fresh, other));
}

TEST_CASE("a fork outlives its parent", "[fork]") {
    mola::Model model = load(MOLA_KV_BF16, 16);
    const std::vector<int32_t> prompt = some_tokens(37, 8), cont = some_tokens(20, 9);
    mola::Session child(model, 1);
    {
        mola::Session parent(model, 256);
        parent.append(prompt);
        child = parent.fork();
    }
    CHECK(model.cache_usage().blocks_used == 3);
    CHECK(decode_all(child, cont) == replay(model, prompt, cont));
    child.rewind(0);
    CHECK(model.cache_usage().blocks_used == 0);
}

TEST_CASE("eight forks decode on eight threads at once", "[fork][threads]") {
    mola::Model model = load(MOLA_KV_F32, 16);
    const std::vector<int32_t> prompt = some_tokens(27, 10);
    mola::Session parent(model, 256);
    parent.append(prompt);
    std::vector<mola::Session> forks;
    std::vector<std::vector<int32_t>> conts;
    for (uint32_t i = 0; i < 8; ++i) {
        forks.push_back(parent.fork());
        conts.push_back(some_tokens(12, 100 + i));
    }
    CHECK(model.cache_usage().blocks_used == 2);
    std::vector<std::vector<std::vector<float>>> got(8);
    std::vector<std::string> errors(8);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < 8; ++i)
        threads.emplace_back([&, i] {
            try {
                got[i] = decode_all(forks[i], conts[i]);
                forks[i].rewind(20);  // drop shared and own blocks while others decode
                got[i].push_back(decode_all(forks[i], {conts[i][0]}).back());
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    for (std::thread& t : threads) t.join();
    for (size_t i = 0; i < 8; ++i) {
        INFO("fork " << i << ": " << errors[i]);
        REQUIRE(errors[i].empty());
        mola::Session fresh(model, 256);
        fresh.append(prompt);
        std::vector<std::vector<float>> want = decode_all(fresh, conts[i]);
        fresh.rewind(20);
        want.push_back(decode_all(fresh, {conts[i][0]}).back());
        CHECK(got[i] == want);
    }
    CHECK(decode_all(parent, conts[0]) == replay(model, prompt, conts[0]));
}

TEST_CASE("a copy-on-write the budget cannot hold is MOLA_ERR_CACHE_FULL; the session is unchanged",
          "[fork][budget]") {
    const uint64_t block_bytes = load(MOLA_KV_BF16, 16).info().kv_block_bytes;
    mola::Model model = load(MOLA_KV_BF16, 16, 2 * block_bytes);
    const std::vector<int32_t> prompt = some_tokens(20, 13), cont = some_tokens(3, 14);
    mola::Session parent(model, 256);
    parent.append(prompt);
    const std::vector<float> logits = parent.logits();
    mola::Session child = parent.fork();
    REQUIRE(model.cache_usage().blocks_free == 0);

    const mola_status st = mola_session_decode(child.get(), cont[0]);
    INFO("mola_last_error(): " << last_error());
    REQUIRE(std::string(mola_status_string(st)) == mola_status_string(MOLA_ERR_CACHE_FULL));
    CHECK_THAT(last_error(), Catch::Contains("cache is full"));
    CHECK(child.n_tokens() == 20);
    CHECK(child.tokens() == prompt);
    CHECK(child.logits() == logits);
    CHECK(child.n_cache_blocks() == 2);
    CHECK(model.cache_usage().blocks_used == 2);
    CHECK(mola_session_decode(parent.get(), cont[0]) == MOLA_ERR_CACHE_FULL);
    CHECK(parent.logits() == logits);

    // Once the parent is gone the child's blocks are its own and it writes in place.
    { mola::Session gone = std::move(parent); }
    CHECK(model.cache_usage().blocks_used == 2);
    CHECK(decode_all(child, cont) == replay(load(MOLA_KV_BF16, 16), prompt, cont));
}

TEST_CASE("mola_session_fork checks its arguments", "[fork]") {
    mola_session* child = reinterpret_cast<mola_session*>(1);
    CHECK(mola_session_fork(nullptr, &child) == MOLA_ERR_INVALID_ARG);
    CHECK(child == nullptr);
    mola::Model model = load(MOLA_KV_BF16, 16);
    mola::Session parent(model, 64);
    CHECK(mola_session_fork(parent.get(), nullptr) == MOLA_ERR_INVALID_ARG);
    // A session without tokens forks into an empty one.
    REQUIRE(mola_session_fork(parent.get(), &child) == MOLA_OK);
    size_t n = 99;
    CHECK(mola_session_get_n_tokens(child, &n) == MOLA_OK);
    CHECK(n == 0);
    mola_session_destroy(child);
}
