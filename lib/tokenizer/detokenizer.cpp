// detokenizer.cpp: streaming detokenization over a sliding window of tokens.
//
// Decoding is not always a concatenation of per-token pieces (a Metaspace or
// SentencePiece decoder drops the first piece's leading space; byte pieces only
// form characters together), so each step decodes a short window: a few context
// tokens whose text was already returned, then the new tokens, and returns what
// follows the context's text. A trailing U+FFFD while the tokens' piece bytes
// end inside a character means that character is unfinished; it is held back
// until more bytes arrive (a U+FFFD written in the text is not held).
//
// The context must decode the same alone as inside the full sequence. One plain
// token usually does, but a lone byte-fallback token does not: it decodes to
// U+FFFD, and Hugging Face's ByteFallback decoder turns a whole run of byte
// tokens into one U+FFFD per byte when the run is not valid UTF-8, so a context
// holding the last byte of one character would spoil the next character too
// ("ü" then "ß" came out as "ü��"). So the context is the shortest tail of the
// window (at most kMaxContext tokens) that starts at a character (its first
// token's piece does not begin with a UTF-8 continuation byte) and whose own
// decode is non-empty and ends the window's decode: for "ü" as <0xC3><0xBC>,
// both byte tokens. With skip_special, a skipped special token is left out of
// the window altogether, as the decoders do.
//
// Limit: Hugging Face's ByteFallback turns a byte run that holds any invalid
// sequence into U+FFFD per byte, also for the valid characters already returned;
// a stream cannot take those back, so there it returns the characters.
#include "tokenizer/detokenizer.h"

namespace mola {

namespace {

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr size_t kMaxHeldTokens = 8;  // a character is at most 4 byte tokens; a safety bound
constexpr size_t kMaxContext = 4;     // enough for a character written as 4 byte tokens

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Whether the bytes of the tokens' pieces end inside a character: a UTF-8 lead
// byte followed by fewer continuation bytes than it announces.
bool ends_inside_character(const Tokenizer& tok, const int32_t* ids, size_t n) {
    std::string tail;  // the last bytes, at least 4 when there are that many
    for (size_t k = n; k > 0 && tail.size() < 4; --k) tail.insert(0, tok.token_to_piece(ids[k - 1]));
    for (size_t back = 1; back <= 3 && back <= tail.size(); ++back) {
        const unsigned char c = static_cast<unsigned char>(tail[tail.size() - back]);
        if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
        const size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return back < len;
    }
    return false;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tok_(tokenizer), skip_special_(skip_special) {
    ids_.reserve(kMaxContext + kMaxHeldTokens + 1);
}

void StreamDecoder::decode_window() {
    text_ = tok_.decode(ids_.data(), ids_.size(), skip_special_);
    out_.clear();
    if (text_.compare(0, context_text_.size(), context_text_) == 0) {
        out_.assign(text_, context_text_.size(), std::string::npos);
    } else {
        // The context decodes differently next to the new tokens (a non-local
        // decoder on invalid bytes): return the new tokens' own text, which at
        // least stays whole characters.
        out_ = tok_.decode(ids_.data() + n_context_, ids_.size() - n_context_, skip_special_);
    }
}

void StreamDecoder::keep_context() {
    const size_t max_k = ids_.size() < kMaxContext ? ids_.size() : kMaxContext;
    size_t keep = 1;
    std::string keep_text;
    bool found = false;
    for (size_t k = 1; k <= max_k && !found; ++k) {
        const int32_t first = ids_[ids_.size() - k];
        std::string t = tok_.decode(ids_.data() + ids_.size() - k, k, skip_special_);
        if (k == 1) keep_text = t;  // the fallback: the last token alone
        // A context starting inside a character (a continuation byte) decodes
        // differently alone, even where that happens to give a matching U+FFFD.
        const std::string piece = tok_.token_to_piece(first);
        const bool char_start = piece.empty() || (static_cast<unsigned char>(piece[0]) & 0xC0) != 0x80;
        if (char_start && !t.empty() && ends_with(text_, t)) {
            keep = k;
            keep_text = std::move(t);
            found = true;
        }
    }
    ids_.erase(ids_.begin(), ids_.end() - static_cast<std::ptrdiff_t>(keep));
    n_context_ = keep;
    context_text_ = std::move(keep_text);
}

const std::string& StreamDecoder::push(int32_t id) {
    out_.clear();
    // A special token that decoding skips is as if absent (both references drop
    // it before decoding); kept in the window, it would be a context that
    // decodes to nothing, and the next piece's leading space would be lost.
    if (skip_special_ && tok_.is_special(id) && tok_.decode(&id, 1, true).empty() &&
        !tok_.decode(&id, 1, false).empty())
        return out_;
    ids_.push_back(id);
    decode_window();
    // Held back: a character whose bytes are still arriving. A U+FFFD that is
    // whole in the pieces' bytes (written in the text, or invalid bytes) goes out.
    const bool unfinished = ends_with(text_, kReplacement) && ids_.size() - n_context_ <= kMaxHeldTokens &&
                            ends_inside_character(tok_, ids_.data(), ids_.size());
    if (unfinished) {
        out_.clear();
        return out_;
    }
    keep_context();  // also after a token that added no text, so the window stays short
    return out_;
}

const std::string& StreamDecoder::flush() {
    out_.clear();
    if (ids_.size() > n_context_) decode_window();
    ids_.clear();
    n_context_ = 0;
    context_text_.clear();
    return out_;
}

}  // namespace mola
