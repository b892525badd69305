// model_commands.cpp: the token-level commands: info, logits, generate, bench and tokenize.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"

namespace mola_cli {

namespace {

void write_npy(const std::string& path, const std::vector<float>& data, size_t rows, size_t cols) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                         std::to_string(cols) + "), }";
    const size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary);
        if (!out) throw std::runtime_error("cannot write " + tmp);
        const uint16_t len = uint16_t(header.size());
        out.write("\x93NUMPY\x01\x00", 8);
        out.put(char(len & 0xff)).put(char(len >> 8));
        out << header;
        out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size() * sizeof(float)));
        if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

// The argmax of the session's current logits, read in place (no copy per token).
int32_t argmax_in_place(const mola::Session& session) {
    const float* logits = nullptr;
    size_t n = 0;
    mola::check(mola_session_get_logits(session.get(), &logits, &n));
    return int32_t(std::max_element(logits, logits + n) - logits);
}

std::string human(double v) {
    char buf[32];
    const char* units[] = {"", "K", "M", "G", "T"};
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        ++u;
    }
    std::snprintf(buf, sizeof buf, "%.2f%s", v, units[u]);
    return buf;
}

// A piece made printable: control bytes and bytes of unfinished characters escaped.
std::string printable(const std::string& piece) {
    std::string out;
    for (unsigned char c : piece) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else
            out += char(c);
    }
    return out;
}


// The integer value of "key" in a config.json text, or -1 if it is not there.
int64_t config_int(const std::string& config, const std::string& key) {
    const size_t at = config.find("\"" + key + "\"");
    if (at == std::string::npos) return -1;
    const size_t colon = config.find(':', at);
    if (colon == std::string::npos) return -1;
    return std::strtoll(config.c_str() + colon + 1, nullptr, 10);
}

std::vector<int> parse_depths(const std::string& text) {
    std::vector<int> depths;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        char* end = nullptr;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 1 || v > (1L << 30))
            throw UsageError("--depths wants positive token counts separated by commas, not '" + text + "'");
        depths.push_back(int(v));
    }
    if (depths.empty()) throw UsageError("--depths needs at least one depth");
    std::sort(depths.begin(), depths.end());
    depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
    return depths;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Decodes n greedy tokens after the session's last logits; returns the seconds taken.
double time_decode(mola::Session& session, int n) {
    const auto t0 = std::chrono::steady_clock::now();
    int32_t next = argmax_in_place(session);
    for (int i = 0; i < n; ++i) {
        session.decode(next);
        next = argmax_in_place(session);
    }
    return seconds_since(t0);
}

// Time to first token for a question after a prefix held by `holder`, reusing its
// cache through a fork (no recomputation): fork, append, first greedy sample.
double ttft_forked_prefix(const mola::Session& holder, const std::vector<int32_t>& question) {
    const auto t0 = std::chrono::steady_clock::now();
    mola::Session child = holder.fork();
    child.append(question);
    (void)argmax_in_place(child);
    return seconds_since(t0);
}

// The same question in a new session whose prompt repeats the prefix: its full
// blocks come from the model's prefix cache (registered as the holder filled them).
// Returns 0 when the prefix cache is off.
double ttft_prefix_cache(const mola::Model& model, const mola::Session& holder, const std::vector<int32_t>& prefix,
                         const std::vector<int32_t>& question) {
    if (!model.cache_usage().prefix_cache) return 0;
    const auto t0 = std::chrono::steady_clock::now();
    mola::Session fresh(model, int(holder.n_ctx()), 512);
    std::vector<int32_t> prompt(prefix);
    prompt.insert(prompt.end(), question.begin(), question.end());
    fresh.append(prompt);
    (void)argmax_in_place(fresh);
    return seconds_since(t0);
}

