// test_gitignore.cpp: the codebase sample's .gitignore matcher against git itself:
// tests/data/gitignore_cases.txt (tools/make_gitignore_cases.py) holds .gitignore
// files and, for each file of a tree, whether git ignores it.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "../../samples/codebase/gitignore.h"

namespace {

// As the sample's walk decides: a file is out when a directory above it or the file
// itself is ignored.
bool excluded(const codebase::GitIgnore& ignore, const std::string& path) {
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
        if (ignore.ignored(path.substr(0, slash), true)) return true;
    return ignore.ignored(path, false);
}

}  // namespace

TEST_CASE("gitignore matcher: agrees with git on patterns, negation, anchoring, dir-only and **", "[gitignore]") {
    std::ifstream in(std::string(MOLA_TEST_DATA) + "/gitignore_cases.txt");
    REQUIRE(in);
    std::map<std::string, std::string> files;  // base -> .gitignore text, parents first by name
    std::vector<std::pair<std::string, bool>> cases;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
        REQUIRE(t2 != std::string::npos);
        const std::string kind = line.substr(0, t1), a = line.substr(t1 + 1, t2 - t1 - 1), b = line.substr(t2 + 1);
        if (kind == "rule")
            files[a == "." ? "" : a] += b + "\n";
        else
            cases.emplace_back(a, b == "1");
    }
    REQUIRE(cases.size() > 30);
    codebase::GitIgnore ignore;
    for (const auto& [base, text] : files) ignore.add(base, text);
    for (const auto& [path, git_ignores] : cases) {
        INFO(path);
        CHECK(excluded(ignore, path) == git_ignores);
    }
}
