// tokenizer.cpp: finding and loading a tokenizer (tokenizer.json, else
// tokenizer.model, plus tokenizer_config.json) and looking up its special tokens
// by their text.
#include "tokenizer/tokenizer.h"

#include <sys/stat.h>

#include <fstream>

#include "common/error.h"
#include "format/safetensors.h"

namespace mola {

namespace {

bool is_file(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string parent_dir(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A JSON tokenizer file starts with '{'; a SentencePiece model is a protobuf.
bool looks_like_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char c = 0;
    while (in.get(c))
        if (!std::isspace(static_cast<unsigned char>(c))) return c == '{';
    return false;
}

// tokenizer_config.json spells a token as "text" or {"content": "text", ...}.
std::string config_token_text(const nlohmann::json& config, const char* key) {
    if (!config.contains(key)) return "";
    const nlohmann::json& v = config[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return "";
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
    std::string file, config_path;
    if (is_dir(path)) {
        if (is_file(path + "/tokenizer.json"))
            file = path + "/tokenizer.json";
        else if (is_file(path + "/tokenizer.model"))
            file = path + "/tokenizer.model";
        else
            fail(MOLA_ERR_IO, path + ": no tokenizer.json or tokenizer.model");
        config_path = path + "/tokenizer_config.json";
    } else if (is_file(path)) {
        file = path;
        config_path = parent_dir(path) + "/tokenizer_config.json";
    } else {
        fail(MOLA_ERR_IO, path + ": no such tokenizer file or directory");
    }
    nlohmann::json config = nlohmann::json::object();
    if (is_file(config_path)) {
        config = read_json_file(config_path);
        if (!config.is_object()) fail(MOLA_ERR_BAD_FORMAT, config_path + ": not a JSON object");
    }

    const bool json = ends_with(file, ".json") || (!ends_with(file, ".model") && looks_like_json(file));
    std::unique_ptr<Tokenizer> t = json ? load_hf_tokenizer(file, config) : load_spm_tokenizer(file, config);
    t->path_ = file;
    t->config_ = config;
    const std::string model_config_path = parent_dir(file) + "/config.json";
    if (is_file(model_config_path)) {
        t->model_config_ = read_json_file(model_config_path);
        if (!t->model_config_.is_object()) fail(MOLA_ERR_BAD_FORMAT, model_config_path + ": not a JSON object");
    }

    // Special tokens: the config's names first, then DeepSeek's spellings.
    SpecialTokens& s = t->special_;
    auto find = [&](int32_t& slot, std::initializer_list<std::string> texts) {
        if (slot >= 0) return;
        for (const std::string& text : texts)
            if (!text.empty() && (slot = t->token_id(text)) >= 0) return;
    };
    find(s.bos, {config_token_text(config, "bos_token"), "<｜begin▁of▁sentence｜>", "<s>"});
    find(s.eos, {config_token_text(config, "eos_token"), "<｜end▁of▁sentence｜>", "</s>"});
    find(s.pad, {config_token_text(config, "pad_token"), "<｜▁pad▁｜>"});
    find(s.unk, {config_token_text(config, "unk_token"), "<unk>"});
    find(s.fim_begin, {"<｜fim▁begin｜>"});
    find(s.fim_hole, {"<｜fim▁hole｜>"});
    find(s.fim_end, {"<｜fim▁end｜>"});
    find(s.user, {"<｜User｜>"});
    find(s.assistant, {"<｜Assistant｜>"});
    find(s.eot, {"<|EOT|>"});
    find(s.think_begin, {"<think>"});
    find(s.think_end, {"</think>"});
    return t;
}

}  // namespace mola
