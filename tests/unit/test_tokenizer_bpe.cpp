// Hugging Face tokenizer.json (BPE) and SentencePiece loaders, checked against ids
// the Rust `tokenizers` library produced (tests/data/tokenizers/unit/cases.json,
// written by tools/make_tokenizer_unit_cases.py), plus every bad-input path.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "common/error.h"
#include "tokenizer/tokenizer.h"

using mola::Error;
using nlohmann::json;

namespace {

const std::string kUnitDir = std::string(MOLA_TEST_DATA) + "/tokenizers/unit/";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string from_hex(const std::string& hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        path = std::filesystem::temp_directory_path() /
               ("mola_tok_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& content) const {
        const std::string p = (path / name).string();
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }
    static std::atomic<int>& counter() {
        static std::atomic<int> c{0};
        return c;
    }
};

std::unique_ptr<mola::Tokenizer> load(const std::string& name) {
    return mola::load_hf_tokenizer(kUnitDir + name, json::object());
}

// Loads a modified copy of a unit tokenizer and returns the error it throws.
mola_status load_error(const std::function<void(json&)>& edit, std::string* message) {
    json j = json::parse(read_file(kUnitDir + "deepseek_v3_like.json"));
    edit(j);
    TempDir dir;
    const std::string p = dir.write("tokenizer.json", j.dump());
    try {
        mola::load_hf_tokenizer(p, json::object());
    } catch (const Error& e) {
        *message = e.what();
        REQUIRE(std::string(e.what()).rfind(p, 0) == 0);  // every message starts with the file
        return e.status();
    }
    FAIL("loading did not throw");
    return MOLA_OK;
}

}  // namespace

TEST_CASE("BPE tokenizers match Hugging Face tokenizers on the unit cases", "[tokenizer]") {
    const json all = json::parse(read_file(kUnitDir + "cases.json"));
    REQUIRE(all.size() >= 10);
    for (const auto& entry : all) {
        const std::string name = entry["tokenizer"];
        if (name.size() > 6 && name.substr(name.size() - 6) == ".model") continue;
        INFO("tokenizer " << name);
        auto tok = load(name);
        CHECK(tok->n_vocab() == entry["vocab_size"].get<int32_t>());
        CHECK(std::string(tok->kind()) == "bpe");
        for (const auto& c : entry["cases"]) {
            const std::string text = c.contains("hex") ? from_hex(c["hex"]) : c["text"].get<std::string>();
            INFO("text " << json(c.contains("hex") ? c["hex"] : c["text"]).dump());
            CHECK(tok->encode(text, false, true) == c["ids"].get<std::vector<int32_t>>());
            CHECK(tok->encode(text, true, true) == c["ids_add_special"].get<std::vector<int32_t>>());
            CHECK(tok->encode(text, false, false) == c["ids_no_parse_special"].get<std::vector<int32_t>>());
            const auto ids = c["ids_add_special"].get<std::vector<int32_t>>();
            CHECK(tok->decode(ids.data(), ids.size(), false) == c["decoded"].get<std::string>());
            CHECK(tok->decode(ids.data(), ids.size(), true) == c["decoded_skip_special"].get<std::string>());
        }
    }
}

TEST_CASE("BPE tokenizer: vocabulary lookups and pieces", "[tokenizer]") {
    auto ds = load("deepseek_v3_like.json");
    const int32_t user = ds->token_id("<｜User｜>");
    REQUIRE(user >= 0);
    CHECK(ds->is_special(user));
    CHECK(ds->token_text(user) == "<｜User｜>");
    CHECK(ds->token_to_piece(user) == "<｜User｜>");
    CHECK(ds->token_id("no such token") == -1);
    const int32_t wordtok = ds->token_id("wordtok");
    REQUIRE(wordtok >= 0);
    CHECK_FALSE(ds->is_special(wordtok));
    // Byte-level: "Ġ" is the space byte; single bytes of UTF-8 come back raw.
    CHECK(ds->token_to_piece(ds->token_id("\xC4\xA0")) == " ");
    const int32_t e2 = ds->token_id("\xC3\xA2");  // byte 0xE2
    REQUIRE(e2 >= 0);
    CHECK(ds->token_to_piece(e2) == "\xE2");
    CHECK_THROWS_AS(ds->token_to_piece(-1), Error);
    CHECK_THROWS_AS(ds->token_text(ds->n_vocab()), Error);
    const int32_t bad[] = {0, 100000};
    try {
        ds->decode(bad, 2, false);
        FAIL("no throw");
    } catch (const Error& e) {
        CHECK(e.status() == MOLA_ERR_INVALID_ARG);
    }

    auto l2 = load("llama2_like.json");
    const int32_t b41 = l2->token_id("<0x41>");
    REQUIRE(b41 >= 0);
    CHECK(l2->token_to_piece(b41) == "A");
    const int32_t bE2 = l2->token_id("<0xE2>");
    CHECK(l2->token_to_piece(bE2) == "\xE2");
    // Replace("▁", " ") applies, the first-token Strip does not.
    const int32_t hello = l2->encode("hello", false, false).front();
    CHECK(l2->token_to_piece(hello).rfind(" ", 0) == 0);
}

