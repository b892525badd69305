// main.cpp: the installed-package C++ consumer. Generates from a prompt through the
// mola.hpp facade and prints the generated text hex-encoded on one line; the other
// smoke programs (C, CLI, Python, Java, C#, Go) must print the same line.
//
//   consumer MODEL_DIR PROMPT SEED MAX_TOKENS
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "mola/mola.hpp"

int main(int argc, char** argv) {
    if (argc != 5) {
        std::cerr << "usage: " << argv[0] << " MODEL_DIR PROMPT SEED MAX_TOKENS\n";
        return 2;
    }
    try {
        mola::ModelParams model_params;
        model_params.n_threads = 1;  // the bindings' smoke programs also use one thread
        mola::Model model(argv[1], model_params);
        mola::Tokenizer tokenizer(model);
        mola::SamplerParams sampling;
        sampling.seed = std::strtoull(argv[3], nullptr, 10);
        mola::GenerateOptions options;
        options.max_tokens = std::atoi(argv[4]);
        options.ignore_eos = true;
        mola::Session session(model);
        const mola::GenerateResult result = session.generate(tokenizer.encode(argv[2]), sampling, options);
        if (result.text.empty()) {
            std::cerr << "consumer: nothing generated\n";
            return 1;
        }
        for (unsigned char c : result.text) std::printf("%02x", c);
        std::printf("\n");
    } catch (const std::exception& e) {
        std::cerr << "consumer: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
