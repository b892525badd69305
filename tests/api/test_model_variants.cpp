// test_model_variants.cpp: config variants the oracle's models don't cover
// (tied embeddings) and one model shared by sessions on several threads.
#include <catch2/catch.hpp>

#include <thread>

#include "checkpoint_files.h"
#include "golden.h"
#include "mola/mola.hpp"

using namespace checkpoint_files;

TEST_CASE("tie_word_embeddings uses the embedding table as lm_head", "[variants]") {
    // Two copies of v3: one ties the head to the embeddings and has no lm_head;
    // the other keeps an untied lm_head whose values are the embeddings'.
    TempDir tied, untied;
    copy_model("v3", tied.path);
    copy_model("v3", untied.path);

    json config = read_json(tied.path / "config.json");
    config["tie_word_embeddings"] = true;
    write_json(tied.path / "config.json", config);
    Safetensors st = Safetensors::read(tied.path / "model.safetensors");
    st.erase("lm_head.weight");
    st.write(tied.path / "model.safetensors");

    Safetensors copy = Safetensors::read(untied.path / "model.safetensors");
    const auto embed = copy.entry("model.embed_tokens.weight")["data_offsets"].get<std::vector<size_t>>();
    const auto head = copy.entry("lm_head.weight")["data_offsets"].get<std::vector<size_t>>();
    REQUIRE(embed[1] - embed[0] == head[1] - head[0]);
    std::memcpy(copy.data.data() + head[0], copy.data.data() + embed[0], embed[1] - embed[0]);
    copy.write(untied.path / "model.safetensors");

    mola::Model a(tied.path.string()), b(untied.path.string());
    const golden::Case c = golden::read_cases("v3").back();
    mola::Session sa(a, int(c.tokens.size())), sb(b, int(c.tokens.size()));
    const std::vector<float> la = sa.append_all_logits(c.tokens), lb = sb.append_all_logits(c.tokens);
    CHECK(golden::rel_l2(la, lb) == 0.0);
    // And the untied original differs, so the test would see a head that was ignored.
    CHECK(golden::rel_l2(la, c.logits) > 1e-2);
}

TEST_CASE("sessions of one model run concurrently on several threads", "[threads]") {
    mola::ModelParams p;
    p.n_threads = 1;
    p.kv_cache_dtype = MOLA_KV_F32;  // compared with the fp32 oracle
    const mola::Model model(golden::model_dir("v3"), p);
    const std::vector<golden::Case> cases = golden::read_cases("v3");
    std::vector<std::vector<float>> results(cases.size() * 2);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < results.size(); ++t)
        threads.emplace_back([&, t] {
            const golden::Case& c = cases[t % cases.size()];
            mola::Session session(model, int(c.tokens.size()));
            for (int32_t token : c.tokens) session.decode(token);  // many small steps interleave
            results[t] = session.logits();
        });
    for (std::thread& t : threads) t.join();
    for (size_t t = 0; t < results.size(); ++t) {
        const golden::Case& c = cases[t % cases.size()];
        const float* expected = c.logits.data() + (c.tokens.size() - 1) * c.vocab;
        CHECK(golden::rel_l2(results[t].data(), expected, c.vocab) <= 1e-4);
    }
}
