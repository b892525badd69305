// test_bad_input.cpp: malformed checkpoints through the public C API. Every broken
// input must come back as the right mola_status (never a crash or an abort) with a
// mola_last_error() message that names the file, the tensor where there is one,
// and the problem. Each test builds its broken checkpoint in a fresh temporary
// directory: a copy of a good model from tests/data, mutated.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint_files.h"
#include "mola/mola.h"

namespace {

using namespace checkpoint_files;
namespace fs = std::filesystem;
using json = nlohmann::json;

const char* const kGoodModels[] = {"v2_lite", "v2", "v3", "v3_fp8"};

struct LoadResult {
    mola_status status = MOLA_OK;
    std::string message;
};

LoadResult load(const fs::path& dir) {
    mola_model_params params;
    mola_model_params_default(&params);
    params.n_threads = 1;
    mola_model* model = reinterpret_cast<mola_model*>(uintptr_t(1));  // must be reset to NULL on failure
    LoadResult r;
    r.status = mola_model_load(dir.c_str(), &params, &model);
    r.message = mola_last_error();
    if (r.status == MOLA_OK) {
        CHECK(model != nullptr);
        CHECK(r.message.empty());
        mola_model_destroy(model);
    } else {
        CHECK(model == nullptr);
    }
    return r;
}

std::string status_name(mola_status s) { return mola_status_string(s); }

// Checks the status and that the message holds every needle (paths, tensor names,
// words that name the problem).
void expect_failure(const LoadResult& r, mola_status expected, std::initializer_list<std::string> needles) {
    INFO("mola_last_error(): " << r.message);
    CHECK(status_name(r.status) == status_name(expected));
    CHECK_FALSE(r.message.empty());
    for (const std::string& needle : needles) {
        INFO("expected the message to contain: " << needle);
        CHECK(r.message.find(needle) != std::string::npos);
    }
}

}  // namespace

// ------------------------------------------------------------------ good inputs

TEST_CASE("every good model in tests/data loads", "[bad_input][good]") {
    for (const char* name : kGoodModels) {
        INFO("model " << name);
        const LoadResult r = load(kData / name);
        INFO("mola_last_error(): " << r.message);
        CHECK(status_name(r.status) == "MOLA_OK");
    }
}

TEST_CASE("a copy rewritten by the test's safetensors writer still loads", "[bad_input][good]") {
    // Guards the helpers: a failure below must come from the mutation, not the writer.
    for (const char* name : kGoodModels) {
        INFO("model " << name);
        TempDir tmp;
        const fs::path dir = copy_model(name, tmp.path);
        for (const std::string& file : model_files(dir))
            if (file.find(".safetensors") != std::string::npos && file.find(".json") == std::string::npos)
                Safetensors::read(dir / file).write(dir / file);
        const LoadResult r = load(dir);
        INFO("mola_last_error(): " << r.message);
        CHECK(status_name(r.status) == "MOLA_OK");
    }
}

TEST_CASE("tensor data at unaligned offsets loads and computes the same logits", "[bad_input][good]") {
    // safetensors promises no alignment: the header length may be any number.
    auto logits_of = [](const fs::path& dir) {
        mola_model* model = nullptr;
        mola_status s = mola_model_load(dir.c_str(), nullptr, &model);
        INFO(dir << ": " << mola_last_error());
        REQUIRE(s == MOLA_OK);
        mola_session* session = nullptr;
        REQUIRE(mola_session_create(model, nullptr, &session) == MOLA_OK);
        mola_model_destroy(model);
        const int32_t tokens[] = {3, 1, 4, 1, 5, 9, 2, 6};
        REQUIRE(mola_session_append(session, tokens, 8) == MOLA_OK);
        const float* logits = nullptr;
        size_t n = 0;
        REQUIRE(mola_session_get_logits(session, &logits, &n) == MOLA_OK);
        std::vector<float> out(logits, logits + n);
        mola_session_destroy(session);
        return out;
    };
    for (const char* name : {"v2_lite", "v3", "v3_fp8"}) {
        INFO("model " << name);
        const std::vector<float> reference = logits_of(kData / name);
        for (size_t skew : {1, 2, 3, 5}) {
            INFO("data start skewed by " << skew << " bytes");
            TempDir tmp;
            const fs::path dir = copy_model(name, tmp.path);
            Safetensors::read(dir / "model.safetensors").write(dir / "model.safetensors", skew);
            CHECK(logits_of(dir) == reference);
        }
    }
}

