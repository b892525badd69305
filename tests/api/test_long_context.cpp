// test_long_context.cpp: long-context sessions on the one-layer v3_long model
// (YaRN x640 over 256: max_position_embeddings 163840). n_ctx up to that limit;
// logits past the original window against the oracle; prefill progress and
// cancellation (the session as before); the default overflow error; and the
// sliding policy against a recompute: with one layer a cache row depends only on
// its token and position, so a slid session must equal a fresh session fed the
// kept tokens, its logits and its cache rows. Multi-layer models slide too.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "golden.h"
#include "mola/mola.hpp"

namespace {

const std::string kLong = golden::model_dir("v3_long");
constexpr int32_t kVocab = 272;
constexpr int kMaxPositions = 163840;

mola::Model load(const std::string& dir, mola_kv_dtype dtype = MOLA_KV_F32, int block_tokens = 16) {
    mola::ModelParams p;
    p.n_threads = 1;
    p.kv_cache_dtype = dtype;
    p.kv_block_tokens = block_tokens;
    return mola::Model(dir, p);
}

mola::SessionParams sliding(int n_ctx, int n_keep, int n_discard = 0) {
    mola::SessionParams p;
    p.n_ctx = n_ctx;
    p.n_batch = 16;
    p.overflow = MOLA_OVERFLOW_SLIDE;
    p.n_keep = n_keep;
    p.n_discard = n_discard;
    return p;
}

std::vector<int32_t> some_tokens(size_t n, uint32_t seed) { return golden::some_tokens(n, kVocab, seed); }

// The tokens a slide keeps: the first n_keep, then the tail from `from` on.
std::vector<int32_t> kept(const std::vector<int32_t>& all, size_t n_keep, size_t from) {
    std::vector<int32_t> out(all.begin(), all.begin() + long(n_keep));
    out.insert(out.end(), all.begin() + long(from), all.end());
    return out;
}

bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

// The KVCH section of a saved session (README "Saved sessions"): every cache row.
std::vector<float> saved_cache_rows(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    const std::string f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t pos = 16;
    while (pos + 12 <= f.size()) {
        uint64_t length = 0;
        std::memcpy(&length, f.data() + pos + 4, 8);
        if (f.compare(pos, 4, "KVCH") == 0) {
            std::vector<float> rows(length / 4);
            std::memcpy(rows.data(), f.data() + pos + 12, rows.size() * 4);
            return rows;
        }
        pos += 12 + length;
    }
    return {};
}

uint32_t saved_flags(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char head[16] = {};
    in.read(head, 16);
    uint32_t flags = 0;
    std::memcpy(&flags, head + 12, 4);
    return flags;
}

std::string temp_path(const char* name) { return std::string(MOLA_BINARY_DIR) + "/" + name; }

}  // namespace

TEST_CASE("n_ctx goes up to max_position_embeddings and no further", "[long_context]") {
    mola::Model model = load(kLong);
    CHECK(model.info().n_ctx_train == kMaxPositions);
    mola::Session full(model, kMaxPositions);
    CHECK(full.n_ctx() == size_t(kMaxPositions));
    try {
        mola::Session too_long(model, kMaxPositions + 1);
        FAIL("a session past max_position_embeddings was created");
    } catch (const mola::Error& e) {
        CHECK(e.status() == MOLA_ERR_INVALID_ARG);
        CHECK(std::string(e.what()).find("max_position_embeddings 163840") != std::string::npos);
    }
}

TEST_CASE("a long session fills far past the original window and decodes at its end", "[long_context][fill]") {
    // 8192 positions (32 times the original window) keep this test short; the next one
    // fills the whole window. The positions are what YaRN changes, so
    // the decode at the end is compared with the same tokens appended in one pass.
    constexpr int kFill = 8192;
    mola::Model model = load(kLong, MOLA_KV_BF16, 64);
    mola::SessionParams params;
    params.n_ctx = kMaxPositions;
    params.n_batch = 512;
    mola::Session s(model, params);
    const std::vector<int32_t> tokens = some_tokens(kFill, 1);
    s.append(std::vector<int32_t>(tokens.begin(), tokens.end() - 1));
    s.decode(tokens.back());
    CHECK(s.n_tokens() == size_t(kFill));
    const std::vector<float> decoded = s.logits();
    CHECK(all_finite(decoded));
    mola::Session one_pass(model, params);
    one_pass.append(tokens);
    CHECK(golden::rel_l2(decoded, one_pass.logits()) <= 1e-5);
}

