// codebase.cpp: codebase analysis through the mola.hpp facade. `ingest` reads a
// source tree (honouring .gitignore, skipping binaries and very large files) into
// one session, each file after a "### path" header line, and saves it with the file
// list as metadata; `ask` loads that session once and answers each question in a
// fork of it, so every answer reuses the saved prefix instead of recomputing it.
//
//   build/samples/codebase ingest DIR SESSION_FILE [--model M] [--max-tokens N]
//   build/samples/codebase ask SESSION_FILE "question" [...] [--model M] [-n N]
//   build/samples/codebase list SESSION_FILE [--model M]
//
// Without --model: $MOLA_DEFAULT_MODEL, else the bundled model of the source tree.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "gitignore.h"
#include "mola/mola.hpp"

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxFileBytes = 256 * 1024;  // larger files are skipped, with a message
constexpr size_t kSniffBytes = 8192;          // the prefix that decides "binary"
constexpr size_t kChunkTokens = 512;          // tokens per append, so the progress moves
constexpr size_t kAnswerRoom = 1024;          // n_ctx beyond the ingested tokens, for questions (ask
                                              // loads with more when a question and -n need it)
constexpr const char* kMetadataKind = "mola-codebase 1";

std::atomic<bool> g_stop{false};
extern "C" void on_sigint(int) { g_stop = true; }

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// A NUL byte or a malformed UTF-8 sequence in the first bytes (a sequence cut off
// by the end of the sniffed prefix is fine).
bool looks_binary(const std::string& data) {
    const size_t n = std::min(data.size(), kSniffBytes);
    for (size_t i = 0; i < n;) {
        const unsigned char c = static_cast<unsigned char>(data[i]);
        if (c == 0) return true;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (len == 0 || (len == 2 && c < 0xc2) || (len == 4 && c > 0xf4)) return true;
        for (size_t k = 1; k < len; ++k) {
            if (i + k >= n) return i + k < data.size() && (static_cast<unsigned char>(data[i + k]) & 0xc0) != 0x80;
            if ((static_cast<unsigned char>(data[i + k]) & 0xc0) != 0x80) return true;
        }
        i += len;
    }
    return false;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error(p.string() + ": cannot read");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct SourceFile {
    std::string path;  // relative to the root, '/'-separated
    std::string text;
};

// Depth-first, in name order, each directory's .gitignore read before its entries.
// Symbolic links are not followed.
void walk(const fs::path& root, const std::string& rel, codebase::GitIgnore& ignore, std::vector<SourceFile>& out) {
    const fs::path dir = rel.empty() ? root : root / rel;
    if (fs::is_regular_file(dir / ".gitignore")) ignore.add(rel, read_all(dir / ".gitignore"));
    std::vector<fs::directory_entry> entries{fs::directory_iterator(dir), fs::directory_iterator()};
    std::sort(entries.begin(), entries.end(),
              [](const fs::directory_entry& x, const fs::directory_entry& y) { return x.path() < y.path(); });
    for (const fs::directory_entry& e : entries) {
        const std::string name = e.path().filename().string();
        const std::string path = rel.empty() ? name : rel + "/" + name;
        const fs::file_status st = e.symlink_status();
        if (fs::is_directory(st)) {
            if (name != ".git" && !ignore.ignored(path, true)) walk(root, path, ignore, out);
        } else if (fs::is_regular_file(st) && !ignore.ignored(path, false)) {
            if (e.file_size() > kMaxFileBytes) {
                std::fprintf(stderr, "skipping %s: %ju bytes, more than %zu\n", path.c_str(),
                             std::uintmax_t(e.file_size()), kMaxFileBytes);
                continue;
            }
            std::string text = read_all(e.path());
            if (looks_binary(text)) {
                std::fprintf(stderr, "skipping %s: binary (a NUL byte or invalid UTF-8)\n", path.c_str());
                continue;
            }
            out.push_back({path, std::move(text)});
        }
    }
}

// Progress on stderr: one redrawn line on a terminal, else a line every 10 files or 10 s.
class Progress {
public:
    Progress(size_t n_files, size_t n_tokens) : n_files_(n_files), n_tokens_(n_tokens), tty_(isatty(2)) {}
    void update(size_t files, size_t tokens, bool last = false) {
        const double s = ms_since(t0_) / 1000.0, rate = s > 0 ? double(tokens) / s : 0;
        if (tty_) {
            const int width = 30, filled = n_tokens_ ? int(width * double(tokens) / double(n_tokens_)) : width;
            std::fprintf(stderr, "\r[%s%s] %zu/%zu files  %zu/%zu tokens  %.0f tok/s ", std::string(filled, '#').c_str(),
                         std::string(width - filled, ' ').c_str(), files, n_files_, tokens, n_tokens_, rate);
            if (last) std::fputc('\n', stderr);
        } else if (last || files >= next_line_ || s >= next_time_) {
            std::fprintf(stderr, "%zu/%zu files, %zu/%zu tokens, %.0f tok/s\n", files, n_files_, tokens, n_tokens_,
                         rate);
            next_line_ = files + 10;
            next_time_ = s + 10;
        }
    }

private:
    size_t n_files_, n_tokens_, next_line_ = 10;
    double next_time_ = 10;  // seconds
    bool tty_;
    Clock::time_point t0_ = Clock::now();
};

struct Options {
    std::string model;
    size_t max_tokens = 0;  // 0: as many as the model's context holds
    int n = 64;
    std::vector<std::string> positional;
};

std::string model_dir(const Options& o) {
    if (!o.model.empty()) return o.model;
    if (const char* env = std::getenv("MOLA_DEFAULT_MODEL"); env && *env) return env;
    return MOLA_SAMPLE_DEFAULT_MODEL;
}

mola::Model load_model(const Options& o) {
    mola::ModelParams p;
    return mola::Model(model_dir(o), p);
}

// The metadata: a kind line, then "tokens N", then one "file PATH" line per file.
std::string metadata(const std::vector<std::string>& files, size_t tokens) {
    std::string m = std::string(kMetadataKind) + "\ntokens " + std::to_string(tokens) + "\n";
    for (const std::string& f : files) m += "file " + f + "\n";
    return m;
}

std::vector<std::string> files_of(const mola::Session& s, const std::string& path) {
    std::istringstream in(s.metadata());
    std::string line;
    if (!std::getline(in, line) || line != kMetadataKind)
        throw std::runtime_error(path + ": not a session written by `codebase ingest`");
    std::vector<std::string> files;
    while (std::getline(in, line))
        if (line.rfind("file ", 0) == 0) files.push_back(line.substr(5));
    return files;
}

int ingest(const Options& o) {
    if (o.positional.size() != 2) throw std::invalid_argument("ingest needs DIR and SESSION_FILE");
    const fs::path root = o.positional[0];
    const std::string out = o.positional[1];
    if (!fs::is_directory(root)) throw std::runtime_error(root.string() + ": not a directory");

    codebase::GitIgnore ignore;
    std::vector<SourceFile> files;
    walk(root, "", ignore, files);

    mola::Model model = load_model(o);
    const mola::Tokenizer tokenizer(model);
    const size_t limit = o.max_tokens ? o.max_tokens : size_t(model.info().n_ctx_train) - kAnswerRoom;

    // Tokenize everything first: the session's n_ctx is then exactly what it holds.
    std::vector<std::vector<int32_t>> tokens;
    size_t total = 0;
    for (size_t i = 0; i < files.size(); ++i) {
        const std::string text = "### " + files[i].path + "\n" + files[i].text +
                                 (files[i].text.empty() || files[i].text.back() == '\n' ? "\n" : "\n\n");
        std::vector<int32_t> ids = tokenizer.encode(text, i == 0, false);
        if (total + ids.size() > limit) {
            std::fprintf(stderr, "stopping before %s: %zu more files would exceed %zu tokens\n", files[i].path.c_str(),
                         files.size() - i, limit);
            files.resize(i);
            break;
        }
        total += ids.size();
        tokens.push_back(std::move(ids));
    }
    if (total == 0) throw std::runtime_error(root.string() + ": no text files to ingest");

    mola::Session session(model, int(std::min(total + kAnswerRoom, size_t(model.info().n_ctx_train))));
    std::signal(SIGINT, on_sigint);
    Progress progress(files.size(), total);
    std::vector<std::string> done;
    const auto t0 = Clock::now();
    for (size_t i = 0; i < files.size() && !g_stop; ++i) {
        const size_t start = session.n_tokens();
        const std::vector<int32_t>& ids = tokens[i];
        for (size_t at = 0; at < ids.size() && !g_stop; at += kChunkTokens) {
            const size_t end = std::min(ids.size(), at + kChunkTokens);
            session.append(std::vector<int32_t>(ids.begin() + std::ptrdiff_t(at), ids.begin() + std::ptrdiff_t(end)));
            progress.update(done.size(), session.n_tokens());
        }
        if (g_stop) {
            session.rewind(start);  // keep whole files only
            break;
        }
        done.push_back(files[i].path);
        progress.update(done.size(), session.n_tokens(), i + 1 == files.size());
    }
    const double ingest_ms = ms_since(t0);
    if (g_stop) std::fprintf(stderr, "\ninterrupted: saving the %zu files ingested so far\n", done.size());
    std::signal(SIGINT, SIG_DFL);

    session.set_metadata(metadata(done, session.n_tokens()));
    const auto t1 = Clock::now();
    session.save(out);
    std::printf("ingested %zu files, %zu tokens in %.1f s (%.0f tok/s); saved %s (%ju bytes) in %.0f ms\n",
                done.size(), session.n_tokens(), ingest_ms / 1000, double(session.n_tokens()) * 1000 / ingest_ms,
                out.c_str(), std::uintmax_t(fs::file_size(out)), ms_since(t1));
    return g_stop ? 130 : 0;
}

int list(const Options& o) {
    if (o.positional.size() != 1) throw std::invalid_argument("list needs SESSION_FILE");
    mola::Model model = load_model(o);
    const mola::Session s = mola::Session::load(model, o.positional[0]);
    for (const std::string& f : files_of(s, o.positional[0])) std::printf("%s\n", f.c_str());
    return 0;
}

int ask(const Options& o) {
    if (o.positional.size() < 2) throw std::invalid_argument("ask needs SESSION_FILE and at least one question");
    const std::string path = o.positional[0];
    mola::Model model = load_model(o);
    const mola::Tokenizer tokenizer(model);

    const auto t0 = Clock::now();
    mola::Session saved = mola::Session::load(model, path);
    double load_ms = ms_since(t0);
    const size_t prefix = saved.n_tokens();
    const std::vector<std::string> files = files_of(saved, path);

    std::vector<std::vector<int32_t>> prompts;
    size_t needed = 0;
    for (size_t i = 1; i < o.positional.size(); ++i) {
        prompts.push_back(tokenizer.encode("### Question\n" + o.positional[i] + "\n### Answer\n", false, false));
        needed = std::max(needed, prefix + prompts.back().size() + size_t(o.n));
    }
    if (needed > saved.n_ctx()) {  // more room than ingest left: load again with a larger n_ctx
        const auto t1 = Clock::now();
        saved = mola::Session::load(model, path, int(needed));
        load_ms = ms_since(t1);
    }
    std::printf("loaded %s: %zu files, %zu tokens in %.0f ms\n", path.c_str(), files.size(), prefix, load_ms);

    mola::SamplerParams sampler = mola::SamplerParams::greedy();
    mola::GenerateOptions options;
    options.max_tokens = o.n;
    options.stream = [](std::string_view text, const std::vector<int32_t>&) {
        std::cout << text << std::flush;
        return true;
    };
    for (size_t q = 0; q < prompts.size(); ++q) {
        std::printf("\n### Question %zu: %s\n", q + 1, o.positional[q + 1].c_str());
        std::fflush(stdout);
        mola::Session fork = saved.fork();  // shares the saved prefix's cache blocks
        const mola::GenerateResult r = fork.generate(prompts[q], sampler, options);
        std::printf("\n[reused prefix %zu tokens, prefilled %d tokens, time to first token %.1f ms, %d tokens at %.0f tok/s]\n",
                    prefix, r.n_prompt_tokens, r.time_to_first_token_ms, r.n_generated_tokens,
                    r.decode_tokens_per_second);
    }
    return 0;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--model")
            o.model = value();
        else if (arg == "--max-tokens")
            o.max_tokens = std::stoul(value());
        else if (arg == "-n")
            o.n = std::stoi(value());
        else if (arg.size() > 1 && arg[0] == '-')
            throw std::invalid_argument("unknown option " + arg);
        else
            o.positional.push_back(arg);
    }
    if (o.n < 1) throw std::invalid_argument("-n must be at least 1");
    return o;
}

const char* const kUsage =
    "usage: codebase ingest DIR SESSION_FILE [--model M] [--max-tokens N]\n"
    "       codebase ask SESSION_FILE QUESTION... [--model M] [-n N]\n"
    "       codebase list SESSION_FILE [--model M]\n";

}  // namespace

int main(int argc, char** argv) {
    const std::string command = argc > 1 ? argv[1] : "";
    try {
        const Options o = parse(argc, argv);
        if (command == "ingest") return ingest(o);
        if (command == "ask") return ask(o);
        if (command == "list") return list(o);
        std::fputs(kUsage, stderr);
        return 2;
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "codebase: %s\n%s", e.what(), kUsage);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "codebase: error: %s\n", e.what());
        return 1;
    }
}
