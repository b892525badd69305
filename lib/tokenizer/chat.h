// chat.h: DeepSeek chat formats and fill-in-the-middle prompts, as text. The strings
// produced here are what the models' reference templates/encoders produce; turning
// them into ids (with special tokens parsed) is the Tokenizer's job.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mola {

struct ChatMessage {
    std::string role;       // "system", "user" or "assistant"
    std::string content;
    std::string reasoning;  // thinking text of an assistant turn (used by DeepSeek-V4 only;
                            // the Jinja templates of R1/V3.1 never see it, they only strip
                            // a "...</think>" prefix written inside content)
};

enum class ChatFormat {
    DeepSeekV2,   // "deepseek-v2": V2/V2-Lite-Chat, Coder-V2-Instruct ("User: ...\n\nAssistant:")
    DeepSeekV3,   // "deepseek-v3": V3 / V3-0324, V2.5-style <｜User｜>/<｜Assistant｜>
    DeepSeekR1,   // "deepseek-r1": R1 (generation prompt "<｜Assistant｜><think>\n")
    DeepSeekV31,  // "deepseek-v3.1": V3.1 hybrid thinking (<think> / </think> after <｜Assistant｜>)
    DeepSeekV4,   // "deepseek-v4": V4 Python encoder (encoding_dsv4.py), chat and thinking modes
};

const char* chat_format_name(ChatFormat f);
// Throws Error(MOLA_ERR_INVALID_ARG) naming the known formats.
ChatFormat chat_format_from_name(const std::string& name);

// Renders a conversation exactly as the reference does (see chat.cpp for each format).
// bos_text is emitted where the template writes {{ bos_token }} (all formats here).
// thinking: V3.1's `thinking` template variable / V4's thinking_mode; ignored by V2/V3/R1.
// add_generation_prompt: ignored by V4, whose encoder always ends a trailing user turn
// with "<｜Assistant｜>" plus "<think>" or "</think>".
// Roles other than system/user/assistant throw Error(MOLA_ERR_INVALID_ARG).
std::string apply_chat_format(ChatFormat format, const std::vector<ChatMessage>& messages,
                              bool add_generation_prompt, bool thinking, const std::string& bos_text);

// Picks a format from a model's config.json and tokenizer_config.json (either may be an
// empty object). Order:
//  1. tokenizer_config "chat_template" (a string, or a list of {name, template}: the
//     "default" one, else the first):
//       "<｜User｜>" and "is_last_user" or "thinking" -> DeepSeekV31;
//       "<｜User｜>" and "<think>" -> DeepSeekR1;  "<｜User｜>" -> DeepSeekV3;
//       "User: " and "Assistant:" -> DeepSeekV2.
//  2. model_type / architectures: deepseek_v4 -> V4; deepseek_v32 -> V4 (same encoder
//     family, not verified); deepseek_v3 -> V3; deepseek_v2 -> V2 (V2.5 ships a
//     <｜User｜> template, caught by step 1).
//  3. vocab_size 102400 -> V2; otherwise DeepSeekV3 (the most common layout).
ChatFormat detect_chat_format(const nlohmann::json& model_config, const nlohmann::json& tokenizer_config);

// ---- fill-in-the-middle -------------------------------------------------------------

struct FimRequest {
    std::string prefix, suffix;
    std::string path;     // optional: file path, written as "# {path}\n" (DeepSeek-Coder
                          // repo-level convention) at the start of the document
    std::string context;  // optional: text that precedes the file (e.g. other files of the
                          // repository, each "# path\n{code}"), written verbatim before the
                          // path line, with a '\n' added if it does not end in one
};

enum class FimLayout {
    PSM,  // prefix-suffix-middle: <｜fim▁begin｜>{header}{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>
          // (DeepSeek-Coder / Coder-V2 README format)
    SPM,  // suffix-prefix-middle, the SPM variant of the FIM paper (Bavarian et al. 2022,
          // "<PRE><SUF>{suffix}<MID>{prefix}", as StarCoder/CodeLlama use it) with DeepSeek's
          // tokens: begin=PRE, hole=SUF, end=MID:
          // <｜fim▁begin｜><｜fim▁hole｜>{suffix}<｜fim▁end｜>{header}{prefix}
};

// The three FIM token texts as the tokenizer spells them; an empty string = the tokenizer
// has no such token.
struct FimTokens {
    std::string begin, hole, end;
};

// Builds the prompt (no BOS; the tokenizer adds it). The model generates the middle.
// Throws Error(MOLA_ERR_UNSUPPORTED, "<tokenizer_path>: this tokenizer has no
// fill-in-the-middle tokens (...)") when any of the three tokens is missing.
std::string build_fim_prompt(const FimTokens& tokens, FimLayout layout, const FimRequest& request,
                             const std::string& tokenizer_path);
std::string build_fim_prompt(const std::string& fim_begin, const std::string& fim_hole,
                             const std::string& fim_end, FimLayout layout, const FimRequest& request,
                             const std::string& tokenizer_path);

}  // namespace mola