// `mola bench --depths`: one session is prefilled up to each depth in turn (the
// chunks add up to one cold prefill of the deepest prefix); at each depth it
// decodes --gen-tokens tokens and rewinds back. At the deepest one a question is
// answered from a fork of the session (cached prefix) and, for comparison, after
// the cold prefill.
int bench_depths(const Args& a) {
    constexpr int kQuestionTokens = 20;
    const std::vector<int> depths = parse_depths(a.depths);
    const int deepest = depths.back(), gen = a.gen_tokens;
    if (gen < 1) throw UsageError("--gen-tokens must be at least 1 with --depths");
    mola::Model model = load(a);
    const mola_model_info info = model.info();
    mola::Session session(model, a.ctx ? a.ctx : deepest + std::max(gen, kQuestionTokens) + 1, 512);
    std::mt19937 rng(1234);
    std::vector<int32_t> prompt(static_cast<size_t>(deepest)), question(static_cast<size_t>(kQuestionTokens));
    for (int32_t& t : prompt) t = int32_t(rng() % uint32_t(info.n_vocab));
    for (int32_t& t : question) t = int32_t(rng() % uint32_t(info.n_vocab));

    session.append({prompt[0]});  // warm-up: touches the weights and the first cache block
    session.rewind(0);
    std::vector<double> decode_tps;
    double prefill_s = 0;
    int held = 0;
    for (int depth : depths) {
        const auto t0 = std::chrono::steady_clock::now();
        session.append(std::vector<int32_t>(prompt.begin() + held, prompt.begin() + depth));
        prefill_s += seconds_since(t0);
        held = depth;
        decode_tps.push_back(gen / time_decode(session, gen));
        session.rewind(size_t(depth));
        if (!a.quiet && !a.json)
            std::fprintf(stderr, "depth %d: decode %.2f tokens/s\n", depth, decode_tps.back());
    }
    const mola_cache_usage usage = model.cache_usage();
    const double cached_ttft_s = ttft_forked_prefix(session, question);
    const double prefix_cache_ttft_s = ttft_prefix_cache(
        model, session, std::vector<int32_t>(prompt.begin(), prompt.begin() + deepest), question);
    const auto t0 = std::chrono::steady_clock::now();
    session.append(question);
    (void)argmax_in_place(session);
    const double cold_ttft_s = prefill_s + seconds_since(t0);

    // A per-head K/V cache of the same model: every layer stores, per head, a key of
    // qk_nope + qk_rope values and a value of v_head_dim values, in BF16.
    std::string config;
    try {
        config = read_file(a.model + "/config.json");
    } catch (const std::exception&) {
    }
    const int64_t d_nope = config_int(config, "qk_nope_head_dim"), d_v = config_int(config, "v_head_dim");
    const int64_t per_head_bf16 = d_nope > 0 && d_v > 0
                                      ? int64_t(info.n_layer) * info.n_head * (d_nope + info.qk_rope_head_dim + d_v) * 2
                                      : -1;
    const double used_per_token = double(usage.bytes_used) / deepest;
    if (a.json) {
        std::printf("{\"model\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"gen_tokens\": %d, \"depths\": [",
                    a.model.c_str(), info.backend, a.threads, gen);
        for (size_t i = 0; i < depths.size(); ++i)
            std::printf("%s{\"depth\": %d, \"decode_tokens_per_s\": %.3f, \"ratio_to_first\": %.4f}", i ? ", " : "",
                        depths[i], decode_tps[i], decode_tps[i] / decode_tps[0]);
        std::printf("], \"prefill\": {\"tokens\": %d, \"seconds\": %.3f, \"tokens_per_s\": %.3f}, "
                    "\"ttft\": {\"prefix_tokens\": %d, \"question_tokens\": %d, \"cached_prefix_s\": %.4f, "
                    "\"prefix_cache_s\": %.4f, \"cold_prefill_s\": %.3f, \"speedup\": %.1f}, "
                    "\"kv_bytes_per_token\": {\"cache_dtype\": \"%s\", \"bf16\": %" PRIu64 ", \"fp8_e4m3\": %" PRIu64
                    ", \"per_head_bf16\": %" PRId64 ", \"per_head_formula\": "
                    "\"n_layer * n_head * (qk_nope_head_dim + qk_rope_head_dim + v_head_dim) * 2\", "
                    "\"cache_bytes_used\": %" PRIu64 ", \"cache_bytes_used_per_token\": %.1f}}\n",
                    deepest, prefill_s, deepest / prefill_s, deepest, kQuestionTokens, cached_ttft_s, prefix_cache_ttft_s, cold_ttft_s,
                    cold_ttft_s / cached_ttft_s, info.kv_cache_dtype, info.kv_bytes_per_token_bf16,
                    info.kv_bytes_per_token_fp8, per_head_bf16, usage.bytes_used, used_per_token);
        return 0;
    }
    std::printf("model:    %s (%s)\n", a.model.c_str(), info.variant);
    std::printf("backend:  %s\n", info.backend);
    std::printf("decode:   %d tokens at each depth\n", gen);
    for (size_t i = 0; i < depths.size(); ++i)
        std::printf("  depth %6d: %8.2f tokens/s  (%.3fx depth %d)\n", depths[i], decode_tps[i],
                    decode_tps[i] / decode_tps[0], depths[0]);
    std::printf("prefill:  %d tokens in %.3f s = %.2f tokens/s (cold)\n", deepest, prefill_s, deepest / prefill_s);
    std::printf("TTFT:     %d-token question after %d tokens: %.4f s from a forked session, %.3f s cold (%.1fx)\n",
                kQuestionTokens, deepest, cached_ttft_s, cold_ttft_s, cold_ttft_s / cached_ttft_s);
    if (prefix_cache_ttft_s > 0)
        std::printf("          %.4f s from a new session whose prompt starts with the cached prefix (prefix cache)\n",
                    prefix_cache_ttft_s);
    std::printf("KV cache: bf16 %" PRIu64 ", fp8_e4m3 %" PRIu64 " bytes per token (in use: %.1f bytes per token, %s)\n",
                info.kv_bytes_per_token_bf16, info.kv_bytes_per_token_fp8, used_per_token, info.kv_cache_dtype);
    if (per_head_bf16 > 0)
        std::printf("          per-head K/V cache in bf16: %" PRId64
                    " bytes per token = n_layer * n_head * (qk_nope + qk_rope + v_head_dim) * 2 (%.1fx bf16 latent)\n",
                    per_head_bf16, double(per_head_bf16) / double(info.kv_bytes_per_token_bf16));
    return 0;
}

}  // namespace

