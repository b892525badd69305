// test_session_file.cpp: saved sessions (mola_session_save / mola_session_load):
// a loaded session's logits and every later decode are bit-identical to the
// never-saved session's for each cache dtype, generation continues identically,
// a failed save leaves the previous file, application metadata travels with the
// session (also from version-1 files, without it), and files from another model, of
// another version, truncated at every section boundary or anywhere, corrupted at
// any byte, or claiming huge lengths all fail with a clear error.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "checkpoint_files.h"
#include "golden.h"
#include "mola/mola.hpp"

namespace {

namespace fs = std::filesystem;
using checkpoint_files::read_bytes;
using checkpoint_files::TempDir;
using checkpoint_files::write_bytes;

const std::string kV3 = std::string(MOLA_TEST_DATA) + "/v3";
const std::string kV2Lite = std::string(MOLA_TEST_DATA) + "/v2_lite";
const std::string kBundled = (fs::path(MOLA_TEST_DATA) / ".." / ".." / "share" / "models" / "mola-tiny-code").string();

std::string last_error() { return mola_last_error(); }

mola::Model load(const std::string& dir, mola_kv_dtype dtype = MOLA_KV_BF16, int block_tokens = 0,
                 uint64_t budget = 0, bool prefix_cache = true) {
    mola::ModelParams p;
    p.n_threads = 1;
    p.kv_cache_dtype = dtype;
    p.kv_block_tokens = block_tokens;
    p.kv_cache_budget_bytes = budget;
    p.prefix_cache = prefix_cache;
    return mola::Model(dir, p);
}

using golden::some_tokens;

int32_t n_vocab(const mola::Model& m) {
    mola_model_info info{};
    info.struct_size = sizeof(info);
    REQUIRE(mola_model_get_info(m.get(), &info) == MOLA_OK);
    return info.n_vocab;
}

std::string fingerprint(const mola::Model& m) {
    mola_model_info info{};
    info.struct_size = sizeof(info);
    REQUIRE(mola_model_get_info(m.get(), &info) == MOLA_OK);
    return info.fingerprint;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Loading path must fail with status and a message naming the file and containing what.
void check_load_fails(const mola::Model& m, const fs::path& path, mola_status status, const std::string& what) {
    mola_session* s = nullptr;
    const mola_status got = mola_session_load(m.get(), path.c_str(), nullptr, &s);
    INFO(last_error());
    CHECK(got == status);
    CHECK(s == nullptr);
    CHECK(last_error().find(path.string()) != std::string::npos);
    CHECK(last_error().find(what) != std::string::npos);
}

// The byte offsets of the file's section headers (after the 16-byte file header).
std::vector<size_t> section_offsets(const std::vector<uint8_t>& f) {
    std::vector<size_t> out;
    for (size_t pos = 16; pos + 12 <= f.size();) {
        out.push_back(pos);
        uint64_t len = 0;
        std::memcpy(&len, f.data() + pos + 4, 8);
        pos += 12 + size_t(len);
    }
    return out;
}

// Rewrites the CRC-32 (zlib's polynomial) trailer after editing a file, so the
// edit reaches the checks behind the checksum.
void fix_crc(std::vector<uint8_t>& f) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i + 16 < f.size(); ++i) {
        c ^= f[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    c ^= 0xffffffffu;
    std::memcpy(f.data() + f.size() - 4, &c, 4);
}

}  // namespace

TEST_CASE("session file: a loaded session's logits and decodes are bit-identical, each cache dtype",
          "[session_file]") {
    TempDir dir;
    for (const std::string& model_dir : {kV3, kBundled})
        for (mola_kv_dtype dtype : {MOLA_KV_F32, MOLA_KV_BF16, MOLA_KV_FP8_E4M3}) {
            INFO(model_dir << " dtype " << int(dtype));
            // A block size that does not divide the token count, and another on load;
            // no prefix cache, so that the second prefill below repeats the first's
            // kernel calls bit for bit.
            mola::Model m = load(model_dir, dtype, 16, 0, false);
            mola::Model m2 = load(model_dir, dtype, 64, 0, false);
            const int32_t vocab = n_vocab(m);
            const std::vector<int32_t> prompt = some_tokens(37, vocab, 5), more = some_tokens(9, vocab, 6);
            mola::Session a(m, 128);
            a.append(prompt);
            const fs::path file = dir.path / "s.mola";
            a.save(file.string());
            for (const mola::Model* target : {&m, &m2}) {
                mola::Session b = mola::Session::load(*target, file.string());
                CHECK(b.n_tokens() == prompt.size());
                CHECK(b.n_ctx() == 128);
                CHECK(b.tokens() == prompt);
                CHECK(same_bits(b.logits(), a.logits()));
                // Decoding the same tokens in the saved and the loaded session.
                mola::Session c = mola::Session::load(*target, file.string());
                for (int32_t t : more) {
                    a.decode(t);
                    c.decode(t);
                    REQUIRE(same_bits(c.logits(), a.logits()));
                }
                // Back to the saved state for the next target: the same prefill again.
                a.rewind(0);
                a.append(prompt);
                REQUIRE(same_bits(a.logits(), b.logits()));
            }
        }
}

TEST_CASE("session file: a loaded session generates the same tokens, greedy and seeded", "[session_file]") {
    TempDir dir;
    mola::Model m = load(kBundled);
    const std::vector<int32_t> prompt = some_tokens(20, n_vocab(m), 9);
    mola::GenerateOptions opt;
    opt.max_tokens = 12;
    opt.ignore_eos = true;
    mola::SamplerParams seeded;
    seeded.temperature = 1.0f;
    seeded.top_k = 0;
    seeded.top_p = 1.0f;
    seeded.min_p = 0.0f;
    seeded.seed = 77;
    for (const mola::SamplerParams& sp : {mola::SamplerParams::greedy(), seeded}) {
        mola::Session a(m);
        a.append(prompt);
        a.save((dir.path / "g.mola").string());
        mola::Session b = mola::Session::load(m, (dir.path / "g.mola").string());
        const mola::GenerateResult ra = a.generate({}, sp, opt), rb = b.generate({}, sp, opt);
        CHECK(ra.tokens == rb.tokens);
        CHECK(ra.tokens.size() == 12);
        CHECK(a.tokens() == b.tokens());
    }
}

TEST_CASE("session file: empty and rewound sessions, n_ctx on load, the cache budget", "[session_file]") {
    TempDir dir;
    mola::Model m = load(kV3, MOLA_KV_BF16, 16);
    const fs::path file = dir.path / "e.mola";
    mola::Session empty(m, 64);
    empty.save(file.string());
    mola::Session e = mola::Session::load(m, file.string());
    CHECK(e.n_tokens() == 0);
    CHECK(e.n_ctx() == 64);
    e.decode(3);

    mola::Session a(m, 64);
    a.append(some_tokens(40, n_vocab(m), 2));
    a.save(file.string());
    CHECK(mola::Session::load(m, file.string(), 200).n_ctx() == 200);
    mola_session_params p;
    mola_session_params_default(&p);
    p.n_ctx = 39;
    mola_session* s = nullptr;
    CHECK(mola_session_load(m.get(), file.c_str(), &p, &s) == MOLA_ERR_INVALID_ARG);
    CHECK(s == nullptr);
    CHECK(last_error().find("40 tokens") != std::string::npos);

    // A rewound session has no logits, and neither has its restored copy; both
    // continue alike.
    a.rewind(25);
    a.save(file.string());
    mola::Session r = mola::Session::load(m, file.string());
    CHECK(r.n_tokens() == 25);
    const float* none = nullptr;
    size_t nv = 0;
    CHECK(mola_session_get_logits(r.get(), &none, &nv) == MOLA_ERR_MISUSE);
    a.decode(11);
    r.decode(11);
    CHECK(same_bits(r.logits(), a.logits()));
    a.rewind(0);
    a.append(some_tokens(40, n_vocab(m), 2));
    a.save(file.string());

    // A pool with two blocks of 16: 40 tokens need three.
    mola::Model small = load(kV3, MOLA_KV_BF16, 16, 0);
    mola_model_info info{};
    info.struct_size = sizeof(info);
    REQUIRE(mola_model_get_info(small.get(), &info) == MOLA_OK);
    mola::Model tiny = load(kV3, MOLA_KV_BF16, 16, info.kv_block_bytes * 2);
    CHECK(mola_session_load(tiny.get(), file.c_str(), nullptr, &s) == MOLA_ERR_CACHE_FULL);
    CHECK(s == nullptr);
    mola_cache_usage u{};
    u.struct_size = sizeof(u);
    REQUIRE(mola_model_get_cache_usage(tiny.get(), &u) == MOLA_OK);
    CHECK(u.blocks_used == 0);
}

TEST_CASE("session file: a failed save leaves the previous file untouched", "[session_file]") {
    TempDir dir;
    mola::Model m = load(kV3);
    mola::Session a(m);
    a.append(some_tokens(10, n_vocab(m), 1));
    const fs::path file = dir.path / "keep.mola";
    a.save(file.string());
    const std::vector<uint8_t> before = read_bytes(file);
    a.decode(5);

    // A parent that does not exist.
    const fs::path missing = dir.path / "no_such_dir" / "x.mola";
    CHECK(mola_session_save(a.get(), missing.c_str()) == MOLA_ERR_IO);
    CHECK(last_error().find(missing.string()) != std::string::npos);

    // A directory nobody can create files in, root included.
    CHECK(mola_session_save(a.get(), "/proc/mola_session_test.mola") == MOLA_ERR_IO);
    CHECK(last_error().find("/proc/mola_session_test.mola") != std::string::npos);

    // A directory that is not writable (root ignores permissions: skip that part).
    if (::geteuid() != 0) {
        ::chmod(dir.path.c_str(), 0555);
        CHECK(mola_session_save(a.get(), file.c_str()) == MOLA_ERR_IO);
        INFO(last_error());
        CHECK(last_error().find(file.string()) != std::string::npos);
        ::chmod(dir.path.c_str(), 0755);
        CHECK(read_bytes(file) == before);
    }
    // The target is a directory: the rename fails, the temporary file is removed.
    const fs::path sub = dir.path / "sub";
    fs::create_directory(sub);
    fs::path inner = sub / "f";
    checkpoint_files::write_text(inner, "x");
    CHECK(mola_session_save(a.get(), sub.c_str()) == MOLA_ERR_IO);
    CHECK(last_error().find(sub.string()) != std::string::npos);
    CHECK(read_bytes(file) == before);
    size_t n_files = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) {
        (void)e;
        ++n_files;
    }
    CHECK(n_files == 2);  // keep.mola and sub: no temporary left behind

