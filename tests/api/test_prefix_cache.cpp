// test_prefix_cache.cpp: the shared-prefix cache through the public API. A session
// whose tokens start with cached full blocks takes them instead of computing them
// (the counters show it) and gets the logits of a model without the cache (F32
// cache, relative L2 < 1e-5), also after the session that computed them is gone;
// partial blocks, a differing token and all-logits appends stop the reuse; under a
// small budget the least recently used cached blocks are evicted first and blocks
// that live sessions hold never are (MOLA_ERR_CACHE_FULL, the session unchanged);
// rewinding into a shared block copies it first; forks, generate and restored
// sessions work with it; the switch and mola_model_clear_prefix_cache; many threads
// starting sessions with a common prefix at once.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint_files.h"
#include "golden.h"
#include "mola/mola.hpp"

namespace {

const std::string kV3 = golden::model_dir("v3");
const std::string kV2Lite = golden::model_dir("v2_lite");
constexpr int kBlock = 4;  // tokens per cache block
constexpr double kTolerance = 1e-5;

std::string last_error() { return mola_last_error(); }

mola::Model load(const std::string& dir, bool prefix_cache, uint64_t budget_blocks = 0) {
    mola::ModelParams p;
    p.n_threads = 1;
    p.kv_cache_dtype = MOLA_KV_F32;
    p.kv_block_tokens = kBlock;
    p.prefix_cache = prefix_cache;
    if (budget_blocks > 0) {
        p.kv_cache_budget_bytes = 0;
        const uint64_t block_bytes = mola::Model(dir, p).info().kv_block_bytes;
        p.kv_cache_budget_bytes = budget_blocks * block_bytes;
    }
    return mola::Model(dir, p);
}

int32_t vocab(const mola::Model& m) { return m.info().n_vocab; }

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

std::vector<int32_t> head(const std::vector<int32_t>& t, size_t n) { return {t.begin(), t.begin() + ptrdiff_t(n)}; }

// The logits after tokens on a model without the prefix cache.
std::vector<float> reference(const mola::Model& plain, const std::vector<int32_t>& tokens) {
    mola::Session s(plain, 256);
    s.append(tokens);
    return s.logits();
}

double error_to(const mola::Session& s, const mola::Model& plain, const std::vector<int32_t>& history) {
    return golden::rel_l2(s.logits(), reference(plain, history));
}

}  // namespace

TEST_CASE("a session starting with cached blocks takes them and gets the logits of a full recompute",
          "[prefix_cache]") {
    for (const std::string& dir : {kV3, kV2Lite}) {
        INFO(dir);
        mola::Model model = load(dir, true), plain = load(dir, false);
        const std::vector<int32_t> a_prompt = golden::some_tokens(21, vocab(model), 1);  // 5 full blocks + 1
        const std::vector<int32_t> b_prompt = concat(a_prompt, golden::some_tokens(10, vocab(model), 2));

        mola::Session a(model, 256);
        a.append(a_prompt);
        CHECK(model.cache_usage().prefix_hits == 0);
        CHECK(error_to(a, plain, a_prompt) < kTolerance);

        // b takes a's 5 full blocks (20 tokens) and computes 11 tokens.
        mola::Session b(model, 256);
        b.append(b_prompt);
        mola_cache_usage u = model.cache_usage();
        CHECK(u.prefix_cache == 1);
        CHECK(u.prefix_hits == 1);
        CHECK(u.prefix_tokens_reused == 20);
        CHECK(b.n_tokens() == b_prompt.size());
        CHECK(b.tokens() == b_prompt);
        CHECK(b.n_cache_blocks() == 8);
        CHECK(u.blocks_used == 6 + 3);  // a's 6 blocks, b's 3 of its own
        CHECK(error_to(b, plain, b_prompt) < kTolerance);
        // And decodes on from there like a full recompute.
        std::vector<int32_t> history = b_prompt;
        for (int32_t t : golden::some_tokens(6, vocab(model), 3)) {
            b.decode(t);
            history.push_back(t);
            CHECK(error_to(b, plain, history) < kTolerance);
        }

        // Once a and b are gone their full blocks stay cached and count as such.
        const size_t b_full_blocks = history.size() / kBlock;  // 9
        a = mola::Session(model, 1);
        b = mola::Session(model, 1);
        u = model.cache_usage();
        CHECK(u.blocks_used == 0);
        CHECK(u.blocks_cached == b_full_blocks);
        CHECK(u.blocks_free == u.blocks_total);

        mola::Session c(model, 256);
        c.append(history);
        u = model.cache_usage();
        CHECK(u.prefix_hits == 2);
        CHECK(u.prefix_tokens_reused == 20 + b_full_blocks * kBlock);  // all 9 blocks: the 37th token is computed
        CHECK(error_to(c, plain, history) < kTolerance);
    }
}