TEST_CASE("a session fills every one of the model's 163840 positions", "[long_context][full_window]") {
    // About two and a half minutes of attention on two cores: the whole window, so
    // nothing (positions, block tables, the pool, YaRN's frequencies) breaks before
    // max_position_embeddings. The last block is checked against a second session
    // that takes every other block from the prefix cache and computes that one again.
    mola::ModelParams p;
    p.kv_cache_dtype = MOLA_KV_BF16;
    p.kv_block_tokens = 64;
    const mola::Model model(kLong, p);
    mola::SessionParams params;
    params.n_ctx = kMaxPositions;
    params.n_batch = 2048;
    mola::Session s(model, params);
    const std::vector<int32_t> tokens = some_tokens(kMaxPositions, 7);
    s.append(std::vector<int32_t>(tokens.begin(), tokens.end() - 1));
    s.decode(tokens.back());
    REQUIRE(s.n_tokens() == size_t(kMaxPositions));
    const std::vector<float> last = s.logits();
    CHECK(all_finite(last));
    try {
        s.decode(tokens.front());
        FAIL("a token past max_position_embeddings was appended");
    } catch (const mola::Error& e) {
        CHECK(e.status() == MOLA_ERR_CONTEXT_FULL);
    }
    CHECK(s.n_tokens() == size_t(kMaxPositions));

    mola::Session again(model, params);
    again.append(tokens);
    CHECK(model.cache_usage().prefix_tokens_reused == uint64_t(kMaxPositions - 64));
    CHECK(golden::rel_l2(last, again.logits()) <= 1e-5);
}

