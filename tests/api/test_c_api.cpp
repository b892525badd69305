// test_c_api.cpp: the contract of the C ABI in mola.h (versions, status strings,
// argument checks, struct_size versioning, progress and cancellation, model info,
// session state rules, handle lifetimes, the per-thread error), the C++ facade's
// exceptions, a pure-C compile of the header, and the CLI's logits against golden.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/wait.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "mola/mola.h"
#include "mola/mola.hpp"

extern "C" int mola_c_header_check(void);  // api/c_header_check.c, compiled as C99

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kData = MOLA_TEST_DATA;
const std::string kV3 = (kData / "v3").string();

std::string status_name(mola_status s) { return mola_status_string(s); }
std::string last_error() { return mola_last_error(); }

json read_json(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    return json::parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
}

// A loaded model owned by the test (C handles, so the C functions are what is tested).
struct ModelHandle {
    mola_model* model = nullptr;
    explicit ModelHandle(const std::string& path = kV3, mola_kv_dtype kv_dtype = MOLA_KV_BF16) {
        mola_model_params p;
        mola_model_params_default(&p);
        p.n_threads = 1;
        p.kv_cache_dtype = kv_dtype;
        const mola_status s = mola_model_load(path.c_str(), &p, &model);
        INFO(last_error());
        REQUIRE(status_name(s) == "MOLA_OK");
        REQUIRE(model != nullptr);
    }
    ~ModelHandle() { mola_model_destroy(model); }
    ModelHandle(const ModelHandle&) = delete;
    ModelHandle& operator=(const ModelHandle&) = delete;
    mola_model_info info() const {
        mola_model_info i;
        std::memset(&i, 0, sizeof i);
        i.struct_size = sizeof i;
        REQUIRE(mola_model_get_info(model, &i) == MOLA_OK);
        return i;
    }
};

struct SessionHandle {
    mola_session* session = nullptr;
    SessionHandle(mola_model* model, int n_ctx, int n_batch = 0) {
        mola_session_params p;
        mola_session_params_default(&p);
        p.n_ctx = n_ctx;
        p.n_batch = n_batch;
        const mola_status s = mola_session_create(model, &p, &session);
        INFO(last_error());
        REQUIRE(status_name(s) == "MOLA_OK");
        REQUIRE(session != nullptr);
    }
    ~SessionHandle() { mola_session_destroy(session); }
    SessionHandle(const SessionHandle&) = delete;
    SessionHandle& operator=(const SessionHandle&) = delete;
    size_t n_tokens() const {
        size_t n = 12345;
        REQUIRE(mola_session_get_n_tokens(session, &n) == MOLA_OK);
        return n;
    }
    std::vector<int32_t> tokens() const {
        std::vector<int32_t> out(n_tokens() + 1);
        size_t n = 0;
        REQUIRE(mola_session_get_tokens(session, out.data(), out.size(), &n) == MOLA_OK);
        out.resize(n);
        return out;
    }
    std::vector<float> logits() const {
        const float* p = nullptr;
        size_t n = 0;
        const mola_status s = mola_session_get_logits(session, &p, &n);
        INFO(last_error());
        REQUIRE(status_name(s) == "MOLA_OK");
        REQUIRE(p != nullptr);
        return std::vector<float>(p, p + n);
    }
    void append(const std::vector<int32_t>& tokens) {
        const mola_status s = mola_session_append(session, tokens.data(), tokens.size());
        INFO(last_error());
        REQUIRE(status_name(s) == "MOLA_OK");
    }
};

double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double d = double(got[i]) - double(want[i]);
        num += d * d;
        den += double(want[i]) * double(want[i]);
    }
    return std::sqrt(num / (den > 0 ? den : 1.0));
}

bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

// Checks a failure's status and that the message names the function or problem.
void expect_status(mola_status got, mola_status want, const std::string& needle = "") {
    const std::string message = last_error();
    INFO("mola_last_error(): " << message);
    CHECK(status_name(got) == status_name(want));
    if (want != MOLA_OK) {
        CHECK_FALSE(message.empty());
        if (!needle.empty()) {
            INFO("expected the message to contain: " << needle);
            CHECK(message.find(needle) != std::string::npos);
        }
    }
}

// A float32 .npy file (version 1, C order): returns the data and the shape.
std::vector<float> read_npy(const fs::path& path, std::vector<size_t>* shape) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(bytes.size() >= 10);
    REQUIRE(bytes.compare(0, 6, "\x93NUMPY") == 0);
    size_t header_len = 0, offset = 0;
    if (bytes[6] == 1) {
        header_len = size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8;
        offset = 10;
    } else {
        REQUIRE(bytes.size() >= 12);
        for (int i = 3; i >= 0; --i) header_len = header_len << 8 | size_t(uint8_t(bytes[size_t(8 + i)]));
        offset = 12;
    }
    REQUIRE(bytes.size() >= offset + header_len);
    const std::string header = bytes.substr(offset, header_len);
    INFO("npy header: " << header);
    REQUIRE(header.find("'<f4'") != std::string::npos);
    REQUIRE(header.find("'fortran_order': False") != std::string::npos);
    const size_t open = header.find('(', header.find("'shape'")), close = header.find(')', open);
    REQUIRE(open != std::string::npos);
    REQUIRE(close != std::string::npos);
    shape->clear();
    std::string dims = header.substr(open + 1, close - open - 1);
    for (char& c : dims)
        if (c == ',') c = ' ';
    size_t numel = 1;
    for (size_t pos = 0; pos < dims.size();) {
        while (pos < dims.size() && dims[pos] == ' ') ++pos;
        if (pos == dims.size()) break;
        size_t used = 0;
        const size_t d = std::stoul(dims.substr(pos), &used);
        shape->push_back(d);
        numel *= d;
        pos += used;
    }
    const size_t data = offset + header_len;
    REQUIRE(bytes.size() == data + numel * sizeof(float));
    std::vector<float> out(numel);
    std::memcpy(out.data(), bytes.data() + data, numel * sizeof(float));
    return out;
}

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "mola_c_api_XXXXXX").string();
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
        path = buf.data();
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

