// golden.h: reading the oracle's golden cases (tests/data/<model>/golden.json and
// its .npy logits, written by tools/make_test_models.py) and comparing logits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace golden {

struct Case {
    std::vector<int32_t> tokens;
    std::vector<float> logits;  // [tokens][vocab]
    size_t vocab = 0;
};

inline std::string model_dir(const std::string& name) { return std::string(MOLA_TEST_DATA) + "/" + name; }

// A float32 C-order 2-D .npy file.
inline std::vector<float> read_npy(const std::string& path, size_t* rows, size_t* cols) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error(path + ": not .npy");
    const size_t header_len = uint8_t(bytes[8]) | size_t(uint8_t(bytes[9])) << 8;
    const std::string header = bytes.substr(10, header_len);
    if (header.find("'<f4'") == std::string::npos || header.find("False") == std::string::npos)
        throw std::runtime_error(path + ": expected little-endian float32 in C order");
    const size_t open = header.find('('), comma = header.find(',', open);
    *rows = std::stoul(header.substr(open + 1, comma - open - 1));
    *cols = std::stoul(header.substr(comma + 1));
    std::vector<float> data(*rows * *cols);
    if (bytes.size() != 10 + header_len + data.size() * 4) throw std::runtime_error(path + ": wrong size");
    std::memcpy(data.data(), bytes.data() + 10 + header_len, data.size() * 4);
    return data;
}

inline std::vector<Case> read_cases(const std::string& model) {
    const std::string dir = model_dir(model);
    std::ifstream in(dir + "/golden.json");
    if (!in) throw std::runtime_error("cannot open " + dir + "/golden.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    std::vector<Case> cases;
    for (const auto& c : j.at("cases")) {
        Case k;
        k.tokens = c.at("tokens").get<std::vector<int32_t>>();
        size_t rows = 0;
        k.logits = read_npy(dir + "/" + c.at("logits").get<std::string>(), &rows, &k.vocab);
        if (rows != k.tokens.size()) throw std::runtime_error(model + ": logits rows != tokens");
        cases.push_back(std::move(k));
    }
    return cases;
}

// ||a - b|| / ||b|| over n values.
inline double rel_l2(const float* a, const float* b, size_t n) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; ++i) {
        diff += double(a[i] - b[i]) * double(a[i] - b[i]);
        norm += double(b[i]) * double(b[i]);
    }
    return std::sqrt(diff / norm);
}

inline double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    return rel_l2(a.data(), b.data(), a.size());
}

// n token ids in [0, vocab) from a fixed LCG: varied, reproducible test input.
inline std::vector<int32_t> some_tokens(size_t n, int32_t vocab, uint32_t seed) {
    std::vector<int32_t> out(n);
    uint32_t x = seed * 2654435761u + 1;
    for (int32_t& t : out) {
        x = x * 1664525u + 1013904223u;
        t = int32_t((x >> 8) % uint32_t(vocab));
    }
    return out;
}

// The models the oracle wrote, one per family member.
inline const std::vector<std::string>& models() {
    static const std::vector<std::string> names = {"v2_lite", "v2", "v3", "v3_fp8", "v2_moe_freq", "v3_long"};
    return names;
}

}  // namespace golden
