// main.cpp: the `mola` command's entry point: dispatches to the commands and turns
// errors into exit statuses (2: bad usage, 1: a failure).
#include <cstdio>
#include <cstring>

#include "cli.h"

using namespace mola_cli;

int main(int argc, char** argv) {
    if (argc >= 2 && (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "version"))) {
        std::printf("%s\n", mola_build_info());
        return 0;
    }
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    try {
        Args a = parse_args(argc, argv);
        if (a.help) {
            std::fputs(kUsage, stdout);
            return 0;
        }
        const std::string& c = a.command;
        if (c == "run" || c == "chat" || c == "complete" || (c == "tokenize" && a.tokenizer.empty()))
            a.model = resolve_model(a.model);
        if (c == "info") return cmd_info(a);
        if (c == "logits") return cmd_logits(a);
        if (c == "generate") return cmd_generate(a);
        if (c == "bench") return cmd_bench(a);
        if (c == "tokenize") return cmd_tokenize(a);
        if (c == "run") return cmd_run(a);
        if (c == "complete") return cmd_complete(a);
        if (c == "chat") return cmd_chat(a);
        throw UsageError("unknown command '" + c + "'");
    } catch (const UsageError& e) {
        std::fprintf(stderr, "mola: %s\n\n%s", e.what(), kUsage);
        return 2;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "mola: error: %s\n", e.what());
        return 1;
    }
}