struct ProgressLog {
    std::vector<float> values;
    int cancel_at_call = -1;  // return non-zero on this call (0-based); -1: never
    static int callback(void* user, float progress) {
        auto* self = static_cast<ProgressLog*>(user);
        self->values.push_back(progress);
        return int(self->values.size()) - 1 == self->cancel_at_call ? 1 : 0;
    }
};

}  // namespace

// ------------------------------------------------------------------ version, strings

TEST_CASE("the library version matches the header", "[c_api][version]") {
    CHECK(mola_version() == uint32_t(MOLA_VERSION_NUMBER));
    CHECK(uint32_t(MOLA_VERSION_NUMBER) ==
          uint32_t(MOLA_VERSION_MAJOR * 1000000 + MOLA_VERSION_MINOR * 1000 + MOLA_VERSION_PATCH));
    REQUIRE(mola_version_string() != nullptr);
    CHECK(std::string(mola_version_string()) == MOLA_VERSION_STRING);
    CHECK(std::string(MOLA_VERSION_STRING) == std::to_string(MOLA_VERSION_MAJOR) + "." +
                                                  std::to_string(MOLA_VERSION_MINOR) + "." +
                                                  std::to_string(MOLA_VERSION_PATCH));
    CHECK(mola::version() == MOLA_VERSION_STRING);
    CHECK(MOLA_ABI_VERSION == 0);
}

TEST_CASE("mola_build_info is a non-empty static line", "[c_api][version]") {
    const char* info = mola_build_info();
    REQUIRE(info != nullptr);
    const std::string text = info;
    CHECK_FALSE(text.empty());
    CHECK(text.find(MOLA_VERSION_STRING) != std::string::npos);
    CHECK(text.find('\n') == std::string::npos);
    CHECK(mola_build_info() == info);  // static: the same pointer each call
    CHECK(mola::build_info() == text);
}

TEST_CASE("mola_status_string names every status", "[c_api][status]") {
    const std::vector<std::pair<mola_status, std::string>> names = {
        {MOLA_OK, "MOLA_OK"},
        {MOLA_ERR_INVALID_ARG, "MOLA_ERR_INVALID_ARG"},
        {MOLA_ERR_MISUSE, "MOLA_ERR_MISUSE"},
        {MOLA_ERR_OUT_OF_MEMORY, "MOLA_ERR_OUT_OF_MEMORY"},
        {MOLA_ERR_IO, "MOLA_ERR_IO"},
        {MOLA_ERR_BAD_FORMAT, "MOLA_ERR_BAD_FORMAT"},
        {MOLA_ERR_UNSUPPORTED, "MOLA_ERR_UNSUPPORTED"},
        {MOLA_ERR_BACKEND, "MOLA_ERR_BACKEND"},
        {MOLA_ERR_CANCELLED, "MOLA_ERR_CANCELLED"},
        {MOLA_ERR_CONTEXT_FULL, "MOLA_ERR_CONTEXT_FULL"},
        {MOLA_ERR_BUFFER_TOO_SMALL, "MOLA_ERR_BUFFER_TOO_SMALL"},
        {MOLA_ERR_INTERNAL, "MOLA_ERR_INTERNAL"},
        {MOLA_ERR_CACHE_FULL, "MOLA_ERR_CACHE_FULL"},
    };
    std::set<std::string> seen;
    for (const auto& [status, name] : names) {
        const char* s = mola_status_string(status);
        REQUIRE(s != nullptr);
        CHECK(std::string(s) == name);
        CHECK(mola_status_string(status) == s);  // static
        seen.insert(s);
    }
    CHECK(seen.size() == names.size());
    CHECK(int(MOLA_ERR_INTERNAL) == 11);  // codes are ABI: never renumbered
    CHECK(int(MOLA_ERR_CACHE_FULL) == 12);
    // Values the header does not define still get a string.
    for (int bogus : {13, 99, -1, 0x7FFFFFFF}) {
        const char* s = mola_status_string(static_cast<mola_status>(bogus));
        REQUIRE(s != nullptr);
        CHECK_FALSE(std::string(s).empty());
        CHECK(seen.count(s) == 0);
    }
}

TEST_CASE("the C header compiles as C99 and works from C", "[c_api][c]") {
    const int result = mola_c_header_check();
    INFO("mola_c_header_check() returned " << result << "; mola_last_error(): " << last_error());
    CHECK(result == 0);
}

// ------------------------------------------------------------------ argument checks