    // A successful save replaces the file.
    a.save(file.string());
    CHECK(read_bytes(file) != before);
    CHECK(mola::Session::load(m, file.string()).n_tokens() == 11);
}

TEST_CASE("session file: another model, another cache dtype, another version", "[session_file]") {
    TempDir dir;
    mola::Model m = load(kV3), other = load(kV2Lite), f32 = load(kV3, MOLA_KV_F32);
    CHECK(fingerprint(m).size() == 16);
    CHECK(fingerprint(m) == fingerprint(f32));
    CHECK(fingerprint(m) != fingerprint(other));
    mola::Session a(m);
    a.append({1, 2, 3});
    const fs::path file = dir.path / "v3.mola";
    a.save(file.string());

    const std::string fm = fingerprint(m), fo = fingerprint(other);
    check_load_fails(other, file, MOLA_ERR_BAD_FORMAT, "another model");
    const std::string message = last_error();
    CHECK(message.find(fm) != std::string::npos);
    CHECK(message.find(fo) != std::string::npos);
    check_load_fails(f32, file, MOLA_ERR_BAD_FORMAT, "bf16");
    CHECK(last_error().find("f32") != std::string::npos);

    std::vector<uint8_t> f = read_bytes(file);
    f[8] = 3;
    const fs::path v2 = dir.path / "v2.mola";
    write_bytes(v2, f);
    check_load_fails(m, v2, MOLA_ERR_BAD_FORMAT, "version 3");
    f[8] = 0;
    write_bytes(v2, f);
    check_load_fails(m, v2, MOLA_ERR_BAD_FORMAT, "version 0");

    f = read_bytes(file);
    f[0] = 'X';
    write_bytes(v2, f);
    check_load_fails(m, v2, MOLA_ERR_BAD_FORMAT, "MOLASESS");
    check_load_fails(m, dir.path / "absent.mola", MOLA_ERR_IO, "cannot open");
}