TEST_CASE("only whole matching blocks are reused: not a partial block, not past a differing token",
          "[prefix_cache]") {
    mola::Model model = load(kV3, true), plain = load(kV3, false);
    const std::vector<int32_t> prompt = golden::some_tokens(10, vocab(model), 4);  // blocks 0-1 full, 2 partial
    const std::vector<int32_t> more = golden::some_tokens(7, vocab(model), 5);
    mola::Session a(model, 256);
    a.append(prompt);
    int64_t hits = 0, reused = 0;
    auto expect_reuse = [&](const std::vector<int32_t>& tokens, int64_t tokens_reused) {
        mola::Session s(model, 256);
        s.append(tokens);
        const mola_cache_usage u = model.cache_usage();
        if (tokens_reused > 0) ++hits;
        reused += tokens_reused;
        CHECK(u.prefix_hits == uint64_t(hits));
        CHECK(u.prefix_tokens_reused == uint64_t(reused));
        CHECK(error_to(s, plain, tokens) < kTolerance);
    };
    SECTION("a's partial third block is not cached") { expect_reuse(concat(prompt, more), 8); }
    SECTION("a differing token inside the second block stops the reuse there") {
        std::vector<int32_t> other = concat(prompt, more);
        other[5] = (other[5] + 1) % vocab(model);
        expect_reuse(other, 4);
        other[0] = (other[0] + 1) % vocab(model);
        expect_reuse(other, 0);
    }
    SECTION("the block of the last token is computed, for its logits") {
        expect_reuse(head(prompt, 8), 4);
        expect_reuse(head(prompt, 9), 8);
        expect_reuse(head(prompt, 4), 0);
    }
    SECTION("an append asking for every token's logits computes them all") {
        mola::Session s(model, 256);
        const std::vector<int32_t> tokens = concat(prompt, more);
        const std::vector<float> all = s.append_all_logits(tokens);
        CHECK(model.cache_usage().prefix_hits == 0);
        mola::Session p(plain, 256);
        CHECK(golden::rel_l2(all, p.append_all_logits(tokens)) < kTolerance);
    }
    SECTION("a session reuses from a block boundary, not from inside a block") {
        mola::Session s(model, 256);
        s.append(head(prompt, 3));
        s.append(concat(std::vector<int32_t>(prompt.begin() + 3, prompt.end()), more));
        CHECK(model.cache_usage().prefix_hits == 0);
        CHECK(error_to(s, plain, concat(prompt, more)) < kTolerance);
        mola::Session t(model, 256);
        t.append(head(prompt, 4));
        t.append(concat(std::vector<int32_t>(prompt.begin() + 4, prompt.end()), more));
        CHECK(model.cache_usage().prefix_tokens_reused == 12);  // blocks 1-3 (block 0 is t's own)
        CHECK(error_to(t, plain, concat(prompt, more)) < kTolerance);
    }
}