// ------------------------------------------------------------------ the directory

TEST_CASE("the model path must be an existing checkpoint directory", "[bad_input][dir]") {
    TempDir tmp;
    SECTION("the directory does not exist") {
        const fs::path dir = tmp.path / "no_such_model";
        expect_failure(load(dir), MOLA_ERR_IO, {dir.string()});
    }
    SECTION("an empty path") { expect_failure(load(""), MOLA_ERR_IO, {}); }
    SECTION("the path is a file") {
        copy_model("v3", tmp.path);
        const fs::path file = tmp.path / "model.safetensors";
        expect_failure(load(file), MOLA_ERR_IO, {file.string(), "not a directory"});
    }
    SECTION("config.json is missing") {
        copy_model("v3", tmp.path);
        fs::remove(tmp.path / "config.json");
        expect_failure(load(tmp.path), MOLA_ERR_IO, {(tmp.path / "config.json").string(), "missing"});
    }
    SECTION("config.json is a directory") {
        copy_model("v3", tmp.path);
        fs::remove(tmp.path / "config.json");
        fs::create_directory(tmp.path / "config.json");
        expect_failure(load(tmp.path), MOLA_ERR_IO, {(tmp.path / "config.json").string()});
    }
    SECTION("no weight files") {
        fs::copy_file(kData / "v3" / "config.json", tmp.path / "config.json");
        expect_failure(load(tmp.path), MOLA_ERR_IO, {tmp.path.string(), "model.safetensors"});
    }
    SECTION("model.safetensors is a directory") {
        fs::copy_file(kData / "v3" / "config.json", tmp.path / "config.json");
        fs::create_directory(tmp.path / "model.safetensors");
        expect_failure(load(tmp.path), MOLA_ERR_IO, {tmp.path.string()});
    }
}

// ------------------------------------------------------------------ config.json

TEST_CASE("a malformed config.json is rejected naming the file and key", "[bad_input][config]") {
    TempDir tmp;
    const fs::path dir = copy_model("v3", tmp.path);
    const fs::path config_path = dir / "config.json";
    const std::string cfg = config_path.string();
    json config = read_json(config_path);

    SECTION("bad JSON") {
        write_text(config_path, "{\"model_type\": \"deepseek_v3\", \"hidden_size\": 112,");
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "JSON"});
    }
    SECTION("an empty file") {
        write_text(config_path, "");
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg});
    }
    SECTION("not an object") {
        write_text(config_path, "[1, 2, 3]\n");
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "object"});
    }
    SECTION("a string") {
        write_text(config_path, "\"deepseek_v3\"\n");
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "object"});
    }
    SECTION("unknown architecture") {
        config["model_type"] = "llama";
        config["architectures"] = {"LlamaForCausalLM"};
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {cfg, "llama", "architecture"});
    }
    SECTION("no architecture at all") {
        config.erase("model_type");
        config.erase("architectures");
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {cfg, "architecture"});
    }
    SECTION("missing required key hidden_size") {
        config.erase("hidden_size");
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "hidden_size"});
    }
    SECTION("missing required key vocab_size") {
        config.erase("vocab_size");
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "vocab_size"});
    }
    SECTION("a key of the wrong type") {
        config["hidden_size"] = "112";
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "hidden_size", "integer"});
    }
    SECTION("a non-positive size") {
        config["num_hidden_layers"] = 0;
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "num_hidden_layers"});
    }
    SECTION("num_experts_per_tok > n_routed_experts") {
        config["num_experts_per_tok"] = config["n_routed_experts"].get<int>() + 1;
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "num_experts_per_tok"});
    }
    SECTION("odd qk_rope_head_dim") {
        config["qk_rope_head_dim"] = 15;
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "qk_rope_head_dim"});
    }
    SECTION("n_routed_experts not a multiple of n_group") {
        config["n_group"] = 3;
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "n_group"});
    }
    SECTION("unknown topk_method") {
        config["topk_method"] = "top_p_magic";
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {cfg, "topk_method", "top_p_magic"});
    }
    SECTION("unknown scoring_func") {
        config["scoring_func"] = "tanh";
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {cfg, "scoring_func", "tanh"});
    }
    SECTION("unknown rope type (rope_scaling.type)") {
        config["rope_scaling"]["type"] = "dynamic";
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {cfg, "rope", "dynamic"});
    }
    SECTION("unknown rope type (rope_parameters.rope_type)") {
        config.erase("rope_scaling");
        config["rope_parameters"] = {{"rope_type", "longrope"}, {"rope_theta", 10000.0}};
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {cfg, "rope", "longrope"});
    }
    SECTION("rope_scaling is not an object") {
        config["rope_scaling"] = "yarn";
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {cfg, "rope_scaling"});
    }
    SECTION("an unsupported quantization method") {
        config["quantization_config"] = {{"quant_method", "gptq"}};
        write_json(config_path, config);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {cfg, "gptq"});
    }
}

