// reference.cpp: writes the values every language's binding tests compare with,
// computed through the C++ facade on the bundled model: an encode/decode round
// trip and a seeded, sampled generation. One "key=value" per line (text values
// hex-encoded), which every test runner reads without a JSON library.
//
//   mola_bindings_reference MODEL_DIR OUT_FILE
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "mola/mola.hpp"

namespace {

std::string hex(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string ids(const std::vector<int32_t>& v) {
    std::ostringstream out;
    for (size_t i = 0; i < v.size(); ++i) out << (i ? " " : "") << v[i];
    return out.str();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " MODEL_DIR OUT_FILE\n";
        return 2;
    }
    try {
        mola::ModelParams mp;
        mp.n_threads = 1;
        mola::Model model(argv[1], mp);
        mola::Tokenizer tokenizer(model);
        const std::string text = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n";
        const std::vector<int32_t> prompt = tokenizer.encode(text);

        mola::SamplerParams sp;  // the bindings' SamplerOptions defaults, seeded
        sp.seed = 1234;
        mola::GenerateOptions go;
        go.max_tokens = 24;
        go.ignore_eos = true;
        mola::Session session(model);
        const mola::GenerateResult r = session.generate(prompt, sp, go);

        std::ofstream out(std::string(argv[2]) + ".tmp");
        out << "model=" << argv[1] << "\n";
        out << "text_hex=" << hex(text) << "\n";
        out << "prompt_tokens=" << ids(prompt) << "\n";
        out << "decoded_hex=" << hex(tokenizer.decode(prompt, true)) << "\n";
        out << "seed=" << sp.seed << "\n";
        out << "max_tokens=" << go.max_tokens << "\n";
        out << "ignore_eos=1\n";
        out << "generated_tokens=" << ids(r.tokens) << "\n";
        out << "generated_hex=" << hex(r.text) << "\n";
        out.close();
        if (!out || std::rename((std::string(argv[2]) + ".tmp").c_str(), argv[2]) != 0) {
            std::cerr << "cannot write " << argv[2] << "\n";
            return 1;
        }
    } catch (const std::exception& e) {
        std::cerr << "mola_bindings_reference: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
