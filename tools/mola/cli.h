// cli.h: what the files of the `mola` command share: parsed arguments, usage errors,
// default-model resolution, loading with progress, Ctrl-C handling and the commands.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "mola/mola.hpp"

namespace mola_cli {

extern const char* const kUsage;

// Bad usage: exits 2 with the usage text.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Args {
    std::string command, model, tokens, out, tokenizer, text, text_file;
    bool have_text = false, ids_only = false, no_special = false, bench = false;
    int threads = 0, prompt_tokens = 512, gen_tokens = 128, ctx = 0;
    int batch = 0;  // bench --batch N: N sessions decoded solo and batched; 0: off
    int n = -1;  // -n/--max-tokens; -1: the command's default
    std::string depths;  // bench --depths: comma-separated context depths
    bool json = false, verbose = false, quiet = false, help = false;
    mola_mla_mode mla = MOLA_MLA_AUTO;
    mola_kv_dtype kv_dtype = MOLA_KV_BF16;
    uint64_t kv_budget = 0;  // 0: the library's default
    int kv_block = 0;        // 0: the library's default
    bool slide = false;      // --slide / --keep: slide the context instead of stopping at --ctx
    int keep = 0;            // --keep N: tokens at the start that never slide out
    bool prefix_cache = true;

    // Text generation (run, chat, complete; sampling also for generate).
    std::string prompt, prompt_file;
    bool have_prompt = false;
    mola::SamplerParams sampler;
    bool temperature_set = false;
    std::vector<std::string> stop;
    bool ignore_eos = false, raw = false;
    std::string system, chat_format, load_file;
    bool have_system = false;
    std::string prefix, suffix, prefix_file, suffix_file, path;
    bool have_prefix = false, have_suffix = false;
};

Args parse_args(int argc, char** argv);
std::vector<int32_t> parse_tokens(const std::string& text);

// The checkpoint directory to load: the MODEL argument, or else the bundled default
// model (MOLA_DEFAULT_MODEL, the source tree, the install prefix, next to the
// executable). Throws std::runtime_error naming every path tried if none exists.
std::string resolve_model(const std::string& given);

// Loads a.model (resolved already): a progress bar on a terminal, one line
// otherwise (none with --quiet); --verbose prints the load time.
mola::Model load(const Args& a);

// The session parameters of the command line's --ctx (0: the library's default) and
// overflow policy (--slide, --keep), showing prefill progress on a terminal for
// prompts of several chunks (none with --quiet); and a session made with them.
mola::SessionParams session_params(const Args& a);
mola::Session make_session(const mola::Model& model, const Args& a);

// The model's tokenizer, with an error that says the command needs one.
mola::Tokenizer model_tokenizer(const mola::Model& model, const Args& a);

std::string read_file(const std::string& path);
bool stdin_is_tty();

// --verbose statistics of one generate() call and of the model's KV cache, to stderr.
void print_generate_stats(const mola::GenerateResult& r, const mola::Model& model);

// Generates from prompt with the command line's sampling options (-n default 256),
// never sampling the banned tokens, streaming the text to stdout; Ctrl-C cancels
// (then *interrupted is true).
mola::GenerateResult generate_to_stdout(mola::Session& session, const std::vector<int32_t>& prompt, const Args& a,
                                        bool* interrupted, const std::vector<int32_t>& banned = {});
// The tokenizer's fill-in-the-middle control tokens.
std::vector<int32_t> fim_tokens(const mola::Tokenizer& tokenizer);

// Ctrl-C while a Generating guard lives cancels that session's generation once;
// a second press, or one outside generation, exits with status 130.
void install_sigint_handler();
class Generating {
public:
    explicit Generating(mola::Session& session);
    ~Generating();
    Generating(const Generating&) = delete;
    Generating& operator=(const Generating&) = delete;
    bool interrupted() const;  // Ctrl-C was pressed during this generation
};

int cmd_info(const Args& a);
int cmd_logits(const Args& a);
int cmd_generate(const Args& a);
int cmd_bench(const Args& a);
int cmd_tokenize(const Args& a);
int cmd_run(const Args& a);
int cmd_complete(const Args& a);
int cmd_chat(const Args& a);

}  // namespace mola_cli