TEST_CASE("under a small budget the least recently used cached blocks are evicted; live sessions' never",
          "[prefix_cache][budget]") {
    mola::Model model = load(kV3, true, 6), plain = load(kV3, false);
    REQUIRE(model.cache_usage().blocks_total == 6);
    const int32_t v = vocab(model);
    // 9 tokens each: two full blocks and one token.
    const std::vector<int32_t> p1 = golden::some_tokens(9, v, 11), p2 = golden::some_tokens(9, v, 12),
                               p3 = golden::some_tokens(9, v, 13);
    auto run = [&](const std::vector<int32_t>& tokens) {
        mola::Session s(model, 64);
        s.append(tokens);
        return s;
    };
    run(p1);
    run(p2);
    run(p1);  // p1's blocks become the most recently used
    mola_cache_usage u = model.cache_usage();
    CHECK(u.blocks_cached == 4);
    CHECK(u.prefix_tokens_reused == 8);
    CHECK(u.blocks_evicted == 0);

    // s3 needs 3 blocks, 2 are free: one cached block goes, p2's last.
    mola::Session s3 = run(p3);
    u = model.cache_usage();
    CHECK(u.blocks_evicted == 1);
    CHECK(u.blocks_cached == 3);
    CHECK(u.blocks_used == 3);
    // p1 is intact: c1 takes both blocks (and evicts p2's first block for its own).
    mola::Session c1 = run(p1);
    u = model.cache_usage();
    CHECK(u.prefix_tokens_reused == 16);
    CHECK(u.blocks_evicted == 2);
    CHECK(u.blocks_cached == 0);
    CHECK(u.blocks_used == 6);
    CHECK(error_to(c1, plain, p1) < kTolerance);

    // Live sessions hold the whole budget now (p1's and p3's cached blocks among
    // them): nothing is evicted, the append fails and leaves c2 as it was.
    mola::Session c2(model, 64);
    const mola_status st = mola_session_append(c2.get(), p2.data(), p2.size());
    INFO("mola_last_error(): " << last_error());
    REQUIRE(std::string(mola_status_string(st)) == mola_status_string(MOLA_ERR_CACHE_FULL));
    CHECK_THAT(last_error(), Catch::Contains("cache is full"));
    CHECK(c2.n_tokens() == 0);
    CHECK(c2.n_cache_blocks() == 0);
    u = model.cache_usage();
    CHECK(u.blocks_evicted == 2);
    CHECK(u.blocks_used == 6);
    CHECK(u.prefix_tokens_reused == 16);  // p2's cached blocks are gone

    // The live sessions are intact and go on.
    c1.decode(5);
    CHECK(error_to(c1, plain, concat(p1, {5})) < kTolerance);
    // Once s3 is gone its two full blocks are cached, and c2 evicts them.
    s3 = mola::Session(model, 1);
    CHECK(model.cache_usage().blocks_cached == 2);
    c2.append(p2);
    u = model.cache_usage();
    CHECK(u.blocks_evicted == 4);
    CHECK(error_to(c2, plain, p2) < kTolerance);
}

TEST_CASE("rewinding into a shared cached block and appending copies it first", "[prefix_cache][rewind]") {
    mola::Model model = load(kV3, true), plain = load(kV3, false);
    const int32_t v = vocab(model);
    const std::vector<int32_t> prompt = golden::some_tokens(13, v, 21), other = golden::some_tokens(5, v, 22),
                               cont = golden::some_tokens(4, v, 23);
    mola::Session a(model, 256);
    a.append(prompt);
    mola::Session b(model, 256);
    b.append(concat(prompt, cont));
    REQUIRE(model.cache_usage().prefix_tokens_reused == 12);

    // b writes over rows 6.. of the block it shares with a and the cache.
    b.rewind(6);
    b.append(other);
    const std::vector<int32_t> b_history = concat(head(prompt, 6), other);
    CHECK(error_to(b, plain, b_history) < kTolerance);
    std::vector<int32_t> a_history = prompt;
    for (int32_t t : cont) {
        a.decode(t);
        a_history.push_back(t);
        CHECK(error_to(a, plain, a_history) < kTolerance);
    }

    // a rewinds into its own cached block and writes there: the cache keeps the original.
    a.rewind(9);
    a.append(other);
    CHECK(error_to(a, plain, concat(head(prompt, 9), other)) < kTolerance);
    mola::Session c(model, 256);
    c.append(concat(prompt, cont));
    CHECK(model.cache_usage().prefix_tokens_reused == 12 + 16);
    CHECK(error_to(c, plain, concat(prompt, cont)) < kTolerance);
    // And b's history, now cached too, gives b's logits.
    mola::Session d(model, 256);
    d.append(concat(b_history, {7}));
    CHECK(error_to(d, plain, concat(b_history, {7})) < kTolerance);
}