TEST_CASE("session file: truncation at every section boundary and anywhere fails clearly", "[session_file]") {
    TempDir dir;
    mola::Model m = load(kV3, MOLA_KV_FP8_E4M3);
    mola::Session a(m);
    a.append(some_tokens(21, n_vocab(m), 4));
    a.set_metadata("{\"files\": [\"a.py\", \"b.py\"]}");
    const fs::path file = dir.path / "t.mola", cut = dir.path / "cut.mola";
    a.save(file.string());
    const std::vector<uint8_t> f = read_bytes(file);
    const std::vector<size_t> sections = section_offsets(f);
    REQUIRE(sections.size() == 7);
    std::vector<size_t> lengths = {0, 1, 7, 8, 12, 15, 16};
    for (size_t s : sections)
        for (size_t d : {size_t(0), size_t(1), size_t(4), size_t(11), size_t(12), size_t(13)})
            lengths.push_back(s + d);
    for (size_t s = 1; s < sections.size(); ++s) lengths.push_back(sections[s] - 1);
    lengths.push_back(f.size() - 1);
    for (size_t n = 0; n < f.size(); n += 97) lengths.push_back(n);
    for (size_t n : lengths) {
        if (n >= f.size()) continue;
        INFO("truncated to " << n << " of " << f.size() << " bytes");
        write_bytes(cut, f.data(), n);
        mola_session* s = nullptr;
        CHECK(mola_session_load(m.get(), cut.c_str(), nullptr, &s) == MOLA_ERR_BAD_FORMAT);
        CHECK(s == nullptr);
        CHECK(last_error().find(cut.string()) != std::string::npos);
        if (n >= 16) CHECK(last_error().find("truncated") != std::string::npos);
    }
    mola_cache_usage u{};
    u.struct_size = sizeof(u);
    REQUIRE(mola_model_get_cache_usage(m.get(), &u) == MOLA_OK);
    CHECK(u.blocks_used == a.n_cache_blocks());
}

