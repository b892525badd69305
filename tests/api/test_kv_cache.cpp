// test_kv_cache.cpp: the paged latent KV cache through the public API: BF16 and
// FP8 caches against the exact F32 one, decode vs chunked prefill across block
// boundaries for every dtype and block size, rewind giving blocks back, the byte
// budget (a clear MOLA_ERR_CACHE_FULL, the session unchanged and usable), sessions
// on several threads sharing one pool, the reporting, and bad cache parameters.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "golden.h"
#include "mola/mola.hpp"

namespace {

const std::string kV3 = golden::model_dir("v3");

std::string last_error() { return mola_last_error(); }

// One compute thread: these tests run many small steps, where thread hand-offs
// cost more than they save (test_golden.cpp covers two threads).
mola::Model load(const std::string& dir, mola_kv_dtype dtype, int block_tokens = 0, uint64_t budget = 0,
                 mola_mla_mode mode = MOLA_MLA_AUTO, bool prefix_cache = true) {
    mola::ModelParams p;
    p.n_threads = 1;
    p.mla_mode = mode;
    p.kv_cache_dtype = dtype;
    p.kv_block_tokens = block_tokens;
    p.kv_cache_budget_bytes = budget;
    p.prefix_cache = prefix_cache;
    return mola::Model(dir, p);
}

using golden::some_tokens;

// Logits of every token, decoded one at a time.
std::vector<float> decode_all(mola::Session& s, const std::vector<int32_t>& tokens) {
    std::vector<float> all;
    for (int32_t t : tokens) {
        s.decode(t);
        const std::vector<float> l = s.logits();
        all.insert(all.end(), l.begin(), l.end());
    }
    return all;
}

const char* name_of(mola_kv_dtype t) {
    return t == MOLA_KV_F32 ? "f32" : t == MOLA_KV_BF16 ? "bf16" : "fp8_e4m3";
}

void expect_error(mola_status got, mola_status want, const std::vector<std::string>& needles) {
    INFO("mola_last_error(): " << last_error());
    REQUIRE(std::string(mola_status_string(got)) == mola_status_string(want));
    for (const std::string& n : needles) CHECK_THAT(last_error(), Catch::Contains(n));
}

}  // namespace

TEST_CASE("BF16 and FP8 caches stay close to the exact F32 cache", "[kvcache][accuracy]") {
    // Measured on the oracle's models (longest case, 70 tokens, all logits): BF16
    // 0.2-0.8% relative L2 from F32; FP8 3% on the softmax-routed V2 models and
    // 13-16% on the V3 ones, where a perturbed hidden state flips sigmoid top-k
    // expert choices. The bounds leave about 2x room.
    for (const std::string& name : golden::models()) {
        const golden::Case c = golden::read_cases(name).back();
        const bool v3 = name.rfind("v3", 0) == 0;
        mola::Model exact = load(golden::model_dir(name), MOLA_KV_F32);
        mola::Session reference(exact, int(c.tokens.size()));
        const std::vector<float> want = reference.append_all_logits(c.tokens);
        CHECK(golden::rel_l2(want, c.logits) <= 1e-4);
        double err[2] = {0, 0};
        int i = 0;
        for (mola_kv_dtype t : {MOLA_KV_BF16, MOLA_KV_FP8_E4M3}) {
            mola::Model model = load(golden::model_dir(name), t);
            mola::Session s(model, int(c.tokens.size()));
            err[i++] = golden::rel_l2(s.append_all_logits(c.tokens), want);
        }
        INFO(name << ": relative L2 of all logits vs the F32 cache: bf16 " << err[0] << ", fp8 " << err[1]);
        CHECK(err[0] > 0.0);  // the dtype is really in use
        CHECK(err[0] <= 0.015);
        CHECK(err[1] > err[0]);
        CHECK(err[1] <= (v3 ? 0.3 : 0.06));
    }
}