TEST_CASE("NULL handles and pointers give MOLA_ERR_INVALID_ARG with a message", "[c_api][null]") {
    ModelHandle m;
    SessionHandle s(m.model, 16);
    const int32_t token = 1;
    float buffer[4096];
    const float* logits = nullptr;
    size_t n = 0;
    mola_model_info info;
    std::memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;

    SECTION("mola_model_load") {
        mola_model* out = reinterpret_cast<mola_model*>(uintptr_t(8));
        expect_status(mola_model_load(nullptr, nullptr, &out), MOLA_ERR_INVALID_ARG, "mola_model_load");
        CHECK(out == nullptr);
        expect_status(mola_model_load(kV3.c_str(), nullptr, nullptr), MOLA_ERR_INVALID_ARG, "mola_model_load");
        expect_status(mola_model_load(nullptr, nullptr, nullptr), MOLA_ERR_INVALID_ARG, "mola_model_load");
    }
    SECTION("mola_model_get_info") {
        expect_status(mola_model_get_info(nullptr, &info), MOLA_ERR_INVALID_ARG, "mola_model_get_info");
        expect_status(mola_model_get_info(m.model, nullptr), MOLA_ERR_INVALID_ARG, "mola_model_get_info");
    }
    SECTION("mola_session_create") {
        mola_session* out = reinterpret_cast<mola_session*>(uintptr_t(8));
        expect_status(mola_session_create(nullptr, nullptr, &out), MOLA_ERR_INVALID_ARG, "mola_session_create");
        CHECK(out == nullptr);
        expect_status(mola_session_create(m.model, nullptr, nullptr), MOLA_ERR_INVALID_ARG, "mola_session_create");
    }
    SECTION("mola_session_append") {
        expect_status(mola_session_append(nullptr, &token, 1), MOLA_ERR_INVALID_ARG, "mola_session_append");
        expect_status(mola_session_append(s.session, nullptr, 1), MOLA_ERR_INVALID_ARG, "mola_session_append");
        expect_status(mola_session_append(s.session, &token, 0), MOLA_ERR_INVALID_ARG);
        CHECK(s.n_tokens() == 0);
    }
    SECTION("mola_session_append_all_logits") {
        expect_status(mola_session_append_all_logits(nullptr, &token, 1, buffer, 4096), MOLA_ERR_INVALID_ARG,
                      "mola_session_append_all_logits");
        expect_status(mola_session_append_all_logits(s.session, nullptr, 1, buffer, 4096), MOLA_ERR_INVALID_ARG,
                      "mola_session_append_all_logits");
        // A NULL output buffer is a buffer too small for anything.
        expect_status(mola_session_append_all_logits(s.session, &token, 1, nullptr, 4096),
                      MOLA_ERR_BUFFER_TOO_SMALL, "mola_session_append_all_logits");
        CHECK(s.n_tokens() == 0);
    }
    SECTION("mola_session_decode") {
        expect_status(mola_session_decode(nullptr, token), MOLA_ERR_INVALID_ARG, "mola_session_decode");
    }
    SECTION("mola_session_get_logits") {
        logits = buffer;
        expect_status(mola_session_get_logits(nullptr, &logits, &n), MOLA_ERR_INVALID_ARG, "mola_session_get_logits");
        CHECK(logits == nullptr);
        expect_status(mola_session_get_logits(s.session, nullptr, &n), MOLA_ERR_INVALID_ARG,
                      "mola_session_get_logits");
    }
    SECTION("mola_session_rewind") {
        expect_status(mola_session_rewind(nullptr, 0), MOLA_ERR_INVALID_ARG, "mola_session_rewind");
    }
    SECTION("mola_session_get_n_tokens") {
        expect_status(mola_session_get_n_tokens(nullptr, &n), MOLA_ERR_INVALID_ARG, "mola_session_get_n_tokens");
        expect_status(mola_session_get_n_tokens(s.session, nullptr), MOLA_ERR_INVALID_ARG,
                      "mola_session_get_n_tokens");
    }
    SECTION("mola_session_get_n_ctx") {
        expect_status(mola_session_get_n_ctx(nullptr, &n), MOLA_ERR_INVALID_ARG, "mola_session_get_n_ctx");
        expect_status(mola_session_get_n_ctx(s.session, nullptr), MOLA_ERR_INVALID_ARG, "mola_session_get_n_ctx");
    }
    SECTION("mola_session_get_tokens") {
        int32_t out[4];
        expect_status(mola_session_get_tokens(nullptr, out, 4, &n), MOLA_ERR_INVALID_ARG, "mola_session_get_tokens");
        expect_status(mola_session_get_tokens(s.session, out, 4, nullptr), MOLA_ERR_INVALID_ARG,
                      "mola_session_get_tokens");
    }
    SECTION("destroy(NULL) and default(NULL) are no-ops") {
        mola_model_destroy(nullptr);
        mola_session_destroy(nullptr);
        mola_model_params_default(nullptr);
        mola_session_params_default(nullptr);
        SUCCEED();
    }
    SECTION("a success clears the last error") {
        expect_status(mola_session_decode(nullptr, token), MOLA_ERR_INVALID_ARG, "mola_session_decode");
        REQUIRE(mola_session_get_n_ctx(s.session, &n) == MOLA_OK);
        CHECK(last_error().empty());
        CHECK(n == 16);
    }
}