// ------------------------------------------------------------------ safetensors files

TEST_CASE("a malformed safetensors file is rejected naming the file and tensor", "[bad_input][safetensors]") {
    TempDir tmp;
    const fs::path dir = copy_model("v3", tmp.path);
    const fs::path file = dir / "model.safetensors";
    const std::string path = file.string();
    const std::vector<uint8_t> original = read_bytes(file);
    Safetensors st = Safetensors::read(file);
    const std::string victim = "model.layers.1.self_attn.kv_a_proj_with_mqa.weight";
    REQUIRE(st.has(victim));

    SECTION("an empty file") {
        write_bytes(file, {});
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "8-byte"});
    }
    SECTION("shorter than 8 bytes") {
        write_bytes(file, original.data(), 5);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "truncated"});
    }
    SECTION("header length past the end of the file") {
        std::vector<uint8_t> bytes = original;
        const uint64_t n = bytes.size();  // needs 8 + n bytes
        for (int i = 0; i < 8; ++i) bytes[size_t(i)] = uint8_t(n >> (8 * i));
        write_bytes(file, bytes);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "header length"});
    }
    SECTION("an absurd header length") {
        std::vector<uint8_t> bytes = original;
        for (int i = 0; i < 8; ++i) bytes[size_t(i)] = 0xff;
        write_bytes(file, bytes);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "header length"});
    }
    SECTION("header is bad JSON") {
        std::vector<uint8_t> bytes = original;
        bytes[8] = '[';  // the header's opening brace
        bytes[9] = ':';
        write_bytes(file, bytes);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "JSON"});
    }
    SECTION("header is not an object") {
        std::vector<uint8_t> bytes(8, 0);
        const std::string text = "[1, 2, 3]";
        bytes[0] = uint8_t(text.size());
        bytes.insert(bytes.end(), text.begin(), text.end());
        write_bytes(file, bytes);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "object"});
    }
    SECTION("a tensor entry without dtype") {
        st.entry(victim).erase("dtype");
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "dtype"});
    }
    SECTION("a tensor entry without shape") {
        st.entry(victim).erase("shape");
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "shape"});
    }
    SECTION("a tensor entry without data_offsets") {
        st.entry(victim).erase("data_offsets");
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "data_offsets"});
    }
    SECTION("a tensor entry that is not an object") {
        st.header[victim] = json::array({1, 2});
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim});
    }
    SECTION("dtype not a string") {
        st.entry(victim)["dtype"] = 7;
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "dtype"});
    }
    SECTION("unsupported dtype F64") {
        const std::vector<int64_t> shape = st.shape(victim);
        st.put(victim, "F64", shape, size_t(numel(shape)) * 8);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {path, victim, "F64"});
    }
    SECTION("unsupported dtype I8") {
        const std::vector<int64_t> shape = st.shape(victim);
        st.put(victim, "I8", shape, size_t(numel(shape)));
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {path, victim, "I8"});
    }
    SECTION("a negative or non-integer shape") {
        st.entry(victim)["shape"] = {64, -112};
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "shape"});
    }
    SECTION("a shape too large to count") {
        st.entry(victim)["shape"] = {uint64_t(1) << 40, uint64_t(1) << 40};
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "shape"});
    }
    SECTION("shape and byte size disagree") {
        std::vector<int64_t> shape = st.shape(victim);
        shape[1] += 1;
        st.entry(victim)["shape"] = shape;
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "bytes"});
    }
    SECTION("data_offsets end before they begin") {
        json& offsets = st.entry(victim)["data_offsets"];
        offsets = {offsets[1], offsets[0]};
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "data_offsets"});
    }
    SECTION("data_offsets not a pair") {
        st.entry(victim)["data_offsets"] = {0};
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "data_offsets"});
    }
    SECTION("data_offsets past the end of the data") {
        json& offsets = st.entry(victim)["data_offsets"];
        const uint64_t size = offsets[1].get<uint64_t>() - offsets[0].get<uint64_t>();
        offsets = {st.data.size() - size + 2, st.data.size() + 2};
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "data_offsets", "past the end"});
    }
}