TEST_CASE("decode and chunked prefill agree across block boundaries for every cache dtype and block size",
          "[kvcache][blocks]") {
    for (const std::string& name : {std::string("v3"), std::string("v2_lite")}) {
        const int32_t vocab = int32_t(golden::read_cases(name).front().vocab);
        const std::vector<int32_t> tokens = some_tokens(150, vocab, 11);  // > 9 blocks of 16, > 2 of 64
        mola::Model exact = load(golden::model_dir(name), MOLA_KV_F32);
        mola::Session one_pass(exact, 256);
        const std::vector<float> reference = one_pass.append_all_logits(tokens);
        for (mola_kv_dtype t : {MOLA_KV_F32, MOLA_KV_BF16, MOLA_KV_FP8_E4M3}) {
            // From the F32 cache in one pass. F32 differs only in the order of float
            // operations (and the MLA form prefill picks). A quantized cache also
            // rounds rows that chunking computed a little differently to different
            // values; on the V3 model that flips some sigmoid top-k expert choices
            // (BF16 measured 1.9%, FP8 13% there; 0.2% and 3% on V2-Lite).
            const bool v3 = name == "v3";
            const double bound = t == MOLA_KV_F32 ? 1e-5 : t == MOLA_KV_BF16 ? (v3 ? 0.04 : 0.01) : (v3 ? 0.3 : 0.06);
            for (int n_batch : {256, 64, 7, 1}) {
                std::vector<float> first;
                for (int block : {16, 64, 1}) {
                    if (block == 1 && n_batch != 7) continue;  // every token its own block: one run is enough
                    mola::Model model = load(golden::model_dir(name), t, block);
                    INFO(name << " " << name_of(t) << " block_tokens " << block << " n_batch " << n_batch);
                    mola::Session s(model, 256, n_batch);
                    const std::vector<float> all =
                        n_batch == 1 ? decode_all(s, tokens) : s.append_all_logits(tokens);
                    CHECK(s.n_cache_blocks() == (tokens.size() + size_t(block) - 1) / size_t(block));
                    const double err = golden::rel_l2(all, reference);
                    INFO("relative L2 vs the F32 cache in one pass: " << err);
                    CHECK(err <= bound);
                    // The block size never changes a result.
                    if (first.empty())
                        first = all;
                    else
                        CHECK(all == first);
                }
            }
        }
    }
}

TEST_CASE("the same tokens give identical logits whatever the block size", "[kvcache][blocks]") {
    const std::vector<int32_t> tokens = some_tokens(100, 352, 5);
    for (mola_kv_dtype t : {MOLA_KV_F32, MOLA_KV_BF16, MOLA_KV_FP8_E4M3}) {
        for (mola_mla_mode mode : {MOLA_MLA_ABSORBED, MOLA_MLA_NAIVE}) {
            std::vector<float> first;
            for (int block : {1, 4, 32, 128}) {
                mola::Model model = load(kV3, t, block, 0, mode);
                mola::Session s(model, 128, 48);
                const std::vector<float> all = s.append_all_logits(tokens);
                if (first.empty())
                    first = all;
                INFO(name_of(t) << " mla_mode " << mode << " block_tokens " << block);
                CHECK(all == first);
            }
        }
    }
}

