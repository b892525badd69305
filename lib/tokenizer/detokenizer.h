// detokenizer.h: streaming detokenization: tokens in one at a time, text out in
// pieces that never split a UTF-8 character and that, joined, equal the
// tokenizer's decode of all the tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace mola {

class StreamDecoder {
public:
    StreamDecoder(const Tokenizer& tokenizer, bool skip_special);
    // Adds a token; returns the text it completes (possibly empty while a
    // character's bytes are still arriving).
    const std::string& push(int32_t id);
    // Returns whatever is held back (an unfinished character comes out as the
    // reference decode writes it) and starts over.
    const std::string& flush();

private:
    // Decodes ids_ into text_ and returns the part after the context's text.
    void decode_window();
    // Makes a short tail of ids_ the context for the next token.
    void keep_context();

    const Tokenizer& tok_;
    bool skip_special_;
    std::vector<int32_t> ids_;  // the context tokens, then the tokens not yet returned
    size_t n_context_ = 0;      // how many of ids_ are context
    std::string context_text_;  // decode of the context tokens: already returned
    std::string text_, out_;
};

}  // namespace mola
