// test_tokenizer_api.cpp: the tokenizer through the public API: round trips,
// streaming detokenization, special-token lookup, the tokenizer that comes with a
// model, and errors. Exactness against Hugging Face is in test_tokenizer_exact.cpp.
#include <catch2/catch.hpp>

#include <sstream>

#include "checkpoint_files.h"
#include "mola/mola.hpp"

using namespace checkpoint_files;

namespace {

const char* const kTokenizers[] = {"deepseek_v3_style", "gpt2_style", "llama3_style", "bytefallback_style", "spm"};

std::string tokenizer_dir(const std::string& name) { return std::string(MOLA_TEST_DATA) + "/tokenizers/" + name; }

// Valid UTF-8 samples: code, prose in several scripts, whitespace runs, emoji.
const std::vector<std::string>& samples() {
    static const std::vector<std::string> texts = {
        "def main(argv):\n    return sum(int(x) for x in argv[1:])  # 12345678901\n",
        "Hello, world! Ça va? Grüße aus Köln.",
        "中文分词测试，日本語のテキスト、한국어 문장.",
        "مرحبا بالعالم — नमस्ते दुनिया",
        "tabs\t\tand   spaces\n\n\r\n  trailing  ",
        "emoji 👩‍👩‍👧‍👦 and flags 🇩🇪🇯🇵, skin 👍🏽",
        "e\xCC\x81 vs \xC3\xA9, ﬁ ligature, ＦＵＬＬ width",
        "",
    };
    return texts;
}

bool valid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
        i += len;
    }
    return true;
}

}  // namespace

TEST_CASE("decode(encode(text)) gives the text back", "[tokenizer]") {
    for (const char* name : kTokenizers) {
        const mola::Tokenizer tok(tokenizer_dir(name));
        for (const std::string& text : samples()) {
            INFO(name << ": " << text);
            const std::vector<int32_t> ids = tok.encode(text, false, false);
            std::string decoded = tok.decode(ids);
            // SentencePiece-style tokenizers may not keep leading spaces or
            // normalization-sensitive forms; byte-level ones round-trip exactly.
            if (std::string(name) == "spm" || std::string(name) == "bytefallback_style") continue;
            CHECK(decoded == text);
        }
    }
}

TEST_CASE("streamed pieces are whole characters and join to the full decode", "[tokenizer][stream]") {
    for (const char* name : kTokenizers) {
        const mola::Tokenizer tok(tokenizer_dir(name));
        for (const std::string& text : samples()) {
            const std::vector<int32_t> ids = tok.encode(text, true, true);
            mola::Detokenizer stream(tok);
            std::string joined;
            for (int32_t id : ids) {
                const std::string piece = stream.push(id);
                INFO(name << ": piece of '" << text << "'");
                CHECK(valid_utf8(piece));
                joined += piece;
            }
            joined += stream.flush();
            CHECK(joined == tok.decode(ids));
        }
    }
}

TEST_CASE("special tokens are found by their text", "[tokenizer]") {
    const mola::Tokenizer tok(tokenizer_dir("deepseek_v3_style"));
    const mola_special_tokens s = tok.special_tokens();
    CHECK(s.bos == tok.token_id("<｜begin▁of▁sentence｜>"));
    CHECK(s.eos == tok.token_id("<｜end▁of▁sentence｜>"));
    CHECK(s.fim_begin == tok.token_id("<｜fim▁begin｜>"));
    CHECK(s.fim_hole == tok.token_id("<｜fim▁hole｜>"));
    CHECK(s.fim_end == tok.token_id("<｜fim▁end｜>"));
    CHECK(s.user == tok.token_id("<｜User｜>"));
    CHECK(s.assistant == tok.token_id("<｜Assistant｜>"));
    CHECK(s.think_begin == tok.token_id("<think>"));
    for (int32_t id : {s.bos, s.eos, s.fim_begin, s.fim_hole, s.fim_end, s.user, s.assistant, s.think_begin})
        CHECK(id >= 0);
    CHECK(tok.token_id("<｜no such token｜>") == -1);
    // Written in the text, a special token becomes its id only when asked; added
    // tokens that are not special (<｜User｜> here, as in DeepSeek's files) always do.
    const std::vector<int32_t> parsed = tok.encode("<｜begin▁of▁sentence｜>hi", false, true);
    REQUIRE(!parsed.empty());
    CHECK(parsed[0] == s.bos);
    const std::vector<int32_t> literal = tok.encode("<｜begin▁of▁sentence｜>hi", false, false);
    CHECK(std::find(literal.begin(), literal.end(), s.bos) == literal.end());
    CHECK(tok.encode("<｜User｜>hi", false, false)[0] == s.user);
    // GPT-2 style tokenizers have no FIM tokens.
    const mola::Tokenizer gpt2(tokenizer_dir("gpt2_style"));
    CHECK(gpt2.special_tokens().fim_begin == -1);
}

