// test_generate.cpp: the generation loop of the C ABI and the C++ facade: seeded
// reproducibility across APIs, finish reasons (eos, stop, length, cancelled),
// streaming, cancellation from another thread, multi-turn continuation against a
// from-scratch prefill, stop strings across token boundaries, and misuse.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "golden.h"
#include "mola/mola.h"
#include "mola/mola.hpp"

namespace {

namespace fs = std::filesystem;

const std::string kV3 = std::string(MOLA_TEST_DATA) + "/v3";
// The bundled default model, which has a tokenizer, for the text-level tests.
const std::string kBundled = (fs::path(MOLA_TEST_DATA) / ".." / ".." / "share" / "models" / "mola-tiny-code").string();

std::string last_error() { return mola_last_error(); }

mola::Model load(const std::string& path) {
    mola::ModelParams p;
    p.n_threads = 1;
    return mola::Model(path, p);
}

mola::SamplerParams sampled(uint64_t seed) {
    mola::SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

const std::vector<int32_t> kPrompt = {1, 17, 42, 99, 3, 250, 7};

}  // namespace

TEST_CASE("generate: the same seed gives the same tokens through generate, the facade and a sampler loop",
          "[generate]") {
    mola::Model model = load(kV3);
    const mola::SamplerParams sp = sampled(1234);
    mola::GenerateOptions opt;
    opt.max_tokens = 12;
    opt.ignore_eos = true;

    mola::Session a(model, 64);
    const mola::GenerateResult ra = a.generate(kPrompt, sp, opt);
    REQUIRE(ra.n_generated_tokens == 12);
    REQUIRE(ra.tokens.size() == 12);
    CHECK(ra.finish_reason == MOLA_FINISH_LENGTH);
    CHECK(ra.n_prompt_tokens == int32_t(kPrompt.size()));

    mola::Session b(model, 64);
    CHECK(b.generate(kPrompt, sp, opt).tokens == ra.tokens);

    // The C calls, driven by hand: append, sample, decode.
    mola::Session c(model, 64);
    c.append(kPrompt);
    const mola_sampler_params cp = sp.c_params();
    mola_sampler* sampler = nullptr;
    REQUIRE(mola_sampler_create(&cp, int32_t(c.n_vocab()), &sampler) == MOLA_OK);
    std::vector<int32_t> by_hand;
    for (int i = 0; i < 12; ++i) {
        int32_t token = -1;
        REQUIRE(mola_sampler_sample(sampler, c.get(), &token) == MOLA_OK);
        by_hand.push_back(token);
        c.decode(token);
    }
    mola_sampler_destroy(sampler);
    CHECK(by_hand == ra.tokens);

    // The facade's Sampler, the same way.
    mola::Session e(model, 64);
    e.append(kPrompt);
    mola::Sampler facade(sp, e.n_vocab());
    std::vector<int32_t> by_facade;
    for (int i = 0; i < 12; ++i) {
        by_facade.push_back(facade.sample(e));
        e.decode(by_facade.back());
    }
    CHECK(by_facade == ra.tokens);

    // The session holds prompt + every generated token.
    std::vector<int32_t> expected = kPrompt;
    expected.insert(expected.end(), ra.tokens.begin(), ra.tokens.end());
    CHECK(a.tokens() == expected);

    // Another seed, another sequence.
    mola::Session d(model, 64);
    CHECK(d.generate(kPrompt, sampled(99), opt).tokens != ra.tokens);
}

TEST_CASE("generate: greedy follows the argmax of the logits", "[generate]") {
    mola::Model model = load(kV3);
    mola::Session s(model, 64);
    mola::GenerateOptions opt;
    opt.max_tokens = 6;
    opt.ignore_eos = true;
    const mola::GenerateResult r = s.generate(kPrompt, mola::SamplerParams::greedy(), opt);
    mola::Session ref(model, 64);
    ref.append(kPrompt);
    for (int32_t token : r.tokens) {
        const std::vector<float> logits = ref.logits();
        const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
        CHECK(token == int32_t(best));
        ref.decode(token);
    }
}

TEST_CASE("generate: an end-of-sequence token finishes with eos and is not appended", "[generate]") {
    mola::Model model = load(kV3);
    const int32_t eos = model.info().eos_token_id;
    REQUIRE(eos >= 0);
    mola::SamplerParams sp = mola::SamplerParams::greedy();
    sp.logit_bias.push_back({eos, 1e6f});
    mola::Session s(model, 64);
    std::vector<std::vector<int32_t>> streamed;
    mola::GenerateOptions opt;
    opt.stream = [&](std::string_view, const std::vector<int32_t>& tokens) {
        streamed.push_back(tokens);
        return true;
    };
    const mola::GenerateResult r = s.generate(kPrompt, sp, opt);
    CHECK(r.finish_reason == MOLA_FINISH_EOS);
    CHECK(r.n_generated_tokens == 1);
    CHECK(r.tokens == std::vector<int32_t>{eos});
    CHECK(streamed == std::vector<std::vector<int32_t>>{{eos}});
    CHECK(s.n_tokens() == kPrompt.size());

    // ignore_eos keeps going to the limit.
    mola::Session t(model, 64);
    opt.ignore_eos = true;
    opt.max_tokens = 3;
    const mola::GenerateResult r2 = t.generate(kPrompt, sp, opt);
    CHECK(r2.finish_reason == MOLA_FINISH_LENGTH);
    CHECK(r2.n_generated_tokens == 3);
}

TEST_CASE("generate: a full session finishes with length; a prompt that does not fit is refused", "[generate]") {
    mola::Model model = load(kV3);
    mola::Session s(model, 10);
    mola::GenerateOptions opt;
    opt.max_tokens = 0;
    opt.ignore_eos = true;
    const mola::GenerateResult r = s.generate(kPrompt, mola::SamplerParams::greedy(), opt);
    CHECK(r.finish_reason == MOLA_FINISH_LENGTH);
    CHECK(s.n_tokens() == 10);
    CHECK(r.n_generated_tokens == 3);

    mola::Session t(model, 5);
    mola_generate_result res{};
    res.struct_size = sizeof(res);
    CHECK(mola_session_generate(t.get(), kPrompt.data(), kPrompt.size(), nullptr, nullptr, &res) ==
          MOLA_ERR_CONTEXT_FULL);
    CHECK_THAT(last_error(), Catch::Contains("do not fit"));
    CHECK(t.n_tokens() == 0);
}

TEST_CASE("generate: timings and counts are reported", "[generate]") {
    mola::Model model = load(kV3);
    mola::Session s(model, 64);
    mola::GenerateOptions opt;
    opt.max_tokens = 5;
    opt.ignore_eos = true;
    const mola::GenerateResult r = s.generate(kPrompt, mola::SamplerParams::greedy(), opt);
    CHECK(r.n_prompt_tokens == 7);
    CHECK(r.prefill_ms > 0);
    CHECK(r.prefill_tokens_per_second > 0);
    CHECK(r.time_to_first_token_ms >= r.prefill_ms);
    CHECK(r.decode_ms > 0);
    CHECK(r.decode_tokens_per_second > 0);

    // Continuing without a prompt: no prefill.
    const mola::GenerateResult r2 = s.generate({}, mola::SamplerParams::greedy(), opt);
    CHECK(r2.n_prompt_tokens == 0);
    CHECK(r2.prefill_tokens_per_second == 0);
    CHECK(r2.n_generated_tokens == 5);
}

TEST_CASE("generate: cancel from another thread stops within one step and leaves the session usable",
          "[generate][cancel]") {
    mola::Model model = load(kV3);
    mola::GenerateOptions opt;
    opt.ignore_eos = true;
    opt.max_tokens = 10;
    mola::Session whole(model, 64);
    const std::vector<int32_t> expected = whole.generate(kPrompt, mola::SamplerParams::greedy(), opt).tokens;

    mola::Session s(model, 64);
    std::mutex m;
    std::condition_variable cv;
    int streamed = 0;
    bool cancelled = false;
    std::thread canceller([&] {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return streamed == 4; });
        s.cancel();
        cancelled = true;
        cv.notify_all();
    });
    mola::GenerateOptions copt = opt;
    copt.stream = [&](std::string_view, const std::vector<int32_t>&) {
        std::unique_lock<std::mutex> lock(m);
        if (++streamed == 4) {
            cv.notify_all();
            cv.wait(lock, [&] { return cancelled; });
        }
        return true;
    };
    const mola::GenerateResult r = s.generate(kPrompt, mola::SamplerParams::greedy(), copt);
    canceller.join();
    CHECK(r.finish_reason == MOLA_FINISH_CANCELLED);
    CHECK(r.n_generated_tokens == 4);  // the step in flight finished, no further one began
    CHECK(s.n_tokens() == kPrompt.size() + 4);

    // The request was consumed, and the session continues as if never interrupted.
    opt.max_tokens = 6;
    const mola::GenerateResult rest = s.generate({}, mola::SamplerParams::greedy(), opt);
    CHECK(rest.finish_reason == MOLA_FINISH_LENGTH);
    std::vector<int32_t> joined = r.tokens;
    joined.insert(joined.end(), rest.tokens.begin(), rest.tokens.end());
    CHECK(joined == expected);
}

