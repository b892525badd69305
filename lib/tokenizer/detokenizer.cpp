// detokenizer.cpp: streaming detokenization over a sliding window of tokens.
//
// Decoding is not always a concatenation of per-token pieces (a Metaspace or
// SentencePiece decoder drops the first piece's leading space; byte pieces only
// form characters together), so each step decodes the window of tokens since the
// last character boundary and returns what was added. A trailing U+FFFD means the
// last character is unfinished; it is held back until more bytes arrive.
#include "tokenizer/detokenizer.h"

namespace mola {

namespace {

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr size_t kMaxHeldTokens = 8;  // a character is at most 4 byte tokens; more means truly invalid bytes

bool ends_with_replacement(const std::string& s) {
    return s.size() >= 3 && s.compare(s.size() - 3, 3, kReplacement) == 0;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tok_(tokenizer), skip_special_(skip_special) {
    ids_.reserve(kMaxHeldTokens + 2);
}

const std::string& StreamDecoder::push(int32_t id) {
    ids_.push_back(id);
    text_ = tok_.decode(ids_.data(), ids_.size(), skip_special_);
    out_.clear();
    const bool unfinished = ends_with_replacement(text_) && ids_.size() <= kMaxHeldTokens;
    if (unfinished || text_.size() <= emitted_) return out_;
    out_.assign(text_, emitted_, std::string::npos);
    // Keep the last token as context for the next decode (a leading-space rule
    // looks at the previous piece), and count its text as already returned.
    const int32_t last = ids_.back();
    ids_.assign(1, last);
    emitted_ = tok_.decode(ids_.data(), 1, skip_special_).size();
    return out_;
}

const std::string& StreamDecoder::flush() {
    out_.clear();
    if (!ids_.empty()) {
        text_ = tok_.decode(ids_.data(), ids_.size(), skip_special_);
        if (text_.size() > emitted_) out_.assign(text_, emitted_, std::string::npos);
    }
    ids_.clear();
    emitted_ = 0;
    return out_;
}

}  // namespace mola