TEST_CASE("a model's checkpoint directory brings its tokenizer", "[tokenizer][model]") {
    TempDir dir;
    copy_model("v3", dir.path);
    {
        const mola::Model model(dir.path.string());
        try {
            mola::Tokenizer none(model);
            FAIL("a checkpoint without a tokenizer gave one");
        } catch (const mola::Error& e) {
            CHECK(e.status() == MOLA_ERR_UNSUPPORTED);
            CHECK(std::string(e.what()).find(dir.path.string()) != std::string::npos);
        }
    }
    fs::copy_file(tokenizer_dir("deepseek_v3_style") + "/tokenizer.json", dir.path / "tokenizer.json");
    std::unique_ptr<mola::Tokenizer> tok;
    {
        const mola::Model model(dir.path.string());
        tok = std::make_unique<mola::Tokenizer>(model);
    }
    // The tokenizer outlives its model.
    const mola::Tokenizer standalone(tokenizer_dir("deepseek_v3_style"));
    CHECK(tok->encode("int main() { return 0; }") == standalone.encode("int main() { return 0; }"));
}

TEST_CASE("tokenizer errors name the file and the problem", "[tokenizer][bad_input]") {
    TempDir dir;
    auto expect = [](const std::string& path, mola_status status) {
        mola_tokenizer* tok = reinterpret_cast<mola_tokenizer*>(uintptr_t(1));
        CHECK(mola_tokenizer_load(path.c_str(), &tok) == status);
        CHECK(tok == nullptr);
        INFO(mola_last_error());
        CHECK(std::string(mola_last_error()).find(path) != std::string::npos);
    };
    expect((dir.path / "missing.json").string(), MOLA_ERR_IO);
    expect(dir.path.string(), MOLA_ERR_IO);  // a directory without tokenizer files
    const std::vector<uint8_t> good = read_bytes(tokenizer_dir("deepseek_v3_style") + "/tokenizer.json");
    write_bytes(dir.path / "truncated.json", good.data(), good.size() / 2);
    expect((dir.path / "truncated.json").string(), MOLA_ERR_BAD_FORMAT);
    write_text(dir.path / "garbage.model", "this is not a sentencepiece model");
    expect((dir.path / "garbage.model").string(), MOLA_ERR_BAD_FORMAT);

    // Misuse through the C ABI never crashes.
    const mola::Tokenizer tok(tokenizer_dir("gpt2_style"));
    size_t n = 0;
    CHECK(mola_tokenizer_encode(nullptr, "x", 1, 0, nullptr, 0, &n) == MOLA_ERR_INVALID_ARG);
    CHECK(mola_tokenizer_encode(tok.get(), "x", 1, 0x80, nullptr, 0, &n) == MOLA_ERR_INVALID_ARG);
    const int32_t bad[] = {1 << 30};
    char out[16];
    CHECK(mola_tokenizer_decode(tok.get(), bad, 1, 0, out, sizeof out, &n) == MOLA_ERR_INVALID_ARG);
    const char* piece = nullptr;
    CHECK(mola_tokenizer_token_to_piece(tok.get(), -1, &piece, &n) == MOLA_ERR_INVALID_ARG);
    // Invalid UTF-8 is tokenized, not refused.
    const std::string invalid = "ok \xFF\xFE \xC3 end \xE2\x82";
    CHECK_NOTHROW(tok.encode(invalid));
}

