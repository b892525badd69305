// chat.cpp: DeepSeek chat formats (hub Jinja templates / V4 encoder) reimplemented as
// plain string building; tests/unit/test_chat.cpp checks each against goldens rendered
// by transformers (tools/make_chat_goldens.py).
#include "tokenizer/chat.h"

#include "common/error.h"

namespace mola {
namespace {

const char* const kUser = "<｜User｜>";
const char* const kAssistant = "<｜Assistant｜>";
const char* const kEos = "<｜end▁of▁sentence｜>";
const char* const kThinkBegin = "<think>";
const char* const kThinkEnd = "</think>";

struct NamedFormat {
    ChatFormat format;
    const char* name;
};
const NamedFormat kFormats[] = {
    {ChatFormat::DeepSeekV2, "deepseek-v2"},   {ChatFormat::DeepSeekV3, "deepseek-v3"},
    {ChatFormat::DeepSeekR1, "deepseek-r1"},   {ChatFormat::DeepSeekV31, "deepseek-v3.1"},
    {ChatFormat::DeepSeekV4, "deepseek-v4"},
};

enum class Role { System, User, Assistant };

Role role_of(const ChatMessage& m) {
    if (m.role == "system") return Role::System;
    if (m.role == "user") return Role::User;
    if (m.role == "assistant") return Role::Assistant;
    fail(MOLA_ERR_INVALID_ARG, "chat message role '" + m.role + "' is not supported (system, user, assistant)");
}

// V3/R1/V3.1: all system messages, in order, joined by "\n\n", right after BOS.
std::string joined_system(const std::vector<ChatMessage>& msgs) {
    std::string s;
    bool first = true;
    for (const auto& m : msgs) {
        if (role_of(m) != Role::System) continue;
        if (!first) s += "\n\n";
        s += m.content;
        first = false;
    }
    return s;
}

// V2 / Coder-V2: {bos}{system}\n\nUser: {u}\n\nAssistant: {a}{eos}... + "Assistant:"
std::string render_v2(const std::vector<ChatMessage>& msgs, bool add_gen, const std::string& bos) {
    std::string out = bos;
    for (const auto& m : msgs) {
        switch (role_of(m)) {
        case Role::User: out += "User: " + m.content + "\n\n"; break;
        case Role::Assistant: out += "Assistant: " + m.content + kEos; break;
        case Role::System: out += m.content + "\n\n"; break;
        }
    }
    if (add_gen) out += "Assistant:";
    return out;
}

// V3 and R1 (same template; R1 keeps only what follows the last "</think>" of an
// assistant turn and opens the generation with "<think>\n").
std::string render_v3(const std::vector<ChatMessage>& msgs, bool add_gen, const std::string& bos, bool r1) {
    std::string out = bos + joined_system(msgs);
    for (const auto& m : msgs) {
        Role r = role_of(m);
        if (r == Role::User) {
            out += kUser + m.content;
        } else if (r == Role::Assistant) {
            std::string content = m.content;
            if (r1) {
                size_t p = content.rfind(kThinkEnd);
                if (p != std::string::npos) content = content.substr(p + std::char_traits<char>::length(kThinkEnd));
            }
            out += kAssistant + content + kEos;
        }
    }
    if (add_gen) {
        out += kAssistant;
        if (r1) out += "<think>\n";
    }
    return out;
}

// V3.1: an assistant turn right after a user turn opens with "<｜Assistant｜></think>"
// (messages carry no 'prefix' flag here); content keeps what follows the first
// "</think>"; the generation prompt comes only after a user turn.
std::string render_v31(const std::vector<ChatMessage>& msgs, bool add_gen, bool thinking, const std::string& bos) {
    std::string out = bos + joined_system(msgs);
    bool last_user = false;
    for (const auto& m : msgs) {
        Role r = role_of(m);
        if (r == Role::User) {
            last_user = true;
            out += kUser + m.content;
        } else if (r == Role::Assistant) {
            if (last_user) out += std::string(kAssistant) + kThinkEnd;
            last_user = false;
            std::string content = m.content;
            size_t p = content.find(kThinkEnd);
            if (p != std::string::npos) content = content.substr(p + std::char_traits<char>::length(kThinkEnd));
            out += content + kEos;
        }
    }
    if (add_gen && last_user) out += std::string(kAssistant) + (thinking ? kThinkBegin : kThinkEnd);
    return out;
}

// V4 (encoding_dsv4.encode_messages, drop_thinking=True, no tools, no reasoning effort):
// consecutive user messages merge into one turn joined by "\n\n"; a user turn followed by
// an assistant turn or ending the conversation gets "<｜Assistant｜>" + "<think>" (thinking
// mode, at or after the last user turn) or "</think>"; assistant turns after the last user
// turn carry "{reasoning}</think>" in thinking mode; earlier ones drop the reasoning.
std::string render_v4(const std::vector<ChatMessage>& in, bool thinking, const std::string& bos) {
    struct Turn {
        Role role;
        std::string content, reasoning;
    };
    std::vector<Turn> msgs;
    for (const auto& m : in) {
        Role r = role_of(m);
        if (r == Role::User && !msgs.empty() && msgs.back().role == Role::User) {
            msgs.back().content += "\n\n" + m.content;
            continue;
        }
        msgs.push_back({r, m.content, m.reasoning});
    }
    long last_user = -1;
    for (long i = static_cast<long>(msgs.size()) - 1; i >= 0; --i)
        if (msgs[static_cast<size_t>(i)].role == Role::User) { last_user = i; break; }

    std::string out = bos;
    for (size_t i = 0; i < msgs.size(); ++i) {
        const Turn& t = msgs[i];
        const long idx = static_cast<long>(i);
        switch (t.role) {
        case Role::System: out += t.content; break;
        case Role::User: out += kUser + t.content; break;
        case Role::Assistant:
            if (thinking && idx > last_user) out += t.reasoning + kThinkEnd;
            out += t.content + kEos;
            break;
        }
        if (i + 1 < msgs.size() && msgs[i + 1].role != Role::Assistant) continue;
        if (t.role == Role::User)
            out += std::string(kAssistant) + ((thinking && idx >= last_user) ? kThinkBegin : kThinkEnd);
    }
    return out;
}

std::string template_text(const nlohmann::json& tc) {
    if (!tc.is_object() || !tc.contains("chat_template")) return {};
    const auto& t = tc["chat_template"];
    if (t.is_string()) return t.get<std::string>();
    if (t.is_array()) {
        std::string first;
        for (const auto& e : t) {
            if (!e.is_object() || !e.contains("template") || !e["template"].is_string()) continue;
            std::string text = e["template"].get<std::string>();
            if (e.contains("name") && e["name"] == "default") return text;
            if (first.empty()) first = text;
        }
        return first;
    }
    return {};
}

bool has(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

}  // namespace

const char* chat_format_name(ChatFormat f) {
    for (const auto& nf : kFormats)
        if (nf.format == f) return nf.name;
    return "unknown";
}

ChatFormat chat_format_from_name(const std::string& name) {
    std::string known;
    for (const auto& nf : kFormats) {
        if (name == nf.name) return nf.format;
        known += known.empty() ? "" : ", ";
        known += nf.name;
    }
    fail(MOLA_ERR_INVALID_ARG, "unknown chat format '" + name + "' (known: " + known + ")");
}

std::string apply_chat_format(ChatFormat format, const std::vector<ChatMessage>& messages,
                              bool add_generation_prompt, bool thinking, const std::string& bos_text) {
    switch (format) {
    case ChatFormat::DeepSeekV2: return render_v2(messages, add_generation_prompt, bos_text);
    case ChatFormat::DeepSeekV3: return render_v3(messages, add_generation_prompt, bos_text, false);
    case ChatFormat::DeepSeekR1: return render_v3(messages, add_generation_prompt, bos_text, true);
    case ChatFormat::DeepSeekV31: return render_v31(messages, add_generation_prompt, thinking, bos_text);
    case ChatFormat::DeepSeekV4: return render_v4(messages, thinking, bos_text);
    }
    fail(MOLA_ERR_INVALID_ARG, "invalid chat format");
}

ChatFormat detect_chat_format(const nlohmann::json& model_config, const nlohmann::json& tokenizer_config) {
    const std::string t = template_text(tokenizer_config);
    if (!t.empty()) {
        if (has(t, "<｜User｜>")) {
            if (has(t, "is_last_user") || has(t, "thinking")) return ChatFormat::DeepSeekV31;
            if (has(t, "<think>")) return ChatFormat::DeepSeekR1;
            return ChatFormat::DeepSeekV3;
        }
        if (has(t, "User: ") && has(t, "Assistant:")) return ChatFormat::DeepSeekV2;
    }
    std::string type;
    if (model_config.is_object()) {
        if (model_config.contains("model_type") && model_config["model_type"].is_string())
            type = model_config["model_type"].get<std::string>();
        if (type.empty() && model_config.contains("architectures") && model_config["architectures"].is_array()) {
            for (const auto& a : model_config["architectures"]) {
                if (!a.is_string()) continue;
                const std::string arch = a.get<std::string>();
                if (has(arch, "DeepseekV4")) type = "deepseek_v4";
                else if (has(arch, "DeepseekV32")) type = "deepseek_v32";
                else if (has(arch, "DeepseekV3")) type = "deepseek_v3";
                else if (has(arch, "DeepseekV2")) type = "deepseek_v2";
                if (!type.empty()) break;
            }
        }
    }
    if (type == "deepseek_v4" || type == "deepseek_v32") return ChatFormat::DeepSeekV4;
    if (type == "deepseek_v3") return ChatFormat::DeepSeekV3;
    if (type == "deepseek_v2") return ChatFormat::DeepSeekV2;
    if (model_config.is_object() && model_config.contains("vocab_size") && model_config["vocab_size"] == 102400)
        return ChatFormat::DeepSeekV2;
    return ChatFormat::DeepSeekV3;
}

std::string build_fim_prompt(const FimTokens& tok, FimLayout layout, const FimRequest& req,
                             const std::string& tokenizer_path) {
    if (tok.begin.empty() || tok.hole.empty() || tok.end.empty())
        fail(MOLA_ERR_UNSUPPORTED, tokenizer_path +
                                       ": this tokenizer has no fill-in-the-middle tokens "
                                       "(<｜fim▁begin｜>, <｜fim▁hole｜>, <｜fim▁end｜>)");
    std::string header = req.context;
    if (!header.empty() && header.back() != '\n') header += '\n';
    if (!req.path.empty()) header += "# " + req.path + "\n";
    if (layout == FimLayout::PSM) return tok.begin + header + req.prefix + tok.hole + req.suffix + tok.end;
    return tok.begin + tok.hole + req.suffix + tok.end + header + req.prefix;
}

std::string build_fim_prompt(const std::string& fim_begin, const std::string& fim_hole, const std::string& fim_end,
                             FimLayout layout, const FimRequest& request, const std::string& tokenizer_path) {
    return build_fim_prompt(FimTokens{fim_begin, fim_hole, fim_end}, layout, request, tokenizer_path);
}

}  // namespace mola
