// session_file.cpp: writing a session to a file atomically (temporary file,
// fsync, rename, fsync of the directory) and reading one back with every length
// checked against the file's size before anything is allocated (see session_file.h).
#include "session_file/session_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/error.h"
#include "engine/model.h"
#include "sampling/sampler.h"

namespace mola {

namespace {

constexpr char kMagic[8] = {'M', 'O', 'L', 'A', 'S', 'E', 'S', 'S'};
constexpr size_t kFingerprintBytes = 16;
constexpr size_t kHeadBytes = kFingerprintBytes + 6 * 4 + 2 * 8;
constexpr size_t kSamplerBytes = 9 * 4 + 2 * 8 + 4;  // SAMP before its logit-bias entries

uint32_t tag(const char (&s)[5]) {
    return uint32_t(uint8_t(s[0])) | uint32_t(uint8_t(s[1])) << 8 | uint32_t(uint8_t(s[2])) << 16 |
           uint32_t(uint8_t(s[3])) << 24;
}

std::string tag_name(uint32_t t) {
    std::string s;
    for (int i = 0; i < 4; ++i) {
        const char c = char((t >> (8 * i)) & 0xff);
        s += (c >= 32 && c < 127) ? c : '?';
    }
    return s;
}

std::string errno_text() { return std::strerror(errno); }

struct Writer {
    std::vector<uint8_t> bytes;
    void raw(const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        bytes.insert(bytes.end(), b, b + n);
    }
    void u32(uint32_t v) {
        uint8_t b[4];
        for (int i = 0; i < 4; ++i) b[i] = uint8_t(v >> (8 * i));
        raw(b, 4);
    }
    void u64(uint64_t v) {
        uint8_t b[8];
        for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (8 * i));
        raw(b, 8);
    }
    void section(const char (&name)[5], uint64_t length) {
        u32(tag(name));
        u64(length);
    }
};

uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

float bits_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// The SAMP payload of a sampler (see session_file.h).
void write_sampler(Writer& w, const Sampler& sampler) {
    const SamplerParams& p = sampler.params();
    w.section("SAMP", kSamplerBytes + 8 * uint64_t(p.logit_bias.size()));
    w.u32(uint32_t(sampler.n_vocab()));
    w.u32(float_bits(p.temperature));
    w.u32(uint32_t(p.top_k));
    w.u32(float_bits(p.top_p));
    w.u32(float_bits(p.min_p));
    w.u32(float_bits(p.repeat_penalty));
    w.u32(float_bits(p.presence_penalty));
    w.u32(float_bits(p.frequency_penalty));
    w.u32(uint32_t(p.penalty_window));
    w.u64(p.seed);
    w.u64(sampler.rng_state());
    w.u32(uint32_t(p.logit_bias.size()));
    for (const auto& [id, bias] : p.logit_bias) {
        w.u32(uint32_t(id));
        w.u32(float_bits(bias));
    }
}

uint32_t get_u32(const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint64_t get_u64(const uint8_t* p) { return uint64_t(get_u32(p)) | uint64_t(get_u32(p + 4)) << 32; }

// The bytes of one token's cache row of one layer in the file.
uint64_t file_row_bytes(const KvLayout& L) {
    return uint64_t(L.latent_row_bytes) + L.rope_row_bytes + (L.has_scales() ? sizeof(float) : 0);
}

void write_all(int fd, const uint8_t* p, size_t n, const std::string& tmp) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail(MOLA_ERR_IO, tmp + ": cannot write: " + errno_text());
        }
        p += w;
        n -= size_t(w);
    }
}

}  // namespace