TEST_CASE("a truncated safetensors file is rejected at every kind of cut", "[bad_input][safetensors][truncate]") {
    TempDir tmp;
    const fs::path dir = copy_model("v3", tmp.path);
    const fs::path file = dir / "model.safetensors";
    const std::string path = file.string();
    const std::vector<uint8_t> original = read_bytes(file);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | original[size_t(i)];
    REQUIRE(8 + header_len < original.size());

    auto cut = [&](size_t n) { write_bytes(file, original.data(), n); };
    SECTION("cut in half") {
        cut(original.size() / 2);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "data_offsets", "truncated"});
    }
    SECTION("one byte short") {
        cut(original.size() - 1);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "data_offsets", "truncated"});
    }
    SECTION("right after the header: no data at all") {
        cut(size_t(8 + header_len));
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "data_offsets"});
    }
    SECTION("inside the header") {
        for (size_t n : {size_t(8), size_t(9), size_t(8 + header_len / 3), size_t(8 + header_len / 2),
                         size_t(8 + header_len - 1)}) {
            INFO("cut at byte " << n);
            cut(n);
            expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "header length"});
        }
    }
    SECTION("inside the 8-byte length") {
        for (size_t n : {size_t(1), size_t(4), size_t(7)}) {
            INFO("cut at byte " << n);
            cut(n);
            expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "truncated"});
        }
    }
    SECTION("at several points inside the data") {
        const size_t data_begin = size_t(8 + header_len);
        for (int i = 1; i < 8; ++i) {
            const size_t n = data_begin + (original.size() - data_begin) * size_t(i) / 8;
            INFO("cut at byte " << n);
            cut(n);
            expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, "data_offsets"});
        }
    }
}

// ------------------------------------------------------------------ binding weights

TEST_CASE("tensors that do not match config.json are rejected naming the tensor", "[bad_input][weights]") {
    TempDir tmp;
    const fs::path dir = copy_model("v3", tmp.path);
    const fs::path file = dir / "model.safetensors";
    const std::string path = file.string();
    Safetensors st = Safetensors::read(file);
    const std::string victim = "model.layers.1.self_attn.kv_b_proj.weight";
    REQUIRE(st.has(victim));

    SECTION("a missing tensor") {
        st.erase(victim);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT,
                       {dir.string(), victim, "missing", (dir / "config.json").string()});
    }
    SECTION("a missing routing bias (noaux_tc)") {
        const std::string bias = "model.layers.2.mlp.gate.e_score_correction_bias";
        st.erase(bias);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {dir.string(), bias, "missing"});
    }
    SECTION("a missing expert") {
        const std::string expert = "model.layers.2.mlp.experts.15.down_proj.weight";
        st.erase(expert);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {dir.string(), expert, "missing"});
    }
    SECTION("an unexpected tensor name") {
        const std::string extra = "model.layers.0.self_attn.k_proj.weight";
        st.put(extra, "BF16", {4, 4}, 32);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, extra, "unexpected"});
    }
    SECTION("an unexpected layer beyond the MTP layers") {
        const std::string extra = "model.layers.4.input_layernorm.weight";
        st.put(extra, "BF16", {112}, 224);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, extra, "unexpected"});
    }
    SECTION("an unexpected expert beyond n_routed_experts") {
        const std::string extra = "model.layers.1.mlp.experts.16.up_proj.weight";
        st.put(extra, "BF16", {16, 112}, 16 * 112 * 2);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, extra, "unexpected"});
    }
    SECTION("a weight of the wrong shape (transposed)") {
        const std::vector<int64_t> shape = st.shape(victim);
        st.put(victim, "BF16", {shape[1], shape[0]}, size_t(numel(shape)) * 2);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "shape"});
    }
    SECTION("a weight of the wrong rank") {
        const std::vector<int64_t> shape = st.shape(victim);
        st.put(victim, "BF16", {numel(shape)}, size_t(numel(shape)) * 2);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, victim, "shape"});
    }
    SECTION("a norm of the wrong length") {
        const std::string norm = "model.norm.weight";
        st.put(norm, "BF16", {111}, 222);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, norm, "shape"});
    }
    SECTION("a weight in I32") {
        const std::vector<int64_t> shape = st.shape(victim);
        st.put(victim, "I32", shape, size_t(numel(shape)) * 4);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {path, victim, "I32"});
    }
    SECTION("a weight in I64") {
        const std::vector<int64_t> shape = st.shape(victim);
        st.put(victim, "I64", shape, size_t(numel(shape)) * 8);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {path, victim, "I64"});
    }
    SECTION("a norm vector in I32") {
        const std::string norm = "model.layers.0.input_layernorm.weight";
        st.put(norm, "I32", {112}, 112 * 4);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {path, norm, "I32"});
    }
    SECTION("an F8 embedding (fp8 is for projections only)") {
        const std::string embed = "model.embed_tokens.weight";
        const std::vector<int64_t> shape = st.shape(embed);
        st.put(embed, "F8_E4M3", shape, size_t(numel(shape)));
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {path, embed, "F8_E4M3"});
    }
}