TEST_CASE("forks, generate and restored sessions work with the prefix cache", "[prefix_cache][fork]") {
    mola::Model model = load(kV3, true), plain = load(kV3, false);
    const int32_t v = vocab(model);
    const std::vector<int32_t> prompt = golden::some_tokens(18, v, 31), cont = golden::some_tokens(6, v, 32);
    mola::Session a(model, 256);
    a.append(prompt);

    SECTION("a fork of a session that took cached blocks") {
        mola::Session b(model, 256);
        b.append(concat(prompt, {1}));
        REQUIRE(model.cache_usage().prefix_tokens_reused == 16);
        mola::Session child = b.fork();
        std::vector<int32_t> hb = concat(prompt, {1}), hc = hb;
        for (size_t i = 0; i < cont.size(); ++i) {
            b.decode(cont[i]);
            hb.push_back(cont[i]);
            child.decode(cont[cont.size() - 1 - i]);
            hc.push_back(cont[cont.size() - 1 - i]);
        }
        CHECK(error_to(b, plain, hb) < kTolerance);
        CHECK(error_to(child, plain, hc) < kTolerance);
    }
    SECTION("generate takes the cached blocks in place of those it reserved") {
        mola::GenerateOptions opt;
        opt.max_tokens = 4;
        opt.ignore_eos = true;
        const std::vector<int32_t> p = concat(prompt, {2, 3});
        mola::Session s(model, 256), r(plain, 256);
        const mola::GenerateResult got = s.generate(p, mola::SamplerParams::greedy(), opt);
        const mola::GenerateResult want = r.generate(p, mola::SamplerParams::greedy(), opt);
        CHECK(model.cache_usage().prefix_tokens_reused == 16);
        CHECK(got.tokens == want.tokens);
        CHECK(golden::rel_l2(s.logits(), r.logits()) < kTolerance);
        CHECK(s.n_cache_blocks() == r.n_cache_blocks());
    }
    SECTION("a restored session's full blocks are cached") {
        checkpoint_files::TempDir dir;
        const std::string file = (dir.path / "a.mola").string();
        a.save(file);
        mola::Model other = load(kV3, true);
        mola::Session restored = mola::Session::load(other, file);
        CHECK(other.cache_usage().blocks_used == 5);
        mola::Session s(other, 256);
        s.append(concat(prompt, cont));
        CHECK(other.cache_usage().prefix_tokens_reused == 16);
        CHECK(error_to(s, plain, concat(prompt, cont)) < kTolerance);
    }
}