TEST_CASE("chat prompts through the C ABI equal the reference templates' output", "[tokenizer][chat]") {
    // The goldens were rendered by transformers' apply_chat_template from each
    // model's own template (tools/make_chat_goldens.py); the tokenizer supplies BOS.
    const mola::Tokenizer tok(tokenizer_dir("deepseek_v3_style"));
    const json goldens = read_json(std::string(MOLA_TEST_DATA) + "/chat_templates/goldens.json");
    size_t checked = 0;
    for (const json& g : goldens) {
        if (g.at("bos").get<std::string>() != "<｜begin▁of▁sentence｜>") continue;
        std::vector<mola::ChatMessage> messages;
        for (const json& m : g.at("messages"))
            messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>(),
                                m.value("reasoning", std::string())});
        const std::string text = tok.apply_chat(messages, g.at("add_generation_prompt").get<bool>(),
                                                g.at("thinking").get<bool>(), g.at("format").get<std::string>());
        INFO(g.at("format").get<std::string>() << " " << g.at("template").get<std::string>());
        CHECK(text == g.at("expected").get<std::string>());
        ++checked;
    }
    CHECK(checked > 100);
    CHECK_THROWS_AS(tok.apply_chat({{"user", "hi", ""}}, true, false, "no-such-format"), mola::Error);
}

TEST_CASE("fill-in-the-middle prompts use the tokenizer's FIM tokens", "[tokenizer][fim]") {
    const mola::Tokenizer tok(tokenizer_dir("deepseek_v3_style"));
    const mola_special_tokens s = tok.special_tokens();
    const std::string psm = tok.build_fim("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n", MOLA_FIM_PSM,
                                          "src/math.py");
    std::vector<int32_t> ids = tok.encode(psm, false, true);
    auto position = [&](int32_t id) { return std::find(ids.begin(), ids.end(), id) - ids.begin(); };
    CHECK(position(s.fim_begin) < position(s.fim_hole));
    CHECK(position(s.fim_hole) < position(s.fim_end));
    CHECK(ids.back() == s.fim_end);  // PSM: the model writes the middle next
    const std::string spm = tok.build_fim("prefix", "suffix", MOLA_FIM_SPM);
    ids = tok.encode(spm, false, true);
    CHECK(ids[0] == s.fim_begin);
    CHECK(ids[1] == s.fim_hole);

    const mola::Tokenizer gpt2(tokenizer_dir("gpt2_style"));
    try {
        gpt2.build_fim("a", "b");
        FAIL("a tokenizer without FIM tokens built a FIM prompt");
    } catch (const mola::Error& e) {
        CHECK(e.status() == MOLA_ERR_UNSUPPORTED);
        CHECK(std::string(e.what()).find("fill-in-the-middle") != std::string::npos);
    }
}

TEST_CASE("mola tokenize prints the ids the library gives", "[tokenizer][cli]") {
    TempDir dir;
    const std::string text = "for (int i = 0; i < 10; ++i) { sum += i; }  // 中文\n";
    write_text(dir.path / "input.txt", text);
    const std::string tok_dir = tokenizer_dir("deepseek_v3_style");
    const std::string command = std::string(MOLA_BINARY_DIR) + "/mola tokenize --tokenizer " + tok_dir +
                                " --text-file " + (dir.path / "input.txt").string() + " --ids";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    char buffer[4096];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    CHECK(::pclose(pipe) == 0);
    std::vector<int32_t> printed;
    std::istringstream in(output);
    for (int32_t id; in >> id;) printed.push_back(id);
    CHECK(printed == mola::Tokenizer(tok_dir).encode(text));
}
