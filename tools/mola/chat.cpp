// chat.cpp: `mola chat`, a REPL in the model's chat format that keeps the conversation
// in the session's cache, so each turn prefills only its new tokens; /save and /load
// store the session with the conversation (as JSON metadata) in one file.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli.h"

namespace mola_cli {

namespace {

const char* const kChatHelp =
    "commands:\n"
    "  /reset   forget the conversation (the system message stays)\n"
    "  /save PATH  write the conversation and its cache to a file\n"
    "  /load PATH  continue a conversation saved with /save (also: mola chat --load PATH)\n"
    "  /exit    leave (also /quit, Ctrl-D, or Ctrl-C at the prompt)\n"
    "  /help    this list\n"
    "Ctrl-C during a reply stops it; pressed again, it leaves.\n";

bool is_blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

// What the chat keeps beside the session: the messages, how many of them /reset
// keeps, and a text the session's first known_tokens tokens spell exactly.
struct Conversation {
    std::vector<mola::ChatMessage> history;
    size_t n_fixed = 0;
    std::string known_text;
    std::vector<int32_t> known_ids;
    // Once the context slid (--slide): the conversation text the session's tokens continue.
    std::string slid_text;
};

constexpr const char* kSavedChatKind = "mola-chat";

std::string to_json(const Conversation& c, const std::string& format_name) {
    nlohmann::json messages = nlohmann::json::array();
    for (const mola::ChatMessage& m : c.history) {
        nlohmann::json j = {{"role", m.role}, {"content", m.content}};
        if (!m.reasoning.empty()) j["reasoning"] = m.reasoning;
        messages.push_back(std::move(j));
    }
    const nlohmann::json doc = {{"kind", kSavedChatKind},         {"version", 1},
                                {"chat_format", format_name},     {"messages", std::move(messages)},
                                {"n_fixed", c.n_fixed},           {"known_text", c.known_text},
                                {"known_tokens", c.known_ids.size()}, {"slid_text", c.slid_text}};
    // Replies are valid UTF-8 (streaming never splits a character); replace anything else.
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// doc[key], or null when doc is not an object or lacks key.
nlohmann::json field(const nlohmann::json& doc, const char* key) {
    return doc.is_object() && doc.contains(key) ? doc[key] : nlohmann::json();
}

// The conversation stored in a loaded session's metadata; throws naming path and the problem.
Conversation from_json(const mola::Session& session, const std::string& path, const std::string& format_name) {
    const auto bad = [&](const std::string& why) {
        throw std::runtime_error(path + ": not a saved mola chat: " + why);
    };
    const std::string meta = session.metadata();
    if (meta.empty()) bad("the session carries no conversation (saved by another program?)");
    const nlohmann::json doc = nlohmann::json::parse(meta, nullptr, false);
    if (doc.is_discarded() || field(doc, "kind") != kSavedChatKind) bad("its metadata is not a mola chat conversation");
    if (field(doc, "version") != 1) bad("conversation format version " + field(doc, "version").dump());
    const nlohmann::json saved_format = field(doc, "chat_format");
    if (saved_format != format_name)
        bad("it was saved in the " + saved_format.dump() + " chat format, this chat uses " + format_name +
            " (--chat-format)");
    Conversation c;
    const nlohmann::json messages = field(doc, "messages");
    if (!messages.is_array()) bad("no message list");
    for (const nlohmann::json& m : messages) {
        const nlohmann::json role = field(m, "role"), content = field(m, "content"), reasoning = field(m, "reasoning");
        if (!role.is_string() || !content.is_string() || !(reasoning.is_null() || reasoning.is_string()))
            bad("a message without a role and content");
        c.history.push_back({role.get<std::string>(), content.get<std::string>(),
                             reasoning.is_string() ? reasoning.get<std::string>() : ""});
    }
    const nlohmann::json n_fixed = field(doc, "n_fixed"), known_tokens = field(doc, "known_tokens"),
                         known_text = field(doc, "known_text"), slid_text = field(doc, "slid_text");
    if (!n_fixed.is_number_unsigned() || n_fixed.get<uint64_t>() > c.history.size() ||
        !known_tokens.is_number_unsigned() || known_tokens.get<uint64_t>() > session.n_tokens() ||
        !known_text.is_string() || !(slid_text.is_null() || slid_text.is_string()))
        bad("inconsistent conversation fields");
    if (slid_text.is_string()) c.slid_text = slid_text.get<std::string>();
    c.n_fixed = n_fixed.get<size_t>();
    c.known_text = known_text.get<std::string>();
    const std::vector<int32_t> tokens = session.tokens();
    c.known_ids.assign(tokens.begin(), tokens.begin() + std::ptrdiff_t(known_tokens.get<size_t>()));
    return c;
}

size_t user_turns(const Conversation& c) {
    return size_t(std::count_if(c.history.begin(), c.history.end(),
                                [](const mola::ChatMessage& m) { return m.role == "user"; }));
}

}  // namespace

int cmd_chat(const Args& a) {
    mola::Model model = load(a);
    const mola::Tokenizer tokenizer = model_tokenizer(model, a);
    mola::Session session = make_session(model, a);
    const bool tty = stdin_is_tty();

    Conversation chat;
    std::vector<mola::ChatMessage>& history = chat.history;
    if (a.have_system) history.push_back({"system", a.system, ""});
    chat.n_fixed = history.size();
    // An unknown --chat-format fails here, before the first turn.
    const std::string format_name = a.chat_format.empty() ? tokenizer.chat_format() : a.chat_format;
    if (!a.chat_format.empty()) tokenizer.apply_chat({{"user", "hi", ""}}, true, false, a.chat_format);

    // A text the session's first tokens spell exactly, and those tokens.
    std::string& known_text = chat.known_text;
    std::vector<int32_t>& known_ids = chat.known_ids;
    std::string& slid_text = chat.slid_text;

    // /load and --load: the file is read into a new session first, so a failure
    // leaves the current chat as it was.
    auto load_chat = [&](const std::string& path) {
        mola::Session loaded = mola::Session::load(model, path, session_params(a));
        Conversation restored = from_json(loaded, path, format_name);
        session = std::move(loaded);
        chat = std::move(restored);
        const size_t turns = user_turns(chat);
        std::fprintf(stderr, "(loaded %s: %zu turn%s, %zu tokens)\n", path.c_str(), turns, turns == 1 ? "" : "s",
                     session.n_tokens());
    };
    auto save_chat = [&](const std::string& path) {
        session.set_metadata(to_json(chat, format_name));
        session.save(path);
        const size_t turns = user_turns(chat);
        std::fprintf(stderr, "(saved %zu turn%s, %zu tokens to %s)\n", turns, turns == 1 ? "" : "s",
                     session.n_tokens(), path.c_str());
    };
    if (!a.load_file.empty()) load_chat(a.load_file);

    auto remember_session = [&](const std::string& prompt_text, const std::vector<int32_t>& prompt_ids,
                                const std::string& reply) {
        known_text.clear();
        known_ids.clear();
        const std::vector<int32_t> now = session.tokens();
        if (now.size() < prompt_ids.size() || !std::equal(prompt_ids.begin(), prompt_ids.end(), now.begin()))
            return;  // the prompt was not kept (cancelled during prefill)
        known_text = prompt_text;
        known_ids = prompt_ids;
        const std::vector<int32_t> generated(now.begin() + std::ptrdiff_t(prompt_ids.size()), now.end());
        if (!generated.empty() && tokenizer.decode(generated) == reply) {
            known_text += reply;
            known_ids = now;
        }
    };

    install_sigint_handler();
    if (tty)
        std::fprintf(stderr, "chatting with %s (%s format, %zu-token context); /help lists the commands\n",
                     a.model.c_str(), format_name.c_str(), session.n_ctx());

    std::string line;
    for (;;) {
        if (tty) {
            std::fputs("> ", stdout);
            std::fflush(stdout);
        }
        if (!std::getline(std::cin, line)) {
            if (tty) std::fputc('\n', stdout);
            break;
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (is_blank(line)) continue;
        if (line[0] == '/') {
            const std::string command = line.substr(0, line.find_first_of(" \t"));
            if (command == "/exit" || command == "/quit") break;
            if (command == "/save" || command == "/load") {
                const size_t start = line.find_first_not_of(" \t", command.size());
                const std::string path = start == std::string::npos ? "" : line.substr(start);
                try {
                    if (path.empty()) throw std::runtime_error("usage: " + command + " PATH");
                    command == "/save" ? save_chat(path) : load_chat(path);
                } catch (const std::exception& e) {
                    if (!tty) throw;  // a script stops at a failed /save or /load
                    std::fprintf(stderr, "mola: %s\n", e.what());
                }
                continue;
            }
            if (command == "/reset") {
                history.resize(chat.n_fixed);
                session.rewind(0);
                known_text.clear();
                known_ids.clear();
                slid_text.clear();
                if (tty || a.verbose) std::fprintf(stderr, "(conversation reset)\n");
                continue;
            }
            if (command == "/help") {
                std::fputs(kChatHelp, tty ? stdout : stderr);
                continue;
            }
            std::fprintf(stderr, "unknown command %s; /help lists the commands\n", command.c_str());
            continue;
        }

        // Render the whole conversation and reuse the longest prefix the session holds.
        // Where the text starts with known_text, its tokens are known_ids (the reply
        // as the model spelled it, which re-encoding the text need not reproduce).
        history.push_back({"user", line, ""});
        const std::string text = tokenizer.apply_chat(history, true, false, a.chat_format);
        std::vector<int32_t> ids;
        if (!known_text.empty() && text.compare(0, known_text.size(), known_text) == 0) {
            ids = known_ids;
            const std::vector<int32_t> rest = tokenizer.encode(text.substr(known_text.size()), false, true);
            ids.insert(ids.end(), rest.begin(), rest.end());
        } else {
            ids = tokenizer.encode(text, false, true);
        }
        const std::vector<int32_t> cached = session.tokens();
        size_t common = 0;
        while (common < cached.size() && common < ids.size() && cached[common] == ids[common]) ++common;
        if (common == ids.size() && common > 0) --common;  // generation needs at least one new token
        std::vector<int32_t> prompt(ids.begin() + std::ptrdiff_t(common), ids.end());
        if (a.slide && !slid_text.empty() && text.compare(0, slid_text.size(), slid_text) == 0) {
            // The context slid: its tokens no longer spell the conversation, so the
            // new turn goes on from them instead of re-rendering from the start.
            prompt = tokenizer.encode(text.substr(slid_text.size()), false, true);
            common = session.n_tokens();
        }
        session.rewind(common);
        if (a.verbose) std::fprintf(stderr, "reused %zu tokens, prefilled %zu\n", common, prompt.size());

        bool interrupted = false;
        mola::GenerateResult r;
        try {
            r = generate_to_stdout(session, prompt, a, &interrupted);
        } catch (const mola::Error& e) {
            if (e.status() != MOLA_ERR_CONTEXT_FULL || !tty) throw;
            history.pop_back();
            std::fprintf(stderr, "mola: %s\nthe conversation no longer fits the context (--ctx); /reset starts over\n",
                         e.what());
            continue;
        }
        if (r.text.empty() || r.text.back() != '\n') std::fputc('\n', stdout);
        std::fflush(stdout);
        if (interrupted && r.n_generated_tokens == 0)
            history.pop_back();  // stopped during the prompt: the turn never happened
        else
            history.push_back({"assistant", r.text, ""});
        remember_session(text, ids, r.text);
        if (!(interrupted && r.n_generated_tokens == 0)) {
            const std::vector<int32_t> now = session.tokens();
            const bool spelled = now.size() >= ids.size() && std::equal(ids.begin(), ids.end(), now.begin());
            slid_text = spelled && slid_text.empty() ? "" : text + r.text;
        }
        if (a.verbose) print_generate_stats(r, model);
    }
    return 0;
}

}  // namespace mola_cli
