// spm_tokenizer.cpp: a SentencePiece .model behind the Tokenizer interface. The
// SentencePiece library does the work; this adds special-token handling (control
// pieces written in the text, BOS/EOS per tokenizer_config.json) and the piece
// bytes the detokenizer streams.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>

#include "common/error.h"
#include "tokenizer/tokenizer.h"

namespace mola {

namespace {

class SpmTokenizer final : public Tokenizer {
public:
    SpmTokenizer(const std::string& path, const nlohmann::json& config) {
        path_ = path;
        config_ = config.is_object() ? config : nlohmann::json::object();
        {
            std::ifstream probe(path, std::ios::binary);
            if (!probe) fail(MOLA_ERR_IO, path + ": cannot open the SentencePiece model");
        }
        const auto status = sp_.Load(path);
        if (!status.ok())
            fail(MOLA_ERR_BAD_FORMAT, path + ": not a valid SentencePiece model: " + status.ToString());
        n_ = sp_.GetPieceSize();
        if (n_ <= 0) fail(MOLA_ERR_BAD_FORMAT, path + ": the SentencePiece model has no pieces");
        for (int id = 0; id < n_; ++id)
            if (sp_.IsControl(id) && !sp_.IdToPiece(id).empty()) controls_.push_back(id);
        add_bos_ = config_.value("add_bos_token", true) && sp_.bos_id() >= 0;
        add_eos_ = config_.value("add_eos_token", false) && sp_.eos_id() >= 0;
    }

    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
        std::string clean;
        std::string_view s = text;
        if (tokenizer_sanitize_utf8(text, clean)) s = clean;
        std::vector<int32_t> out;
        if (add_special && add_bos_) out.push_back(sp_.bos_id());
        size_t start = 0, pos = 0;
        while (parse_special && pos < s.size()) {
            int best = -1;
            size_t best_len = 0;
            for (int id : controls_) {
                const std::string& p = sp_.IdToPiece(id);
                if (p.size() > best_len && s.compare(pos, p.size(), p) == 0) {
                    best = id;
                    best_len = p.size();
                }
            }
            if (best < 0) {
                ++pos;
                continue;
            }
            encode_text(s.substr(start, pos - start), out);
            out.push_back(best);
            pos += best_len;
            start = pos;
        }
        encode_text(s.substr(start), out);
        if (add_special && add_eos_) out.push_back(sp_.eos_id());
        return out;
    }

    std::string decode(const int32_t* ids, size_t n, bool skip_special) const override {
        std::string out;
        std::vector<int> run;
        auto flush = [&]() {
            if (run.empty()) return;
            std::string piece;
            sp_.Decode(run, &piece).IgnoreError();
            out += piece;
            run.clear();
        };
        for (size_t k = 0; k < n; ++k) {
            check_id(ids[k]);
            if (sp_.IsControl(ids[k])) {
                if (skip_special) continue;
                flush();
                out += sp_.IdToPiece(ids[k]);
                continue;
            }
            run.push_back(ids[k]);
        }
        flush();
        return out;
    }

    std::string token_to_piece(int32_t id) const override {
        check_id(id);
        const std::string& p = sp_.IdToPiece(id);
        if (sp_.IsByte(id)) {
            unsigned v = 0;
            if (std::sscanf(p.c_str(), "<0x%02X>", &v) == 1) return std::string(1, static_cast<char>(v));
        }
        if (sp_.IsControl(id)) return p;
        std::string out;
        for (size_t i = 0; i < p.size();) {
            if (p.compare(i, 3, "\xE2\x96\x81") == 0) {
                out += ' ';
                i += 3;
            } else {
                out += p[i++];
            }
        }
        return out;
    }

    std::string token_text(int32_t id) const override {
        check_id(id);
        return sp_.IdToPiece(id);
    }
    int32_t token_id(std::string_view text) const override {
        const int id = sp_.PieceToId(std::string(text));
        if (id < 0 || id >= n_) return -1;
        if (id == sp_.unk_id() && sp_.IdToPiece(id) != text) return -1;
        return id;
    }
    bool is_special(int32_t id) const override {
        return id >= 0 && id < n_ && (sp_.IsControl(id) || sp_.IsUnknown(id));
    }
    int32_t n_vocab() const override { return n_; }
    const char* kind() const override { return "spm"; }

private:
    void check_id(int32_t id) const {
        if (id < 0 || id >= n_)
            fail(MOLA_ERR_INVALID_ARG, path_ + ": token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                                           std::to_string(n_) + ")");
    }
    void encode_text(std::string_view s, std::vector<int32_t>& out) const {
        if (s.empty()) return;
        std::vector<int> ids;
        const auto st = sp_.Encode(std::string(s), &ids);
        if (!st.ok()) fail(MOLA_ERR_INVALID_ARG, path_ + ": SentencePiece could not encode the text: " + st.ToString());
        out.insert(out.end(), ids.begin(), ids.end());
    }

    sentencepiece::SentencePieceProcessor sp_;
    int n_ = 0;
    std::vector<int> controls_;
    bool add_bos_ = true, add_eos_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> load_spm_tokenizer(const std::string& model_path, const nlohmann::json& config) {
    return std::make_unique<SpmTokenizer>(model_path, config);
}

}  // namespace mola