TEST_CASE("params structs: struct_size from the defaults, checked, and older sizes accepted", "[c_api][params]") {
    SECTION("the default getters set struct_size and sane defaults") {
        mola_model_params mp;
        std::memset(&mp, 0xAB, sizeof mp);
        mola_model_params_default(&mp);
        CHECK(mp.struct_size == sizeof(mola_model_params));
        CHECK(mp.n_threads == 0);
        CHECK(mp.progress == nullptr);
        CHECK(mp.progress_user_data == nullptr);
        CHECK(mp.mla_mode == MOLA_MLA_AUTO);
        CHECK(mp.backend == nullptr);
        CHECK(mp.kv_cache_dtype == MOLA_KV_BF16);
        CHECK(mp.kv_block_tokens == 0);
        CHECK(mp.kv_cache_budget_bytes == 0);
        mola_session_params sp;
        std::memset(&sp, 0xAB, sizeof sp);
        mola_session_params_default(&sp);
        CHECK(sp.struct_size == sizeof(mola_session_params));
        CHECK(sp.n_ctx == 0);
        CHECK(sp.n_batch == 0);
    }
    SECTION("struct_size 0 is INVALID_ARG") {
        mola_model_params mp;
        mola_model_params_default(&mp);
        mp.struct_size = 0;
        mola_model* model = reinterpret_cast<mola_model*>(uintptr_t(8));
        expect_status(mola_model_load(kV3.c_str(), &mp, &model), MOLA_ERR_INVALID_ARG, "struct_size");
        CHECK(model == nullptr);

        ModelHandle m;
        mola_session_params sp;
        mola_session_params_default(&sp);
        sp.struct_size = 0;
        mola_session* session = reinterpret_cast<mola_session*>(uintptr_t(8));
        expect_status(mola_session_create(m.model, &sp, &session), MOLA_ERR_INVALID_ARG, "struct_size");
        CHECK(session == nullptr);

        mola_model_info info;
        std::memset(&info, 0, sizeof info);
        info.struct_size = 0;
        expect_status(mola_model_get_info(m.model, &info), MOLA_ERR_INVALID_ARG, "struct_size");
    }
    SECTION("an absurd struct_size is INVALID_ARG") {
        mola_model_params mp;
        mola_model_params_default(&mp);
        mp.struct_size = 0xFFFFFFFFu;
        mola_model* model = nullptr;
        expect_status(mola_model_load(kV3.c_str(), &mp, &model), MOLA_ERR_INVALID_ARG, "struct_size");
        CHECK(model == nullptr);
    }
    SECTION("params may be NULL for defaults") {
        mola_model* model = nullptr;
        REQUIRE(mola_model_load(kV3.c_str(), nullptr, &model) == MOLA_OK);
        mola_session* session = nullptr;
        REQUIRE(mola_session_create(model, nullptr, &session) == MOLA_OK);
        size_t n_ctx = 0;
        REQUIRE(mola_session_get_n_ctx(session, &n_ctx) == MOLA_OK);
        CHECK(n_ctx == 4096);  // min(4096, max_position_embeddings)
        mola_session_destroy(session);
        mola_model_destroy(model);
    }
    SECTION("an older (smaller) mola_model_params: fields past struct_size are not read") {
        mola_model_params mp;
        mola_model_params_default(&mp);
        mp.mla_mode = 12345;       // invalid, but beyond the old struct_size
        mp.backend = "no-such-backend";
        mp.struct_size = uint32_t(offsetof(mola_model_params, mla_mode));
        mola_model* model = nullptr;
        const mola_status s = mola_model_load(kV3.c_str(), &mp, &model);
        INFO(last_error());
        CHECK(s == MOLA_OK);
        mola_model_destroy(model);

        // The same fields inside struct_size are read and rejected.
        mp.struct_size = sizeof mp;
        expect_status(mola_model_load(kV3.c_str(), &mp, &model), MOLA_ERR_INVALID_ARG, "mla_mode");
        mp.mla_mode = MOLA_MLA_AUTO;
        expect_status(mola_model_load(kV3.c_str(), &mp, &model), MOLA_ERR_UNSUPPORTED, "no-such-backend");
        CHECK(model == nullptr);
    }
    SECTION("the smallest struct_size (just the size field) means all defaults") {
        mola_model_params mp;
        std::memset(&mp, 0xFF, sizeof mp);  // garbage everywhere but struct_size
        mp.struct_size = sizeof(uint32_t);
        mola_model* model = nullptr;
        const mola_status s = mola_model_load(kV3.c_str(), &mp, &model);
        INFO(last_error());
        CHECK(s == MOLA_OK);
        mola_model_destroy(model);
    }
    SECTION("an older (smaller) mola_session_params") {
        ModelHandle m;
        mola_session_params sp;
        mola_session_params_default(&sp);
        sp.n_ctx = 8;
        sp.n_batch = -5;  // invalid, but beyond the old struct_size
        sp.struct_size = uint32_t(offsetof(mola_session_params, n_batch));
        mola_session* session = nullptr;
        const mola_status s = mola_session_create(m.model, &sp, &session);
        INFO(last_error());
        REQUIRE(s == MOLA_OK);
        size_t n_ctx = 0;
        REQUIRE(mola_session_get_n_ctx(session, &n_ctx) == MOLA_OK);
        CHECK(n_ctx == 8);
        mola_session_destroy(session);

        sp.struct_size = sizeof sp;
        expect_status(mola_session_create(m.model, &sp, &session), MOLA_ERR_INVALID_ARG, "n_batch");
        CHECK(session == nullptr);
    }
    SECTION("an older (smaller) mola_model_info is filled only up to its struct_size") {
        ModelHandle m;
        const mola_model_info full = m.info();
        mola_model_info info;
        std::memset(&info, 0xCD, sizeof info);
        const uint32_t old_size = uint32_t(offsetof(mola_model_info, n_params));
        info.struct_size = old_size;
        REQUIRE(mola_model_get_info(m.model, &info) == MOLA_OK);
        CHECK(info.struct_size == old_size);
        CHECK(info.n_vocab == full.n_vocab);
        CHECK(info.n_mtp_layers == full.n_mtp_layers);
        CHECK(info.eos_token_id == full.eos_token_id);
        const unsigned char* tail = reinterpret_cast<const unsigned char*>(&info) + old_size;
        bool untouched = true;
        for (size_t i = old_size; i < sizeof info; ++i) untouched &= tail[i - old_size] == 0xCD;
        CHECK(untouched);
    }
    SECTION("a newer (larger) mola_model_info gets the size the library knows") {
        ModelHandle m;
        struct Bigger {
            mola_model_info info;
            unsigned char future[64];
        } big;
        std::memset(&big, 0xCD, sizeof big);
        big.info.struct_size = sizeof big;
        REQUIRE(mola_model_get_info(m.model, &big.info) == MOLA_OK);
        CHECK(big.info.struct_size == sizeof(mola_model_info));
        bool untouched = true;
        for (unsigned char c : big.future) untouched &= c == 0xCD;
        CHECK(untouched);
        CHECK(big.info.n_vocab == m.info().n_vocab);
    }
}

// ------------------------------------------------------------------ progress

TEST_CASE("the progress callback rises to 1.0 and can cancel", "[c_api][progress]") {
    for (const char* name : {"v3", "v2"}) {  // a single file and a sharded checkpoint
        const std::string path = (kData / name).string();
        INFO("model " << name);
        ProgressLog log;
        mola_model_params p;
        mola_model_params_default(&p);
        p.progress = &ProgressLog::callback;
        p.progress_user_data = &log;
        mola_model* model = nullptr;
        REQUIRE(mola_model_load(path.c_str(), &p, &model) == MOLA_OK);
        mola_model_destroy(model);
        REQUIRE(log.values.size() >= 2);
        CHECK(log.values.front() >= 0.0f);
        for (size_t i = 1; i < log.values.size(); ++i) {
            INFO("call " << i << ": " << log.values[i - 1] << " then " << log.values[i]);
            CHECK(log.values[i] > log.values[i - 1]);
        }
        CHECK(log.values.back() == 1.0f);
        const size_t n_calls = log.values.size();

        // Cancelling at each call in turn, the first and the last included.
        for (int at = 0; at < int(n_calls); ++at) {
            INFO("cancel on call " << at);
            ProgressLog cancel;
            cancel.cancel_at_call = at;
            p.progress_user_data = &cancel;
            model = reinterpret_cast<mola_model*>(uintptr_t(8));
            expect_status(mola_model_load(path.c_str(), &p, &model), MOLA_ERR_CANCELLED, path);
            CHECK(model == nullptr);
            CHECK(cancel.values.size() == size_t(at) + 1);  // no calls after the cancel
        }
    }
}

// ------------------------------------------------------------------ model info

