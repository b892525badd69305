// chat.cpp: a two-turn conversation from C++ through the mola.hpp facade. The
// second turn reuses the session's cache: only its new tokens are prefilled.
//
//   build/samples/sample_chat_cpp MODEL_DIR
#include <iostream>
#include <string>
#include <vector>

#include "mola/mola.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " MODEL_DIR\n";
        return 2;
    }
    try {
        mola::Model model(argv[1]);
        mola::Tokenizer tokenizer(model);
        mola::Session session(model);

        mola::SamplerParams sampling;
        sampling.temperature = 0.7f;
        sampling.seed = 7;
        mola::GenerateOptions options;
        options.max_tokens = 48;
        options.stream = [](std::string_view text, const std::vector<int32_t>&) {
            std::cout << text << std::flush;
            return true;  // false stops the reply
        };

        std::vector<mola::ChatMessage> chat;
        for (const std::string question : {"Write a Python function that adds two numbers.", "Now make it subtract."}) {
            chat.push_back({"user", question, ""});
            // Render the whole conversation, then prefill only what the session lacks.
            const std::vector<int32_t> all = tokenizer.encode(tokenizer.apply_chat(chat), false, true);
            const std::vector<int32_t> have = session.tokens();
            size_t common = 0;
            while (common < have.size() && common < all.size() && have[common] == all[common]) ++common;
            session.rewind(common);
            std::cout << "user: " << question << "\nassistant: ";
            const mola::GenerateResult reply =
                session.generate(std::vector<int32_t>(all.begin() + long(common), all.end()), sampling, options);
            std::cout << "\n[" << mola::finish_reason_name(reply.finish_reason) << "; reused " << common
                      << " tokens, prefilled " << reply.n_prompt_tokens << ", "
                      << int(reply.decode_tokens_per_second) << " tok/s]\n";
            chat.push_back({"assistant", reply.text, ""});
        }
    } catch (const mola::Error& e) {
        std::cerr << "mola: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
