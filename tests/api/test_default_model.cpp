// test_default_model.cpp: the bundled default model (share/models/mola-tiny-code)
// against Hugging Face transformers on held-out text: the same token ids from its
// tokenizer and the same logits from its forward pass (goldens written by
// tools/make_default_model_golden.py).
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "golden.h"
#include "mola/mola.hpp"

namespace {

namespace fs = std::filesystem;

const fs::path kModel = fs::path(MOLA_TEST_DATA) / ".." / ".." / "share" / "models" / "mola-tiny-code";
const fs::path kGolden = fs::path(MOLA_TEST_DATA) / "default_model";

std::string file_sha256(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
    std::string hex;
    char buf[3];
    for (unsigned int i = 0; i < len; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", digest[i]);
        hex += buf;
    }
    return hex;
}

}  // namespace

TEST_CASE("default model: tokens and logits on held-out text match transformers", "[default_model]") {
    std::ifstream in(kGolden / "golden.json");
    REQUIRE(in);
    const nlohmann::json golden = nlohmann::json::parse(in);
    INFO("goldens are stale: rerun tools/make_default_model_golden.py after retraining the model");
    REQUIRE(file_sha256(kModel / "model.safetensors") == golden.at("model_sha256").get<std::string>());

    mola::ModelParams params;
    params.n_threads = 2;
    params.kv_cache_dtype = MOLA_KV_F32;  // transformers' cache is fp32
    mola::Model model(kModel.string(), params);
    mola::Tokenizer tok(model);
    const size_t vocab = size_t(model.info().n_vocab);
    for (const auto& c : golden.at("cases")) {
        const std::string name = c.at("name").get<std::string>();
        INFO(name);
        const std::vector<int32_t> expected = c.at("tokens").get<std::vector<int32_t>>();
        CHECK(tok.encode(c.at("text").get<std::string>()) == expected);

        size_t rows = 0, cols = 0;
        const std::vector<float> ref =
            golden::read_npy((kGolden / c.at("logits").get<std::string>()).string(), &rows, &cols);
        REQUIRE(cols == vocab);
        const std::vector<size_t> positions = c.at("rows").get<std::vector<size_t>>();
        REQUIRE(positions.size() == rows);
        for (mola_mla_mode mode : {MOLA_MLA_AUTO, MOLA_MLA_ABSORBED}) {
            mola::ModelParams p = params;
            p.mla_mode = mode;
            mola::Model m(kModel.string(), p);
            mola::Session s(m, int(expected.size()));
            const std::vector<float> all = s.append_all_logits(expected);
            double worst = 0;
            for (size_t r = 0; r < rows; ++r)
                worst = std::max(worst, golden::rel_l2(&all[positions[r] * vocab], &ref[r * vocab], vocab));
            INFO("mla mode " << int(mode) << ": worst relative L2 error over " << rows << " rows: " << worst);
            CHECK(worst < 1e-4);
        }
    }
}