TEST_CASE("generate: a cancel during the prompt leaves the session as it was", "[generate][cancel]") {
    mola::Model model = load(kV3);
    mola::Session s(model, 64, 2);  // n_batch 2: the prompt takes several passes
    s.append({5, 6});
    s.cancel();
    const mola::GenerateResult r = s.generate(kPrompt, mola::SamplerParams::greedy());
    CHECK(r.finish_reason == MOLA_FINISH_CANCELLED);
    CHECK(r.n_generated_tokens == 0);
    CHECK(s.tokens() == std::vector<int32_t>{5, 6});
    CHECK_NOTHROW(s.logits());  // cancelled before the first pass: nothing was touched
    mola::GenerateOptions opt;
    opt.max_tokens = 2;
    CHECK(s.generate(kPrompt, mola::SamplerParams::greedy(), opt).finish_reason != MOLA_FINISH_CANCELLED);

    // Cancelled after the first pass of a prompt: its tokens are taken out again.
    s.rewind(2);
    int passes = 0;
    opt.stream = [&](std::string_view, const std::vector<int32_t>&) { return ++passes < 100; };
    std::thread late([&] { s.cancel(); });  // may land in any pass; the outcome is one of two
    const mola::GenerateResult r2 = s.generate(kPrompt, mola::SamplerParams::greedy(), opt);
    late.join();
    if (r2.n_generated_tokens == 0 && s.n_tokens() == 2) {  // the cancel landed in the prompt
        CHECK(r2.finish_reason == MOLA_FINISH_CANCELLED);
        CHECK(s.tokens() == std::vector<int32_t>{5, 6});
        CHECK_THROWS(s.logits());  // the prompt's first pass was undone
    } else if (r2.n_generated_tokens == 0) {  // between the prompt and the first sample
        CHECK(r2.finish_reason == MOLA_FINISH_CANCELLED);
        CHECK(s.n_tokens() == 2 + kPrompt.size());
    } else {
        CHECK(s.n_tokens() == 2 + kPrompt.size() + size_t(r2.n_generated_tokens));
    }
}