int cmd_info(const Args& a) {
    mola::Model model = load(a);
    const mola_model_info i = model.info();
    std::printf("architecture:        %s\n", i.architecture);
    std::printf("variant:             %s\n", i.variant);
    std::printf("layers:              %d (+%d MTP layers skipped)\n", i.n_layer, i.n_mtp_layers);
    std::printf("hidden size:         %d\n", i.n_embd);
    std::printf("attention heads:     %d (MLA, kv_lora_rank %d, rope dims %d)\n", i.n_head, i.kv_lora_rank,
                i.qk_rope_head_dim);
    std::printf("experts:             %d routed, top-%d, %d shared\n", i.n_routed_experts, i.n_experts_per_token,
                i.n_shared_experts);
    std::printf("vocabulary:          %d\n", i.n_vocab);
    std::printf("context (trained):   %d\n", i.n_ctx_train);
    std::printf("parameters:          %" PRIu64 " (%s)\n", i.n_params, human(double(i.n_params)).c_str());
    std::printf("active per token:    %" PRIu64 " (%s)\n", i.n_params_active, human(double(i.n_params_active)).c_str());
    std::printf("weight dtypes:       %s\n", i.weight_dtypes);
    std::printf("weight bytes:        %" PRIu64 " (%sB)\n", i.weight_bytes, human(double(i.weight_bytes)).c_str());
    std::printf("decode reads/token:  %" PRIu64 " bytes of weights\n", i.decode_bytes_per_token);
    std::printf("KV cache per token:  %" PRIu64 " bytes (%s; latent %d + rope %d values x %d layers)\n",
                i.kv_bytes_per_token, i.kv_cache_dtype, i.kv_lora_rank, i.qk_rope_head_dim, i.n_layer);
    std::printf("KV bytes per token:  f32 %" PRIu64 ", bf16 %" PRIu64 ", fp8_e4m3 %" PRIu64
                " (e4m3 latent + float scale, bf16 rope)\n",
                i.kv_bytes_per_token_f32, i.kv_bytes_per_token_bf16, i.kv_bytes_per_token_fp8);
    std::printf("KV cache budget:     %" PRIu64 " bytes (%sB): %d blocks of %d tokens (%" PRIu64
                " bytes each) = %" PRIu64 " tokens\n",
                i.kv_cache_budget_bytes, human(double(i.kv_cache_budget_bytes)).c_str(), i.kv_cache_blocks,
                i.kv_block_tokens, i.kv_block_bytes, uint64_t(i.kv_cache_blocks) * uint64_t(i.kv_block_tokens));
    std::printf("prefix cache:        %s\n", model.cache_usage().prefix_cache
                                                    ? "on (sessions reuse the cached full blocks of a shared prefix)"
                                                    : "off");
    std::printf("bos / eos:           %d / %d\n", i.bos_token_id, i.eos_token_id);
    std::printf("backend:             %s\n", i.backend);
    std::printf("fingerprint:         %s (saved sessions load only into this model)\n", i.fingerprint);
    return 0;
}