TEST_CASE("BPE tokenizer: encode is safe from several threads", "[tokenizer]") {
    auto tok = load("deepseek_v3_like.json");
    std::string text;
    for (int i = 0; i < 200; ++i) text += "def f" + std::to_string(i) + "(x):\n    return x * " + std::to_string(i * 7) + " # 深度求索\n";
    const auto want = tok->encode(text, false, true);
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int k = 0; k < 20; ++k)
                if (tok->encode(text, false, true) != want) ++mismatches;
        });
    for (auto& th : threads) th.join();
    CHECK(mismatches == 0);
}

TEST_CASE("BPE tokenizer: bad files", "[tokenizer]") {
    std::string msg;
    SECTION("missing file") {
        try {
            mola::load_hf_tokenizer("/nonexistent/tokenizer.json", json::object());
            FAIL("no throw");
        } catch (const Error& e) {
            CHECK(e.status() == MOLA_ERR_IO);
            CHECK(std::string(e.what()).find("/nonexistent/tokenizer.json") == 0);
        }
    }
    SECTION("malformed JSON") {
        TempDir dir;
        const std::string p = dir.write("tokenizer.json", "{\"model\": {\"type\": \"BPE\",, }");
        try {
            mola::load_hf_tokenizer(p, json::object());
            FAIL("no throw");
        } catch (const Error& e) {
            CHECK(e.status() == MOLA_ERR_BAD_FORMAT);
            CHECK(std::string(e.what()).find(p) == 0);
        }
    }
    SECTION("truncated file") {
        TempDir dir;
        const std::string full = read_file(kUnitDir + "deepseek_v3_like.json");
        const std::string p = dir.write("tokenizer.json", full.substr(0, full.size() / 2));
        try {
            mola::load_hf_tokenizer(p, json::object());
            FAIL("no throw");
        } catch (const Error& e) {
            CHECK(e.status() == MOLA_ERR_BAD_FORMAT);
            CHECK(std::string(e.what()).find(p) == 0);
        }
    }
    SECTION("unknown model type") {
        CHECK(load_error([](json& j) { j["model"]["type"] = "Unigram"; }, &msg) == MOLA_ERR_UNSUPPORTED);
        CHECK(msg.find("Unigram") != std::string::npos);
        CHECK(msg.find("BPE") != std::string::npos);
    }
    SECTION("unknown pre-tokenizer") {
        CHECK(load_error([](json& j) { j["pre_tokenizer"]["pretokenizers"][1] = {{"type", "FancySplit"}}; }, &msg) ==
              MOLA_ERR_UNSUPPORTED);
        CHECK(msg.find("FancySplit") != std::string::npos);
    }
    SECTION("unknown normalizer") {
        CHECK(load_error([](json& j) { j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "x"}}; }, &msg) ==
              MOLA_ERR_UNSUPPORTED);
        CHECK(msg.find("Precompiled") != std::string::npos);
    }
    SECTION("unknown decoder") {
        CHECK(load_error([](json& j) { j["decoder"] = {{"type", "CTC"}}; }, &msg) == MOLA_ERR_UNSUPPORTED);
        CHECK(msg.find("CTC") != std::string::npos);
    }
    SECTION("bad regex") {
        CHECK(load_error([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\p{N}{1,3}(["; }, &msg) ==
              MOLA_ERR_BAD_FORMAT);
        CHECK(msg.find("\\p{N}{1,3}([") != std::string::npos);
    }
    SECTION("no vocab") {
        CHECK(load_error([](json& j) { j["model"].erase("vocab"); }, &msg) == MOLA_ERR_BAD_FORMAT);
        CHECK(msg.find("vocab") != std::string::npos);
    }
    SECTION("no merges") {
        CHECK(load_error([](json& j) { j["model"].erase("merges"); }, &msg) == MOLA_ERR_BAD_FORMAT);
        CHECK(msg.find("merges") != std::string::npos);
    }
    SECTION("merge of an unknown token") {
        CHECK(load_error([](json& j) { j["model"]["merges"][3] = "Ġ zzzunknown"; }, &msg) == MOLA_ERR_BAD_FORMAT);
        CHECK(msg.find("zzzunknown") != std::string::npos);
    }
    SECTION("malformed merge") {
        CHECK(load_error([](json& j) { j["model"]["merges"][0] = "a b c"; }, &msg) == MOLA_ERR_BAD_FORMAT);
    }
    SECTION("dropout") {
        CHECK(load_error([](json& j) { j["model"]["dropout"] = 0.1; }, &msg) == MOLA_ERR_UNSUPPORTED);
        CHECK(msg.find("dropout") != std::string::npos);
    }
    SECTION("not a tokenizer.json") {
        CHECK(load_error([](json& j) { j = json::array({1, 2}); }, &msg) == MOLA_ERR_BAD_FORMAT);
    }
}

TEST_CASE("SentencePiece tokenizer matches the SentencePiece library", "[tokenizer]") {
    const json all = json::parse(read_file(kUnitDir + "cases.json"));
    const json* entry = nullptr;
    for (const auto& e : all)
        if (e["tokenizer"] == "spm_tiny.model") entry = &e;
    REQUIRE(entry);
    auto tok = mola::load_spm_tokenizer(kUnitDir + "spm_tiny.model", json::object());
    CHECK(std::string(tok->kind()) == "spm");
    CHECK(tok->n_vocab() == (*entry)["vocab_size"].get<int32_t>());
    for (const auto& c : (*entry)["cases"]) {
        const std::string text = c["text"];
        INFO("text " << json(text).dump());
        CHECK(tok->encode(text, false, false) == c["ids"].get<std::vector<int32_t>>());
        CHECK(tok->encode(text, true, false) == c["ids_add_special"].get<std::vector<int32_t>>());
        const auto ids = c["ids"].get<std::vector<int32_t>>();
        CHECK(tok->decode(ids.data(), ids.size(), false) == c["decoded"].get<std::string>());
    }
    const int32_t bos = tok->token_id("<s>"), eos = tok->token_id("</s>");
    REQUIRE(bos >= 0);
    REQUIRE(eos >= 0);
    CHECK(tok->is_special(bos));
    CHECK(tok->token_id("definitely not a piece") == -1);
    // Control pieces in the text become their ids only when parse_special is set.
    const auto parsed = tok->encode("a</s>b", false, true);
    CHECK(std::count(parsed.begin(), parsed.end(), eos) == 1);
    const auto plain = tok->encode("a</s>b", false, false);
    CHECK(std::count(plain.begin(), plain.end(), eos) == 0);
    const int32_t both[] = {bos, tok->encode("hello", false, false)[0], eos};
    CHECK(tok->decode(both, 3, true).find("<s>") == std::string::npos);
    CHECK(tok->decode(both, 3, false).find("<s>") == 0);
    // Pieces: '▁' reads as a space, byte pieces as their byte.
    CHECK(tok->token_to_piece(tok->token_id("<0x41>")) == "A");
    CHECK(tok->token_to_piece(tok->token_id("<0xE2>")) == "\xE2");
    CHECK(tok->token_to_piece(tok->token_id("\xE2\x96\x81")) == " ");
    // tokenizer_config.json decides BOS/EOS.
    auto eos_tok = mola::load_spm_tokenizer(kUnitDir + "spm_tiny.model", json{{"add_bos_token", false}, {"add_eos_token", true}});
    const auto with_eos = eos_tok->encode("hi", true, false);
    CHECK(with_eos.back() == eos);
    CHECK(with_eos.front() != bos);
    // Invalid UTF-8 is replaced before SentencePiece sees it.
    CHECK(tok->encode(std::string("a\xFF" "b"), false, false) == tok->encode("a\xEF\xBF\xBD" "b", false, false));
}

TEST_CASE("SentencePiece tokenizer: bad files", "[tokenizer]") {
    try {
        mola::load_spm_tokenizer("/nonexistent/tokenizer.model", json::object());
        FAIL("no throw");
    } catch (const Error& e) {
        CHECK(e.status() == MOLA_ERR_IO);
        CHECK(std::string(e.what()).find("/nonexistent/tokenizer.model") == 0);
    }
    TempDir dir;
    const std::string full = read_file(kUnitDir + "spm_tiny.model");
    for (const std::string& content : {full.substr(0, full.size() / 3), std::string("not a protobuf at all \xFF\xFF\xFF")}) {
        const std::string p = dir.write("tokenizer.model", content);
        try {
            mola::load_spm_tokenizer(p, json::object());
            FAIL("no throw");
        } catch (const Error& e) {
            CHECK(e.status() == MOLA_ERR_BAD_FORMAT);
            CHECK(std::string(e.what()).find(p) == 0);
        }
    }
}
