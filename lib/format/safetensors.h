// safetensors.h: memory-mapped safetensors files and Hugging Face checkpoint
// directories (config.json + one file or an index of shards), fully validated.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/dtype.h"

namespace mola {

// One tensor inside a mapped file; data points into the mapping.
struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const uint8_t* data = nullptr;
    size_t nbytes = 0;
    const std::string* file = nullptr;  // the path it came from (owned by its SafetensorsFile)

    int64_t numel() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
    std::string shape_string() const;
};

// A read-only mmap of a whole file.
class MappedFile {
public:
    explicit MappedFile(const std::string& path);  // throws Error(MOLA_ERR_IO)
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }

private:
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

// A validated safetensors file: the 8-byte header length, the JSON header, and
// every tensor's dtype, shape and byte range checked against the file.
class SafetensorsFile {
public:
    explicit SafetensorsFile(const std::string& path);  // throws Error naming path and tensor
    const std::string& path() const { return path_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }

private:
    std::string path_;
    std::unique_ptr<MappedFile> map_;
    std::vector<TensorInfo> tensors_;
};

// Reads and parses a JSON file; throws Error(MOLA_ERR_BAD_FORMAT) naming the file,
// line and column on malformed input.
nlohmann::json read_json_file(const std::string& path);

// A checkpoint directory: config.json and its weight files, with every tensor
// name mapped to its data.
class Checkpoint {
public:
    // progress(fraction) is called as files are opened; returning false cancels
    // (throws Error(MOLA_ERR_CANCELLED)).
    Checkpoint(const std::string& dir, const std::function<bool(float)>& progress);

    const std::string& dir() const { return dir_; }
    const std::string& config_path() const { return config_path_; }
    const nlohmann::json& config() const { return config_; }
    const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
    // nullptr if absent.
    const TensorInfo* find(const std::string& name) const;
    uint64_t mapped_bytes() const;

private:
    std::string dir_, config_path_;
    nlohmann::json config_;
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::map<std::string, TensorInfo> tensors_;
};

}  // namespace mola