int cmd_logits(const Args& a) {
    if (a.out.empty()) throw UsageError("logits needs --out FILE.npy");
    const std::vector<int32_t> tokens = parse_tokens(a.tokens);
    mola::Model model = load(a);
    mola::Session session(model, a.ctx ? a.ctx : int(tokens.size()));
    const std::vector<float> logits = session.append_all_logits(tokens);
    write_npy(a.out, logits, tokens.size(), session.n_vocab());
    std::fprintf(stderr, "wrote %s: float32 [%zu, %zu]\n", a.out.c_str(), tokens.size(), session.n_vocab());
    return 0;
}

// Continues a token sequence and prints the sampled ids (an end-of-sequence id
// included); greedy unless --temperature is given.
int cmd_generate(const Args& a) {
    const std::vector<int32_t> prompt = parse_tokens(a.tokens);
    const int n = a.n < 0 ? 16 : a.n;
    mola::SamplerParams sampler = a.sampler;
    if (!a.temperature_set) sampler.temperature = 0.0f;
    mola::Model model = load(a);
    mola::Session session(model, a.ctx ? a.ctx : n > 0 ? int(prompt.size()) + n : 0);
    mola::GenerateOptions options;
    options.max_tokens = n;
    options.stop = a.stop;
    options.ignore_eos = a.ignore_eos;
    bool first = true;
    options.stream = [&first](std::string_view, const std::vector<int32_t>& tokens) {
        for (int32_t t : tokens) {
            std::printf("%s%d", first ? "" : " ", t);
            first = false;
        }
        std::fflush(stdout);
        return true;
    };
    install_sigint_handler();
    mola::GenerateResult result;
    {
        Generating guard(session);
        result = session.generate(prompt, sampler, options);
    }
    std::printf("\n");
    if (a.verbose) print_generate_stats(result, model);
    return 0;
}

struct BatchSpeed {
    double solo_tps = 0, batched_tps = 0;
};

// Aggregate decode speed of a.batch sessions (each prefilled with a rotation of
// prompt, untimed), advanced a.gen_tokens steps one session at a time, then again
// from the same point as one batch per step.
BatchSpeed bench_batch(const mola::Model& model, const Args& a, const std::vector<int32_t>& prompt) {
    using clock = std::chrono::steady_clock;
    std::vector<mola::Session> sessions;
    std::vector<mola::Session*> all;
    sessions.reserve(size_t(a.batch));
    for (int i = 0; i < a.batch; ++i) {
        sessions.emplace_back(model, a.prompt_tokens + a.gen_tokens, 512);
        std::vector<int32_t> own(prompt);
        std::rotate(own.begin(), own.begin() + i % int(own.size()), own.end());
        sessions.back().append(own);
    }
    for (mola::Session& s : sessions) all.push_back(&s);
    std::vector<int32_t> next(all.size());
    for (size_t i = 0; i < all.size(); ++i) next[i] = argmax_in_place(*all[i]);
    const std::vector<int32_t> first = next;
    const auto t0 = clock::now();
    for (int step = 0; step < a.gen_tokens; ++step)
        for (size_t i = 0; i < all.size(); ++i) {
            all[i]->decode(next[i]);
            next[i] = argmax_in_place(*all[i]);
        }
    const auto t1 = clock::now();
    for (mola::Session& s : sessions) s.rewind(size_t(a.prompt_tokens));
    next = first;
    mola::Batch batch(model, size_t(a.batch));
    const auto t2 = clock::now();
    for (int step = 0; step < a.gen_tokens; ++step) {
        batch.decode(all, next);
        for (size_t i = 0; i < all.size(); ++i) next[i] = argmax_in_place(*all[i]);
    }
    const auto t3 = clock::now();
    const double tokens = double(a.gen_tokens) * a.batch;
    return {tokens / std::chrono::duration<double>(t1 - t0).count(),
            tokens / std::chrono::duration<double>(t3 - t2).count()};
}

