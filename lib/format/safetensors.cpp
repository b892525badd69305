// safetensors.cpp: memory-mapping and validating safetensors files and checkpoint
// directories. Every failure names the file, the tensor and the problem.
#include "format/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "common/error.h"

namespace mola {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the safetensors format's own limit

std::string errno_text() { return std::strerror(errno); }

bool is_file(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

std::string TensorInfo::shape_string() const {
    std::ostringstream s;
    s << '[';
    for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
    s << ']';
    return s.str();
}

MappedFile::MappedFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(MOLA_ERR_IO, path + ": cannot open: " + errno_text());
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        std::string why = errno_text();
        ::close(fd);
        fail(MOLA_ERR_IO, path + ": cannot stat: " + why);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(MOLA_ERR_IO, path + ": not a regular file");
    }
    size_ = size_t(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            std::string why = errno_text();
            ::close(fd);
            fail(MOLA_ERR_IO, path + ": cannot map: " + why);
        }
        data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

nlohmann::json read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(MOLA_ERR_IO, path + ": cannot open: " + errno_text());
    std::stringstream buffer;
    buffer << in.rdbuf();
    try {
        return nlohmann::json::parse(buffer.str());
    } catch (const nlohmann::json::parse_error& e) {
        fail(MOLA_ERR_BAD_FORMAT, path + ": bad JSON: " + e.what());
    }
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
    map_ = std::make_unique<MappedFile>(path);
    const uint8_t* bytes = map_->data();
    const uint64_t size = map_->size();
    if (size < 8)
        fail(MOLA_ERR_BAD_FORMAT, path + ": truncated: " + std::to_string(size) +
                                      " bytes, but a safetensors file starts with an 8-byte header length");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
    if (header_len > kMaxHeaderBytes || header_len > size - 8)
        fail(MOLA_ERR_BAD_FORMAT, path + ": header length " + std::to_string(header_len) +
                                      " runs past the end of the file (" + std::to_string(size) +
                                      " bytes); the file is truncated or not safetensors");
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
    } catch (const nlohmann::json::parse_error& e) {
        fail(MOLA_ERR_BAD_FORMAT, path + ": bad JSON header: " + e.what());
    }
    if (!header.is_object()) fail(MOLA_ERR_BAD_FORMAT, path + ": the JSON header is not an object");

    const uint8_t* data_start = bytes + 8 + header_len;
    const uint64_t data_size = size - 8 - header_len;
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") continue;
        const std::string where = path + ": tensor '" + it.key() + "'";
        const nlohmann::json& entry = it.value();
        if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
            !entry.contains("data_offsets"))
            fail(MOLA_ERR_BAD_FORMAT, where + ": header entry needs dtype, shape and data_offsets");
        const nlohmann::json &jdtype = entry["dtype"], &jshape = entry["shape"],
                             &joffsets = entry["data_offsets"];
        if (!jdtype.is_string()) fail(MOLA_ERR_BAD_FORMAT, where + ": dtype is not a string");
        TensorInfo t;
        t.name = it.key();
        t.file = &path_;
        const std::string dtype = jdtype.get<std::string>();
        if (!dtype_from_name(dtype, &t.dtype))
            fail(MOLA_ERR_UNSUPPORTED, where + ": dtype " + dtype +
                                           " is not supported (mola reads F32, F16, BF16, F8_E4M3, I32, I64)");
        if (!jshape.is_array() || jshape.size() > 8)
            fail(MOLA_ERR_BAD_FORMAT, where + ": shape is not an array of at most 8 sizes");
        uint64_t numel = 1;
        for (const auto& d : jshape) {
            if (!d.is_number_unsigned())
                fail(MOLA_ERR_BAD_FORMAT, where + ": shape holds " + d.dump() + ", not a size");
            uint64_t v = d.get<uint64_t>();
            if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / v)
                fail(MOLA_ERR_BAD_FORMAT, where + ": shape " + jshape.dump() + " is too large");
            numel *= v;
            t.shape.push_back(int64_t(v));
        }
        if (!joffsets.is_array() || joffsets.size() != 2 || !joffsets[0].is_number_unsigned() ||
            !joffsets[1].is_number_unsigned())
            fail(MOLA_ERR_BAD_FORMAT, where + ": data_offsets is not a pair of offsets");
        const uint64_t begin = joffsets[0].get<uint64_t>(), end = joffsets[1].get<uint64_t>();
        if (begin > end)
            fail(MOLA_ERR_BAD_FORMAT, where + ": data_offsets " + joffsets.dump() + " end before they begin");
        if (end > data_size)
            fail(MOLA_ERR_BAD_FORMAT, where + ": data_offsets " + joffsets.dump() +
                                          " run past the end of the data (" + std::to_string(data_size) +
                                          " bytes); the file is truncated or its header is wrong");
        const uint64_t expected = numel * dtype_size(t.dtype);
        if (end - begin != expected)
            fail(MOLA_ERR_BAD_FORMAT, where + ": shape " + t.shape_string() + " of " + dtype + " needs " +
                                          std::to_string(expected) + " bytes, but data_offsets cover " +
                                          std::to_string(end - begin));
        t.data = data_start + begin;
        t.nbytes = size_t(expected);
        tensors_.push_back(std::move(t));
    }
}