TEST_CASE("generate: a stream callback that returns false, or throws, stops cleanly", "[generate]") {
    mola::Model model = load(kV3);
    mola::Session s(model, 64);
    mola::GenerateOptions opt;
    opt.ignore_eos = true;
    opt.max_tokens = 20;
    int calls = 0;
    opt.stream = [&](std::string_view, const std::vector<int32_t>&) { return ++calls < 3; };
    const mola::GenerateResult r = s.generate(kPrompt, mola::SamplerParams::greedy(), opt);
    CHECK(r.finish_reason == MOLA_FINISH_CANCELLED);
    CHECK(calls == 3);
    CHECK(r.n_generated_tokens == 3);
    CHECK(s.n_tokens() == kPrompt.size() + 3);

    opt.stream = [&](std::string_view, const std::vector<int32_t>&) -> bool { throw std::runtime_error("boom"); };
    CHECK_THROWS_WITH(s.generate({}, mola::SamplerParams::greedy(), opt), "boom");
    CHECK(s.n_tokens() == kPrompt.size() + 4);
    opt.stream = nullptr;
    opt.max_tokens = 2;
    CHECK(s.generate({}, mola::SamplerParams::greedy(), opt).n_generated_tokens == 2);
}

TEST_CASE("generate: a second turn prefills only its tokens and matches a from-scratch prefill",
          "[generate][multiturn]") {
    mola::Model model = load(kV3);
    mola::Session chat(model, 128);
    mola::GenerateOptions opt;
    opt.ignore_eos = true;
    opt.max_tokens = 9;
    const mola::GenerateResult turn1 = chat.generate(kPrompt, sampled(7), opt);
    const std::vector<int32_t> turn2 = {2, 8, 19, 77, 31};
    const mola::GenerateResult second = chat.generate(turn2, sampled(8), opt);
    CHECK(second.n_prompt_tokens == int32_t(turn2.size()));
    const std::vector<int32_t> third = {4, 4, 60};
    chat.append(third);
    const std::vector<float> incremental = chat.logits();

    mola::Session scratch(model, 128);
    scratch.append(chat.tokens());
    CHECK(scratch.tokens().size() == kPrompt.size() + 9 + turn2.size() + 9 + third.size());
    const double err = golden::rel_l2(incremental, scratch.logits());
    INFO("relative L2 " << err);
    CHECK(err < 1e-4);
}