int cmd_bench(const Args& a) {
    if (!a.depths.empty()) return bench_depths(a);
    using clock = std::chrono::steady_clock;
    mola::Model model = load(a);
    const mola_model_info info = model.info();
    if (a.prompt_tokens < 1) throw UsageError("--prompt-tokens must be at least 1");
    if (a.batch < 0 || a.batch > 4096) throw UsageError("--batch must be in [0, 4096]");
    if (a.batch > 0 && a.gen_tokens < 1) throw UsageError("--batch needs --gen-tokens of at least 1");
    mola::Session session(model, a.ctx ? a.ctx : a.prompt_tokens + a.gen_tokens, 512);
    std::mt19937 rng(1234);
    std::vector<int32_t> prompt(size_t(a.prompt_tokens));
    for (int32_t& t : prompt) t = int32_t(rng() % uint32_t(info.n_vocab));

    // Warm up caches and pages on a short prefix, then measure from an empty session.
    session.append({prompt[0]});
    session.rewind(0);
    const auto t0 = clock::now();
    session.append(prompt);
    const auto t1 = clock::now();
    int32_t next = argmax_in_place(session);
    const auto t2 = clock::now();
    for (int i = 0; i < a.gen_tokens; ++i) {
        session.decode(next);
        next = argmax_in_place(session);
    }
    const auto t3 = clock::now();
    const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
    const double decode_s = std::chrono::duration<double>(t3 - t2).count();
    const double prefill_tps = a.prompt_tokens / prefill_s;
    const double decode_tps = a.gen_tokens > 0 ? a.gen_tokens / decode_s : 0.0;
    const double gbps = double(info.decode_bytes_per_token) * decode_tps / 1e9;
    const BatchSpeed batched = a.batch > 0 ? bench_batch(model, a, prompt) : BatchSpeed{};
    if (a.json) {
        std::printf("{\"model\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"prompt_tokens\": %d, "
                    "\"gen_tokens\": %d, \"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f, "
                    "\"weight_bytes_per_token\": %" PRIu64 ", \"decode_weight_GB_per_s\": %.3f, "
                    "\"kv_cache_dtype\": \"%s\", \"kv_bytes_per_token\": %" PRIu64,
                    a.model.c_str(), info.backend, a.threads, a.prompt_tokens, a.gen_tokens, prefill_tps, decode_tps,
                    info.decode_bytes_per_token, gbps, info.kv_cache_dtype, info.kv_bytes_per_token);
        if (a.batch > 0)
            std::printf(", \"batch_sessions\": %d, \"solo_decode_tokens_per_s\": %.3f, "
                        "\"batched_decode_tokens_per_s\": %.3f",
                        a.batch, batched.solo_tps, batched.batched_tps);
        std::printf("}\n");
    } else {
        std::printf("model:             %s (%s)\n", a.model.c_str(), info.variant);
        std::printf("backend:           %s\n", info.backend);
        std::printf("prefill:           %d tokens in %.3f s = %.2f tokens/s\n", a.prompt_tokens, prefill_s, prefill_tps);
        std::printf("decode:            %d tokens in %.3f s = %.2f tokens/s\n", a.gen_tokens, decode_s, decode_tps);
        std::printf("weights per token: %" PRIu64 " bytes (%sB)\n", info.decode_bytes_per_token,
                    human(double(info.decode_bytes_per_token)).c_str());
        std::printf("decode bandwidth:  %.2f GB/s of weights\n", gbps);
        std::printf("KV cache:          %s, %" PRIu64 " bytes per token\n", info.kv_cache_dtype,
                    info.kv_bytes_per_token);
        if (a.batch > 0)
            std::printf("%d sessions:       one by one %.2f tokens/s, batched %.2f tokens/s (%.2fx)\n", a.batch,
                        batched.solo_tps, batched.batched_tps, batched.batched_tps / batched.solo_tps);
    }
    return 0;
}

int cmd_tokenize(const Args& a) {
    using clock = std::chrono::steady_clock;
    const std::string text = a.have_text ? a.text
                             : !a.text_file.empty()
                                 ? read_file(a.text_file)
                                 : std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    mola::Tokenizer tokenizer = a.tokenizer.empty() ? model_tokenizer(load(a), a) : mola::Tokenizer(a.tokenizer);
    if (a.bench) {
        // Single-threaded encode throughput, best of three runs.
        double best = 1e30;
        size_t n_ids = 0;
        for (int run = 0; run < 3; ++run) {
            const auto t0 = clock::now();
            n_ids = tokenizer.encode(text, !a.no_special).size();
            best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
        }
        std::printf("{\"bytes\": %zu, \"seconds\": %.6f, \"n_ids\": %zu, \"MB_per_s\": %.3f}\n", text.size(), best,
                    n_ids, double(text.size()) / best / 1e6);
        return 0;
    }
    const std::vector<int32_t> ids = tokenizer.encode(text, !a.no_special);
    for (size_t i = 0; i < ids.size(); ++i) {
        if (a.ids_only)
            std::printf("%s%d", i ? " " : "", ids[i]);
        else
            std::printf("%d\t%s\n", ids[i], printable(tokenizer.token_to_piece(ids[i])).c_str());
    }
    if (a.ids_only) std::printf("\n");
    return 0;
}

}  // namespace mola_cli