TEST_CASE("FP8 weights need block scales of the right shape", "[bad_input][weights][fp8]") {
    TempDir tmp;
    const fs::path dir = copy_model("v3_fp8", tmp.path);
    const fs::path file = dir / "model.safetensors";
    const std::string path = file.string();
    Safetensors st = Safetensors::read(file);
    const std::string weight = "model.layers.0.self_attn.o_proj.weight";
    const std::string scale = weight + "_scale_inv";
    REQUIRE(st.entry(weight)["dtype"] == "F8_E4M3");
    REQUIRE(st.has(scale));

    SECTION("an FP8 weight without its _scale_inv") {
        st.erase(scale);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {dir.string(), scale, "missing"});
    }
    SECTION("an FP8 scale of the wrong shape") {
        std::vector<int64_t> shape = st.shape(scale);
        shape[0] -= 1;
        st.put(scale, "F32", shape, size_t(numel(shape)) * 4);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, scale, "shape"});
    }
    SECTION("an FP8 scale transposed") {
        const std::vector<int64_t> shape = st.shape(scale);
        REQUIRE(shape[0] != shape[1]);
        st.put(scale, "F32", {shape[1], shape[0]}, size_t(numel(shape)) * 4);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, scale, "shape"});
    }
    SECTION("an FP8 scale in BF16") {
        const std::vector<int64_t> shape = st.shape(scale);
        st.put(scale, "BF16", shape, size_t(numel(shape)) * 2);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_UNSUPPORTED, {path, scale, "BF16"});
    }
    SECTION("a _scale_inv without an FP8 weight is unexpected") {
        const std::string norm_scale = "model.norm.weight_scale_inv";
        st.put(norm_scale, "F32", {1}, 4);
        st.write(file);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {path, norm_scale, "unexpected"});
    }
}

// ------------------------------------------------------------------ sharded checkpoints