TEST_CASE("rewind across block boundaries gives blocks back and replays the same logits", "[kvcache][rewind]") {
    for (mola_kv_dtype t : {MOLA_KV_F32, MOLA_KV_BF16, MOLA_KV_FP8_E4M3}) {
        INFO(name_of(t));
        // Without the prefix cache, which would keep the full blocks given back
        // here (test_prefix_cache.cpp covers it).
        mola::Model model = load(kV3, t, 16, 0, MOLA_MLA_AUTO, false);
        const std::vector<int32_t> tokens = some_tokens(100, 352, 2);
        mola::Session s(model, 128);
        std::vector<std::vector<float>> first;
        for (int32_t token : tokens) {
            s.decode(token);
            first.push_back(s.logits());
        }
        CHECK(s.n_cache_blocks() == 7);
        CHECK(model.cache_usage().blocks_used == 7);
        const struct {
            size_t keep, blocks;
        } steps[] = {{97, 7}, {96, 6}, {80, 5}, {65, 5}, {64, 4}, {33, 3}, {17, 2}, {16, 1}, {1, 1}, {0, 0}};
        for (const auto& step : steps) {
            s.rewind(step.keep);
            INFO("rewound to " << step.keep);
            CHECK(s.n_cache_blocks() == step.blocks);
            CHECK(model.cache_usage().blocks_used == step.blocks);
        }
        // 40 tokens (3 blocks), back to 20 (the second block partly overwritten
        // next), then on to 100: the same steps over the same cache rows.
        for (size_t i = 0; i < 40; ++i) s.decode(tokens[i]);
        s.rewind(20);
        double worst = 0;
        for (size_t i = 20; i < tokens.size(); ++i) {
            s.decode(tokens[i]);
            worst = std::max(worst, golden::rel_l2(s.logits(), first[i]));
        }
        INFO("worst rel L2 after the rewind " << worst);
        CHECK(worst <= 1e-6);
        CHECK(s.n_cache_blocks() == 7);
        const mola_cache_usage u = model.cache_usage();
        CHECK(u.blocks_used == 7);
        CHECK(u.bytes_allocated == 7 * u.block_bytes);  // freed blocks were reused
    }
}

TEST_CASE("running out of the cache budget is MOLA_ERR_CACHE_FULL; the session is unchanged and usable",
          "[kvcache][budget]") {
    // Blocks of 16 tokens; the budget holds 4 of them (and a few bytes more).
    const mola_model_info probe = load(kV3, MOLA_KV_BF16, 16).info();
    const uint64_t block_bytes = probe.kv_block_bytes, budget = 4 * block_bytes + 100;
    mola::Model model = load(kV3, MOLA_KV_BF16, 16, budget);
    mola::Model unlimited = load(kV3, MOLA_KV_BF16, 16);
    CHECK(model.info().kv_cache_blocks == 4);
    CHECK(model.cache_usage().blocks_total == 4);
    const std::vector<int32_t> tokens = some_tokens(80, 352, 9);

    mola::Session a(model, 128), b(model, 128);
    a.append(std::vector<int32_t>(tokens.begin(), tokens.begin() + 40));  // 3 blocks
    const std::vector<float> a_logits = a.logits();

    // b needs 2 blocks, 1 is free: refused, and nothing is taken.
    const std::vector<int32_t> twenty(tokens.begin() + 40, tokens.begin() + 60);
    expect_error(mola_session_append(b.get(), twenty.data(), twenty.size()), MOLA_ERR_CACHE_FULL,
                 {std::to_string(budget), std::to_string(3 * block_bytes), "2 more blocks", "in use"});
    CHECK(b.n_tokens() == 0);
    CHECK(b.n_cache_blocks() == 0);
    CHECK(model.cache_usage().blocks_used == 3);
    std::vector<float> out(20 * a.n_vocab(), -7.0f);
    expect_error(mola_session_append_all_logits(b.get(), twenty.data(), twenty.size(), out.data(), out.size()),
                 MOLA_ERR_CACHE_FULL, {"cache is full"});
    CHECK(out.front() == -7.0f);
    b.append(std::vector<int32_t>(twenty.begin(), twenty.begin() + 10));  // 1 block: fits
    CHECK(model.cache_usage().blocks_free == 0);

    // a has room for 8 more tokens in its third block, not for 9.
    const std::vector<int32_t> nine(tokens.begin() + 40, tokens.begin() + 49);
    expect_error(mola_session_append(a.get(), nine.data(), nine.size()), MOLA_ERR_CACHE_FULL, {"1 more block"});
    CHECK(a.n_tokens() == 40);
    CHECK(a.tokens() == std::vector<int32_t>(tokens.begin(), tokens.begin() + 40));
    CHECK(a.logits() == a_logits);
    for (size_t i = 40; i < 48; ++i) a.decode(tokens[i]);
    expect_error(mola_session_decode(a.get(), tokens[48]), MOLA_ERR_CACHE_FULL, {"cache is full"});
    CHECK(a.n_tokens() == 48);

    // Once b lets its block go, the same call succeeds, with the logits of an
    // unlimited cache.
    b.rewind(0);
    CHECK(b.n_cache_blocks() == 0);
    REQUIRE(mola_session_decode(a.get(), tokens[48]) == MOLA_OK);
    mola::Session fresh(unlimited, 128);  // the same steps
    fresh.append(std::vector<int32_t>(tokens.begin(), tokens.begin() + 40));
    for (size_t i = 40; i < 49; ++i) fresh.decode(tokens[i]);
    CHECK(a.logits() == fresh.logits());

    // The context limit is still its own error.
    mola::Session small(model, 4);
    const std::vector<int32_t> five(tokens.begin(), tokens.begin() + 5);
    expect_error(mola_session_append(small.get(), five.data(), five.size()), MOLA_ERR_CONTEXT_FULL, {});
}