Checkpoint::Checkpoint(const std::string& dir, const std::function<bool(float)>& progress)
    : dir_(dir) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) fail(MOLA_ERR_IO, dir + ": cannot open model: " + errno_text());
    if (!S_ISDIR(st.st_mode))
        fail(MOLA_ERR_IO, dir + ": not a directory; a model is a checkpoint directory with config.json");
    config_path_ = dir + "/config.json";
    if (!is_file(config_path_)) fail(MOLA_ERR_IO, config_path_ + ": missing; every checkpoint needs one");
    config_ = read_json_file(config_path_);
    if (!config_.is_object()) fail(MOLA_ERR_BAD_FORMAT, config_path_ + ": not a JSON object");

    auto check_cancel = [&](float fraction) {
        if (progress && !progress(fraction)) fail(MOLA_ERR_CANCELLED, dir + ": loading was cancelled");
    };
    check_cancel(0.0f);

    const std::string index_path = dir + "/model.safetensors.index.json";
    const std::string single_path = dir + "/model.safetensors";
    if (is_file(index_path)) {
        const nlohmann::json index = read_json_file(index_path);
        if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
            fail(MOLA_ERR_BAD_FORMAT, index_path + ": needs a \"weight_map\" object");
        const nlohmann::json& weight_map = index["weight_map"];
        std::map<std::string, std::set<std::string>> listed;  // shard -> tensors
        for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
            if (!it.value().is_string())
                fail(MOLA_ERR_BAD_FORMAT, index_path + ": tensor '" + it.key() + "' maps to a non-string");
            const std::string shard = it.value().get<std::string>();
            if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
                fail(MOLA_ERR_BAD_FORMAT, index_path + ": tensor '" + it.key() + "' maps to '" + shard +
                                              "', which is not a file name in the checkpoint directory");
            listed[shard].insert(it.key());
        }
        if (listed.empty()) fail(MOLA_ERR_BAD_FORMAT, index_path + ": weight_map is empty");
        size_t done = 0;
        for (const auto& [shard, names] : listed) {
            files_.push_back(std::make_unique<SafetensorsFile>(dir + "/" + shard));
            const SafetensorsFile& file = *files_.back();
            std::set<std::string> found;
            for (const TensorInfo& t : file.tensors()) {
                if (!names.count(t.name))
                    fail(MOLA_ERR_BAD_FORMAT, file.path() + ": unexpected tensor '" + t.name +
                                                  "': " + index_path + " does not list it in this shard");
                found.insert(t.name);
                tensors_[t.name] = t;
            }
            for (const std::string& name : names)
                if (!found.count(name))
                    fail(MOLA_ERR_BAD_FORMAT, file.path() + ": missing tensor '" + name + "', which " +
                                                  index_path + " places in this shard");
            check_cancel(float(++done) / float(listed.size()));
        }
    } else if (is_file(single_path)) {
        files_.push_back(std::make_unique<SafetensorsFile>(single_path));
        for (const TensorInfo& t : files_.back()->tensors()) tensors_[t.name] = t;
        check_cancel(1.0f);
    } else {
        fail(MOLA_ERR_IO, dir + ": no model.safetensors or model.safetensors.index.json");
    }
}

const TensorInfo* Checkpoint::find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

uint64_t Checkpoint::mapped_bytes() const {
    uint64_t n = 0;
    for (const auto& [name, t] : tensors_) n += t.nbytes;
    return n;
}

}  // namespace mola
