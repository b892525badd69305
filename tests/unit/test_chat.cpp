// test_chat.cpp: chat formats against goldens rendered by the reference templates /
// encoder (tools/make_chat_goldens.py), FIM prompt layouts, and format detection.
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tokenizer/chat.h"

using mola::ChatFormat;
using mola::ChatMessage;

namespace {

nlohmann::json read_json(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    return nlohmann::json::parse(ss.str());
}

std::string data(const std::string& rel) { return std::string(MOLA_TEST_DATA) + "/" + rel; }

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

mola_status status_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const mola::Error& e) {
        return e.status();
    }
    return MOLA_OK;
}

}  // namespace

TEST_CASE("chat formats match the reference renderings byte for byte", "[chat]") {
    const auto goldens = read_json(data("chat_templates/goldens.json"));
    REQUIRE(goldens.is_array());
    std::set<std::string> formats;
    for (const auto& g : goldens) {
        std::vector<ChatMessage> msgs;
        for (const auto& m : g["messages"])
            msgs.push_back({m["role"].get<std::string>(), m["content"].get<std::string>(),
                            m["reasoning"].get<std::string>()});
        const std::string fmt = g["format"].get<std::string>();
        formats.insert(fmt);
        const std::string got = mola::apply_chat_format(mola::chat_format_from_name(fmt), msgs,
                                                        g["add_generation_prompt"].get<bool>(),
                                                        g["thinking"].get<bool>(), g["bos"].get<std::string>());
        INFO("format " << fmt << ", template " << g["template"].get<std::string>() << ", add_generation_prompt "
                       << g["add_generation_prompt"] << ", thinking " << g["thinking"] << ", messages "
                       << g["messages"].dump());
        CHECK(got == g["expected"].get<std::string>());
    }
    CHECK(formats.count("deepseek-v2") == 1);
    CHECK(formats.count("deepseek-v3") == 1);
    CHECK(formats.count("deepseek-r1") == 1);
    CHECK(formats.count("deepseek-v3.1") == 1);
    CHECK(formats.count("deepseek-v4") == 1);
}

TEST_CASE("chat format names round-trip; unknown names list the known ones", "[chat]") {
    for (ChatFormat f : {ChatFormat::DeepSeekV2, ChatFormat::DeepSeekV3, ChatFormat::DeepSeekR1,
                         ChatFormat::DeepSeekV31, ChatFormat::DeepSeekV4})
        CHECK(mola::chat_format_from_name(mola::chat_format_name(f)) == f);
    try {
        mola::chat_format_from_name("chatml");
        FAIL("no error");
    } catch (const mola::Error& e) {
        CHECK(e.status() == MOLA_ERR_INVALID_ARG);
        const std::string msg = e.what();
        CHECK(msg.find("chatml") != std::string::npos);
        for (const char* n : {"deepseek-v2", "deepseek-v3", "deepseek-r1", "deepseek-v3.1", "deepseek-v4"})
            CHECK(msg.find(n) != std::string::npos);
    }
}

TEST_CASE("unsupported roles are rejected", "[chat]") {
    std::vector<ChatMessage> msgs = {{"user", "hi", ""}, {"tool", "42", ""}};
    CHECK(status_of([&] { mola::apply_chat_format(ChatFormat::DeepSeekV3, msgs, true, false, ""); }) ==
          MOLA_ERR_INVALID_ARG);
}