void save_session(const Session& s, const std::string& path, const Sampler* sampler) {
    const Model& model = *s.model_;
    const KvLayout& L = model.kv_layout();
    const int64_t n = s.n_tokens();
    const uint64_t vocab = uint64_t(model.config().vocab_size);

    Writer w;
    w.raw(kMagic, sizeof(kMagic));
    w.u32(kSessionFileVersion);
    w.u32(s.has_slid_ ? kSessionSlid : 0);
    w.section("HEAD", kHeadBytes);
    w.raw(model.fingerprint().data(), kFingerprintBytes);
    w.u32(uint32_t(L.dtype));
    w.u32(uint32_t(L.n_layers));
    w.u32(uint32_t(L.d_c));
    w.u32(uint32_t(L.d_r));
    w.u32(uint32_t(vocab));
    w.u32(s.has_logits_ ? 1 : 0);
    w.u64(uint64_t(s.n_ctx_));
    w.u64(uint64_t(n));
    w.section("TOKS", uint64_t(n) * 4);
    for (int32_t t : s.tokens_) w.u32(uint32_t(t));
    w.section("LOGT", s.has_logits_ ? vocab * 4 : 0);
    if (s.has_logits_) w.raw(s.logits_.data(), vocab * 4);  // host floats are little-endian (x86-64, arm64)
    const uint64_t row = file_row_bytes(L);
    w.section("KVCH", uint64_t(L.n_layers) * uint64_t(n) * row);
    w.bytes.reserve(w.bytes.size() + size_t(uint64_t(L.n_layers) * uint64_t(n) * row) + 64);
    uint8_t* const* blocks = s.cache_.data();
    const int64_t mask = L.block_tokens - 1;
    for (int64_t l = 0; l < L.n_layers; ++l)
        for (int64_t t = 0; t < n; ++t) {
            const uint8_t* layer = L.layer_data(blocks[t >> L.block_shift], l);
            const size_t r = size_t(t & mask);
            w.raw(layer + r * L.latent_row_bytes, L.latent_row_bytes);
            w.raw(layer + L.rope_offset + r * L.rope_row_bytes, L.rope_row_bytes);
            if (L.has_scales()) w.raw(layer + L.scale_offset + r * sizeof(float), sizeof(float));
        }
    if (sampler) {
        if (sampler->n_vocab() != int32_t(vocab))
            fail(MOLA_ERR_INVALID_ARG, path + ": the sampler was made for " + std::to_string(sampler->n_vocab()) +
                                           " tokens, the session's model has " + std::to_string(vocab));
        write_sampler(w, *sampler);
    } else {
        w.section("SAMP", 0);
    }
    w.section("META", s.metadata_.size());
    w.raw(s.metadata_.data(), s.metadata_.size());
    uLong c = ::crc32(0L, nullptr, 0);
    for (size_t off = 0; off < w.bytes.size();) {
        const size_t chunk = std::min<size_t>(w.bytes.size() - off, size_t(1) << 30);
        c = ::crc32(c, w.bytes.data() + off, uInt(chunk));
        off += chunk;
    }
    w.section("CRC ", 4);
    w.u32(uint32_t(c));

    // Atomic replacement: a temporary file beside path, synced, renamed over it.
    const size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    std::random_device rd;
    const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) fail(MOLA_ERR_IO, path + ": cannot save the session: cannot create " + tmp + ": " + errno_text());
    try {
        write_all(fd, w.bytes.data(), w.bytes.size(), tmp);
        if (::fsync(fd) != 0) fail(MOLA_ERR_IO, tmp + ": fsync failed: " + errno_text());
        if (::close(fd) != 0) {
            ::unlink(tmp.c_str());
            fail(MOLA_ERR_IO, tmp + ": close failed: " + errno_text());
        }
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = errno_text();
        ::unlink(tmp.c_str());
        fail(MOLA_ERR_IO, path + ": cannot save the session: rename from " + tmp + " failed: " + why);
    }
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::unique_ptr<Session> load_session(std::shared_ptr<const Model> model, const std::string& path, int64_t n_ctx,
                                      int64_t n_batch, std::unique_ptr<Sampler>* sampler) {
    if (sampler) sampler->reset();
    auto bad = [&](const std::string& why) { fail(MOLA_ERR_BAD_FORMAT, path + ": not a usable saved session: " + why); };
    // Read the file: its size bounds every allocation below.
    std::vector<uint8_t> f;
    {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail(MOLA_ERR_IO, path + ": cannot open: " + errno_text());
        struct stat st;
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            fail(MOLA_ERR_IO, path + ": not a regular file");
        }
        try {
            f.resize(size_t(st.st_size));
        } catch (...) {
            ::close(fd);
            throw;
        }
        size_t got = 0;
        while (got < f.size()) {
            const ssize_t r = ::read(fd, f.data() + got, f.size() - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                const std::string why = r < 0 ? errno_text() : "the file shrank while being read";
                ::close(fd);
                fail(MOLA_ERR_IO, path + ": cannot read: " + why);
            }
            got += size_t(r);
        }
        ::close(fd);
    }
    if (f.size() < 16 || std::memcmp(f.data(), kMagic, 8) != 0) {
        if (f.size() < 16 && f.size() >= 8 && std::memcmp(f.data(), kMagic, 8) == 0)
            bad("truncated: " + std::to_string(f.size()) + " bytes, shorter than the 16-byte file header");
        bad("no MOLASESS magic at the start (" + std::to_string(f.size()) + " bytes)");
    }
    const uint32_t version = get_u32(f.data() + 8);
    if (version < kOldestSessionFileVersion || version > kSessionFileVersion)
        bad("format version " + std::to_string(version) + ", but this build of mola reads versions " +
            std::to_string(kOldestSessionFileVersion) + " to " + std::to_string(kSessionFileVersion));

    // The sections, in order, each within the file; version 1 has no META.
    enum { kHead, kToks, kLogt, kKvch, kSamp, kMeta, kCrc, kSections };
    const char* const order[kSections] = {"HEAD", "TOKS", "LOGT", "KVCH", "SAMP", "META", "CRC "};
    const uint8_t* payload[kSections] = {};
    uint64_t length[kSections] = {};
    size_t pos = 16;
    for (int i = 0; i < kSections; ++i) {
        if (i == kMeta && version == 1) continue;
        const uint32_t want = get_u32(reinterpret_cast<const uint8_t*>(order[i]));
        if (f.size() - pos < 12)
            bad("truncated at byte " + std::to_string(f.size()) + ": the " + order[i] + " section header is missing");
        const uint32_t got = get_u32(f.data() + pos);
        if (got != want)
            bad("section \"" + tag_name(got) + "\" at byte " + std::to_string(pos) + " where \"" + order[i] +
                "\" belongs");
        length[i] = get_u64(f.data() + pos + 4);
        pos += 12;
        if (length[i] > f.size() - pos)
            bad("truncated or corrupt: the " + std::string(order[i]) + " section at byte " +
                std::to_string(pos - 12) + " claims " + std::to_string(length[i]) + " bytes, but only " +
                std::to_string(f.size() - pos) + " remain");
        payload[i] = f.data() + pos;
        pos += size_t(length[i]);
    }
    if (pos != f.size()) bad(std::to_string(f.size() - pos) + " unexpected bytes after the checksum");
    if (length[kCrc] != 4) bad("the CRC section holds " + std::to_string(length[kCrc]) + " bytes, not 4");
    const size_t crc_at = size_t(payload[kCrc] - f.data()) - 12;
    uLong c = ::crc32(0L, nullptr, 0);
    for (size_t off = 0; off < crc_at;) {
        const size_t chunk = std::min<size_t>(crc_at - off, size_t(1) << 30);
        c = ::crc32(c, f.data() + off, uInt(chunk));
        off += chunk;
    }
    const uint32_t stored = get_u32(payload[kCrc]);
    if (uint32_t(c) != stored) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "checksum mismatch (stored %08x, computed %08x)", stored, uint32_t(c));
        bad(std::string(buf) + ": the file is corrupt");
    }

    // The header against the model.
    if (length[0] != kHeadBytes) bad("the HEAD section holds " + std::to_string(length[0]) + " bytes, not " +
                                     std::to_string(kHeadBytes));
    const uint8_t* h = payload[0];
    const std::string fp(reinterpret_cast<const char*>(h), kFingerprintBytes);
    const KvLayout& L = model->kv_layout();
    const DeepSeekConfig& cfg = model->config();
    if (fp != model->fingerprint())
        bad("it was saved from another model (fingerprint " + fp + "); the loaded model " + model->checkpoint().dir() +
            " has fingerprint " + model->fingerprint());
    const uint32_t dtype = get_u32(h + 16), n_layers = get_u32(h + 20), d_c = get_u32(h + 24), d_r = get_u32(h + 28),
                   vocab = get_u32(h + 32), has_logits = get_u32(h + 36);
    const uint64_t saved_ctx = get_u64(h + 40), n = get_u64(h + 48);
    if (dtype != uint32_t(L.dtype)) {
        const std::string saved = dtype <= 2 ? kv_dtype_name(KvDType(dtype)) : "dtype " + std::to_string(dtype);
        bad("its KV cache is " + saved + " but the model's cache is " + kv_dtype_name(L.dtype) +
            "; load the model with the kv_dtype it was saved with");
    }
    if (n_layers != L.n_layers || d_c != L.d_c || d_r != L.d_r || vocab != uint64_t(cfg.vocab_size) ||
        has_logits > 1)
        bad("its header (layers, d_c, d_r, vocabulary) does not match the model");
    if (n_ctx == 0) n_ctx = int64_t(std::min<uint64_t>(saved_ctx, uint64_t(INT64_MAX)));
    if (n_ctx <= 0 || n_ctx > cfg.max_position_embeddings)
        fail(MOLA_ERR_INVALID_ARG, path + ": n_ctx " + std::to_string(n_ctx) + " is outside [1, " +
                                       std::to_string(cfg.max_position_embeddings) + "] (max_position_embeddings)");
    if (n > uint64_t(n_ctx))
        fail(n_ctx == int64_t(saved_ctx) ? MOLA_ERR_BAD_FORMAT : MOLA_ERR_INVALID_ARG,
             path + ": the saved session holds " + std::to_string(n) + " tokens, more than n_ctx " +
                 std::to_string(n_ctx));
    if (length[1] != n * 4) bad("the TOKS section holds " + std::to_string(length[1]) + " bytes, not 4 x " +
                                std::to_string(n) + " tokens");
    if (length[2] != (has_logits ? uint64_t(vocab) * 4 : 0)) bad("the LOGT section has the wrong length");
    const uint64_t row = file_row_bytes(L);
    if (length[3] != uint64_t(L.n_layers) * n * row) bad("the KVCH section has the wrong length");
    std::unique_ptr<Sampler> saved_sampler;
    if (length[kSamp] != 0) {
        const uint8_t* q = payload[kSamp];
        if (length[kSamp] < kSamplerBytes || (length[kSamp] - kSamplerBytes) / 8 != get_u32(q + 52) ||
            (length[kSamp] - kSamplerBytes) % 8 != 0)
            bad("the SAMP section's length (" + std::to_string(length[kSamp]) + " bytes) does not match its contents");
        if (get_u32(q) != vocab) bad("its sampler was made for " + std::to_string(get_u32(q)) + " tokens, not " +
                                     std::to_string(vocab));
        SamplerParams p;
        p.temperature = bits_float(get_u32(q + 4));
        p.top_k = int32_t(get_u32(q + 8));
        p.top_p = bits_float(get_u32(q + 12));
        p.min_p = bits_float(get_u32(q + 16));
        p.repeat_penalty = bits_float(get_u32(q + 20));
        p.presence_penalty = bits_float(get_u32(q + 24));
        p.frequency_penalty = bits_float(get_u32(q + 28));
        p.penalty_window = int32_t(get_u32(q + 32));
        p.seed = get_u64(q + 36);
        const uint64_t rng_state = get_u64(q + 44);
        for (uint32_t i = 0, n_bias = get_u32(q + 52); i < n_bias; ++i)
            p.logit_bias.emplace_back(int32_t(get_u32(q + kSamplerBytes + 8 * i)),
                                      bits_float(get_u32(q + kSamplerBytes + 8 * i + 4)));
        try {
            saved_sampler = std::make_unique<Sampler>(p, int32_t(vocab));
        } catch (const Error& e) {
            bad(std::string("its sampler: ") + e.what());
        }
        saved_sampler->set_rng_state(rng_state);
    }
    if (length[kMeta] > MOLA_SESSION_METADATA_MAX_BYTES)
        bad("the META section holds " + std::to_string(length[kMeta]) + " bytes, more than the limit of " +
            std::to_string(MOLA_SESSION_METADATA_MAX_BYTES));
    std::vector<int32_t> tokens(static_cast<size_t>(n));
    for (uint64_t i = 0; i < n; ++i) {
        tokens[i] = int32_t(get_u32(payload[1] + 4 * i));
        if (tokens[i] < 0 || tokens[i] >= cfg.vocab_size)
            bad("token " + std::to_string(i) + " is " + std::to_string(tokens[i]) + ", outside the vocabulary");
    }

    auto s = std::make_unique<Session>(std::move(model), n_ctx, std::min<int64_t>(n_batch, n_ctx));
    s->cache_.reserve(int64_t(n));  // MOLA_ERR_CACHE_FULL: s's destructor returns what it took
    uint8_t* const* blocks = s->cache_.data();
    const int64_t mask = L.block_tokens - 1;
    const uint8_t* src = payload[3];
    for (int64_t l = 0; l < L.n_layers; ++l)
        for (int64_t t = 0; t < int64_t(n); ++t) {
            uint8_t* layer = L.layer_data(blocks[t >> L.block_shift], l);
            const size_t r = size_t(t & mask);
            std::memcpy(layer + r * L.latent_row_bytes, src, L.latent_row_bytes);
            src += L.latent_row_bytes;
            std::memcpy(layer + L.rope_offset + r * L.rope_row_bytes, src, L.rope_row_bytes);
            src += L.rope_row_bytes;
            if (L.has_scales()) {
                std::memcpy(layer + L.scale_offset + r * sizeof(float), src, sizeof(float));
                src += sizeof(float);
            }
        }
    if (length[kMeta] > 0) s->metadata_.assign(reinterpret_cast<const char*>(payload[kMeta]), size_t(length[kMeta]));
    s->tokens_ = std::move(tokens);
    s->tokens_.reserve(size_t(n_ctx));
    s->has_slid_ = (get_u32(f.data() + 12) & kSessionSlid) != 0;
    s->cache_full_blocks(s->n_tokens());  // other sessions may start from the restored prefix
    if (has_logits) {
        std::memcpy(s->logits_.data(), payload[2], size_t(vocab) * 4);
        s->has_logits_ = true;
    }
    if (sampler) *sampler = std::move(saved_sampler);
    return s;
}

}  // namespace mola
