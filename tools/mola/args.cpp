// args.cpp: the usage text and command-line parsing of the `mola` command.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "cli.h"

namespace mola_cli {

const char* const kUsage =
    "usage: mola COMMAND [MODEL] [options]\n"
    "\n"
    "MODEL is a checkpoint directory. run, chat, complete and tokenize use the bundled default\n"
    "model (mola-tiny-code, or $MOLA_DEFAULT_MODEL) when it is left out.\n"
    "\n"
    "commands:\n"
    "  run [MODEL] -p PROMPT | -f FILE     generate text from a prompt (default: stdin) and stream it\n"
    "  chat [MODEL] [--system TEXT] [--load FILE]\n"
    "                                      chat in the model's chat format; one turn per line when stdin\n"
    "                                      is not a terminal; /help lists the chat commands (/save, /load)\n"
    "  complete [MODEL] --prefix-file F [--suffix-file G]\n"
    "                                      fill in the middle between prefix and suffix; prints the middle\n"
    "  info MODEL                          architecture, parameter counts, dtypes, KV-cache bytes per token\n"
    "  logits MODEL --tokens \"1 2 3\" --out FILE.npy\n"
    "                                      float32 logits [n_tokens, vocab] of one forward pass, as .npy\n"
    "  generate MODEL --tokens \"1 2 3\" -n N  continue (greedily unless --temperature) and print token ids\n"
    "  bench MODEL [--prompt-tokens N] [--gen-tokens M] [--batch B] [--json]\n"
    "                                      prefill and decode speed, weight bytes per token, GB/s;\n"
    "                                      --batch B: also B sessions decoded one by one and batched\n"
    "  bench MODEL --depths 1024,8192,32768 [--gen-tokens M] [--json]\n"
    "                                      decode speed at each context depth, time to first token\n"
    "                                      after a cached prefix vs a cold prefill, cache bytes per token\n"
    "  tokenize [MODEL] [--tokenizer PATH] [--text T | --text-file F] [--ids] [--no-special] [--bench]\n"
    "                                      text (default: stdin) to token ids and pieces; --ids prints only\n"
    "                                      the ids; --bench prints encode throughput as JSON\n"
    "\n"
    "generation options (run, chat, complete; sampling and -n also for generate):\n"
    "  -p, --prompt TEXT  the prompt (run)\n"
    "  -f, --prompt-file F  read the prompt from a file (run)\n"
    "  -n, --max-tokens N tokens to generate at most (default 256, generate 16); 0: until EOS\n"
    "  --temperature T    sampling temperature; 0: greedy (default 0.8, generate 0)\n"
    "  --top-k K          keep the K most likely tokens; 0: off (default 40)\n"
    "  --top-p P          nucleus sampling mass in (0, 1]; 1: off (default 0.95)\n"
    "  --min-p P          drop tokens below P times the top probability, in [0, 1] (default 0.05)\n"
    "  --repeat-penalty R repetition penalty > 0; 1: off (default 1)\n"
    "  --presence-penalty P, --frequency-penalty P\n"
    "                     subtracted once per seen token / per occurrence (default 0)\n"
    "  --seed S           random seed (default 0): the same seed prints the same text\n"
    "  --stop TEXT        stop before TEXT; repeatable\n"
    "  --ignore-eos       keep generating after end-of-sequence tokens\n"
    "  --raw              do not add the BOS token to the prompt (run, complete)\n"
    "  --system TEXT      a system message (chat)\n"
    "  --load FILE        start from a conversation saved with /save (chat)\n"
    "  --chat-format NAME deepseek-v2, deepseek-v3, deepseek-r1, deepseek-v3.1 or deepseek-v4\n"
    "                     (chat; default: the model's)\n"
    "  --prefix TEXT, --prefix-file F, --suffix TEXT, --suffix-file F\n"
    "                     the code before and after the cursor (complete)\n"
    "  --path P           the file's path, written into the prompt (complete)\n"
    "\n"
    "common options:\n"
    "  --threads T        compute threads (default: all cores)\n"
    "  --mla MODE         auto | absorbed | naive (default auto)\n"
    "  --ctx N            session capacity in tokens (default: min(4096, the model's trained context);\n"
    "                     logits, generate and bench: enough for the command)\n"
    "  --slide            when the context (--ctx) is full, drop the oldest tokens after the\n"
    "                     first --keep and go on (run, chat, complete; default: stop there)\n"
    "  --keep N           tokens at the start that never slide out (implies --slide; default 0)\n"
    "  --kv-dtype T       KV-cache dtype: bf16 (default), f32 (exact) or fp8 (e4m3 latent, bf16 rope)\n"
    "  --kv-budget SIZE   KV-cache memory limit in bytes, or with a K, M or G suffix (powers of 1024)\n"
    "                     (default: a quarter of physical memory)\n"
    "  --kv-block N       tokens per KV-cache block, a power of two (default 64)\n"
    "  --no-prefix-cache  do not keep and reuse the KV-cache blocks of shared prompt prefixes\n"
    "  -v, --verbose      print load time and generation statistics to stderr\n"
    "  -q, --quiet        no loading progress on stderr\n"
    "  --version          print the version and build information\n";

namespace {

int parse_int(const std::string& flag, const std::string& value, long min = 0, long max = 1 << 30) {
    try {
        size_t used = 0;
        const long v = std::stol(value, &used);
        if (used != value.size() || v < min || v > max) throw std::invalid_argument(value);
        return int(v);
    } catch (const std::exception&) {
        if (min == 0) throw UsageError(flag + " needs a non-negative integer, not '" + value + "'");
        throw UsageError(flag + " needs an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                         ", not '" + value + "'");
    }
}

float parse_float(const std::string& flag, const std::string& value) {
    try {
        size_t used = 0;
        const float v = std::stof(value, &used);
        if (used != value.size() || !std::isfinite(v)) throw std::invalid_argument(value);
        return v;
    } catch (const std::exception&) {
        throw UsageError(flag + " needs a number, not '" + value + "'");
    }
}

// Bytes with an optional K, M or G (powers of 1024) suffix.
uint64_t parse_bytes(const std::string& flag, const std::string& value) {
    std::string digits = value;
    uint64_t unit = 1;
    if (!digits.empty()) {
        const char last = char(std::toupper(static_cast<unsigned char>(digits.back())));
        if (last == 'K' || last == 'M' || last == 'G') {
            unit = last == 'K' ? uint64_t(1) << 10 : last == 'M' ? uint64_t(1) << 20 : uint64_t(1) << 30;
            digits.pop_back();
        }
    }
    const bool ok = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
        return c >= '0' && c <= '9';
    });
    errno = 0;
    const unsigned long long v = ok ? std::strtoull(digits.c_str(), nullptr, 10) : 0;
    if (!ok || errno == ERANGE || v == 0 || v > UINT64_MAX / unit)
        throw UsageError(flag + " needs a positive number of bytes (optionally with K, M or G), not '" + value + "'");
    return uint64_t(v) * unit;
}

uint64_t parse_seed(const std::string& flag, const std::string& value) {
    const bool digits = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
        return c >= '0' && c <= '9';
    });
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = digits ? std::strtoull(value.c_str(), &end, 10) : 0;
    if (!digits || errno == ERANGE || *end != '\0')
        throw UsageError(flag + " needs an integer from 0 to 18446744073709551615, not '" + value + "'");
    return uint64_t(v);
}