TEST_CASE("generate: misuse gets an error naming the problem", "[generate][bad]") {
    mola::Model model = load(kV3);
    mola::Session s(model, 64);
    mola_generate_result r{};
    r.struct_size = sizeof(r);
    CHECK(mola_session_generate(nullptr, kPrompt.data(), 1, nullptr, nullptr, &r) == MOLA_ERR_INVALID_ARG);
    CHECK(mola_session_generate(s.get(), nullptr, 3, nullptr, nullptr, &r) == MOLA_ERR_INVALID_ARG);
    // No prompt and no logits yet.
    CHECK(mola_session_generate(s.get(), nullptr, 0, nullptr, nullptr, &r) == MOLA_ERR_MISUSE);

    mola_sampler_params sp;
    mola_sampler_params_default(&sp);
    sp.top_p = 2.0f;
    CHECK(mola_session_generate(s.get(), kPrompt.data(), kPrompt.size(), &sp, nullptr, &r) == MOLA_ERR_INVALID_ARG);
    CHECK_THAT(last_error(), Catch::Contains("top_p"));
    CHECK(s.n_tokens() == 0);

    mola_sampler_params_default(&sp);
    sp.struct_size = 0;
    CHECK(mola_session_generate(s.get(), kPrompt.data(), kPrompt.size(), &sp, nullptr, &r) == MOLA_ERR_INVALID_ARG);
    CHECK_THAT(last_error(), Catch::Contains("struct_size"));

    const int32_t bad[] = {1, 2, 1 << 30};
    CHECK(mola_session_generate(s.get(), bad, 3, nullptr, nullptr, &r) == MOLA_ERR_INVALID_ARG);
    CHECK_THAT(last_error(), Catch::Contains("outside the vocabulary"));
    CHECK(s.n_tokens() == 0);

    mola_generate_params gp;
    mola_generate_params_default(&gp);
    gp.max_tokens = -1;
    CHECK(mola_session_generate(s.get(), kPrompt.data(), kPrompt.size(), nullptr, &gp, &r) == MOLA_ERR_INVALID_ARG);
    CHECK_THAT(last_error(), Catch::Contains("max_tokens"));

    // Stop strings need a tokenizer; the test model has none.
    const char* stop[] = {"x"};
    mola_generate_params_default(&gp);
    gp.stop = stop;
    gp.n_stop = 1;
    CHECK(mola_session_generate(s.get(), kPrompt.data(), kPrompt.size(), nullptr, &gp, &r) == MOLA_ERR_UNSUPPORTED);
    CHECK_THAT(last_error(), Catch::Contains("tokenizer"));

    mola_generate_params_default(&gp);
    gp.n_stop = 2;
    CHECK(mola_session_generate(s.get(), kPrompt.data(), kPrompt.size(), nullptr, &gp, &r) == MOLA_ERR_INVALID_ARG);

    // A bias that bans every token fails at the first sample; the prompt stays.
    {
        std::vector<mola_logit_bias> ban;
        for (int32_t t = 0; t < int32_t(s.n_vocab()); ++t) ban.push_back({t, -INFINITY});
        mola_sampler_params_default(&sp);
        sp.logit_bias = ban.data();
        sp.n_logit_bias = ban.size();
        CHECK(mola_session_generate(s.get(), kPrompt.data(), kPrompt.size(), &sp, nullptr, &r) ==
              MOLA_ERR_INVALID_ARG);
        CHECK_THAT(last_error(), Catch::Contains("-inf"));
        CHECK(s.n_tokens() == kPrompt.size());
        s.rewind(0);
    }

    CHECK(mola_session_cancel(nullptr) == MOLA_ERR_INVALID_ARG);
    mola_sampler* sampler = nullptr;
    CHECK(mola_sampler_create(nullptr, 0, &sampler) == MOLA_ERR_INVALID_ARG);
    CHECK(sampler == nullptr);
    REQUIRE(mola_sampler_create(nullptr, int32_t(s.n_vocab()), &sampler) == MOLA_OK);
    int32_t token = 0;
    CHECK(mola_sampler_sample(sampler, s.get(), &token) == MOLA_ERR_MISUSE);  // no logits
    CHECK(mola_sampler_sample(sampler, nullptr, &token) == MOLA_ERR_INVALID_ARG);
    CHECK(mola_sampler_reset(sampler, 3) == MOLA_OK);
    mola_sampler_destroy(sampler);
    mola_sampler_destroy(nullptr);
}