TEST_CASE("logits past YaRN's original window match the oracle", "[long_context][golden]") {
    std::ifstream in(kLong + "/long_golden.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    const std::vector<int32_t> tokens = j.at("tokens").get<std::vector<int32_t>>();
    const size_t first = j.at("first_position").get<size_t>();
    size_t rows = 0, vocab = 0;
    const std::vector<float> want = golden::read_npy(kLong + "/" + j.at("logits").get<std::string>(), &rows, &vocab);
    REQUIRE(first + rows == tokens.size());
    REQUIRE(first > 256);  // past original_max_position_embeddings
    for (mola_mla_mode mode : {MOLA_MLA_NAIVE, MOLA_MLA_ABSORBED}) {
        mola::ModelParams p;
        p.n_threads = 1;
        p.kv_cache_dtype = MOLA_KV_F32;
        p.mla_mode = mode;
        mola::Model m(kLong, p);
        mola::Session s(m, int(tokens.size()));
        const std::vector<float> all = s.append_all_logits(tokens);
        const std::vector<float> got(all.begin() + long(first * vocab), all.end());
        const double err = golden::rel_l2(got, want);
        INFO("mla_mode " << mode << ": rel L2 " << err);
        CHECK(err <= 1e-4);
    }
}

TEST_CASE("prefill progress reports every chunk of an append and of a generate prompt", "[long_context][progress]") {
    mola::Model model = load(kLong);
    std::vector<std::pair<size_t, size_t>> calls;
    mola::SessionParams params;
    params.n_ctx = 256;
    params.n_batch = 16;
    params.prefill_progress = [&](size_t done, size_t total) {
        calls.emplace_back(done, total);
        return true;
    };
    mola::Session s(model, params);
    s.append(some_tokens(100, 2));
    const std::vector<std::pair<size_t, size_t>> want = {{16, 100}, {32, 100}, {48, 100}, {64, 100},
                                                         {80, 100}, {96, 100}, {100, 100}};
    CHECK(calls == want);
    calls.clear();
    s.decode(3);  // single tokens do not report
    CHECK(calls.empty());
    mola::GenerateOptions options;
    options.max_tokens = 2;
    s.generate(some_tokens(40, 3), mola::SamplerParams(), options);
    CHECK(calls == std::vector<std::pair<size_t, size_t>>{{16, 40}, {32, 40}, {40, 40}});
    // A fork reports through the same callback.
    calls.clear();
    mola::Session child = s.fork();
    child.append(some_tokens(20, 4));
    CHECK(calls == std::vector<std::pair<size_t, size_t>>{{16, 20}, {20, 20}});
}

TEST_CASE("a cancelled prefill leaves the session as it was", "[long_context][cancel]") {
    mola::Model model = load(kLong);
    const std::vector<int32_t> history = some_tokens(30, 5), more = some_tokens(100, 6);
    const int32_t next = 7;
    mola::Session reference(model, 256, 16);
    reference.append(history);
    const std::vector<float> history_logits = reference.logits();
    reference.decode(next);

    size_t stop_at = 48;
    mola::Session* self = nullptr;
    bool cancel_from_outside = false;
    mola::SessionParams params;
    params.n_ctx = 256;
    params.n_batch = 16;
    params.prefill_progress = [&](size_t done, size_t) {
        if (cancel_from_outside && done == stop_at) self->cancel();  // heard after the next chunk
        return cancel_from_outside || done < stop_at;
    };
    mola::Session s(model, params);
    self = &s;
    s.append(history);
    for (bool outside : {false, true}) {
        cancel_from_outside = outside;
        try {
            s.append(more);
            FAIL("the append was not cancelled");
        } catch (const mola::Error& e) {
            CHECK(e.status() == MOLA_ERR_CANCELLED);
            CHECK(std::string(e.what()).find("cancelled after " + std::to_string(outside ? 64 : 48)) !=
                  std::string::npos);
        }
        CHECK(s.tokens() == history);
        CHECK(s.logits() == history_logits);
        CHECK(s.n_cache_blocks() == 2);
        // append_all_logits is cancelled the same way.
        cancel_from_outside = false;
        CHECK_THROWS_AS(s.append_all_logits(more), mola::Error);
        CHECK(s.tokens() == history);
    }
    // generate's prompt: a normal finish, reason CANCELLED, prompt taken out.
    mola::GenerateResult r = s.generate(more);
    CHECK(r.finish_reason == MOLA_FINISH_CANCELLED);
    CHECK(r.n_generated_tokens == 0);
    CHECK(s.tokens() == history);
    CHECK(s.logits() == history_logits);
    s.decode(next);
    CHECK(golden::rel_l2(s.logits(), reference.logits()) == 0.0);
    // An exception from the callback cancels and comes back out of the call.
    mola::SessionParams throwing;
    throwing.n_batch = 16;
    throwing.prefill_progress = [](size_t, size_t) -> bool { throw std::runtime_error("progress threw"); };
    mola::Session t(model, throwing);
    CHECK_THROWS_WITH(t.append(more), "progress threw");
    CHECK(t.n_tokens() == 0);
}

TEST_CASE("by default a full session fails with CONTEXT_FULL and stays usable", "[long_context][overflow]") {
    mola::Model model = load(kLong);
    mola::Session s(model, 32, 16);
    const std::vector<int32_t> tokens = some_tokens(30, 8);
    s.append(tokens);
    const std::vector<float> logits = s.logits();
    try {
        s.append(some_tokens(5, 9));
        FAIL("the append passed n_ctx");
    } catch (const mola::Error& e) {
        CHECK(e.status() == MOLA_ERR_CONTEXT_FULL);
    }
    CHECK(s.tokens() == tokens);
    CHECK(s.logits() == logits);
    s.decode(1);
    s.decode(2);
    CHECK(s.n_tokens() == 32);
    CHECK_THROWS_AS(s.decode(3), mola::Error);
    // Generation stops at the limit instead (finish reason LENGTH).
    s.rewind(31);
    s.decode(1);
    mola::GenerateOptions options;
    options.max_tokens = 10;
    options.ignore_eos = true;
    CHECK(s.generate({}, mola::SamplerParams(), options).finish_reason == MOLA_FINISH_LENGTH);
}

TEST_CASE("sliding equals a recompute of the kept tokens (one layer, F32 cache)", "[long_context][slide]") {
    mola::Model model = load(kLong, MOLA_KV_F32, 16);
    constexpr int kCtx = 64, kKeep = 5;
    const std::vector<int32_t> tokens = some_tokens(kCtx, 10);
    mola::Session s(model, sliding(kCtx, kKeep));
    s.append(tokens);
    // A decode past n_ctx drops the default (64 - 5) / 2 = 29 tokens after the first 5.
    s.decode(11);
    std::vector<int32_t> want = kept(tokens, kKeep, kKeep + 29);
    want.push_back(11);
    REQUIRE(s.tokens() == want);
    CHECK(s.n_cache_blocks() == 3);  // 36 tokens: the freed block went back
    mola::Session fresh(model, kCtx, 16);
    fresh.append(want);
    CHECK(golden::rel_l2(s.logits(), fresh.logits()) < 1e-5);

    // The re-rotated cache rows themselves equal the recomputed ones.
    const std::string slid_path = temp_path("long_context_slid.mola"), fresh_path = temp_path("long_context_fresh.mola");
    s.save(slid_path);
    fresh.save(fresh_path);
    CHECK(saved_flags(slid_path) == 1);
    CHECK(saved_flags(fresh_path) == 0);
    const std::vector<float> slid_rows = saved_cache_rows(slid_path), fresh_rows = saved_cache_rows(fresh_path);
    REQUIRE(slid_rows.size() == want.size() * (28 + 16));
    CHECK(golden::rel_l2(slid_rows, fresh_rows) < 1e-6);
    // A saved slid session loads back exactly, with the policy of the load's params.
    mola::Session loaded = mola::Session::load(model, slid_path, sliding(kCtx, kKeep));
    CHECK(loaded.tokens() == want);
    for (int32_t t : some_tokens(40, 12)) {  // slides again on the way
        loaded.decode(t);
        s.decode(t);
    }
    CHECK(golden::rel_l2(loaded.logits(), s.logits()) == 0.0);
    std::remove(slid_path.c_str());
    std::remove(fresh_path.c_str());

    // An append longer than n_discard drops as many as it needs.
    mola::Session t(model, sliding(kCtx, kKeep));
    t.append(tokens);
    const std::vector<int32_t> more = some_tokens(40, 13);
    const std::vector<float> all = t.append_all_logits(more);
    std::vector<int32_t> want_t = kept(tokens, kKeep, kKeep + 40);
    want_t.insert(want_t.end(), more.begin(), more.end());
    REQUIRE(t.tokens() == want_t);
    mola::Session fresh_t(model, kCtx, 16);
    const std::vector<float> fresh_all = fresh_t.append_all_logits(want_t);
    CHECK(golden::rel_l2(std::vector<float>(all.end() - 40 * kVocab, all.end()),
                         std::vector<float>(fresh_all.end() - 40 * kVocab, fresh_all.end())) < 1e-5);
    // More than n_ctx - n_keep can never fit.
    try {
        t.append(some_tokens(60, 14));
        FAIL("an append longer than n_ctx - n_keep fit");
    } catch (const mola::Error& e) {
        CHECK(e.status() == MOLA_ERR_CONTEXT_FULL);
    }
    CHECK(t.tokens() == want_t);
}

TEST_CASE("sliding a forked session copies the shared blocks first", "[long_context][slide]") {
    mola::Model model = load(kLong, MOLA_KV_F32, 16);
    const std::vector<int32_t> tokens = some_tokens(64, 15);
    mola::Session parent(model, sliding(64, 3, 20));
    parent.append(tokens);
    mola::Session child = parent.fork();
    child.decode(9);  // slides 20 in the child only
    CHECK(child.n_tokens() == 45);
    CHECK(parent.tokens() == tokens);
    mola::Session reference(model, 80, 16);
    reference.append(tokens);
    parent.rewind(63);
    reference.rewind(63);
    parent.decode(4);
    reference.decode(4);
    CHECK(golden::rel_l2(parent.logits(), reference.logits()) == 0.0);
    std::vector<int32_t> want = kept(tokens, 3, 23);
    want.push_back(9);
    mola::Session fresh(model, 64, 16);
    fresh.append(want);
    CHECK(golden::rel_l2(child.logits(), fresh.logits()) < 1e-5);
}

TEST_CASE("sliding BF16 and FP8 caches stays close to a recompute", "[long_context][slide]") {
    for (mola_kv_dtype dtype : {MOLA_KV_BF16, MOLA_KV_FP8_E4M3}) {
        mola::Model model = load(kLong, dtype, 16);
        const std::vector<int32_t> tokens = some_tokens(64, 16);
        mola::Session s(model, sliding(64, 4));
        s.append(tokens);
        s.decode(5);
        mola::Session fresh(model, 64, 16);
        fresh.append(s.tokens());
        const double err = golden::rel_l2(s.logits(), fresh.logits());
        INFO("cache " << dtype << ": rel L2 " << err);
        CHECK(err < 1e-2);
    }
}

TEST_CASE("multi-layer models slide while generating and keep finite logits", "[long_context][slide]") {
    for (const std::string name : {"v3", "v2_lite", "v3_fp8"}) {
        mola::Model model = load(golden::model_dir(name), MOLA_KV_BF16, 16);
        const int32_t vocab = model.info().n_vocab;
        mola::Session s(model, sliding(48, 6));
        s.append(golden::some_tokens(40, vocab, 17));
        mola::GenerateOptions options;
        options.max_tokens = 100;
        options.ignore_eos = true;
        mola::SamplerParams greedy;
        greedy.temperature = 0;
        const mola::GenerateResult r = s.generate(golden::some_tokens(20, vocab, 18), greedy, options);
        INFO(name);
        CHECK(r.finish_reason == MOLA_FINISH_LENGTH);
        CHECK(r.n_generated_tokens == 100);
        CHECK(s.n_tokens() <= 48);
        CHECK(all_finite(s.logits()));
    }
}

TEST_CASE("overflow parameters are checked", "[long_context][overflow]") {
    mola::Model model = load(kLong);
    mola_session_params p;
    mola_session_params_default(&p);
    CHECK(p.overflow == MOLA_OVERFLOW_ERROR);
    p.n_ctx = 32;
    p.overflow = 7;
    mola_session* s = nullptr;
    CHECK(mola_session_create(model.get(), &p, &s) == MOLA_ERR_INVALID_ARG);
    CHECK(std::string(mola_last_error()).find("overflow 7") != std::string::npos);
    p.overflow = MOLA_OVERFLOW_SLIDE;
    p.n_keep = 32;
    CHECK(mola_session_create(model.get(), &p, &s) == MOLA_ERR_INVALID_ARG);
    CHECK(std::string(mola_last_error()).find("n_keep 32") != std::string::npos);
    p.n_keep = 4;
    p.n_discard = -1;
    CHECK(mola_session_create(model.get(), &p, &s) == MOLA_ERR_INVALID_ARG);
    CHECK(s == nullptr);
    // A prompt longer than n_ctx - n_keep cannot fit even by sliding; in an empty session it can.
    p.n_discard = 0;
    REQUIRE(mola_session_create(model.get(), &p, &s) == MOLA_OK);
    const std::vector<int32_t> prompt = some_tokens(29, 19);
    mola_generate_params gp;
    mola_generate_params_default(&gp);
    gp.max_tokens = 1;
    CHECK(mola_session_generate(s, prompt.data(), prompt.size(), nullptr, &gp, nullptr) == MOLA_OK);
    REQUIRE(mola_session_rewind(s, 10) == MOLA_OK);
    CHECK(mola_session_generate(s, prompt.data(), prompt.size(), nullptr, nullptr, nullptr) ==
          MOLA_ERR_CONTEXT_FULL);
    mola_session_destroy(s);
}