TEST_CASE("a sharded checkpoint's index and shards must agree", "[bad_input][sharded]") {
    TempDir tmp;
    const fs::path dir = copy_model("v2", tmp.path);
    const fs::path index_path = dir / "model.safetensors.index.json";
    const std::string index_str = index_path.string();
    json index = read_json(index_path);
    json& weight_map = index["weight_map"];
    const std::string shard2 = "model-00002-of-00002.safetensors";
    REQUIRE(fs::exists(dir / shard2));

    SECTION("the index points at a missing shard file") {
        fs::remove(dir / shard2);
        expect_failure(load(dir), MOLA_ERR_IO, {(dir / shard2).string()});
    }
    SECTION("the index names a shard that never existed") {
        weight_map["model.layers.0.self_attn.extra.weight"] = "model-00003-of-00003.safetensors";
        write_json(index_path, index);
        expect_failure(load(dir), MOLA_ERR_IO, {(dir / "model-00003-of-00003.safetensors").string()});
    }
    SECTION("the index lists a tensor that is not in its shard") {
        const std::string phantom = "model.layers.0.self_attn.phantom.weight";
        weight_map[phantom] = shard2;
        write_json(index_path, index);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {(dir / shard2).string(), phantom, "missing", index_str});
    }
    SECTION("the index places a real tensor in the wrong shard") {
        const std::string name = "lm_head.weight";
        const fs::path actual = Safetensors::shard_of(dir, name);
        const std::string other = actual.filename() == shard2 ? "model-00001-of-00002.safetensors" : shard2;
        weight_map[name] = other;
        write_json(index_path, index);
        const LoadResult r = load(dir);
        expect_failure(r, MOLA_ERR_BAD_FORMAT, {name});
        // Whichever shard is checked first, the message names a shard file.
        CHECK((r.message.find(actual.string()) != std::string::npos ||
               r.message.find((dir / other).string()) != std::string::npos));
    }
    SECTION("a shard holds a tensor the index does not list") {
        const std::string name = "model.layers.0.self_attn.kv_a_proj_with_mqa.weight";
        const fs::path shard = Safetensors::shard_of(dir, name);
        weight_map.erase(name);
        write_json(index_path, index);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {shard.string(), name, "unexpected", index_str});
    }
    SECTION("a shard name containing '/'") {
        weight_map["lm_head.weight"] = "../elsewhere/" + shard2;
        write_json(index_path, index);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {index_str, "lm_head.weight", "../elsewhere/"});
    }
    SECTION("a shard name that is '..'") {
        weight_map["lm_head.weight"] = "..";
        write_json(index_path, index);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {index_str, "lm_head.weight"});
    }
    SECTION("a shard name that is empty") {
        weight_map["lm_head.weight"] = "";
        write_json(index_path, index);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {index_str, "lm_head.weight"});
    }
    SECTION("a shard name that is not a string") {
        weight_map["lm_head.weight"] = 2;
        write_json(index_path, index);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {index_str, "lm_head.weight"});
    }
    SECTION("the index is bad JSON") {
        write_text(index_path, "{\"weight_map\": {");
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {index_str, "JSON"});
    }
    SECTION("the index has no weight_map") {
        index.erase("weight_map");
        write_json(index_path, index);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {index_str, "weight_map"});
    }
    SECTION("the index has an empty weight_map") {
        weight_map = json::object();
        write_json(index_path, index);
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {index_str, "weight_map"});
    }
    SECTION("a shard is not safetensors") {
        write_text(dir / shard2, "not a safetensors file at all");
        expect_failure(load(dir), MOLA_ERR_BAD_FORMAT, {(dir / shard2).string()});
    }
}

// ------------------------------------------------------------------ truncation sweep

TEST_CASE("a truncated copy of every good model file never crashes and names the file",
          "[bad_input][truncate][sweep]") {
    constexpr int kCuts = 25;
    for (const char* name : kGoodModels) {
        TempDir tmp;
        const fs::path dir = copy_model(name, tmp.path);
        for (const std::string& file : model_files(dir)) {
            const fs::path path = dir / file;
            const std::vector<uint8_t> original = read_bytes(path);
            for (int i = 0; i < kCuts; ++i) {
                const size_t n = original.size() * size_t(i) / kCuts;  // 0 .. 24/25 of the file
                INFO("model " << name << ", " << file << " cut to " << n << " of " << original.size() << " bytes");
                write_bytes(path, original.data(), n);
                const LoadResult r = load(dir);
                INFO("mola_last_error(): " << r.message);
                CHECK(r.status != MOLA_OK);
                CHECK((r.status == MOLA_ERR_BAD_FORMAT || r.status == MOLA_ERR_IO));
                CHECK(r.message.find(path.string()) != std::string::npos);
            }
            write_bytes(path, original);
        }
        // Restored, the copy loads again.
        const LoadResult r = load(dir);
        INFO("model " << name << " after restoring: " << r.message);
        CHECK(status_name(r.status) == "MOLA_OK");
    }
}