TEST_CASE("generate: the bundled model streams UTF-8-safe text that equals the decoded tokens",
          "[generate][bundled]") {
    if (!fs::exists(fs::path(kBundled) / "config.json")) FAIL("the bundled model is missing: " << kBundled);
    mola::Model model = load(kBundled);
    mola::Tokenizer tok(model);
    mola::Session s(model, 512);
    mola::GenerateOptions opt;
    opt.max_tokens = 60;
    opt.ignore_eos = true;
    std::vector<std::string> pieces;
    opt.stream = [&](std::string_view text, const std::vector<int32_t>&) {
        pieces.emplace_back(text);
        return true;
    };
    const mola::GenerateResult r = s.generate(tok.encode("def fibonacci(n):\n"), sampled(42), opt);
    REQUIRE(r.n_generated_tokens == 60);
    std::string joined;
    for (const std::string& p : pieces) {
        // Every piece is whole UTF-8: encoding it alone round-trips.
        CHECK(tok.decode(tok.encode(p, false, false)) == p);
        joined += p;
    }
    CHECK(joined == r.text);
    CHECK(joined == tok.decode(r.tokens));
}

TEST_CASE("generate: stop strings are matched across token boundaries and never emitted",
          "[generate][bundled][stop]") {
    if (!fs::exists(fs::path(kBundled) / "config.json")) FAIL("the bundled model is missing: " << kBundled);
    mola::Model model = load(kBundled);
    mola::Tokenizer tok(model);
    const std::vector<int32_t> prompt = tok.encode("import os\n\n\ndef ");
    mola::GenerateOptions opt;
    opt.max_tokens = 80;
    opt.ignore_eos = true;
    mola::Session free_run(model, 512);
    const mola::GenerateResult full = free_run.generate(prompt, sampled(5), opt);
    REQUIRE(full.text.size() > 40);

    // A stop string that starts inside one token and ends inside a later one.
    std::vector<size_t> ends;  // text offset after each token
    for (size_t i = 1; i <= full.tokens.size(); ++i)
        ends.push_back(tok.decode(std::vector<int32_t>(full.tokens.begin(), full.tokens.begin() + long(i))).size());
    size_t start = std::string::npos;
    for (size_t i = 4; i + 2 < ends.size() && start == std::string::npos; ++i)
        if (ends[i + 1] - ends[i] >= 2 && ends[i] - ends[i - 1] >= 2) start = ends[i] - 1;  // last byte of token i
    REQUIRE(start != std::string::npos);
    const std::string stop = full.text.substr(start, 3);
    const size_t first = full.text.find(stop);
    INFO("stop string '" << stop << "'");

    mola::Session stopped(model, 512);
    mola::GenerateOptions sopt = opt;
    sopt.stop = {"never appears \x01", stop};
    std::string streamed;
    sopt.stream = [&](std::string_view text, const std::vector<int32_t>&) {
        streamed += text;
        return true;
    };
    const mola::GenerateResult r = stopped.generate(prompt, sampled(5), sopt);
    CHECK(r.finish_reason == MOLA_FINISH_STOP);
    CHECK(streamed == full.text.substr(0, first));
    CHECK(streamed.find(stop) == std::string::npos);
    // The tokens that spelled the stop string are in the session, the text is not streamed.
    CHECK(r.n_generated_tokens < full.n_generated_tokens);
    CHECK(std::equal(r.tokens.begin(), r.tokens.end(), full.tokens.begin()));
}
