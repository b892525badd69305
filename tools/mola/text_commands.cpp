// text_commands.cpp: the text-generating commands run and complete, and the streaming
// helper they share with chat.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "cli.h"

namespace mola_cli {

std::vector<int32_t> fim_tokens(const mola::Tokenizer& tokenizer) {
    const mola_special_tokens s = tokenizer.special_tokens();
    std::vector<int32_t> ids;
    for (int32_t id : {s.fim_begin, s.fim_hole, s.fim_end})
        if (id >= 0) ids.push_back(id);
    return ids;
}

mola::GenerateResult generate_to_stdout(mola::Session& session, const std::vector<int32_t>& prompt, const Args& a,
                                        bool* interrupted, const std::vector<int32_t>& banned) {
    mola::SamplerParams sampler = a.sampler;
    for (int32_t id : banned) sampler.logit_bias.push_back({id, -INFINITY});
    mola::GenerateOptions options;
    options.max_tokens = a.n < 0 ? 256 : a.n;
    options.stop = a.stop;
    options.ignore_eos = a.ignore_eos;
    options.stream = [](std::string_view text, const std::vector<int32_t>&) {
        if (!text.empty()) {
            std::fwrite(text.data(), 1, text.size(), stdout);
            std::fflush(stdout);
        }
        return true;
    };
    Generating guard(session);
    mola::GenerateResult result = session.generate(prompt, sampler, options);
    if (interrupted) *interrupted = guard.interrupted();
    return result;
}

int cmd_run(const Args& a) {
    std::string text;
    if (a.have_prompt)
        text = a.prompt;
    else if (!a.prompt_file.empty())
        text = read_file(a.prompt_file);
    else if (!stdin_is_tty())
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    else
        throw UsageError("run needs a prompt: -p PROMPT, -f FILE, or text on stdin");

    mola::Model model = load(a);
    const mola::Tokenizer tokenizer = model_tokenizer(model, a);
    mola::Session session = make_session(model, a);
    const std::vector<int32_t> prompt = tokenizer.encode(text, !a.raw, true);
    if (prompt.empty()) throw UsageError("the prompt is empty (with --raw, give some text)");

    install_sigint_handler();
    bool interrupted = false;
    // FIM control tokens belong in prompts only; a completion never samples them.
    const mola::GenerateResult r = generate_to_stdout(session, prompt, a, &interrupted, fim_tokens(tokenizer));
    if (r.text.empty() || r.text.back() != '\n') std::fputc('\n', stdout);
    std::fflush(stdout);
    if (a.verbose) print_generate_stats(r, model);
    return interrupted ? 130 : 0;
}

int cmd_complete(const Args& a) {
    // Read the files first: a missing one fails before the model loads.
    const std::string prefix = a.have_prefix ? a.prefix : a.prefix_file.empty() ? "" : read_file(a.prefix_file);
    const std::string suffix = a.have_suffix ? a.suffix : a.suffix_file.empty() ? "" : read_file(a.suffix_file);

    mola::Model model = load(a);
    const mola::Tokenizer tokenizer = model_tokenizer(model, a);
    mola::Session session = make_session(model, a);
    // The bundled model was trained on BOS <｜fim▁begin｜>prefix<｜fim▁hole｜>suffix<｜fim▁end｜>middle EOS.
    const std::string fim = tokenizer.build_fim(prefix, suffix, MOLA_FIM_PSM, a.path);
    const std::vector<int32_t> prompt = tokenizer.encode(fim, !a.raw, true);

    install_sigint_handler();
    bool interrupted = false;
    // FIM control tokens belong in prompts only; a completion never samples them.
    const mola::GenerateResult r = generate_to_stdout(session, prompt, a, &interrupted, fim_tokens(tokenizer));
    // The middle is printed exactly; only a terminal gets a closing newline.
    if (isatty(STDOUT_FILENO) && (r.text.empty() || r.text.back() != '\n')) std::fputc('\n', stdout);
    std::fflush(stdout);
    if (a.verbose) print_generate_stats(r, model);
    return interrupted ? 130 : 0;
}

}  // namespace mola_cli