TEST_CASE("mola_model_get_info agrees with tests/data/v3/config.json", "[c_api][info]") {
    const json config = read_json(kData / "v3" / "config.json");
    ModelHandle m;
    const mola_model_info i = m.info();
    CHECK(i.struct_size == sizeof(mola_model_info));
    REQUIRE(i.architecture != nullptr);
    REQUIRE(i.variant != nullptr);
    REQUIRE(i.weight_dtypes != nullptr);
    REQUIRE(i.backend != nullptr);
    CHECK(std::string(i.architecture) == config["model_type"].get<std::string>());
    CHECK(std::string(i.variant).find("V3") != std::string::npos);
    CHECK(std::string(i.weight_dtypes).find("BF16") != std::string::npos);
    CHECK(std::string(i.weight_dtypes).find("F32") != std::string::npos);  // the routing bias
    CHECK(std::string(i.backend).find("cpu") != std::string::npos);
    CHECK(i.n_vocab == config["vocab_size"].get<int>());
    CHECK(i.n_embd == config["hidden_size"].get<int>());
    CHECK(i.n_layer == config["num_hidden_layers"].get<int>());
    CHECK(i.n_head == config["num_attention_heads"].get<int>());
    CHECK(i.n_ctx_train == config["max_position_embeddings"].get<int>());
    CHECK(i.n_routed_experts == config["n_routed_experts"].get<int>());
    CHECK(i.n_experts_per_token == config["num_experts_per_tok"].get<int>());
    CHECK(i.n_shared_experts == config["n_shared_experts"].get<int>());
    CHECK(i.kv_lora_rank == config["kv_lora_rank"].get<int>());
    CHECK(i.qk_rope_head_dim == config["qk_rope_head_dim"].get<int>());
    CHECK(i.n_mtp_layers == config["num_nextn_predict_layers"].get<int>());
    CHECK(i.n_mtp_layers == 1);
    CHECK(i.bos_token_id == config["bos_token_id"].get<int>());
    CHECK(i.eos_token_id == config["eos_token_id"].get<int>());

    // Parameter and byte counts from the safetensors header (MTP layer excluded).
    std::ifstream in(kData / "v3" / "model.safetensors", std::ios::binary);
    unsigned char len[8];
    in.read(reinterpret_cast<char*>(len), 8);
    uint64_t header_len = 0;
    for (int b = 7; b >= 0; --b) header_len = header_len << 8 | len[b];
    std::string text(header_len, '\0');
    in.read(&text[0], std::streamsize(header_len));
    const json header = json::parse(text);
    const int n_layer = config["num_hidden_layers"].get<int>();
    uint64_t n_params = 0, bytes = 0;
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") continue;
        int layer = -1;
        if (std::sscanf(it.key().c_str(), "model.layers.%d.", &layer) == 1 && layer >= n_layer) continue;
        uint64_t numel = 1;
        for (const auto& d : it.value()["shape"]) numel *= d.get<uint64_t>();
        n_params += numel;
        bytes += it.value()["data_offsets"][1].get<uint64_t>() - it.value()["data_offsets"][0].get<uint64_t>();
    }
    CHECK(i.n_params == n_params);
    CHECK(i.weight_bytes == bytes);
    const int64_t D = config["hidden_size"], E = config["n_routed_experts"], k = config["num_experts_per_tok"],
                  F = config["moe_intermediate_size"], first_dense = config["first_k_dense_replace"];
    const int64_t n_moe_layers = n_layer - first_dense;  // moe_layer_freq 1
    CHECK(i.n_params_active == n_params - uint64_t(n_moe_layers * (E - k) * 3 * F * D));
    CHECK(i.n_params_active < i.n_params);
    // The latent cache: (kv_lora_rank + qk_rope_head_dim) values per layer per token,
    // BF16 by default; FP8 stores the latent in one byte plus a float scale and
    // keeps the rope key in BF16.
    const uint64_t values = uint64_t(n_layer) * uint64_t(i.kv_lora_rank + i.qk_rope_head_dim);
    CHECK(i.kv_bytes_per_token == 2 * values);
    REQUIRE(i.kv_cache_dtype != nullptr);
    CHECK(std::string(i.kv_cache_dtype) == "bf16");
    CHECK(i.kv_bytes_per_token_bf16 == 2 * values);
    CHECK(i.kv_bytes_per_token_f32 == 4 * values);
    CHECK(i.kv_bytes_per_token_fp8 ==
          uint64_t(n_layer) * uint64_t(i.kv_lora_rank + 2 * i.qk_rope_head_dim + 4));
    CHECK(i.kv_block_tokens == 64);
    CHECK(i.kv_block_bytes == 64 * i.kv_bytes_per_token);  // these sections need no padding
    CHECK(i.kv_cache_budget_bytes >= i.kv_block_bytes);
    CHECK(uint64_t(i.kv_cache_blocks) == std::min<uint64_t>(i.kv_cache_budget_bytes / i.kv_block_bytes, INT32_MAX));
    CHECK(i.decode_bytes_per_token > 0);
    CHECK(i.decode_bytes_per_token < i.weight_bytes);

    // The C++ facade reports the same.
    mola::Model model(kV3);
    const mola_model_info j = model.info();
    CHECK(j.n_params == i.n_params);
    CHECK(std::string(j.variant) == i.variant);
}

TEST_CASE("every test model reports its MTP layers and sane info", "[c_api][info]") {
    for (const char* name : {"v2_lite", "v2", "v3", "v3_fp8"}) {
        INFO("model " << name);
        const json config = read_json(kData / name / "config.json");
        ModelHandle m((kData / name).string());
        const mola_model_info i = m.info();
        CHECK(i.n_mtp_layers == config.value("num_nextn_predict_layers", 0));
        CHECK(i.n_layer == config["num_hidden_layers"].get<int>());
        CHECK(i.n_vocab == config["vocab_size"].get<int>());
        CHECK(i.n_params_active <= i.n_params);
        CHECK(std::string(i.architecture) == config["model_type"].get<std::string>());
    }
}

// ------------------------------------------------------------------ sessions

