// tokenizer.h: text <-> token ids for DeepSeek-family models: byte-level BPE from a
// Hugging Face tokenizer.json, or a SentencePiece .model, behind one interface,
// with the special tokens of the model looked up by their text at load time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mola {

// Ids of the tokens prompts are built from; -1 where the tokenizer has none.
// Filled by looking the strings up in the vocabulary (and tokenizer_config.json
// for bos/eos/pad), never hard-coded ids.
struct SpecialTokens {
    int32_t bos = -1, eos = -1, pad = -1, unk = -1;
    int32_t fim_begin = -1, fim_hole = -1, fim_end = -1;  // <｜fim▁begin｜> <｜fim▁hole｜> <｜fim▁end｜>
    int32_t user = -1, assistant = -1, eot = -1;          // <｜User｜> <｜Assistant｜> <|EOT|>
    int32_t think_begin = -1, think_end = -1;             // <think> </think>
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Loads a tokenizer from a file (tokenizer.json or a SentencePiece .model) or a
    // directory (tokenizer.json, else tokenizer.model; plus tokenizer_config.json if
    // present). Throws Error(MOLA_ERR_IO / BAD_FORMAT / UNSUPPORTED) naming the file
    // and the problem.
    static std::unique_ptr<Tokenizer> load(const std::string& path);

    // Text to ids. parse_special: added/special tokens written in the text become
    // their ids (as Hugging Face does by default); otherwise they are plain text.
    // add_special: prepend BOS/append EOS as the tokenizer's config says (HF's
    // add_special_tokens). Invalid UTF-8 is handled as the reference does.
    virtual std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const = 0;

    // Ids to text, as the reference decoder does (skip_special drops special tokens).
    // Throws Error(MOLA_ERR_INVALID_ARG) on an id outside the vocabulary.
    virtual std::string decode(const int32_t* ids, size_t n, bool skip_special) const = 0;

    // The raw bytes one token stands for, decoder applied to it alone (byte-level:
    // the bytes; byte fallback <0xNN>: that byte; SentencePiece: '▁' as a space).
    // Pieces may be partial UTF-8.
    virtual std::string token_to_piece(int32_t id) const = 0;

    // The vocabulary entry of a token, as written in the tokenizer file.
    virtual std::string token_text(int32_t id) const = 0;
    // The id whose vocabulary entry (or added token) is exactly text; -1 if none.
    virtual int32_t token_id(std::string_view text) const = 0;
    virtual bool is_special(int32_t id) const = 0;
    // Number of ids (the largest id + 1).
    virtual int32_t n_vocab() const = 0;

    const SpecialTokens& special() const { return special_; }
    // tokenizer_config.json, or an empty object.
    const nlohmann::json& config() const { return config_; }
    // The config.json beside the tokenizer (a checkpoint directory's), or an empty
    // object; chat-format detection reads it.
    const nlohmann::json& model_config() const { return model_config_; }
    // "bpe" or "spm".
    virtual const char* kind() const = 0;
    const std::string& path() const { return path_; }

protected:
    SpecialTokens special_;
    nlohmann::json config_ = nlohmann::json::object();
    nlohmann::json model_config_ = nlohmann::json::object();
    std::string path_;
};

// Hugging Face tokenizer.json (BPE model). Defined in bpe_tokenizer.cpp.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& json_path, const nlohmann::json& config);
// Replaces each maximal invalid UTF-8 subpart with U+FFFD, as Python's
// bytes.decode('utf-8', errors='replace') does; returns false (out untouched) when
// the text is valid UTF-8. Defined in bpe_tokenizer.cpp.
bool tokenizer_sanitize_utf8(std::string_view text, std::string& out);
// SentencePiece .model. Defined in spm_tokenizer.cpp.
std::unique_ptr<Tokenizer> load_spm_tokenizer(const std::string& model_path, const nlohmann::json& config);

}  // namespace mola