TEST_CASE("prefix_cache = 0 turns it off; mola_model_clear_prefix_cache empties it", "[prefix_cache][params]") {
    const std::vector<int32_t> prompt = golden::some_tokens(30, 352, 41);
    SECTION("off") {
        mola::Model model = load(kV3, false);
        { mola::Session a(model, 64); a.append(prompt); }
        mola::Session b(model, 64);
        b.append(prompt);
        const mola_cache_usage u = model.cache_usage();
        CHECK(u.prefix_cache == 0);
        CHECK(u.prefix_hits == 0);
        CHECK(u.blocks_cached == 0);
        CHECK(u.blocks_used == 8);
        CHECK(u.bytes_allocated == 8 * u.block_bytes);  // a's blocks were reused, not kept
        CHECK(mola_model_clear_prefix_cache(model.get()) == MOLA_OK);
    }
    SECTION("clear") {
        mola::Model model = load(kV3, true);
        { mola::Session a(model, 64); a.append(prompt); }
        mola::Session b(model, 64);
        b.append(head(prompt, 13));  // holds 3 of the 7 cached blocks
        REQUIRE(model.cache_usage().blocks_cached == 4);
        model.clear_prefix_cache();
        mola_cache_usage u = model.cache_usage();
        CHECK(u.blocks_cached == 0);
        CHECK(u.blocks_used == 4);
        CHECK(u.blocks_free == u.blocks_total - 4);
        // Nothing is reused afterwards; b goes on.
        mola::Session c(model, 64);
        c.append(prompt);
        CHECK(model.cache_usage().prefix_hits == 1);  // b's, before the clear
        b.decode(prompt[13]);
        mola::Model plain = load(kV3, false);
        CHECK(error_to(b, plain, head(prompt, 14)) < kTolerance);
    }
    SECTION("the default is on; other values are refused") {
        mola_model_params p;
        mola_model_params_default(&p);
        CHECK(p.prefix_cache == 1);
        p.n_threads = 1;
        p.prefix_cache = 2;
        mola_model* m = nullptr;
        CHECK(mola_model_load(kV3.c_str(), &p, &m) == MOLA_ERR_INVALID_ARG);
        CHECK(m == nullptr);
        CHECK_THAT(last_error(), Catch::Contains("prefix_cache"));
        // An older mola_model_params without the field gets the default.
        p.struct_size = uint32_t(offsetof(mola_model_params, prefix_cache));
        REQUIRE(mola_model_load(kV3.c_str(), &p, &m) == MOLA_OK);
        mola_cache_usage u{};
        u.struct_size = sizeof(u);
        REQUIRE(mola_model_get_cache_usage(m, &u) == MOLA_OK);
        CHECK(u.prefix_cache == 1);
        mola_model_destroy(m);
        CHECK(mola_model_clear_prefix_cache(nullptr) == MOLA_ERR_INVALID_ARG);
        CHECK_THAT(last_error(), Catch::Contains("model is NULL"));
    }
}

TEST_CASE("sessions with a common prefix start on many threads at once", "[prefix_cache][threads]") {
    const int n_threads = 8, rounds = 4;
    mola::Model plain = load(kV3, false);
    const std::vector<int32_t> system = golden::some_tokens(32, 352, 51);
    std::vector<std::vector<int32_t>> prompts;
    std::vector<std::vector<float>> want;
    for (int i = 0; i < n_threads * rounds; ++i) {
        prompts.push_back(concat(system, golden::some_tokens(size_t(5 + i % 7), 352, uint32_t(100 + i))));
        want.push_back(reference(plain, prompts.back()));
    }
    // 8 live sessions of at most 11 blocks fit in 100; the cached ones do not all.
    for (const uint64_t budget_blocks : {uint64_t(0), uint64_t(100)}) {
        INFO("budget " << budget_blocks << " blocks");
        mola::Model model = load(kV3, true, budget_blocks);
        std::vector<double> errors(prompts.size(), -1);
        std::vector<std::string> failures(n_threads);
        std::vector<std::thread> threads;
        for (int t = 0; t < n_threads; ++t)
            threads.emplace_back([&, t] {
                try {
                    for (int r = 0; r < rounds; ++r) {
                        const size_t i = size_t(r * n_threads + t);
                        mola::Session s(model, 64);
                        s.append(prompts[i]);
                        errors[i] = golden::rel_l2(s.logits(), want[i]);
                        if (t == 0) model.clear_prefix_cache();  // while the others run
                    }
                } catch (const std::exception& e) {
                    failures[size_t(t)] = e.what();
                }
            });
        for (std::thread& t : threads) t.join();
        for (int t = 0; t < n_threads; ++t) CHECK(failures[size_t(t)].empty());
        for (size_t i = 0; i < prompts.size(); ++i) {
            INFO("prompt " << i);
            CHECK(errors[i] >= 0);
            CHECK(errors[i] < kTolerance);
        }
        const mola_cache_usage u = model.cache_usage();
        CHECK(u.blocks_used == 0);
        CHECK(u.blocks_cached <= u.blocks_total);
    }
}
