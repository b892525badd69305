// checkpoint_files.h: test helpers that copy the oracle's checkpoints into
// temporary directories and edit them: raw file I/O and a tiny safetensors
// reader/writer, so tests can build broken or variant checkpoints.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace checkpoint_files {

namespace fs = std::filesystem;
using json = nlohmann::json;

inline const fs::path kData = MOLA_TEST_DATA;
// A fresh directory under the system temp dir, removed with everything in it.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "mola_test_XXXXXX").string();
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
        path = buf.data();
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

inline std::vector<uint8_t> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const fs::path& path, const uint8_t* data, size_t n) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(n));
    if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

inline void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
    write_bytes(path, bytes.data(), bytes.size());
}

inline void write_text(const fs::path& path, const std::string& text) {
    write_bytes(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

inline json read_json(const fs::path& path) {
    const std::vector<uint8_t> bytes = read_bytes(path);
    return json::parse(bytes.begin(), bytes.end());
}

inline void write_json(const fs::path& path, const json& j) { write_text(path, j.dump(2) + "\n"); }

// The files the loader reads: config.json, an optional index and the weight files.
inline std::vector<std::string> model_files(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name == "config.json" || name == "model.safetensors.index.json" ||
            (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0))
            names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Copies the loader's files of tests/data/<name> into dir; returns dir.
inline fs::path copy_model(const std::string& name, const fs::path& dir) {
    for (const std::string& file : model_files(kData / name)) fs::copy_file(kData / name / file, dir / file);
    return dir;
}

// A tiny safetensors reader/writer: an 8-byte little-endian header length, the JSON
// header, then the data. Tensors are edited in the header; new data is appended.
struct Safetensors {
    json header = json::object();
    std::vector<uint8_t> data;

    static Safetensors read(const fs::path& path) {
        const std::vector<uint8_t> bytes = read_bytes(path);
        if (bytes.size() < 8) throw std::runtime_error(path.string() + " is too short");
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[size_t(i)];
        Safetensors st;
        st.header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
        st.data.assign(bytes.begin() + 8 + std::ptrdiff_t(n), bytes.end());
        return st;
    }

    // The whole file, the header padded with spaces to keep the data 8-byte aligned
    // (then misaligned by `skew` more spaces, if asked).
    std::vector<uint8_t> bytes(size_t skew = 0) const {
        std::string text = header.dump();
        text.append((8 - text.size() % 8) % 8 + skew, ' ');
        const uint64_t n = text.size();
        std::vector<uint8_t> out(8 + text.size() + data.size());
        for (size_t i = 0; i < 8; ++i) out[i] = uint8_t(n >> (8 * i));
        std::memcpy(out.data() + 8, text.data(), text.size());
        if (!data.empty()) std::memcpy(out.data() + 8 + text.size(), data.data(), data.size());
        return out;
    }
    void write(const fs::path& path, size_t skew = 0) const { write_bytes(path, bytes(skew)); }

    bool has(const std::string& name) const { return header.contains(name); }
    json& entry(const std::string& name) {
        if (!header.contains(name)) throw std::runtime_error("no tensor " + name);
        return header[name];
    }
    std::vector<int64_t> shape(const std::string& name) { return entry(name)["shape"].get<std::vector<int64_t>>(); }
    // Adds or replaces a tensor with fresh (zero) data of the given byte size.
    void put(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape, size_t nbytes) {
        while (data.size() % 8) data.push_back(0);
        const size_t begin = data.size();
        data.resize(begin + nbytes, 0);
        header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, begin + nbytes}}};
    }
    void erase(const std::string& name) {
        if (header.erase(name) != 1) throw std::runtime_error("no tensor " + name);
    }
    // The file a tensor lives in, for a sharded checkpoint.
    static fs::path shard_of(const fs::path& dir, const std::string& tensor) {
        const json index = read_json(dir / "model.safetensors.index.json");
        return dir / index["weight_map"][tensor].get<std::string>();
    }
};

inline int64_t numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

}  // namespace checkpoint_files