TEST_CASE("generate reports MOLA_ERR_CACHE_FULL and keeps only what it streamed", "[kvcache][budget][generate]") {
    const uint64_t block_bytes = load(kV3, MOLA_KV_BF16, 16).info().kv_block_bytes;
    mola::Model model = load(kV3, MOLA_KV_BF16, 16, 3 * block_bytes);
    const std::vector<int32_t> prompt = some_tokens(10, 352, 4);
    mola::GenerateOptions opt;
    opt.max_tokens = 100;
    opt.ignore_eos = true;
    std::vector<int32_t> streamed;
    opt.stream = [&streamed](std::string_view, const std::vector<int32_t>& t) {
        streamed.insert(streamed.end(), t.begin(), t.end());
        return true;
    };

    mola::Session hog(model, 64);
    hog.append(some_tokens(20, 352, 8));  // 2 of the 3 blocks
    mola::Session s(model, 64);
    // The prompt fits in the last block; the seventh sampled token does not.
    try {
        s.generate(prompt, mola::SamplerParams::greedy(), opt);
        FAIL("generate did not fail");
    } catch (const mola::Error& e) {
        CHECK(e.status() == MOLA_ERR_CACHE_FULL);
        CHECK_THAT(std::string(e.what()), Catch::Contains("mola_session_generate"));
    }
    CHECK(streamed.size() == 6);
    std::vector<int32_t> expected = prompt;
    expected.insert(expected.end(), streamed.begin(), streamed.end());
    CHECK(s.tokens() == expected);

    // A prompt that does not fit leaves the session as it was.
    mola::Session t(model, 64);
    streamed.clear();
    CHECK_THROWS_AS(t.generate(prompt, mola::SamplerParams::greedy(), opt), mola::Error);
    CHECK(t.n_tokens() == 0);
    CHECK(t.n_cache_blocks() == 0);
    CHECK(streamed.empty());

    // With room again, the interrupted session goes on.
    hog.rewind(0);
    opt.max_tokens = 5;
    const mola::GenerateResult r = s.generate({}, mola::SamplerParams::greedy(), opt);
    CHECK(r.finish_reason == MOLA_FINISH_LENGTH);
    CHECK(s.n_tokens() == 21);
}

