// test_concurrent_sessions.cpp: sessions of ONE model driven from several threads
// at once: each thread creates its own sessions, appends, generates with a seed,
// forks, rewinds, decodes (alone and in a batch of its own sessions), queries the
// shared cache pool and destroys, and every result equals the same work done on
// one thread. CI also runs this file alone under ThreadSanitizer (build-tsan in
// scripts/test.sh), with one compute thread per model because OpenMP's runtime
// is not instrumented.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "golden.h"
#include "mola/mola.hpp"

namespace {

// Everything a worker's sessions produced that a data race could disturb; it is
// compared on the main thread (Catch's assertions are not thread-safe).
struct Outcome {
    std::vector<int32_t> generated, parent_tokens, child_tokens;
    std::vector<float> parent_logits, child_logits, batched_logits;
    bool usage_consistent = false;  // a pool snapshot taken meanwhile: used <= total
    bool operator==(const Outcome& o) const {
        return usage_consistent == o.usage_consistent && generated == o.generated &&
               parent_tokens == o.parent_tokens && child_tokens == o.child_tokens && parent_logits == o.parent_logits && child_logits == o.child_logits &&
               batched_logits == o.batched_logits;
    }
};

uint64_t blocks_used(const mola::Model& model, uint64_t* total) {
    mola_cache_usage u{};
    u.struct_size = sizeof(u);
    mola::check(mola_model_get_cache_usage(model.get(), &u));
    *total = u.blocks_total;
    return u.blocks_used;
}

Outcome work(const mola::Model& model, int worker) {
    const int32_t vocab = model.info().n_vocab;
    Outcome out;
    mola::Session parent(model, 96);
    parent.append(golden::some_tokens(size_t(5 + 7 * worker), vocab, uint32_t(worker + 1)));
    mola::SamplerParams sampler;
    sampler.seed = uint64_t(worker) * 31 + 7;
    mola::GenerateOptions options;
    options.max_tokens = 6;
    options.ignore_eos = true;
    out.generated = parent.generate({}, sampler, options).tokens;

    mola::Session child = parent.fork();  // shares a partly filled block
    child.decode(int32_t(worker));
    parent.rewind(parent.n_tokens() - 2);
    parent.decode(int32_t(worker + 1));
    uint64_t total = 0;
    out.usage_consistent = blocks_used(model, &total) <= total;

    mola::Batch batch(model, 2);
    batch.decode({&parent, &child}, {3, 4});
    out.batched_logits = child.logits();
    child.decode(5);
    out.parent_tokens = parent.tokens();
    out.child_tokens = child.tokens();
    out.parent_logits = parent.logits();
    out.child_logits = child.logits();
    return out;
}

}  // namespace

TEST_CASE("threads driving their own sessions of one model get single-threaded results", "[threads][concurrency]") {
    mola::ModelParams p;
    p.n_threads = 1;
    p.kv_block_tokens = 16;
    const mola::Model model(golden::model_dir("v3"), p);
    constexpr int kWorkers = 4, kRounds = 2;
    // A first pass fills the prefix cache, so that the reference pass and every
    // threaded pass take the same cached blocks (a prompt computed in other chunks
    // is equal only to float rounding) and the threads also race on the cache.
    for (int w = 0; w < kWorkers; ++w) work(model, w);
    std::vector<Outcome> alone;
    for (int w = 0; w < kWorkers; ++w) alone.push_back(work(model, w));
    CHECK(alone[0].usage_consistent);

    std::vector<std::vector<Outcome>> together(kWorkers);
    std::vector<std::thread> threads;
    for (int w = 0; w < kWorkers; ++w)
        threads.emplace_back([&, w] {
            for (int round = 0; round < kRounds; ++round) together[size_t(w)].push_back(work(model, w));
        });
    for (std::thread& t : threads) t.join();
    for (int w = 0; w < kWorkers; ++w)
        for (const Outcome& o : together[size_t(w)]) {
            INFO("worker " << w);
            CHECK(o == alone[size_t(w)]);
        }
    uint64_t total = 0;
    CHECK(blocks_used(model, &total) == 0);
}
