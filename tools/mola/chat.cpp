// chat.cpp: `mola chat`, a REPL in the model's chat format that keeps the conversation
// in the session's cache, so each turn prefills only its new tokens.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli.h"

namespace mola_cli {

namespace {

const char* const kChatHelp =
    "commands:\n"
    "  /reset   forget the conversation (the system message stays)\n"
    "  /exit    leave (also /quit, Ctrl-D, or Ctrl-C at the prompt)\n"
    "  /help    this list\n"
    "Ctrl-C during a reply stops it; pressed again, it leaves.\n";

bool is_blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

}  // namespace

int cmd_chat(const Args& a) {
    mola::Model model = load(a);
    const mola::Tokenizer tokenizer = model_tokenizer(model, a);
    mola::Session session(model, a.ctx);
    const bool tty = stdin_is_tty();

    std::vector<mola::ChatMessage> history;
    if (a.have_system) history.push_back({"system", a.system, ""});
    const size_t n_fixed = history.size();
    // An unknown --chat-format fails here, before the first turn.
    const std::string format_name = a.chat_format.empty() ? tokenizer.chat_format() : a.chat_format;
    if (!a.chat_format.empty()) tokenizer.apply_chat({{"user", "hi", ""}}, true, false, a.chat_format);

    // A text the session's first tokens spell exactly, and those tokens.
    std::string known_text;
    std::vector<int32_t> known_ids;
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
            if (command == "/reset") {
                history.resize(n_fixed);
                session.rewind(0);
                known_text.clear();
                known_ids.clear();
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
        session.rewind(common);
        const std::vector<int32_t> prompt(ids.begin() + std::ptrdiff_t(common), ids.end());
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
        if (a.verbose) print_generate_stats(r, model);
    }
    return 0;
}

}  // namespace mola_cli