TEST_CASE("session state rules", "[c_api][session]") {
    ModelHandle m;
    const mola_model_info info = m.info();
    const size_t n_vocab = size_t(info.n_vocab);

    SECTION("logits before any append are MOLA_ERR_MISUSE") {
        SessionHandle s(m.model, 16);
        const float* logits = reinterpret_cast<const float*>(uintptr_t(8));
        size_t n = 0;
        expect_status(mola_session_get_logits(s.session, &logits, &n), MOLA_ERR_MISUSE);
        CHECK(logits == nullptr);
        s.append({5});
        CHECK(s.logits().size() == n_vocab);
        // ... and again after a rewind, until the next append.
        REQUIRE(mola_session_rewind(s.session, 1) == MOLA_OK);
        expect_status(mola_session_get_logits(s.session, &logits, &n), MOLA_ERR_MISUSE);
        REQUIRE(mola_session_decode(s.session, 6) == MOLA_OK);
        CHECK(s.logits().size() == n_vocab);
    }
    SECTION("a token id out of range is INVALID_ARG and changes nothing") {
        SessionHandle s(m.model, 16);
        s.append({1, 2, 3});
        const std::vector<float> before = s.logits();
        for (int32_t bad : {-1, int32_t(n_vocab), INT32_MAX, INT32_MIN}) {
            INFO("bad token " << bad);
            const std::vector<int32_t> tokens = {4, bad, 5};
            expect_status(mola_session_append(s.session, tokens.data(), tokens.size()), MOLA_ERR_INVALID_ARG,
                          std::to_string(bad));
            expect_status(mola_session_decode(s.session, bad), MOLA_ERR_INVALID_ARG, std::to_string(bad));
            std::vector<float> all(tokens.size() * n_vocab);
            expect_status(mola_session_append_all_logits(s.session, tokens.data(), tokens.size(), all.data(),
                                                         all.size()),
                          MOLA_ERR_INVALID_ARG, std::to_string(bad));
            CHECK(s.n_tokens() == 3);
            CHECK(s.tokens() == std::vector<int32_t>({1, 2, 3}));
            CHECK(s.logits() == before);
        }
        // Still usable, and the rejected calls left no trace in the cache.
        REQUIRE(mola_session_decode(s.session, 4) == MOLA_OK);
        SessionHandle fresh(m.model, 16);
        fresh.append({1, 2, 3});
        REQUIRE(mola_session_decode(fresh.session, 4) == MOLA_OK);
        CHECK(rel_l2(s.logits(), fresh.logits()) < 1e-5);
    }
    SECTION("a full context is MOLA_ERR_CONTEXT_FULL, changes nothing and the session stays usable") {
        SessionHandle s(m.model, 4);
        s.append({1, 2, 3});
        const std::vector<float> before = s.logits();
        const std::vector<int32_t> two = {4, 5};
        expect_status(mola_session_append(s.session, two.data(), two.size()), MOLA_ERR_CONTEXT_FULL);
        std::vector<float> all(2 * n_vocab);
        expect_status(mola_session_append_all_logits(s.session, two.data(), two.size(), all.data(), all.size()),
                      MOLA_ERR_CONTEXT_FULL);
        CHECK(s.n_tokens() == 3);
        CHECK(s.tokens() == std::vector<int32_t>({1, 2, 3}));
        CHECK(s.logits() == before);

        REQUIRE(mola_session_decode(s.session, 4) == MOLA_OK);
        CHECK(s.n_tokens() == 4);
        const std::vector<float> at4 = s.logits();
        expect_status(mola_session_decode(s.session, 5), MOLA_ERR_CONTEXT_FULL);
        CHECK(s.n_tokens() == 4);
        CHECK(s.logits() == at4);

        // Rewinding frees room; the replayed step gives the same logits.
        REQUIRE(mola_session_rewind(s.session, 3) == MOLA_OK);
        REQUIRE(mola_session_decode(s.session, 4) == MOLA_OK);
        CHECK(rel_l2(s.logits(), at4) < 1e-6);
        CHECK(all_finite(s.logits()));
        // A prompt longer than the whole context never fits.
        REQUIRE(mola_session_rewind(s.session, 0) == MOLA_OK);
        const std::vector<int32_t> five = {1, 2, 3, 4, 5};
        expect_status(mola_session_append(s.session, five.data(), five.size()), MOLA_ERR_CONTEXT_FULL);
        CHECK(s.n_tokens() == 0);
        s.append({1, 2, 3, 4});
        CHECK(s.n_tokens() == 4);
    }
    SECTION("rewind beyond n_tokens is INVALID_ARG") {
        SessionHandle s(m.model, 16);
        expect_status(mola_session_rewind(s.session, 1), MOLA_ERR_INVALID_ARG);
        s.append({1, 2, 3});
        expect_status(mola_session_rewind(s.session, 4), MOLA_ERR_INVALID_ARG);
        expect_status(mola_session_rewind(s.session, SIZE_MAX), MOLA_ERR_INVALID_ARG);
        CHECK(s.n_tokens() == 3);
        CHECK(s.logits().size() == n_vocab);  // a failed rewind keeps the logits
        REQUIRE(mola_session_rewind(s.session, 3) == MOLA_OK);
        CHECK(s.n_tokens() == 3);
        REQUIRE(mola_session_rewind(s.session, 1) == MOLA_OK);
        CHECK(s.tokens() == std::vector<int32_t>({1}));
    }
    SECTION("append_all_logits with a short buffer is BUFFER_TOO_SMALL before computing anything") {
        SessionHandle s(m.model, 16);
        const std::vector<int32_t> tokens = {7, 8, 9};
        std::vector<float> all(tokens.size() * n_vocab, -7.0f);
        expect_status(mola_session_append_all_logits(s.session, tokens.data(), tokens.size(), all.data(),
                                                     all.size() - 1),
                      MOLA_ERR_BUFFER_TOO_SMALL, std::to_string(all.size()));
        CHECK(s.n_tokens() == 0);
        CHECK(all.front() == -7.0f);
        REQUIRE(mola_session_append_all_logits(s.session, tokens.data(), tokens.size(), all.data(), all.size()) ==
                MOLA_OK);
        CHECK(s.n_tokens() == 3);
        const std::vector<float> last(all.end() - std::ptrdiff_t(n_vocab), all.end());
        CHECK(last == s.logits());
        CHECK(all_finite(all));
    }
    SECTION("get_tokens: the two-call idiom") {
        SessionHandle s(m.model, 16);
        size_t n = 99;
        // An empty session needs no buffer.
        expect_status(mola_session_get_tokens(s.session, nullptr, 0, &n), MOLA_OK);
        CHECK(n == 0);
        const std::vector<int32_t> tokens = {11, 12, 13, 14, 15};
        s.append(tokens);
        n = 0;
        expect_status(mola_session_get_tokens(s.session, nullptr, 0, &n), MOLA_ERR_BUFFER_TOO_SMALL);
        CHECK(n == tokens.size());
        std::vector<int32_t> out(n - 1, -1);
        n = 0;
        expect_status(mola_session_get_tokens(s.session, out.data(), out.size(), &n), MOLA_ERR_BUFFER_TOO_SMALL);
        CHECK(n == tokens.size());
        out.assign(n, -1);
        REQUIRE(mola_session_get_tokens(s.session, out.data(), out.size(), &n) == MOLA_OK);
        CHECK(n == tokens.size());
        CHECK(out == tokens);
    }
    SECTION("n_ctx larger than max_position_embeddings is INVALID_ARG") {
        mola_session_params p;
        mola_session_params_default(&p);
        p.n_ctx = info.n_ctx_train + 1;
        mola_session* session = reinterpret_cast<mola_session*>(uintptr_t(8));
        expect_status(mola_session_create(m.model, &p, &session), MOLA_ERR_INVALID_ARG, "max_position_embeddings");
        CHECK(session == nullptr);
        p.n_ctx = -1;
        expect_status(mola_session_create(m.model, &p, &session), MOLA_ERR_INVALID_ARG, "n_ctx");
        CHECK(session == nullptr);
    }
    SECTION("n_tokens and n_ctx") {
        SessionHandle s(m.model, 32, 2);
        size_t n_ctx = 0;
        REQUIRE(mola_session_get_n_ctx(s.session, &n_ctx) == MOLA_OK);
        CHECK(n_ctx == 32);
        s.append({1, 2, 3, 4, 5});  // three batches of at most 2
        CHECK(s.n_tokens() == 5);
        REQUIRE(mola_session_decode(s.session, 6) == MOLA_OK);
        CHECK(s.n_tokens() == 6);
        CHECK(s.tokens() == std::vector<int32_t>({1, 2, 3, 4, 5, 6}));
    }
}