TEST_CASE("sessions on several threads share one pool under a tight budget", "[kvcache][threads]") {
    const uint64_t block_bytes = load(kV3, MOLA_KV_BF16, 16).info().kv_block_bytes;
    mola::ModelParams p;
    p.n_threads = 1;
    p.kv_block_tokens = 16;
    p.kv_cache_budget_bytes = 10 * block_bytes;  // 6 sessions of 3 blocks do not fit at once
    const mola::Model model(kV3, p);
    const int n_sessions = 6;
    std::vector<std::vector<int32_t>> prompts;
    std::vector<std::vector<float>> expected;
    for (int i = 0; i < n_sessions; ++i) {
        prompts.push_back(some_tokens(40, 352, uint32_t(100 + i)));
        mola::Session s(model, 64);
        for (int32_t t : prompts.back()) s.decode(t);
        expected.push_back(s.logits());
    }
    REQUIRE(model.cache_usage().blocks_used == 0);

    std::atomic<bool> done{false};
    std::atomic<int> refusals{0}, bad_usage{0};
    std::thread watcher([&] {  // usage is safe to read while sessions run
        while (!done) {
            const mola_cache_usage u = model.cache_usage();
            if (u.blocks_used > u.blocks_total || u.blocks_used + u.blocks_free != u.blocks_total) ++bad_usage;
            std::this_thread::yield();
        }
    });
    std::vector<std::vector<float>> results(n_sessions);
    std::vector<std::thread> threads;
    for (int i = 0; i < n_sessions; ++i)
        threads.emplace_back([&, i] {
            mola::Session s(model, 64);
            for (int attempt = 0; attempt < 2000 && results[size_t(i)].empty(); ++attempt) {
                try {
                    for (size_t k = s.n_tokens(); k < prompts[size_t(i)].size(); ++k) s.decode(prompts[size_t(i)][k]);
                    results[size_t(i)] = s.logits();
                } catch (const mola::Error& e) {
                    if (e.status() != MOLA_ERR_CACHE_FULL) throw;
                    ++refusals;
                    s.rewind(0);  // let the others finish, then start over
                    std::this_thread::sleep_for(std::chrono::microseconds(200 * (i + 1)));
                }
            }
        });
    for (std::thread& t : threads) t.join();
    done = true;
    watcher.join();
    INFO("refusals: " << refusals.load());
    CHECK(bad_usage.load() == 0);
    for (int i = 0; i < n_sessions; ++i) {
        INFO("session " << i);
        REQUIRE_FALSE(results[size_t(i)].empty());
        CHECK(golden::rel_l2(results[size_t(i)], expected[size_t(i)]) <= 1e-6);
    }
    const mola_cache_usage u = model.cache_usage();
    CHECK(u.blocks_used == 0);
    CHECK(u.blocks_total == 10);
    CHECK(u.bytes_allocated <= 10 * block_bytes);
}

TEST_CASE("info and cache usage report the dtype, bytes per token and the pool", "[kvcache][info]") {
    for (mola_kv_dtype t : {MOLA_KV_F32, MOLA_KV_BF16, MOLA_KV_FP8_E4M3}) {
        INFO(name_of(t));
        mola::Model model = load(kV3, t, 16, 1 << 20);
        const mola_model_info i = model.info();
        CHECK(std::string(i.kv_cache_dtype) == name_of(t));
        // v3: 3 layers of a 48-value latent and a 16-value rope key.
        CHECK(i.kv_bytes_per_token_f32 == 3 * 64 * 4);
        CHECK(i.kv_bytes_per_token_bf16 == 3 * 64 * 2);
        CHECK(i.kv_bytes_per_token_fp8 == 3 * (48 + 16 * 2 + 4));
        CHECK(i.kv_bytes_per_token == (t == MOLA_KV_F32    ? i.kv_bytes_per_token_f32
                                       : t == MOLA_KV_BF16 ? i.kv_bytes_per_token_bf16
                                                           : i.kv_bytes_per_token_fp8));
        CHECK(i.kv_block_tokens == 16);
        CHECK(i.kv_cache_budget_bytes == 1 << 20);
        CHECK(i.kv_block_bytes >= 16 * i.kv_bytes_per_token);
        CHECK(uint64_t(i.kv_cache_blocks) == (1 << 20) / i.kv_block_bytes);

        mola::Session s(model, 128);
        s.append(some_tokens(100, 352, 1));
        CHECK(s.n_cache_blocks() == 7);
        const mola_cache_usage u = model.cache_usage();
        CHECK(u.struct_size == sizeof(mola_cache_usage));
        CHECK(u.block_tokens == 16);
        CHECK(u.block_bytes == i.kv_block_bytes);
        CHECK(u.blocks_total == uint64_t(i.kv_cache_blocks));
        CHECK(u.blocks_used == 7);
        CHECK(u.blocks_free == u.blocks_total - 7);
        CHECK(u.bytes_budget == 1 << 20);
        CHECK(u.bytes_used == 7 * u.block_bytes);
        CHECK(u.bytes_allocated == 7 * u.block_bytes);
    }
    mola::Model model = load(kV3, MOLA_KV_BF16);
    CHECK(std::string(model.info().kv_cache_dtype) == "bf16");  // the default
    CHECK(model.info().kv_block_tokens == 64);

    // An older, smaller mola_cache_usage gets only what it has room for.
    mola_cache_usage small;
    std::memset(&small, 0xAB, sizeof small);
    small.struct_size = uint32_t(offsetof(mola_cache_usage, blocks_total));
    REQUIRE(mola_model_get_cache_usage(model.get(), &small) == MOLA_OK);
    CHECK(small.struct_size == offsetof(mola_cache_usage, blocks_total));
    CHECK(small.block_tokens == 64);
    std::vector<unsigned char> rest(sizeof small - offsetof(mola_cache_usage, blocks_total), 0xAB);
    CHECK(std::memcmp(reinterpret_cast<unsigned char*>(&small) + offsetof(mola_cache_usage, blocks_total),
                      rest.data(), rest.size()) == 0);
    expect_error(mola_model_get_cache_usage(nullptr, &small), MOLA_ERR_INVALID_ARG, {"model is NULL"});
    expect_error(mola_model_get_cache_usage(model.get(), nullptr), MOLA_ERR_INVALID_ARG, {"out_usage"});
    small.struct_size = 0;
    expect_error(mola_model_get_cache_usage(model.get(), &small), MOLA_ERR_INVALID_ARG, {"struct_size"});
    size_t n = 0;
    expect_error(mola_session_get_n_cache_blocks(nullptr, &n), MOLA_ERR_INVALID_ARG, {"NULL"});
}

