// gitignore.h: which paths of a source tree .gitignore files exclude: patterns with
// `#` comments, `!` negation, a trailing `/` for directories only, a leading or
// inner `/` anchoring the pattern to its .gitignore's directory, and `**` for any
// number of directories; each path segment is matched with fnmatch(3).
#pragma once

#include <fnmatch.h>

#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

namespace codebase {

class GitIgnore {
public:
    // Adds the patterns of the .gitignore in directory base: "" for the root, else a
    // path relative to it ("src/lib"). Add a directory's file before its
    // subdirectories': later patterns take precedence, as in git.
    void add(const std::string& base, const std::string& text) {
        std::istringstream lines(text);
        std::string line;
        while (std::getline(lines, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            // Trailing spaces are dropped unless escaped with a backslash.
            while (!line.empty() && line.back() == ' ' && !(line.size() >= 2 && line[line.size() - 2] == '\\'))
                line.pop_back();
            if (line.empty() || line[0] == '#') continue;
            Rule r;
            r.base = base;
            if (line[0] == '!') {
                r.negated = true;
                line.erase(0, 1);
            } else if (line[0] == '\\' && line.size() > 1 && (line[1] == '#' || line[1] == '!')) {
                line.erase(0, 1);
            }
            if (!line.empty() && line.back() == '/') {
                r.dir_only = true;
                line.pop_back();
            }
            if (line.empty()) continue;
            // A slash at the start or in the middle anchors the pattern; without one
            // it matches a name at any depth, as if it began with "**/".
            const bool anchored = line.find('/') != std::string::npos;
            if (line[0] == '/') line.erase(0, 1);
            if (!anchored) r.segments.push_back("**");
            for (const std::string& s : split(line)) r.segments.push_back(s);
            rules_.push_back(std::move(r));
        }
    }

    // Whether path (relative to the root, '/'-separated) is excluded; is_dir says
    // whether it names a directory. The last matching pattern decides.
    bool ignored(const std::string& path, bool is_dir) const {
        bool out = false;
        for (const Rule& r : rules_) {
            if (r.dir_only && !is_dir) continue;
            std::string rel;
            if (r.base.empty())
                rel = path;
            else if (path.size() > r.base.size() && path.compare(0, r.base.size(), r.base) == 0 &&
                     path[r.base.size()] == '/')
                rel = path.substr(r.base.size() + 1);
            else
                continue;
            if (match(r.segments, 0, split(rel), 0)) out = !r.negated;
        }
        return out;
    }

private:
    struct Rule {
        std::string base;
        std::vector<std::string> segments;
        bool negated = false, dir_only = false;
    };

    static std::vector<std::string> split(const std::string& s) {
        std::vector<std::string> out;
        size_t start = 0;
        for (;;) {
            const size_t slash = s.find('/', start);
            const std::string part = s.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
            if (!part.empty()) out.push_back(part);
            if (slash == std::string::npos) return out;
            start = slash + 1;
        }
    }

    // Pattern segments from pi against path segments from si; "**" takes any number
    // of whole segments (at least one when it ends the pattern: "dir/**" is what is
    // inside dir, not dir itself).
    static bool match(const std::vector<std::string>& pat, size_t pi, const std::vector<std::string>& path,
                      size_t si) {
        if (pi == pat.size()) return si == path.size();
        if (pat[pi] == "**") {
            const size_t least = pi + 1 == pat.size() ? 1 : 0;
            for (size_t k = si + least; k <= path.size(); ++k)
                if (match(pat, pi + 1, path, k)) return true;
            return false;
        }
        return si < path.size() && ::fnmatch(pat[pi].c_str(), path[si].c_str(), FNM_PATHNAME) == 0 &&
               match(pat, pi + 1, path, si + 1);
    }

    std::vector<Rule> rules_;
};

}  // namespace codebase