// The sampler settings the library would refuse, caught before the model loads.
void check_sampler(const mola::SamplerParams& s) {
    auto fmt = [](float v) {
        std::ostringstream o;
        o << v;
        return o.str();
    };
    if (!(s.top_p > 0.0f && s.top_p <= 1.0f))
        throw UsageError("--top-p (top_p) must be in (0, 1], not " + fmt(s.top_p));
    if (!(s.min_p >= 0.0f && s.min_p <= 1.0f))
        throw UsageError("--min-p (min_p) must be in [0, 1], not " + fmt(s.min_p));
    if (!(s.repeat_penalty > 0.0f))
        throw UsageError("--repeat-penalty (repeat_penalty) must be greater than 0, not " + fmt(s.repeat_penalty));
}

}  // namespace

Args parse_args(int argc, char** argv) {
    Args a;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw UsageError(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--tokens")
            a.tokens = value();
        else if (arg == "--out" || arg == "-o")
            a.out = value();
        else if (arg == "--threads" || arg == "-t")
            a.threads = parse_int(arg, value());
        else if (arg == "-n" || arg == "--max-tokens")
            a.n = parse_int(arg, value());
        else if (arg == "--prompt-tokens")
            a.prompt_tokens = parse_int(arg, value());
        else if (arg == "--gen-tokens")
            a.gen_tokens = parse_int(arg, value());
        else if (arg == "--batch")
            a.batch = parse_int(arg, value());
        else if (arg == "--ctx")
            a.ctx = parse_int(arg, value());
        else if (arg == "--slide")
            a.slide = true;
        else if (arg == "--keep") {
            a.keep = parse_int(arg, value());
            a.slide = true;
        }
        else if (arg == "--json")
            a.json = true;
        else if (arg == "--depths")
            a.depths = value();
        else if (arg == "--help" || arg == "-h") {
            a.help = true;
            return a;
        } else if (arg == "--verbose" || arg == "-v")
            a.verbose = true;
        else if (arg == "--quiet" || arg == "-q")
            a.quiet = true;
        else if (arg == "--tokenizer")
            a.tokenizer = value();
        else if (arg == "--text") {
            a.text = value();
            a.have_text = true;
        } else if (arg == "--text-file")
            a.text_file = value();
        else if (arg == "--ids")
            a.ids_only = true;
        else if (arg == "--no-special")
            a.no_special = true;
        else if (arg == "--bench")
            a.bench = true;
        else if (arg == "--prompt" || arg == "-p") {
            a.prompt = value();
            a.have_prompt = true;
        } else if (arg == "--prompt-file" || arg == "-f")
            a.prompt_file = value();
        else if (arg == "--temperature" || arg == "--temp") {
            a.sampler.temperature = parse_float(arg, value());
            a.temperature_set = true;
        } else if (arg == "--top-k")
            a.sampler.top_k = parse_int(arg, value());
        else if (arg == "--top-p")
            a.sampler.top_p = parse_float(arg, value());
        else if (arg == "--min-p")
            a.sampler.min_p = parse_float(arg, value());
        else if (arg == "--repeat-penalty")
            a.sampler.repeat_penalty = parse_float(arg, value());
        else if (arg == "--presence-penalty")
            a.sampler.presence_penalty = parse_float(arg, value());
        else if (arg == "--frequency-penalty")
            a.sampler.frequency_penalty = parse_float(arg, value());
        else if (arg == "--seed")
            a.sampler.seed = parse_seed(arg, value());
        else if (arg == "--stop") {
            std::string s = value();
            if (s.empty()) throw UsageError("--stop needs a non-empty text");
            a.stop.push_back(std::move(s));
        } else if (arg == "--ignore-eos")
            a.ignore_eos = true;
        else if (arg == "--raw")
            a.raw = true;
        else if (arg == "--system") {
            a.system = value();
            a.have_system = true;
        } else if (arg == "--load")
            a.load_file = value();
        else if (arg == "--chat-format")
            a.chat_format = value();
        else if (arg == "--prefix") {
            a.prefix = value();
            a.have_prefix = true;
        } else if (arg == "--suffix") {
            a.suffix = value();
            a.have_suffix = true;
        } else if (arg == "--prefix-file")
            a.prefix_file = value();
        else if (arg == "--suffix-file")
            a.suffix_file = value();
        else if (arg == "--path")
            a.path = value();
        else if (arg == "--kv-dtype") {
            const std::string t = value();
            if (t == "bf16")
                a.kv_dtype = MOLA_KV_BF16;
            else if (t == "f32")
                a.kv_dtype = MOLA_KV_F32;
            else if (t == "fp8" || t == "fp8_e4m3")
                a.kv_dtype = MOLA_KV_FP8_E4M3;
            else
                throw UsageError("--kv-dtype takes bf16, f32 or fp8, not '" + t + "'");
        } else if (arg == "--kv-budget")
            a.kv_budget = parse_bytes(arg, value());
        else if (arg == "--kv-block")
            a.kv_block = parse_int(arg, value(), 1, 4096);
        else if (arg == "--no-prefix-cache")
            a.prefix_cache = false;
        else if (arg == "--mla") {
            const std::string m = value();
            if (m == "auto")
                a.mla = MOLA_MLA_AUTO;
            else if (m == "absorbed")
                a.mla = MOLA_MLA_ABSORBED;
            else if (m == "naive")
                a.mla = MOLA_MLA_NAIVE;
            else
                throw UsageError("--mla takes auto, absorbed or naive, not '" + m + "'");
        } else if (arg.size() > 1 && arg[0] == '-')
            throw UsageError("unknown option " + arg);
        else
            positional.push_back(arg);
    }
    if (positional.empty()) throw UsageError("expected a command");
    a.command = positional[0];
    const std::string& c = a.command;
    const bool known = c == "info" || c == "logits" || c == "generate" || c == "bench" || c == "tokenize" ||
                       c == "run" || c == "chat" || c == "complete";
    if (!known) throw UsageError("unknown command '" + c + "'");
    const bool model_optional = c == "run" || c == "chat" || c == "complete" || c == "tokenize";
    if (positional.size() > 2) {
        if (c == "run")
            throw UsageError("run takes one MODEL argument; give the prompt with -p PROMPT (unexpected '" +
                             positional[2] + "')");
        throw UsageError("unexpected argument '" + positional[2] + "'");
    }
    if (positional.size() < 2 && !model_optional) throw UsageError("expected a command and a model directory");
    if (positional.size() == 2) a.model = positional[1];

    check_sampler(a.sampler);
    if (c == "run" && a.have_prompt && !a.prompt_file.empty())
        throw UsageError("run takes -p PROMPT or -f FILE, not both");
    if (c == "complete") {
        if (a.have_prefix && !a.prefix_file.empty())
            throw UsageError("complete takes --prefix or --prefix-file, not both");
        if (a.have_suffix && !a.suffix_file.empty())
            throw UsageError("complete takes --suffix or --suffix-file, not both");
        if (!a.have_prefix && a.prefix_file.empty() && !a.have_suffix && a.suffix_file.empty())
            throw UsageError("complete needs --prefix TEXT or --prefix-file F (and optionally a suffix)");
    }
    return a;
}

std::vector<int32_t> parse_tokens(const std::string& text) {
    std::vector<int32_t> tokens;
    std::string s = text;
    std::replace(s.begin(), s.end(), ',', ' ');
    std::istringstream in(s);
    std::string word;
    while (in >> word) {
        try {
            size_t used = 0;
            const long long v = std::stoll(word, &used);
            if (used != word.size() || v < INT32_MIN || v > INT32_MAX) throw std::invalid_argument(word);
            tokens.push_back(int32_t(v));
        } catch (const std::exception&) {
            throw UsageError("--tokens holds '" + word + "', not a token id");
        }
    }
    if (tokens.empty()) throw UsageError("--tokens needs at least one token id");
    return tokens;
}

}  // namespace mola_cli