TEST_CASE("session file: a changed byte anywhere fails the checksum", "[session_file]") {
    TempDir dir;
    mola::Model m = load(kV3);
    mola::Session a(m);
    a.append(some_tokens(13, n_vocab(m), 8));
    a.set_metadata("conversation state");
    const fs::path file = dir.path / "c.mola", bad = dir.path / "bad.mola";
    a.save(file.string());
    const std::vector<uint8_t> f = read_bytes(file);
    const std::vector<size_t> sections = section_offsets(f);
    for (size_t at = 16; at < f.size(); at += 7) {
        // Bytes of the section tags and lengths fail the structure check first.
        bool structural = false;
        for (size_t s : sections) structural |= at >= s && at < s + 12;
        if (structural) continue;
        std::vector<uint8_t> g = f;
        g[at] ^= 0x5a;
        write_bytes(bad, g);
        INFO("byte " << at << " of " << f.size());
        check_load_fails(m, bad, MOLA_ERR_BAD_FORMAT, at >= f.size() - 4 ? "checksum" : "checksum mismatch");
    }
}

TEST_CASE("session file: huge lengths fail without allocating", "[session_file]") {
    TempDir dir;
    mola::Model m = load(kV3);
    mola::Session a(m);
    a.append({4, 5, 6});
    a.set_metadata("meta");
    const fs::path file = dir.path / "h.mola", bad = dir.path / "huge.mola";
    a.save(file.string());
    const std::vector<uint8_t> f = read_bytes(file);
    for (size_t s : section_offsets(f))
        for (uint64_t len : {uint64_t(1) << 40, ~uint64_t(0), uint64_t(1) << 62}) {
            std::vector<uint8_t> g = f;
            std::memcpy(g.data() + s + 4, &len, 8);
            write_bytes(bad, g);
            INFO("section at " << s << " length " << len);
            check_load_fails(m, bad, MOLA_ERR_BAD_FORMAT, "claims");
        }

    // Behind a valid checksum: a header claiming 2^40 or 2^62 tokens (2^62 x 4 wraps to 0),
    // a huge n_ctx, and a bad token id.
    const std::vector<size_t> sections = section_offsets(f);
    const size_t head = sections[0] + 12;
    {
        std::vector<uint8_t> g = f;
        fix_crc(g);
        write_bytes(bad, g);
        CHECK(mola::Session::load(m, bad.string()).n_tokens() == 3);  // fix_crc is right
    }
    for (uint64_t n : {uint64_t(1) << 40, uint64_t(1) << 62}) {
        std::vector<uint8_t> g = f;
        std::memcpy(g.data() + head + 48, &n, 8);
        fix_crc(g);
        write_bytes(bad, g);
        check_load_fails(m, bad, MOLA_ERR_BAD_FORMAT, "tokens, more than n_ctx");
    }
    {
        std::vector<uint8_t> g = f;
        const uint64_t n_ctx = uint64_t(1) << 50;
        std::memcpy(g.data() + head + 40, &n_ctx, 8);
        fix_crc(g);
        write_bytes(bad, g);
        check_load_fails(m, bad, MOLA_ERR_INVALID_ARG, "max_position_embeddings");
    }
    {
        std::vector<uint8_t> g = f;
        const int32_t token = -5;
        std::memcpy(g.data() + sections[1] + 12, &token, 4);
        fix_crc(g);
        write_bytes(bad, g);
        check_load_fails(m, bad, MOLA_ERR_BAD_FORMAT, "outside the vocabulary");
    }
}