TEST_CASE("FIM prompts, PSM and SPM", "[chat]") {
    const mola::FimTokens tok{"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"};
    mola::FimRequest req;
    req.prefix = "def add(a, b):\n    ";
    req.suffix = "\n\nprint(add(1, 2))\n";
    // DeepSeek-Coder-V2 README format.
    CHECK(mola::build_fim_prompt(tok, mola::FimLayout::PSM, req, "tok.json") ==
          "<｜fim▁begin｜>def add(a, b):\n    <｜fim▁hole｜>\n\nprint(add(1, 2))\n<｜fim▁end｜>");
    CHECK(mola::build_fim_prompt(tok, mola::FimLayout::SPM, req, "tok.json") ==
          "<｜fim▁begin｜><｜fim▁hole｜>\n\nprint(add(1, 2))\n<｜fim▁end｜>def add(a, b):\n    ");

    req.path = "src/math.py";
    req.context = "# src/util.py\nX = 1";
    CHECK(mola::build_fim_prompt(tok.begin, tok.hole, tok.end, mola::FimLayout::PSM, req, "tok.json") ==
          "<｜fim▁begin｜># src/util.py\nX = 1\n# src/math.py\ndef add(a, b):\n    <｜fim▁hole｜>"
          "\n\nprint(add(1, 2))\n<｜fim▁end｜>");
    CHECK(mola::build_fim_prompt(tok, mola::FimLayout::SPM, req, "tok.json") ==
          "<｜fim▁begin｜><｜fim▁hole｜>\n\nprint(add(1, 2))\n<｜fim▁end｜># src/util.py\nX = 1\n# src/math.py\n"
          "def add(a, b):\n    ");

    mola::FimRequest empty;
    CHECK(mola::build_fim_prompt(tok, mola::FimLayout::PSM, empty, "t") ==
          "<｜fim▁begin｜><｜fim▁hole｜><｜fim▁end｜>");
}

TEST_CASE("FIM without FIM tokens is unsupported and names the tokenizer", "[chat]") {
    mola::FimRequest req{"a", "b", "", ""};
    for (const mola::FimTokens& tok : {mola::FimTokens{"", "", ""},
                                       mola::FimTokens{"<｜fim▁begin｜>", "", "<｜fim▁end｜>"}}) {
        try {
            mola::build_fim_prompt(tok, mola::FimLayout::PSM, req, "/models/v3/tokenizer.json");
            FAIL("no error");
        } catch (const mola::Error& e) {
            CHECK(e.status() == MOLA_ERR_UNSUPPORTED);
            CHECK(std::string(e.what()) ==
                  "/models/v3/tokenizer.json: this tokenizer has no fill-in-the-middle tokens "
                  "(<｜fim▁begin｜>, <｜fim▁hole｜>, <｜fim▁end｜>)");
        }
    }
}

TEST_CASE("detect_chat_format from configs and templates", "[chat]") {
    const auto v2 = read_json(data("v2_lite/config.json"));
    const auto v3 = read_json(data("v3/config.json"));
    const auto none = nlohmann::json::object();
    auto tc = [](const std::string& file) {
        return nlohmann::json{{"chat_template", read_text(data("chat_templates/" + file))}};
    };

    // No template: model_type decides.
    CHECK(mola::detect_chat_format(v2, none) == ChatFormat::DeepSeekV2);
    CHECK(mola::detect_chat_format(v3, none) == ChatFormat::DeepSeekV3);
    CHECK(mola::detect_chat_format(nlohmann::json{{"model_type", "deepseek_v4"}}, none) == ChatFormat::DeepSeekV4);
    CHECK(mola::detect_chat_format(nlohmann::json{{"architectures", {"DeepseekV2ForCausalLM"}}}, none) ==
          ChatFormat::DeepSeekV2);
    CHECK(mola::detect_chat_format(nlohmann::json{{"vocab_size", 102400}}, none) == ChatFormat::DeepSeekV2);
    CHECK(mola::detect_chat_format(none, none) == ChatFormat::DeepSeekV3);

    // The template wins over model_type (R1 and V3.1 share V3's architecture).
    CHECK(mola::detect_chat_format(v2, tc("deepseek-v2-chat.jinja")) == ChatFormat::DeepSeekV2);
    CHECK(mola::detect_chat_format(v3, tc("deepseek-v3.jinja")) == ChatFormat::DeepSeekV3);
    CHECK(mola::detect_chat_format(v3, tc("deepseek-r1.jinja")) == ChatFormat::DeepSeekR1);
    CHECK(mola::detect_chat_format(v3, tc("deepseek-v3.1.jinja")) == ChatFormat::DeepSeekV31);
    // V2.5 ships a <｜User｜> template on the deepseek_v2 architecture.
    CHECK(mola::detect_chat_format(v2, tc("deepseek-v3.jinja")) == ChatFormat::DeepSeekV3);

    // A list of named templates: "default" is used.
    nlohmann::json listed = {{"chat_template",
                              {{{"name", "tool_use"}, {"template", "User: Assistant:"}},
                               {{"name", "default"}, {"template", read_text(data("chat_templates/deepseek-r1.jinja"))}}}}};
    CHECK(mola::detect_chat_format(v3, listed) == ChatFormat::DeepSeekR1);
}