TEST_CASE("a session keeps its model alive", "[c_api][lifetime]") {
    std::vector<float> expected;
    {
        ModelHandle reference;
        SessionHandle s(reference.model, 8);
        s.append({3, 1, 4, 1, 5});
        expected = s.logits();
    }
    mola_model* model = nullptr;
    REQUIRE(mola_model_load(kV3.c_str(), nullptr, &model) == MOLA_OK);
    mola_session_params p;
    mola_session_params_default(&p);
    p.n_ctx = 8;
    mola_session* a = nullptr;
    mola_session* b = nullptr;
    REQUIRE(mola_session_create(model, &p, &a) == MOLA_OK);
    REQUIRE(mola_session_create(model, &p, &b) == MOLA_OK);
    mola_model_destroy(model);  // the caller's reference goes first
    model = nullptr;

    const std::vector<int32_t> tokens = {3, 1, 4, 1, 5};
    REQUIRE(mola_session_append(a, tokens.data(), tokens.size()) == MOLA_OK);
    const float* logits = nullptr;
    size_t n = 0;
    REQUIRE(mola_session_get_logits(a, &logits, &n) == MOLA_OK);
    CHECK(rel_l2(std::vector<float>(logits, logits + n), expected) < 1e-6);
    mola_session_destroy(a);
    // The other session still runs after its sibling is gone.
    REQUIRE(mola_session_append(b, tokens.data(), tokens.size()) == MOLA_OK);
    REQUIRE(mola_session_get_logits(b, &logits, &n) == MOLA_OK);
    CHECK(rel_l2(std::vector<float>(logits, logits + n), expected) < 1e-6);
    mola_session_destroy(b);  // frees the model too (ASan/valgrind would see a leak otherwise)
}

TEST_CASE("the last error is per thread", "[c_api][threads]") {
    REQUIRE(mola_model_load(nullptr, nullptr, nullptr) == MOLA_ERR_INVALID_ARG);
    const std::string main_error = last_error();
    REQUIRE_FALSE(main_error.empty());

    std::string seen_on_thread = "unset", thread_error;
    mola_status thread_status = MOLA_OK;
    std::thread worker([&] {
        seen_on_thread = mola_last_error();  // a fresh thread has no error
        thread_status = mola_session_rewind(nullptr, 0);
        thread_error = mola_last_error();
    });
    worker.join();
    CHECK(seen_on_thread.empty());
    CHECK(thread_status == MOLA_ERR_INVALID_ARG);
    CHECK(thread_error.find("mola_session_rewind") != std::string::npos);
    CHECK(last_error() == main_error);  // the other thread's error is not visible here

    // A success on another thread does not clear this thread's error either.
    std::thread clearer([] {
        size_t n = 0;
        (void)n;
        mola_model_params p;
        mola_model_params_default(&p);
        mola_model* model = nullptr;
        if (mola_model_load(kV3.c_str(), &p, &model) == MOLA_OK) mola_model_destroy(model);
    });
    clearer.join();
    CHECK(last_error() == main_error);
}

// ------------------------------------------------------------------ the C++ facade

namespace {
struct ProgressBoom : std::runtime_error {
    int code;
    explicit ProgressBoom(int c) : std::runtime_error("boom from the progress callback"), code(c) {}
};
}  // namespace