// The version-1 layout of a version-2 file: no META section, version 1, the
// checksum recomputed.
std::vector<uint8_t> as_version_1(const std::vector<uint8_t>& f) {
    const std::vector<size_t> sections = section_offsets(f);
    REQUIRE(sections.size() == 7);
    std::vector<uint8_t> g(f.begin(), f.begin() + std::ptrdiff_t(sections[5]));
    g.insert(g.end(), f.begin() + std::ptrdiff_t(sections[6]), f.end());
    g[8] = 1;
    fix_crc(g);
    return g;
}

TEST_CASE("session file: metadata is saved, loaded and forked; version-1 files still load", "[session_file]") {
    TempDir dir;
    mola::Model m = load(kV3);
    mola::Session a(m, 64);
    CHECK(a.metadata().empty());
    a.append(some_tokens(11, n_vocab(m), 3));
    std::string meta = "{\"messages\": []}";
    meta += std::string(1, '\0') + "binary \xff bytes";
    a.set_metadata(meta);
    CHECK(a.metadata() == meta);
    CHECK(a.fork().metadata() == meta);

    const fs::path file = dir.path / "m.mola";
    a.save(file.string());
    mola::Session b = mola::Session::load(m, file.string());
    CHECK(b.metadata() == meta);
    CHECK(same_bits(b.logits(), a.logits()));
    // The child's metadata is its own copy.
    mola::Session c = b.fork();
    c.set_metadata("child");
    CHECK(b.metadata() == meta);
    CHECK(c.metadata() == "child");

    // Cleared metadata: an empty META section.
    b.set_metadata("");
    b.save(file.string());
    CHECK(mola::Session::load(m, file.string()).metadata().empty());

    // A version-1 file (no META section) loads with empty metadata and the same state.
    a.save(file.string());
    const fs::path v1 = dir.path / "v1.mola";
    write_bytes(v1, as_version_1(read_bytes(file)));
    mola::Session old = mola::Session::load(m, v1.string());
    CHECK(old.metadata().empty());
    CHECK(old.tokens() == a.tokens());
    CHECK(same_bits(old.logits(), a.logits()));
    // ... but a version-2 file must have it: version 2 on the version-1 layout fails.
    std::vector<uint8_t> g = as_version_1(read_bytes(file));
    g[8] = 2;
    fix_crc(g);
    write_bytes(v1, g);
    check_load_fails(m, v1, MOLA_ERR_BAD_FORMAT, "\"CRC \" at byte");
}

TEST_CASE("session file: metadata past the limit fails clearly, in memory and in a file", "[session_file]") {
    TempDir dir;
    mola::Model m = load(kV3);
    mola::Session a(m, 64);
    a.set_metadata("kept");
    const std::string big(MOLA_SESSION_METADATA_MAX_BYTES + 1, 'x');
    CHECK(mola_session_set_metadata(a.get(), big.data(), big.size()) == MOLA_ERR_INVALID_ARG);
    CHECK(last_error().find("exceeds the limit") != std::string::npos);
    CHECK(a.metadata() == "kept");
    CHECK(mola_session_set_metadata(a.get(), nullptr, 3) == MOLA_ERR_INVALID_ARG);
    CHECK(mola_session_set_metadata(a.get(), nullptr, 0) == MOLA_OK);
    CHECK(a.metadata().empty());
    const void* data = nullptr;
    size_t n = 1;
    CHECK(mola_session_get_metadata(nullptr, &data, &n) == MOLA_ERR_INVALID_ARG);
    CHECK(mola_session_get_metadata(a.get(), nullptr, &n) == MOLA_ERR_INVALID_ARG);
    CHECK(mola_session_set_metadata(nullptr, "x", 1) == MOLA_ERR_INVALID_ARG);

    // A file whose META section claims more than the limit, within the file and
    // behind a valid checksum.
    const std::string at_limit(MOLA_SESSION_METADATA_MAX_BYTES, 'y');
    a.set_metadata(at_limit);
    a.append({1, 2});
    const fs::path file = dir.path / "big.mola", bad = dir.path / "bad.mola";
    a.save(file.string());
    CHECK(mola::Session::load(m, file.string()).metadata() == at_limit);
    std::vector<uint8_t> f = read_bytes(file);
    const std::vector<size_t> sections = section_offsets(f);
    REQUIRE(sections.size() == 7);
    // Move one byte of padding into META: the file grows by one byte.
    f.insert(f.begin() + std::ptrdiff_t(sections[6]), uint8_t('y'));
    const uint64_t len = MOLA_SESSION_METADATA_MAX_BYTES + 1;
    std::memcpy(f.data() + sections[5] + 4, &len, 8);
    fix_crc(f);
    write_bytes(bad, f);
    check_load_fails(m, bad, MOLA_ERR_BAD_FORMAT, "the META section holds");
}