TEST_CASE("bad cache parameters are refused with a clear message", "[kvcache][params]") {
    auto try_load = [](void (*edit)(mola_model_params&)) {
        mola_model_params p;
        mola_model_params_default(&p);
        p.n_threads = 1;
        edit(p);
        mola_model* model = reinterpret_cast<mola_model*>(uintptr_t(8));
        const mola_status s = mola_model_load(kV3.c_str(), &p, &model);
        if (s == MOLA_OK) mola_model_destroy(model);
        else
            CHECK(model == nullptr);
        return s;
    };
    expect_error(try_load([](mola_model_params& p) { p.kv_block_tokens = 48; }), MOLA_ERR_INVALID_ARG,
                 {"mola_model_load", "kv_block_tokens 48", "power of two"});
    expect_error(try_load([](mola_model_params& p) { p.kv_block_tokens = -16; }), MOLA_ERR_INVALID_ARG,
                 {"kv_block_tokens -16"});
    expect_error(try_load([](mola_model_params& p) { p.kv_block_tokens = 8192; }), MOLA_ERR_INVALID_ARG,
                 {"kv_block_tokens 8192", "4096"});
    expect_error(try_load([](mola_model_params& p) { p.kv_cache_budget_bytes = 1000; }), MOLA_ERR_INVALID_ARG,
                 {"kv_cache_budget_bytes 1000", "less than one cache block", "24576"});
    expect_error(try_load([](mola_model_params& p) { p.kv_cache_dtype = 3; }), MOLA_ERR_INVALID_ARG,
                 {"kv_cache_dtype 3", "MOLA_KV_FP8_E4M3"});
    // The smallest valid choices load.
    CHECK(try_load([](mola_model_params& p) {
              p.kv_block_tokens = 1;
              p.kv_cache_budget_bytes = 3 * (48 + 32 + 4);  // one FP8 token's values, but...
              p.kv_cache_dtype = MOLA_KV_FP8_E4M3;
          }) == MOLA_ERR_INVALID_ARG);  // ...each section starts on 64 bytes: a block is 3 x 192
    CHECK(try_load([](mola_model_params& p) {
              p.kv_block_tokens = 1;
              p.kv_cache_budget_bytes = 3 * 192;
              p.kv_cache_dtype = MOLA_KV_FP8_E4M3;
          }) == MOLA_OK);
    // An older mola_model_params (before the cache fields) loads with the defaults.
    CHECK(try_load([](mola_model_params& p) {
              p.kv_block_tokens = 48;
              p.kv_cache_dtype = 99;
              p.struct_size = uint32_t(offsetof(mola_model_params, kv_cache_dtype));
          }) == MOLA_OK);
}