TEST_CASE("the C++ facade throws mola::Error with the status", "[cpp][facade]") {
    SECTION("a bad model path") {
        try {
            mola::Model model("/no/such/mola/model");
            FAIL("mola::Model did not throw");
        } catch (const mola::Error& e) {
            CHECK(status_name(e.status()) == "MOLA_ERR_IO");
            CHECK(std::string(e.what()).find("/no/such/mola/model") != std::string::npos);
        }
    }
    SECTION("session misuse") {
        mola::Model model(kV3);
        mola::Session session(model, 4);
        CHECK(session.n_ctx() == 4);
        CHECK(session.n_tokens() == 0);
        CHECK(session.tokens().empty());  // an empty session has no tokens, and no error
        try {
            (void)session.logits();
            FAIL("logits() did not throw");
        } catch (const mola::Error& e) {
            CHECK(e.status() == MOLA_ERR_MISUSE);
        }
        try {
            session.append({1, -3});
            FAIL("append() did not throw");
        } catch (const mola::Error& e) {
            CHECK(e.status() == MOLA_ERR_INVALID_ARG);
        }
        session.append({1, 2, 3, 4});
        try {
            session.decode(5);
            FAIL("decode() did not throw");
        } catch (const mola::Error& e) {
            CHECK(e.status() == MOLA_ERR_CONTEXT_FULL);
        }
        CHECK(session.tokens() == std::vector<int32_t>({1, 2, 3, 4}));
        CHECK_THROWS_AS(session.rewind(5), mola::Error);
        CHECK_THROWS_AS(mola::Session(model, model.info().n_ctx_train + 1), mola::Error);
    }
    SECTION("a progress callback returning false cancels") {
        mola::ModelParams p;
        p.progress = [](float) { return false; };
        try {
            mola::Model model(kV3, p);
            FAIL("mola::Model did not throw");
        } catch (const mola::Error& e) {
            CHECK(e.status() == MOLA_ERR_CANCELLED);
        }
    }
    SECTION("a progress callback that throws: the original exception leaves the constructor") {
        for (int throw_at = 0; throw_at < 3; ++throw_at) {
            INFO("throw on call " << throw_at);
            mola::ModelParams p;
            int calls = 0;
            p.progress = [&](float) {
                if (calls++ == throw_at) throw ProgressBoom(42 + throw_at);
                return true;
            };
            try {
                mola::Model model(kV3, p);
                FAIL("mola::Model did not throw");
            } catch (const ProgressBoom& e) {
                CHECK(e.code == 42 + throw_at);
                CHECK(calls == throw_at + 1);  // cancelled right there
            } catch (const mola::Error& e) {
                FAIL("got mola::Error " << status_name(e.status()) << " instead of the callback's exception");
            }
        }
    }
    SECTION("a progress callback that never cancels loads the model") {
        mola::ModelParams p;
        std::vector<float> seen;
        p.progress = [&](float f) {
            seen.push_back(f);
            return true;
        };
        mola::Model model(kV3, p);
        REQUIRE_FALSE(seen.empty());
        CHECK(seen.back() == 1.0f);
        mola::Session session(model, 8);
        session.append({1, 2, 3});
        CHECK(session.logits().size() == size_t(model.info().n_vocab));
        CHECK(session.append_all_logits({4, 5}).size() == 2 * session.n_vocab());
    }
}

// ------------------------------------------------------------------ the CLI against golden logits

TEST_CASE("mola logits matches the golden logits of tests/data/v3 case 1", "[cli][golden]") {
    const json golden = read_json(kData / "v3" / "golden.json");
    const json& c = golden["cases"][1];
    std::string tokens;
    for (const auto& t : c["tokens"]) tokens += (tokens.empty() ? "" : " ") + std::to_string(t.get<int>());
    const fs::path cli = fs::path(MOLA_BINARY_DIR) / "mola";
    REQUIRE(fs::exists(cli));
    TempDir tmp;
    const fs::path out = tmp.path / "logits.npy";
    // The exact F32 KV cache, as the oracle's.
    const std::string command = "'" + cli.string() + "' logits '" + kV3 + "' --kv-dtype f32 --tokens '" + tokens +
                                "' --out '" + out.string() + "' 2>'" + (tmp.path / "stderr.txt").string() + "'";
    INFO("command: " << command);
    const int rc = std::system(command.c_str());
    REQUIRE(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
    REQUIRE(fs::exists(out));

    std::vector<size_t> got_shape, want_shape;
    const std::vector<float> got = read_npy(out, &got_shape);
    const std::vector<float> want = read_npy(kData / "v3" / c["logits"].get<std::string>(), &want_shape);
    CHECK(got_shape == want_shape);
    REQUIRE(got_shape == std::vector<size_t>({c["tokens"].size(), size_t(read_json(kData / "v3" / "config.json")["vocab_size"].get<int>())}));
    const double err = rel_l2(got, want);
    INFO("relative L2 error " << err);
    CHECK(err < 1e-4);

    // The C API's append_all_logits gives the same rows.
    ModelHandle m(kV3, MOLA_KV_F32);
    SessionHandle s(m.model, 64);
    std::vector<int32_t> ids;
    for (const auto& t : c["tokens"]) ids.push_back(t.get<int32_t>());
    std::vector<float> api(ids.size() * size_t(m.info().n_vocab));
    REQUIRE(mola_session_append_all_logits(s.session, ids.data(), ids.size(), api.data(), api.size()) == MOLA_OK);
    CHECK(rel_l2(api, want) < 1e-4);
}

TEST_CASE("mola bench --json prints strictly valid JSON", "[cli][bench]") {
    const fs::path cli = fs::path(MOLA_BINARY_DIR) / "mola";
    REQUIRE(fs::exists(cli));
    TempDir tmp;
    const fs::path out = tmp.path / "bench.json";
    const std::string command = "'" + cli.string() + "' bench '" + kV3 +
                                "' --prompt-tokens 16 --gen-tokens 4 --json >'" + out.string() + "'";
    INFO("command: " << command);
    const int rc = std::system(command.c_str());
    REQUIRE(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
    std::ifstream in(out);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO("stdout: " << text);
    json doc;
    REQUIRE_NOTHROW(doc = json::parse(text));  // strict: one document, nothing after it
    REQUIRE(doc.is_object());
    CHECK(doc["prompt_tokens"] == 16);
    CHECK(doc["gen_tokens"] == 4);
    for (const char* key : {"prefill_tokens_per_s", "decode_tokens_per_s", "decode_weight_GB_per_s"}) {
        INFO("key " << key);
        REQUIRE(doc.contains(key));
        CHECK(doc[key].is_number());
        CHECK(doc[key].get<double>() >= 0.0);
    }
    CHECK(doc["weight_bytes_per_token"].is_number_unsigned());
    CHECK(doc["backend"].is_string());
    CHECK(doc["model"] == kV3);
}