TEST_CASE("session file: save and load time of a 2K-token session", "[session_file][.bench]") {
    TempDir dir;
    for (mola_kv_dtype dtype : {MOLA_KV_F32, MOLA_KV_BF16, MOLA_KV_FP8_E4M3}) {
        mola::Model m = load(kBundled, dtype);
        mola::Session a(m, 2048);
        a.append(some_tokens(2048, n_vocab(m), 3));
        const fs::path file = dir.path / "big.mola";
        const auto t0 = std::chrono::steady_clock::now();
        a.save(file.string());
        const auto t1 = std::chrono::steady_clock::now();
        mola::Session b = mola::Session::load(m, file.string());
        const auto t2 = std::chrono::steady_clock::now();
        CHECK(same_bits(a.logits(), b.logits()));
        using ms = std::chrono::duration<double, std::milli>;
        const double save_ms = ms(t1 - t0).count(), load_ms = ms(t2 - t1).count();
        WARN(m.info().kv_cache_dtype << ": " << fs::file_size(file) << " bytes for 2048 tokens, save " << save_ms
                      << " ms, load " << load_ms << " ms");
    }
}

TEST_CASE("a sampler saved with the session draws on exactly as the original would have", "[session_file]") {
    const mola::Model model = load(kV3);
    const int32_t vocab = n_vocab(model);
    TempDir dir;
    mola::Session session(model, 64);
    session.append(golden::some_tokens(9, vocab, 5));
    mola::SamplerParams sp;
    sp.temperature = 1.3f;
    sp.top_k = 0;
    sp.top_p = 0.9f;
    sp.min_p = 0.01f;
    sp.repeat_penalty = 1.1f;
    sp.seed = 77;
    sp.logit_bias = {{3, -INFINITY}, {5, 2.5f}};
    mola::Sampler sampler(sp, size_t(vocab));
    for (int i = 0; i < 3; ++i) session.decode(sampler.sample(session));  // the draws move on from the seed

    const std::string path = (dir.path / "with_sampler.mola").string();
    session.save(path, sampler);
    std::unique_ptr<mola::Sampler> restored;
    mola::Session loaded = mola::Session::load(model, path, mola::SessionParams{}, &restored);
    REQUIRE(restored);
    std::vector<int32_t> original, resumed;
    for (int i = 0; i < 8; ++i) {
        original.push_back(sampler.sample(session));
        session.decode(original.back());
        resumed.push_back(restored->sample(loaded));
        loaded.decode(resumed.back());
    }
    CHECK(resumed == original);
    CHECK(std::find(original.begin(), original.end(), 3) == original.end());

    // A file saved without a sampler gives none back; the plain load ignores a saved one.
    const std::string plain = (dir.path / "without_sampler.mola").string();
    session.save(plain);
    mola::Session::load(model, plain, mola::SessionParams{}, &restored);
    CHECK_FALSE(restored);
    CHECK(mola::Session::load(model, path).n_tokens() == session.n_tokens() - 8);

    // A sampler made for another vocabulary is refused before anything is written.
    mola::Sampler other(sp, size_t(vocab) + 1);
    const std::string refused = (dir.path / "refused.mola").string();
    CHECK_THROWS_WITH(session.save(refused, other), Catch::Contains("the sampler was made for"));
    CHECK_FALSE(fs::exists(refused));
}
