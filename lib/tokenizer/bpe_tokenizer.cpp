// bpe_tokenizer.cpp: a Hugging Face tokenizer.json with a BPE model, encoded and
// decoded the way the Rust `tokenizers` library does it: added tokens split off
// first (raw text, then normalized text), normalizer, pre-tokenizers, BPE merges
// by rank, post-processor; decoders on the way back. Regexes run on PCRE2 (UTF +
// UCP, JIT) with the Oniguruma semantics HF uses (`$` and `^` are line anchors,
// `\s` is Unicode White_Space).
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include "common/error.h"
#include "format/safetensors.h"
#include "tokenizer/tokenizer.h"

namespace mola {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------
// UTF-8 helpers

inline size_t utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c < 0xE0) return 2;
    if (c < 0xF0) return 3;
    return 4;
}

// Decodes one code point of valid UTF-8 at s[i], advancing i.
inline uint32_t next_cp(std::string_view s, size_t& i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) { ++i; return c; }
    size_t n = utf8_len(c);
    uint32_t cp = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += n;
    return cp;
}

inline void append_cp(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Length of the valid UTF-8 sequence at s[i], or 0 with *bad set to the length of
// the maximal invalid subpart (at least 1), as Python's errors='replace' counts it.
inline size_t utf8_valid_at(std::string_view s, size_t i, size_t* bad) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c == 0xED) { n = 3; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c == 0xF4) { n = 4; hi = 0x8F; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else { *bad = 1; return 0; }
    size_t k = 1;
    for (; k < n; ++k) {
        if (i + k >= s.size()) break;
        const unsigned char d = static_cast<unsigned char>(s[i + k]);
        const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (d < l || d > h) break;
    }
    if (k == n) return n;
    *bad = k;
    return 0;
}

// Replaces each maximal invalid subpart with U+FFFD. Returns false (out untouched)
// when the text is valid already.
bool sanitize_utf8(std::string_view s, std::string& out) {
    size_t i = 0, bad = 0;
    while (i < s.size()) {
        if (static_cast<unsigned char>(s[i]) < 0x80) { ++i; continue; }
        const size_t n = utf8_valid_at(s, i, &bad);
        if (n == 0) break;
        i += n;
    }
    if (i == s.size()) return false;
    out.assign(s.data(), i);
    while (i < s.size()) {
        const size_t n = utf8_valid_at(s, i, &bad);
        if (n) {
            out.append(s.data() + i, n);
            i += n;
        } else {
            out.append("\xEF\xBF\xBD");
            i += bad;
        }
    }
    return true;
}

// Rust's char::is_whitespace (Unicode White_Space).
inline bool is_white_space(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}
// Rust regex \w: alphabetic, marks, decimal digits, connector punctuation, joiners.
inline bool is_word_char(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (c == 0x200C || c == 0x200D) return true;
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
            return true;
        default:
            return false;
    }
}
// Rust's char::is_numeric.
inline bool is_numeric_char(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}
// HF's is_punc: ASCII punctuation or a Unicode P* category.
inline bool is_punct_char(uint32_t c) {
    if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
        case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
        case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
        case UTF8PROC_CATEGORY_PO:
            return true;
        default:
            return false;
    }
}

inline uint64_t hash_bytes(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull ^ (s.size() * 0x9E3779B97F4A7C15ull);
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ w) * 0x100000001B3ull;
        h ^= h >> 29;
    }
    for (; i < s.size(); ++i) h = (h ^ static_cast<unsigned char>(s[i])) * 0x100000001B3ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

// GPT-2's byte <-> printable-char table.
struct ByteTable {
    uint32_t byte_to_cp[256];
    std::string byte_to_utf8[256];
    std::unordered_map<uint32_t, uint8_t> cp_to_byte;
    ByteTable() {
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            const bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            byte_to_cp[b] = keep ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
            append_cp(byte_to_utf8[b], byte_to_cp[b]);
            cp_to_byte[byte_to_cp[b]] = static_cast<uint8_t>(b);
        }
    }
};
const ByteTable& byte_table() {
    static const ByteTable table;
    return table;
}

// Maps a byte-level token back to its bytes; false when a char is outside the table.
bool byte_level_unmap(std::string_view tok, std::string& out) {
    const ByteTable& t = byte_table();
    const size_t start = out.size();
    size_t i = 0;
    while (i < tok.size()) {
        const uint32_t cp = next_cp(tok, i);
        auto it = t.cp_to_byte.find(cp);
        if (it == t.cp_to_byte.end()) {
            out.resize(start);
            return false;
        }
        out.push_back(static_cast<char>(it->second));
    }
    return true;
}

// Python's bytes.decode('utf-8', 'replace'), as String::from_utf8_lossy does it.
std::string lossy_utf8(const std::string& s) {
    std::string out;
    return sanitize_utf8(s, out) ? out : s;
}

// ---------------------------------------------------------------------------
// Regexes

struct MatchScratch {
    pcre2_match_data* md = nullptr;
    pcre2_match_context* mc = nullptr;
    pcre2_jit_stack* js = nullptr;
    MatchScratch() {
        md = pcre2_match_data_create(1, nullptr);
        mc = pcre2_match_context_create(nullptr);
        js = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
        if (mc && js) pcre2_jit_stack_assign(mc, nullptr, js);
    }
    ~MatchScratch() {
        if (md) pcre2_match_data_free(md);
        if (mc) pcre2_match_context_free(mc);
        if (js) pcre2_jit_stack_free(js);
    }
};
MatchScratch& match_scratch() {
    thread_local MatchScratch scratch;
    return scratch;
}

// ---------------------------------------------------------------------------
// Oniguruma-compatible property classes.
//
// HF tokenizers runs regexes on Oniguruma, whose Unicode tables are newer than those
// of the PCRE2 we link (10.42: Unicode 14), and whose escapes differ (\s is
// White_Space without U+180E, \w is not PCRE2's, \h is a hex digit). Every property
// escape is therefore rewritten into explicit code-point ranges probed from the
// tokenizers library (tools/make_unicode_classes.py -> unicode_classes.inc).

namespace uprops {
#include "tokenizer/unicode_classes.inc"
}

using CpRanges = std::vector<std::pair<uint32_t, uint32_t>>;

void merge_ranges(CpRanges& r) {
    std::sort(r.begin(), r.end());
    size_t n = 0;
    for (const auto& x : r) {
        if (n && x.first <= r[n - 1].second + 1) {
            r[n - 1].second = std::max(r[n - 1].second, x.second);
        } else {
            r[n++] = x;
        }
    }
    r.resize(n);
}

CpRanges complement_ranges(const CpRanges& r) {  // r merged
    CpRanges out;
    uint32_t next = 0;
    for (const auto& x : r) {
        if (x.first > next) out.emplace_back(next, x.first - 1);
        next = x.second + 1;
    }
    if (next <= 0x10FFFF) out.emplace_back(next, 0x10FFFF);
    return out;
}

// Oniguruma's property-name matching: case, '_', '-' and ' ' are ignored.
std::string normalize_property(std::string_view n) {
    std::string out;
    for (char c : n) {
        if (c == '_' || c == '-' || c == ' ') continue;
        out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    }
    return out;
}

// The merged ranges for a property name (short or long, any case) or an escape
// ("\\s", "\\d", "\\w", "\\h"); nullptr when the table does not have it.
const CpRanges* property_ranges(std::string_view name) {
    static const std::unordered_map<std::string, CpRanges> table = [] {
        std::unordered_map<std::string, CpRanges> t;
        for (const auto& leaf : uprops::kUnicodeLeaves) {
            CpRanges r;
            for (unsigned i = 0; i < leaf.count; ++i)
                r.emplace_back(uprops::kUnicodeRanges[leaf.first + i][0], uprops::kUnicodeRanges[leaf.first + i][1]);
            t[normalize_property(leaf.name)] = std::move(r);
        }
        for (const auto& u : uprops::kUnicodeUnions) {  // parts precede the unions using them
            CpRanges r;
            std::istringstream parts(u.parts);
            std::string part;
            while (parts >> part) {
                const CpRanges& p = t.at(normalize_property(part));
                r.insert(r.end(), p.begin(), p.end());
            }
            merge_ranges(r);
            t[u.name[0] == '\\' ? std::string(u.name) : normalize_property(u.name)] = std::move(r);
        }
        for (const auto& a : uprops::kUnicodeAliases) t[a.alias] = t.at(normalize_property(a.name));
        return t;
    }();
    const auto it = table.find(name.size() == 2 && name[0] == '\\' ? std::string(name) : normalize_property(name));
    return it == table.end() ? nullptr : &it->second;
}

void append_ranges(std::string& out, const CpRanges& r) {
    char buf[40];
    for (const auto& x : r) {
        if (x.first == x.second)
            std::snprintf(buf, sizeof buf, "\\x{%X}", x.first);
        else
            std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", x.first, x.second);
        out += buf;
    }
}

// Rewrites a tokenizer.json regex (Oniguruma syntax) for PCRE2: \p{X} \P{X} \p{^X}
// (\pX too), \s \S \d \D \w \W \h \H become explicit code-point ranges, outside a
// character class as a class of their own, inside one merged into it (complemented
// for the negated forms). Property names the table lacks (scripts, say) are left
// to PCRE2, which knows them with its own (older) tables or rejects the pattern.
std::string onig_compatible(const std::string& p) {
    // A class of ranges would case-fold under (?i); Oniguruma does not fold a bare \p{X}.
    bool caseless = false;
    for (size_t i = 0; i + 2 < p.size(); ++i) {
        if (p[i] != '(' || p[i + 1] != '?') continue;
        for (size_t k = i + 2; k < p.size() && (std::isalpha(static_cast<unsigned char>(p[k])) || p[k] == '-'); ++k)
            if (p[k] == 'i') caseless = true;
    }
    std::string out;
    out.reserve(p.size());
    bool in_class = false;
    CpRanges acc;  // property ranges of the current class
    for (size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            const char d = p[i + 1];
            const CpRanges* set = nullptr;
            bool neg = false;
            size_t end = i + 2;  // one past the escape
            if (std::strchr("sSdDwWhH", d)) {
                const char lower = static_cast<char>(d | 0x20);
                set = property_ranges(std::string("\\") + lower);
                neg = d != lower;
            } else if (d == 'p' || d == 'P') {
                std::string_view name;
                if (i + 2 < p.size() && p[i + 2] == '{') {
                    const size_t close = p.find('}', i + 3);
                    if (close != std::string::npos) {
                        name = std::string_view(p).substr(i + 3, close - i - 3);
                        end = close + 1;
                    }
                } else if (i + 2 < p.size()) {
                    name = std::string_view(p).substr(i + 2, 1);
                    end = i + 3;
                }
                neg = d == 'P';
                if (!name.empty() && name[0] == '^') {
                    neg = !neg;
                    name.remove_prefix(1);
                }
                if (!name.empty()) set = property_ranges(name);
            }
            if (!set) {  // any other escape: copied as is
                out += c;
                out += d;
                ++i;
                continue;
            }
            if (in_class) {
                if (neg) {
                    const CpRanges inv = complement_ranges(*set);
                    acc.insert(acc.end(), inv.begin(), inv.end());
                } else {
                    acc.insert(acc.end(), set->begin(), set->end());
                }
            } else {
                out += caseless ? "(?-i:[" : "[";
                if (neg) out += '^';
                append_ranges(out, *set);
                out += caseless ? "])" : "]";
            }
            i = end - 1;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            acc.clear();
            out += c;
            if (i + 1 < p.size() && p[i + 1] == '^') { out += '^'; ++i; }
            if (i + 1 < p.size() && p[i + 1] == ']') { out += ']'; ++i; }  // literal ] first
            continue;
        }
        if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // POSIX [:name:], left to PCRE2
            const size_t close = p.find(":]", i + 2);
            if (close != std::string::npos) {
                out.append(p, i, close + 2 - i);
                i = close + 1;
                continue;
            }
        }
        if (in_class && c == ']') {
            in_class = false;
            merge_ranges(acc);
            append_ranges(out, acc);
        }
        out += c;
    }
    return out;
}

class Regex {
public:
    Regex(const std::string& file, const std::string& pattern, bool literal) : pattern_(pattern) {
        const std::string compiled = literal ? pattern : onig_compatible(pattern);
        int err = 0;
        PCRE2_SIZE off = 0;
        uint32_t opts = PCRE2_UTF | PCRE2_NO_UTF_CHECK;
        opts |= literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE;
        pcre2_compile_context* cc = pcre2_compile_context_create(nullptr);
        pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()), compiled.size(), opts, &err, &off, cc);
        pcre2_compile_context_free(cc);
        if (!code_) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            fail(MOLA_ERR_BAD_FORMAT, file + ": regex '" + pattern + "' does not compile: " +
                                          reinterpret_cast<const char*>(msg) + " (at offset " + std::to_string(off) + ")");
        }
        jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
    }
    ~Regex() { pcre2_code_free(code_); }
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Finds the first match in s at or after start.
    bool find(std::string_view s, size_t start, size_t& ms, size_t& me) const {
        MatchScratch& m = match_scratch();
        const auto subject = reinterpret_cast<PCRE2_SPTR>(s.data());
        int rc = jit_ ? pcre2_jit_match(code_, subject, s.size(), start, 0, m.md, m.mc)
                      : pcre2_match(code_, subject, s.size(), start, PCRE2_NO_UTF_CHECK, m.md, m.mc);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(code_, subject, s.size(), start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, m.md, m.mc);
        if (rc < 0) {
            if (rc == PCRE2_ERROR_NOMATCH) return false;
            fail(MOLA_ERR_INVALID_ARG, "regex '" + pattern_ + "' failed to match (PCRE2 error " + std::to_string(rc) + ")");
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.md);
        ms = ov[0];
        me = ov[1];
        return true;
    }

    // All matches, as Oniguruma's find_iter yields them (an empty match right after
    // the previous match is skipped).
    template <class F>
    void for_each(std::string_view s, F&& f) const {
        size_t pos = 0;
        size_t last_end = static_cast<size_t>(-1);
        while (pos <= s.size()) {
            size_t ms, me;
            if (!find(s, pos, ms, me)) break;
            if (ms == me && me == last_end) {
                if (pos >= s.size()) break;
                pos += utf8_len(static_cast<unsigned char>(s[pos]));
                continue;
            }
            f(ms, me);
            last_end = me;
            pos = me;
        }
    }

    const std::string& pattern() const { return pattern_; }

private:
    std::string pattern_;
    pcre2_code* code_ = nullptr;
    bool jit_ = false;
};

// A Split/Replace "pattern": {"String": s} or {"Regex": r}.
std::unique_ptr<Regex> make_pattern(const std::string& file, const json& pat, const char* where) {
    if (pat.is_object() && pat.contains("String") && pat["String"].is_string())
        return std::make_unique<Regex>(file, pat["String"].get<std::string>(), true);
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string())
        return std::make_unique<Regex>(file, pat["Regex"].get<std::string>(), false);
    if (pat.is_string()) return std::make_unique<Regex>(file, pat.get<std::string>(), true);
    fail(MOLA_ERR_BAD_FORMAT, file + ": " + where + ": pattern must be {\"String\": ...} or {\"Regex\": ...}, got " + pat.dump());
}

// ---------------------------------------------------------------------------
// Pre-tokenized pieces: spans of an arena string.

struct Piece {
    uint32_t off, len;
    bool first;  // starts at original offset 0 (Metaspace prepend_scheme "first")
};

struct Work {
    std::string arena;
    std::vector<Piece> pieces, next;
    struct Span { uint32_t s, e; bool m; };
    std::vector<Span> spans, merged;
    std::string scratch, norm;
    std::vector<int32_t> word;
};

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const std::string& file, const json& j) {
    const std::string b = j.is_string() ? j.get<std::string>() : "";
    if (b == "Removed") return Behavior::Removed;
    if (b == "Isolated") return Behavior::Isolated;
    if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
    if (b == "MergedWithNext") return Behavior::MergedWithNext;
    if (b == "Contiguous") return Behavior::Contiguous;
    fail(MOLA_ERR_BAD_FORMAT, file + ": unknown split behavior " + j.dump() +
                                  " (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

// Turns the match spans of a piece into pieces per the behavior (HF's
// NormalizedString::split), appending to out.
void apply_behavior(Work& w, const Piece& p, Behavior b, std::vector<Piece>& out) {
    auto& sp = w.spans;
    auto& mg = w.merged;
    mg.clear();
    switch (b) {
        case Behavior::Isolated:
            mg = sp;
            break;
        case Behavior::Removed:
            for (auto& s : sp)
                if (!s.m) mg.push_back(s);
            break;
        case Behavior::MergedWithPrevious: {
            bool prev = false;
            for (auto& s : sp) {
                if (s.m && !prev && !mg.empty()) mg.back().e = s.e;
                else mg.push_back({s.s, s.e, false});
                prev = s.m;
            }
            break;
        }
        case Behavior::MergedWithNext: {
            bool prev = false;
            for (size_t k = sp.size(); k-- > 0;) {
                const auto& s = sp[k];
                if (s.m && !prev && !mg.empty()) mg.back().s = s.s;
                else mg.push_back({s.s, s.e, false});
                prev = s.m;
            }
            std::reverse(mg.begin(), mg.end());
            break;
        }
        case Behavior::Contiguous: {
            bool prev = false;
            for (auto& s : sp) {
                if (s.m == prev && !mg.empty()) mg.back().e = s.e;
                else mg.push_back({s.s, s.e, false});
                prev = s.m;
            }
            break;
        }
    }
    for (auto& s : mg)
        if (s.e > s.s) out.push_back({p.off + s.s, s.e - s.s, p.first && s.s == 0});
}

// Spans of a piece from a regex (invert flips the match flags).
void regex_spans(Work& w, const Regex& re, std::string_view s, bool invert) {
    auto& sp = w.spans;
    sp.clear();
    uint32_t prev = 0;
    re.for_each(s, [&](size_t ms, size_t me) {
        if (prev != ms) sp.push_back({prev, static_cast<uint32_t>(ms), invert});
        sp.push_back({static_cast<uint32_t>(ms), static_cast<uint32_t>(me), !invert});
        prev = static_cast<uint32_t>(me);
    });
    if (prev != s.size()) sp.push_back({prev, static_cast<uint32_t>(s.size()), invert});
}

// Spans of a piece from a char predicate (each matching char is its own match).
template <class Pred>
void char_spans(Work& w, std::string_view s, Pred pred) {
    auto& sp = w.spans;
    sp.clear();
    uint32_t last = 0;
    size_t i = 0;
    while (i < s.size()) {
        const size_t b = i;
        const uint32_t c = next_cp(s, i);
        if (pred(c)) {
            if (last < b) sp.push_back({last, static_cast<uint32_t>(b), false});
            sp.push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(i), true});
            last = static_cast<uint32_t>(i);
        }
    }
    if (last < s.size()) sp.push_back({last, static_cast<uint32_t>(s.size()), false});
}

// ---------------------------------------------------------------------------
// Normalizers: whole-string transforms.

struct Normalizer {
    virtual ~Normalizer() = default;
    // lead_cut: set when the first character left no longer starts at original
    // offset 0 (Metaspace's prepend_scheme "first" looks at that).
    virtual void apply(std::string& s, bool& lead_cut) const = 0;
};

struct SeqNormalizer : Normalizer {
    std::vector<std::unique_ptr<Normalizer>> items;
    void apply(std::string& s, bool& lead_cut) const override {
        for (auto& n : items) n->apply(s, lead_cut);
    }
};

struct UnicodeNormalizer : Normalizer {
    int options;
    explicit UnicodeNormalizer(int o) : options(o) {}
    void apply(std::string& s, bool&) const override {
        bool ascii = true;
        for (char c : s)
            if (static_cast<unsigned char>(c) >= 0x80) { ascii = false; break; }
        if (ascii || s.empty()) return;
        utf8proc_uint8_t* dst = nullptr;
        const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                                static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                                static_cast<utf8proc_option_t>(options));
        if (n >= 0) s.assign(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
        std::free(dst);
    }
};

struct LowercaseNormalizer : Normalizer {
    void apply(std::string& s, bool&) const override {
        std::string out;
        out.reserve(s.size());
        size_t i = 0;
        while (i < s.size()) {
            const unsigned char c = static_cast<unsigned char>(s[i]);
            if (c < 0x80) {
                out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
                ++i;
                continue;
            }
            const uint32_t cp = next_cp(s, i);
            if (cp == 0x130) {  // the one unconditional multi-char lowercase mapping
                out.append("i\xCC\x87");
                continue;
            }
            append_cp(out, static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
        }
        s.swap(out);
    }
};

struct StripNormalizer : Normalizer {
    bool left, right;
    StripNormalizer(bool l, bool r) : left(l), right(r) {}
    void apply(std::string& s, bool& lead_cut) const override {
        size_t b = 0, e = s.size();
        if (left) {
            while (b < e) {
                size_t i = b;
                if (!is_white_space(next_cp(s, i))) break;
                b = i;
            }
        }
        if (right) {
            while (e > b) {
                size_t k = e - 1;
                while (k > b && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
                size_t i = k;
                if (!is_white_space(next_cp(s, i))) break;
                e = k;
            }
        }
        if (b > 0 && b < e) lead_cut = true;
        s = s.substr(b, e - b);
    }
};

struct PrependNormalizer : Normalizer {
    std::string prefix;
    void apply(std::string& s, bool&) const override {
        if (!s.empty()) s.insert(0, prefix);
    }
};

struct ReplaceNormalizer : Normalizer {
    std::unique_ptr<Regex> re;
    std::string content;
    void apply(std::string& s, bool& lead_cut) const override {
        std::string out;
        size_t prev = 0;
        re->for_each(s, [&](size_t ms, size_t me) {
            if (ms == 0 && me > 0 && content.empty()) lead_cut = true;
            out.append(s, prev, ms - prev);
            out += content;
            prev = me;
        });
        if (prev == 0 && out.empty()) return;
        out.append(s, prev, std::string::npos);
        s.swap(out);
    }
};

std::unique_ptr<Normalizer> make_normalizer(const std::string& file, const json& j) {
    if (j.is_null()) return nullptr;
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        fail(MOLA_ERR_BAD_FORMAT, file + ": normalizer without a \"type\": " + j.dump().substr(0, 200));
    const std::string type = j["type"];
    if (type == "Sequence") {
        auto seq = std::make_unique<SeqNormalizer>();
        if (!j.contains("normalizers") || !j["normalizers"].is_array())
            fail(MOLA_ERR_BAD_FORMAT, file + ": Sequence normalizer without a \"normalizers\" array");
        for (const auto& n : j["normalizers"])
            if (auto p = make_normalizer(file, n)) seq->items.push_back(std::move(p));
        if (seq->items.empty()) return nullptr;
        return seq;
    }
    if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
    if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
    if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
    if (type == "Strip")
        return std::make_unique<StripNormalizer>(j.value("strip_left", true), j.value("strip_right", true));
    if (type == "Prepend") {
        auto p = std::make_unique<PrependNormalizer>();
        p->prefix = j.value("prepend", std::string());
        return p;
    }
    if (type == "Replace") {
        auto p = std::make_unique<ReplaceNormalizer>();
        p->re = make_pattern(file, j.value("pattern", json()), "Replace normalizer");
        p->content = j.value("content", std::string());
        return p;
    }
    fail(MOLA_ERR_UNSUPPORTED, file + ": normalizer type '" + type +
                                   "' is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, "
                                   "Strip, Prepend, Replace)");
}

// ---------------------------------------------------------------------------
// Pre-tokenizers

struct PreTokenizer {
    virtual ~PreTokenizer() = default;
    // Splits every piece of w.pieces (results replace them).
    virtual void run(Work& w) const = 0;
};

struct SplitPre : PreTokenizer {
    std::unique_ptr<Regex> re;
    Behavior behavior = Behavior::Isolated;
    bool invert = false;
    void run(Work& w) const override {
        w.next.clear();
        for (const Piece& p : w.pieces) {
            const std::string_view s(w.arena.data() + p.off, p.len);
            regex_spans(w, *re, s, invert);
            apply_behavior(w, p, behavior, w.next);
        }
        w.pieces.swap(w.next);
    }
};

// Splits on a char predicate.
struct CharSplitPre : PreTokenizer {
    std::function<bool(uint32_t)> pred;
    Behavior behavior;
    void run(Work& w) const override {
        w.next.clear();
        for (const Piece& p : w.pieces) {
            char_spans(w, std::string_view(w.arena.data() + p.off, p.len), pred);
            apply_behavior(w, p, behavior, w.next);
        }
        w.pieces.swap(w.next);
    }
};

struct ByteLevelPre : PreTokenizer {
    bool add_prefix_space = false;
    std::unique_ptr<Regex> re;  // the GPT-2 pattern when use_regex
    bool materialize = false;   // map bytes to chars now (not the last pre-tokenizer)
    void run(Work& w) const override {
        if (add_prefix_space) {
            for (Piece& p : w.pieces) {
                if (p.len > 0 && w.arena[p.off] == ' ') continue;
                const uint32_t off = static_cast<uint32_t>(w.arena.size());
                w.arena.push_back(' ');
                w.arena.append(w.arena.data() + p.off, p.len);
                p = {off, p.len + 1, p.first};
            }
        }
        if (re) {
            w.next.clear();
            for (const Piece& p : w.pieces) {
                regex_spans(w, *re, std::string_view(w.arena.data() + p.off, p.len), false);
                apply_behavior(w, p, Behavior::Isolated, w.next);
            }
            w.pieces.swap(w.next);
        }
        if (materialize) {
            const ByteTable& t = byte_table();
            for (Piece& p : w.pieces) {
                const uint32_t off = static_cast<uint32_t>(w.arena.size());
                for (uint32_t k = 0; k < p.len; ++k)
                    w.arena += t.byte_to_utf8[static_cast<unsigned char>(w.arena[p.off + k])];
                p = {off, static_cast<uint32_t>(w.arena.size()) - off, p.first};
            }
        }
    }
};

enum class Prepend { Always, First, Never };

struct MetaspacePre : PreTokenizer {
    std::string rep;
    Prepend scheme = Prepend::Always;
    bool split = true;
    void run(Work& w) const override {
        w.next.clear();
        for (Piece p : w.pieces) {
            std::string_view s(w.arena.data() + p.off, p.len);
            const bool has = s.find(' ') != std::string_view::npos;
            const bool starts = s.substr(0, rep.size()) == rep || (has && s[0] == ' ');
            const bool pre = (scheme == Prepend::Always || (scheme == Prepend::First && p.first)) && !starts;
            if (has || pre) {
                std::string& t = w.scratch;
                t.clear();
                if (pre) t += rep;
                for (char c : s) {
                    if (c == ' ') t += rep;
                    else t += c;
                }
                const uint32_t off = static_cast<uint32_t>(w.arena.size());
                w.arena += t;
                p = {off, static_cast<uint32_t>(t.size()), p.first};
                s = std::string_view(w.arena.data() + p.off, p.len);
            }
            if (!split) {
                if (p.len) w.next.push_back(p);
                continue;
            }
            auto& sp = w.spans;
            sp.clear();
            uint32_t last = 0;
            size_t pos = 0;
            while ((pos = s.find(rep, pos)) != std::string_view::npos) {
                if (last < pos) sp.push_back({last, static_cast<uint32_t>(pos), false});
                sp.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + rep.size()), true});
                pos += rep.size();
                last = static_cast<uint32_t>(pos);
            }
            if (last < s.size()) sp.push_back({last, static_cast<uint32_t>(s.size()), false});
            apply_behavior(w, p, Behavior::MergedWithNext, w.next);
        }
        w.pieces.swap(w.next);
    }
};

struct SeqPre : PreTokenizer {
    std::vector<std::unique_ptr<PreTokenizer>> items;
    void run(Work& w) const override {
        for (auto& p : items) p->run(w);
    }
};

const char* kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

Prepend parse_prepend(const std::string& file, const json& j) {
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
        const std::string s = j["prepend_scheme"];
        if (s == "always") return Prepend::Always;
        if (s == "first") return Prepend::First;
        if (s == "never") return Prepend::Never;
        fail(MOLA_ERR_BAD_FORMAT, file + ": unknown prepend_scheme '" + s + "' (always, first, never)");
    }
    return j.value("add_prefix_space", true) ? Prepend::Always : Prepend::Never;
}

std::string metaspace_replacement(const json& j) {
    if (j.contains("replacement") && j["replacement"].is_string()) return j["replacement"];
    if (j.contains("str_rep") && j["str_rep"].is_string()) return j["str_rep"];
    return "\xE2\x96\x81";
}

// Flattens nested Sequences so "is ByteLevel last" is easy to see.
void flatten_pre(const std::string& file, const json& j, std::vector<const json*>& out) {
    if (j.is_null()) return;
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        fail(MOLA_ERR_BAD_FORMAT, file + ": pre_tokenizer without a \"type\": " + j.dump().substr(0, 200));
    if (j["type"] == "Sequence") {
        if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
            fail(MOLA_ERR_BAD_FORMAT, file + ": Sequence pre_tokenizer without a \"pretokenizers\" array");
        for (const auto& p : j["pretokenizers"]) flatten_pre(file, p, out);
        return;
    }
    out.push_back(&j);
}

std::unique_ptr<PreTokenizer> make_pre(const std::string& file, const json& j, bool last) {
    const std::string type = j["type"];
    if (type == "Split") {
        auto p = std::make_unique<SplitPre>();
        p->re = make_pattern(file, j.value("pattern", json()), "Split pre_tokenizer");
        p->behavior = parse_behavior(file, j.value("behavior", json("Isolated")));
        p->invert = j.value("invert", false);
        return p;
    }
    if (type == "ByteLevel") {
        auto p = std::make_unique<ByteLevelPre>();
        p->add_prefix_space = j.value("add_prefix_space", true);
        if (j.value("use_regex", true)) p->re = std::make_unique<Regex>(file, kGpt2Pattern, false);
        p->materialize = !last;
        return p;
    }
    if (type == "Digits") {
        auto p = std::make_unique<CharSplitPre>();
        p->pred = is_numeric_char;
        p->behavior = j.value("individual_digits", false) ? Behavior::Isolated : Behavior::Contiguous;
        return p;
    }
    if (type == "Punctuation") {
        auto p = std::make_unique<CharSplitPre>();
        p->pred = is_punct_char;
        p->behavior = parse_behavior(file, j.value("behavior", json("Isolated")));
        return p;
    }
    if (type == "WhitespaceSplit") {
        auto p = std::make_unique<CharSplitPre>();
        p->pred = is_white_space;
        p->behavior = Behavior::Removed;
        return p;
    }
    if (type == "Whitespace") {
        auto p = std::make_unique<SplitPre>();
        p->re = std::make_unique<Regex>(
            file, "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]+|[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}\\s]+",
            false);
        p->behavior = Behavior::Removed;
        p->invert = true;
        return p;
    }
    if (type == "Metaspace") {
        auto p = std::make_unique<MetaspacePre>();
        p->rep = metaspace_replacement(j);
        p->scheme = parse_prepend(file, j);
        p->split = j.value("split", true);
        return p;
    }
    fail(MOLA_ERR_UNSUPPORTED, file + ": pre_tokenizer type '" + type +
                                   "' is not supported (supported: Sequence, Split, ByteLevel, Digits, Metaspace, "
                                   "Punctuation, Whitespace, WhitespaceSplit)");
}

// ---------------------------------------------------------------------------
// Decoders: on a list of token strings, as HF's decode_chain.

struct Decoder {
    virtual ~Decoder() = default;
    // piece: decoding one token for token_to_piece (no first-token stripping, raw bytes).
    virtual void run(std::vector<std::string>& toks, bool piece) const = 0;
};

struct SeqDecoder : Decoder {
    std::vector<std::unique_ptr<Decoder>> items;
    void run(std::vector<std::string>& t, bool piece) const override {
        for (auto& d : items) d->run(t, piece);
    }
};

struct ByteLevelDecoder : Decoder {
    void run(std::vector<std::string>& t, bool piece) const override {
        std::string bytes;
        for (const auto& tok : t)
            if (!byte_level_unmap(tok, bytes)) bytes += tok;
        t.assign(1, piece ? bytes : lossy_utf8(bytes));
    }
};

struct ReplaceDecoder : Decoder {
    std::unique_ptr<Regex> re;
    std::string content;
    void run(std::vector<std::string>& t, bool) const override {
        for (auto& s : t) {
            std::string out;
            size_t prev = 0;
            re->for_each(s, [&](size_t ms, size_t me) {
                out.append(s, prev, ms - prev);
                out += content;
                prev = me;
            });
            out.append(s, prev, std::string::npos);
            s.swap(out);
        }
    }
};

// <0xNN> -> the byte value, or -1.
int byte_token_value(std::string_view t) {
    if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    const int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

struct ByteFallbackDecoder : Decoder {
    void run(std::vector<std::string>& t, bool piece) const override {
        std::vector<std::string> out;
        std::string bytes;
        size_t nbytes = 0;
        auto flush = [&]() {
            if (!nbytes) return;
            std::string tmp;
            if (piece || !sanitize_utf8(bytes, tmp)) out.push_back(bytes);
            else {
                std::string rep;
                for (size_t k = 0; k < nbytes; ++k) rep += "\xEF\xBF\xBD";
                out.push_back(rep);
            }
            bytes.clear();
            nbytes = 0;
        };
        for (auto& s : t) {
            const int b = byte_token_value(s);
            if (b >= 0) {
                bytes.push_back(static_cast<char>(b));
                ++nbytes;
            } else {
                flush();
                out.push_back(std::move(s));
            }
        }
        flush();
        t.swap(out);
    }
};

struct FuseDecoder : Decoder {
    void run(std::vector<std::string>& t, bool) const override {
        std::string all;
        for (auto& s : t) all += s;
        t.assign(1, all);
    }
};

struct StripDecoder : Decoder {
    std::string content;
    size_t start = 0, stop = 0;
    void run(std::vector<std::string>& t, bool piece) const override {
        if (piece) return;
        for (auto& s : t) {
            size_t b = 0, e = s.size();
            for (size_t k = 0; k < start && s.compare(b, content.size(), content) == 0 && b < e; ++k) b += content.size();
            for (size_t k = 0; k < stop && e - b >= content.size() && s.compare(e - content.size(), content.size(), content) == 0; ++k)
                e -= content.size();
            s = s.substr(b, e - b);
        }
    }
};

struct MetaspaceDecoder : Decoder {
    std::string rep;
    Prepend scheme = Prepend::Always;
    void run(std::vector<std::string>& t, bool piece) const override {
        for (size_t i = 0; i < t.size(); ++i) {
            std::string out;
            const std::string& s = t[i];
            size_t k = 0;
            while (k < s.size()) {
                if (s.compare(k, rep.size(), rep) == 0) {
                    if (!(i == 0 && !piece && scheme != Prepend::Never)) out += ' ';
                    k += rep.size();
                } else {
                    out += s[k++];
                }
            }
            t[i].swap(out);
        }
    }
};

std::unique_ptr<Decoder> make_decoder(const std::string& file, const json& j) {
    if (j.is_null()) return nullptr;
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        fail(MOLA_ERR_BAD_FORMAT, file + ": decoder without a \"type\": " + j.dump().substr(0, 200));
    const std::string type = j["type"];
    if (type == "Sequence") {
        auto seq = std::make_unique<SeqDecoder>();
        if (!j.contains("decoders") || !j["decoders"].is_array())
            fail(MOLA_ERR_BAD_FORMAT, file + ": Sequence decoder without a \"decoders\" array");
        for (const auto& d : j["decoders"])
            if (auto p = make_decoder(file, d)) seq->items.push_back(std::move(p));
        return seq;
    }
    if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<FuseDecoder>();
    if (type == "Replace") {
        auto d = std::make_unique<ReplaceDecoder>();
        d->re = make_pattern(file, j.value("pattern", json()), "Replace decoder");
        d->content = j.value("content", std::string());
        return d;
    }
    if (type == "Strip") {
        auto d = std::make_unique<StripDecoder>();
        d->content = j.value("content", std::string(" "));
        d->start = j.value("start", 0);
        d->stop = j.value("stop", 0);
        return d;
    }
    if (type == "Metaspace") {
        auto d = std::make_unique<MetaspaceDecoder>();
        d->rep = metaspace_replacement(j);
        d->scheme = parse_prepend(file, j);
        return d;
    }
    fail(MOLA_ERR_UNSUPPORTED, file + ": decoder type '" + type +
                                   "' is not supported (supported: Sequence, ByteLevel, ByteFallback, Fuse, "
                                   "Replace, Strip, Metaspace)");
}

// ---------------------------------------------------------------------------
// Merge table: (left id, right id) -> (rank, merged id), open addressing.

class MergeTable {
public:
    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < n * 2 + 16) cap <<= 1;
        keys_.assign(cap, kEmpty);
        vals_.assign(cap, {0, 0});
        mask_ = cap - 1;
    }
    void put(int32_t a, int32_t b, uint32_t rank, int32_t id) {
        const uint64_t k = key(a, b);
        size_t i = slot(k);
        while (keys_[i] != kEmpty && keys_[i] != k) i = (i + 1) & mask_;
        keys_[i] = k;
        vals_[i] = {rank, id};
    }
    bool get(int32_t a, int32_t b, uint32_t& rank, int32_t& id) const {
        if (keys_.empty()) return false;
        const uint64_t k = key(a, b);
        size_t i = slot(k);
        while (true) {
            if (keys_[i] == k) {
                rank = vals_[i].first;
                id = vals_[i].second;
                return true;
            }
            if (keys_[i] == kEmpty) return false;
            i = (i + 1) & mask_;
        }
    }

private:
    static constexpr uint64_t kEmpty = ~0ull;
    static uint64_t key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }
    size_t slot(uint64_t k) const { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
    std::vector<uint64_t> keys_;
    std::vector<std::pair<uint32_t, int32_t>> vals_;
    size_t mask_ = 0;
};

// A bounded, sharded cache from pre-token bytes to ids.
class WordCache {
public:
    bool get(std::string_view key, uint64_t h, std::vector<int32_t>& out) const {
        Shard& s = shards_[h & (kShards - 1)];
        std::lock_guard<std::mutex> lock(s.m);
        auto it = s.map.find(h);
        if (it == s.map.end() || it->second.first != key) return false;
        out.insert(out.end(), it->second.second.begin(), it->second.second.end());
        return true;
    }
    void put(std::string_view key, uint64_t h, const int32_t* ids, size_t n) const {
        Shard& s = shards_[h & (kShards - 1)];
        std::lock_guard<std::mutex> lock(s.m);
        if (s.map.size() >= kPerShard) s.map.clear();
        auto& e = s.map[h];
        e.first.assign(key.data(), key.size());
        e.second.assign(ids, ids + n);
    }

private:
    static constexpr size_t kShards = 64, kPerShard = 4096;
    struct Shard {
        std::mutex m;
        std::unordered_map<uint64_t, std::pair<std::string, std::vector<int32_t>>> map;
    };
    mutable Shard shards_[kShards];
};

// ---------------------------------------------------------------------------
// The tokenizer

struct AddedTok {
    int32_t id;
    std::string content;
    bool single_word, lstrip, rstrip, normalized, special;
};

// Leftmost-longest matcher over added token contents (a byte trie).
class Trie {
public:
    void add(const std::string& s, int idx) {
        if (s.empty()) return;
        int node = 0;
        for (unsigned char c : s) {
            auto& kids = nodes_[node].kids;
            auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(c, 0),
                                       [](const auto& a, const auto& b) { return a.first < b.first; });
            if (it != kids.end() && it->first == c) {
                node = it->second;
            } else {
                const int n = static_cast<int>(nodes_.size());
                kids.insert(it, {c, n});
                nodes_.push_back({});
                node = n;
            }
        }
        nodes_[node].value = idx;
        first_[static_cast<unsigned char>(s[0])] = true;
        empty_ = false;
    }
    bool empty() const { return empty_; }
    // Longest match starting at pos: its length and index, or 0.
    size_t longest_at(std::string_view s, size_t pos, int& idx) const {
        if (!first_[static_cast<unsigned char>(s[pos])]) return 0;
        int node = 0;
        size_t best = 0;
        for (size_t i = pos; i < s.size(); ++i) {
            const auto& kids = nodes_[node].kids;
            const unsigned char c = static_cast<unsigned char>(s[i]);
            auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(c, 0),
                                       [](const auto& a, const auto& b) { return a.first < b.first; });
            if (it == kids.end() || it->first != c) break;
            node = it->second;
            if (nodes_[node].value >= 0) {
                best = i + 1 - pos;
                idx = nodes_[node].value;
            }
        }
        return best;
    }

private:
    struct Node {
        std::vector<std::pair<unsigned char, int>> kids;
        int value = -1;
    };
    std::vector<Node> nodes_{Node{}};
    bool first_[256] = {};
    bool empty_ = true;
};

class BpeTokenizer final : public Tokenizer {
public:
    BpeTokenizer(const std::string& path, const json& config) {
        path_ = path;
        config_ = config.is_object() ? config : json::object();
        load(read_json_file(path));
    }

    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
    std::string decode(const int32_t* ids, size_t n, bool skip_special) const override;
    std::string token_to_piece(int32_t id) const override;
    std::string token_text(int32_t id) const override {
        check_id(id);
        return id_to_text_[static_cast<size_t>(id)];
    }
    int32_t token_id(std::string_view text) const override {
        auto it = added_by_text_.find(std::string(text));
        if (it != added_by_text_.end()) return added_[it->second].id;
        auto v = vocab_.find(std::string(text));
        return v == vocab_.end() ? -1 : v->second;
    }
    bool is_special(int32_t id) const override {
        return id >= 0 && static_cast<size_t>(id) < special_flag_.size() && special_flag_[static_cast<size_t>(id)];
    }
    int32_t n_vocab() const override { return static_cast<int32_t>(id_to_text_.size()); }
    const char* kind() const override { return "bpe"; }

private:
    void load(const json& root);
    void check_id(int32_t id) const {
        if (id < 0 || static_cast<size_t>(id) >= id_to_text_.size())
            fail(MOLA_ERR_INVALID_ARG, path_ + ": token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                                           std::to_string(id_to_text_.size()) + ")");
    }
    // Splits s on added tokens from trie; text parts go to on_text, tokens to out.
    template <class F>
    void split_added(std::string_view s, const Trie& trie, bool parse_special, std::vector<int32_t>& out, F&& on_text) const;
    void encode_segment(Work& w, std::string_view seg, bool first, bool parse_special, std::vector<int32_t>& out) const;
    void encode_pieces(Work& w, std::vector<int32_t>& out) const;
    void model_word(Work& w, std::string_view piece, bool raw, std::vector<int32_t>& out) const;
    void merge(std::vector<int32_t>& ids) const;
    int32_t vocab_get(const std::string& s) const {
        auto it = vocab_.find(s);
        return it == vocab_.end() ? -1 : it->second;
    }

    std::unordered_map<std::string, int32_t> vocab_;      // model vocabulary
    std::unordered_map<std::string, int32_t> raw_vocab_;  // byte-level: raw bytes -> id (ignore_merges)
    std::vector<std::string> id_to_text_;
    std::vector<uint8_t> special_flag_;
    MergeTable merges_;
    bool ignore_merges_ = false, byte_fallback_ = false, fuse_unk_ = false;
    int32_t unk_id_ = -1;
    std::string unk_token_, prefix_, suffix_;
    bool has_unk_ = false;
    int32_t byte_fallback_ids_[256];
    int32_t byte_level_ids_[256];  // id of the byte-level char of each byte, or -1
    bool raw_pieces_ = false;      // pre-tokenizer ends in ByteLevel: pieces are raw bytes
    bool byte_level_complete_ = false;

    std::vector<AddedTok> added_;
    std::unordered_map<std::string, size_t> added_by_text_;
    std::unordered_map<int32_t, size_t> added_by_id_;
    Trie raw_trie_, norm_trie_;

    std::unique_ptr<Normalizer> normalizer_;
    std::unique_ptr<PreTokenizer> pre_;
    std::unique_ptr<Decoder> decoder_;
    std::vector<int32_t> post_prefix_, post_suffix_;

    mutable WordCache cache_;
};

std::string as_string_token(const json& j) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"];
    return "";
}

void BpeTokenizer::load(const json& root) {
    const std::string& file = path_;
    if (!root.is_object()) fail(MOLA_ERR_BAD_FORMAT, file + ": not a JSON object");
    if (!root.contains("model") || !root["model"].is_object())
        fail(MOLA_ERR_BAD_FORMAT, file + ": no \"model\" object; not a Hugging Face tokenizer.json");
    const json& model = root["model"];
    const std::string mtype = model.value("type", std::string());
    if (mtype != "BPE") {
        if (mtype.empty() && model.contains("merges") && model.contains("vocab")) {
            // Old files omit the type of a BPE model.
        } else {
            fail(MOLA_ERR_UNSUPPORTED, file + ": model type '" + (mtype.empty() ? std::string("(none)") : mtype) +
                                           "' is not supported; only \"BPE\" tokenizer.json files are (or a "
                                           "SentencePiece .model)");
        }
    }
    if (model.contains("dropout") && !model["dropout"].is_null() &&
        !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0))
        fail(MOLA_ERR_UNSUPPORTED, file + ": BPE dropout " + model["dropout"].dump() + " is not supported (inference needs null)");
    if (!model.contains("vocab") || !model["vocab"].is_object())
        fail(MOLA_ERR_BAD_FORMAT, file + ": model has no \"vocab\" object");
    if (!model.contains("merges") || !model["merges"].is_array())
        fail(MOLA_ERR_BAD_FORMAT, file + ": model has no \"merges\" array");

    int32_t max_id = -1;
    vocab_.reserve(model["vocab"].size() * 2);
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
        if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT32_MAX)
            fail(MOLA_ERR_BAD_FORMAT, file + ": vocab entry '" + it.key() + "' has a bad id " + it.value().dump());
        const int32_t id = it.value().get<int32_t>();
        vocab_[it.key()] = id;
        max_id = std::max(max_id, id);
    }
    auto opt_string = [&](const char* key) -> std::string {
        return model.contains(key) && model[key].is_string() ? model[key].get<std::string>() : std::string();
    };
    prefix_ = opt_string("continuing_subword_prefix");
    suffix_ = opt_string("end_of_word_suffix");
    unk_token_ = opt_string("unk_token");
    has_unk_ = model.contains("unk_token") && model["unk_token"].is_string();
    ignore_merges_ = model.value("ignore_merges", false);
    byte_fallback_ = model.value("byte_fallback", false);
    fuse_unk_ = model.value("fuse_unk", false);
    if (has_unk_) {
        unk_id_ = vocab_get(unk_token_);
        if (unk_id_ < 0) fail(MOLA_ERR_BAD_FORMAT, file + ": unk_token '" + unk_token_ + "' is not in the vocabulary");
    }

    const json& merges = model["merges"];
    merges_.reserve(merges.size());
    std::string a, b;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const json& m = merges[rank];
        if (m.is_string()) {
            const std::string& line = m.get_ref<const std::string&>();
            const size_t sp = line.find(' ');
            if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
                fail(MOLA_ERR_BAD_FORMAT, file + ": merge " + std::to_string(rank) + " '" + line + "' is not two tokens separated by one space");
            a.assign(line, 0, sp);
            b.assign(line, sp + 1, std::string::npos);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            a = m[0].get<std::string>();
            b = m[1].get<std::string>();
        } else {
            fail(MOLA_ERR_BAD_FORMAT, file + ": merge " + std::to_string(rank) + " is neither \"a b\" nor [a, b]: " + m.dump());
        }
        const int32_t ia = vocab_get(a), ib = vocab_get(b);
        if (ia < 0 || ib < 0)
            fail(MOLA_ERR_BAD_FORMAT, file + ": merge " + std::to_string(rank) + " (" + a + " " + b + ") refers to '" +
                                          (ia < 0 ? a : b) + "', which is not in the vocabulary");
        const std::string merged = a + (b.size() >= prefix_.size() ? b.substr(prefix_.size()) : std::string());
        const int32_t im = vocab_get(merged);
        if (im < 0)
            fail(MOLA_ERR_BAD_FORMAT, file + ": merge " + std::to_string(rank) + " (" + a + " " + b + ") makes '" + merged +
                                          "', which is not in the vocabulary");
        merges_.put(ia, ib, static_cast<uint32_t>(rank), im);
    }

    // Added tokens.
    if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
        if (!root["added_tokens"].is_array()) fail(MOLA_ERR_BAD_FORMAT, file + ": \"added_tokens\" is not an array");
        for (const json& t : root["added_tokens"]) {
            if (!t.is_object() || !t.contains("content") || !t["content"].is_string() || !t.contains("id") ||
                !t["id"].is_number_integer() || t["id"].get<int64_t>() < 0 || t["id"].get<int64_t>() > INT32_MAX)
                fail(MOLA_ERR_BAD_FORMAT, file + ": bad added token " + t.dump().substr(0, 200));
            AddedTok a2;
            a2.content = t["content"];
            if (a2.content.empty()) continue;
            const bool special = t.value("special", false);
            a2.special = special;
            a2.single_word = t.value("single_word", false);
            a2.lstrip = t.value("lstrip", false);
            a2.rstrip = t.value("rstrip", false);
            a2.normalized = t.value("normalized", !special);
            auto in_vocab = vocab_.find(a2.content);
            a2.id = in_vocab != vocab_.end() ? in_vocab->second : t["id"].get<int32_t>();
            auto dup = added_by_text_.find(a2.content);
            if (dup != added_by_text_.end()) {
                added_[dup->second] = a2;
                continue;
            }
            added_by_text_[a2.content] = added_.size();
            added_.push_back(a2);
        }
    }
    for (size_t k = 0; k < added_.size(); ++k) {
        added_by_id_[added_[k].id] = k;
        max_id = std::max(max_id, added_[k].id);
    }

    id_to_text_.assign(static_cast<size_t>(max_id + 1), std::string());
    special_flag_.assign(static_cast<size_t>(max_id + 1), 0);
    for (const auto& kv : vocab_) id_to_text_[static_cast<size_t>(kv.second)] = kv.first;
    for (const auto& t : added_) {
        id_to_text_[static_cast<size_t>(t.id)] = t.content;
        special_flag_[static_cast<size_t>(t.id)] = t.special;
    }

    normalizer_ = make_normalizer(file, root.value("normalizer", json()));

    // Tries: special tokens first, then the others, as HF orders them; a token is
    // matched on normalized text iff its normalized flag is set.
    std::vector<size_t> order;
    for (size_t k = 0; k < added_.size(); ++k)
        if (added_[k].special) order.push_back(k);
    for (size_t k = 0; k < added_.size(); ++k)
        if (!added_[k].special) order.push_back(k);
    for (size_t k : order) {
        const AddedTok& t = added_[k];
        if (!t.normalized) {
            raw_trie_.add(t.content, static_cast<int>(k));
        } else {
            std::string c = t.content;
            bool cut = false;
            if (normalizer_) normalizer_->apply(c, cut);
            norm_trie_.add(c, static_cast<int>(k));
        }
    }

    std::vector<const json*> pres;
    static const json kNull;
    flatten_pre(file, root.contains("pre_tokenizer") ? root["pre_tokenizer"] : kNull, pres);
    if (!pres.empty()) {
        auto seq = std::make_unique<SeqPre>();
        for (size_t k = 0; k < pres.size(); ++k) seq->items.push_back(make_pre(file, *pres[k], k + 1 == pres.size()));
        raw_pieces_ = (*pres.back())["type"] == "ByteLevel";
        pre_ = std::move(seq);
    }
    decoder_ = make_decoder(file, root.value("decoder", json()));

    // Post-processor (single sequence): ids before and after.
    std::function<void(const json&)> post = [&](const json& p) {
        if (p.is_null()) return;
        if (!p.is_object() || !p.contains("type") || !p["type"].is_string())
            fail(MOLA_ERR_BAD_FORMAT, file + ": post_processor without a \"type\"");
        const std::string type = p["type"];
        if (type == "Sequence") {
            for (const auto& q : p.value("processors", json::array())) post(q);
        } else if (type == "ByteLevel") {
        } else if (type == "TemplateProcessing") {
            std::vector<int32_t> pre, suf;
            bool seen_a = false;
            const json specials = p.value("special_tokens", json::object());
            for (const auto& item : p.value("single", json::array())) {
                if (item.contains("Sequence")) {
                    seen_a = true;
                    continue;
                }
                if (!item.contains("SpecialToken"))
                    fail(MOLA_ERR_BAD_FORMAT, file + ": TemplateProcessing item " + item.dump() + " is not understood");
                const std::string name = item["SpecialToken"].value("id", std::string());
                if (!specials.contains(name) || !specials[name].contains("ids"))
                    fail(MOLA_ERR_BAD_FORMAT, file + ": TemplateProcessing uses '" + name + "', which is not in its special_tokens");
                for (const auto& id : specials[name]["ids"]) (seen_a ? suf : pre).push_back(id.get<int32_t>());
            }
            post_prefix_.insert(post_prefix_.begin(), pre.begin(), pre.end());
            post_suffix_.insert(post_suffix_.end(), suf.begin(), suf.end());
        } else if (type == "RobertaProcessing" || type == "BertProcessing") {
            const json cls = p.value("cls", json()), sep = p.value("sep", json());
            if (!cls.is_array() || cls.size() != 2 || !sep.is_array() || sep.size() != 2)
                fail(MOLA_ERR_BAD_FORMAT, file + ": " + type + " needs \"cls\" and \"sep\" pairs");
            post_prefix_.insert(post_prefix_.begin(), cls[1].get<int32_t>());
            post_suffix_.push_back(sep[1].get<int32_t>());
        } else {
            fail(MOLA_ERR_UNSUPPORTED, file + ": post_processor type '" + type +
                                           "' is not supported (supported: Sequence, TemplateProcessing, ByteLevel, "
                                           "RobertaProcessing, BertProcessing)");
        }
    };
    post(root.value("post_processor", json()));
    // transformers' Llama-style fast tokenizers rebuild the template from
    // add_bos_token / add_eos_token in tokenizer_config.json; other classes
    // (PreTrainedTokenizerFast) keep the file's post_processor.
    const std::string tokenizer_class = config_.value("tokenizer_class", std::string());
    const bool llama_style = tokenizer_class.rfind("LlamaTokenizer", 0) == 0 ||
                             tokenizer_class.rfind("CodeLlamaTokenizer", 0) == 0;
    if (llama_style && (config_.contains("add_bos_token") || config_.contains("add_eos_token"))) {
        post_prefix_.clear();
        post_suffix_.clear();
        auto id_of = [&](const char* key) -> int32_t {
            const std::string t = config_.contains(key) ? as_string_token(config_[key]) : std::string();
            return t.empty() ? -1 : token_id(t);
        };
        if (config_.value("add_bos_token", false) && id_of("bos_token") >= 0) post_prefix_.push_back(id_of("bos_token"));
        if (config_.value("add_eos_token", false) && id_of("eos_token") >= 0) post_suffix_.push_back(id_of("eos_token"));
    }

    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        byte_fallback_ids_[b] = vocab_get(name);
    }
    byte_level_complete_ = true;
    for (int b = 0; b < 256; ++b) {
        byte_level_ids_[b] = prefix_.empty() && suffix_.empty() ? vocab_get(byte_table().byte_to_utf8[b]) : -1;
        if (byte_level_ids_[b] < 0) byte_level_complete_ = false;
    }
    if (raw_pieces_ && ignore_merges_) {
        std::string bytes;
        for (const auto& kv : vocab_) {
            bytes.clear();
            if (byte_level_unmap(kv.first, bytes)) raw_vocab_.emplace(bytes, kv.second);
        }
    }
}

template <class F>
void BpeTokenizer::split_added(std::string_view s, const Trie& trie, bool parse_special, std::vector<int32_t>& out,
                               F&& on_text) const {
    if (trie.empty()) {
        on_text(0, s.size());
        return;
    }
    size_t start_offset = 0;
    size_t pos = 0;
    while (pos < s.size()) {
        int idx = -1;
        const size_t len = trie.longest_at(s, pos, idx);
        if (len == 0) {
            ++pos;
            continue;
        }
        const AddedTok& t = added_[static_cast<size_t>(idx)];
        size_t start = pos, stop = pos + len;
        pos = stop;  // matches never overlap
        if (!parse_special && t.special) continue;
        if (t.single_word) {
            bool word_before = false, word_after = false;
            if (start > 0) {
                size_t k = start - 1;
                while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
                size_t i = k;
                word_before = is_word_char(next_cp(s, i));
            }
            if (stop < s.size()) {
                size_t i = stop;
                word_after = is_word_char(next_cp(s, i));
            }
            if (word_before || word_after) continue;
        }
        if (t.lstrip) {
            size_t k = start;
            while (k > 0) {
                size_t b = k - 1;
                while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
                size_t i = b;
                if (!is_white_space(next_cp(s, i))) break;
                k = b;
            }
            start = std::max(k, start_offset);
        }
        if (t.rstrip) {
            while (stop < s.size()) {
                size_t i = stop;
                if (!is_white_space(next_cp(s, i))) break;
                stop = i;
            }
        }
        if (start_offset < start) on_text(start_offset, start);
        out.push_back(t.id);
        start_offset = stop;
    }
    if (start_offset < s.size()) on_text(start_offset, s.size());
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    thread_local Work w;
    thread_local std::string clean;
    std::string_view s = text;
    if (sanitize_utf8(text, clean)) s = clean;
    std::vector<int32_t> out;
    out.reserve(s.size() / 3 + 8);
    if (add_special) out.insert(out.end(), post_prefix_.begin(), post_prefix_.end());
    split_added(s, raw_trie_, parse_special, out, [&](size_t b, size_t e) {
        encode_segment(w, s.substr(b, e - b), b == 0, parse_special, out);
    });
    if (add_special) out.insert(out.end(), post_suffix_.begin(), post_suffix_.end());
    return out;
}

void BpeTokenizer::encode_segment(Work& w, std::string_view seg, bool first, bool parse_special,
                                  std::vector<int32_t>& out) const {
    std::string_view text = seg;
    if (normalizer_) {
        w.norm.assign(seg.data(), seg.size());
        bool cut = false;
        normalizer_->apply(w.norm, cut);
        if (cut) first = false;
        text = w.norm;
    }
    auto run = [&](size_t b, size_t e) {
        w.arena.assign(text.data() + b, e - b);
        w.pieces.clear();
        if (e > b) w.pieces.push_back({0, static_cast<uint32_t>(e - b), first && b == 0});
        if (pre_) pre_->run(w);
        encode_pieces(w, out);
    };
    if (norm_trie_.empty()) run(0, text.size());
    else {
        // text may live in w.norm, which run() does not touch.
        split_added(text, norm_trie_, parse_special, out, run);
    }
}

void BpeTokenizer::encode_pieces(Work& w, std::vector<int32_t>& out) const {
    for (const Piece& p : w.pieces) {
        if (!p.len) continue;
        model_word(w, std::string_view(w.arena.data() + p.off, p.len), raw_pieces_, out);
    }
}

void BpeTokenizer::model_word(Work& w, std::string_view piece, bool raw, std::vector<int32_t>& out) const {
    if (raw && byte_level_complete_ && piece.size() == 1) {
        out.push_back(byte_level_ids_[static_cast<unsigned char>(piece[0])]);
        return;
    }
    if (ignore_merges_) {
        w.scratch.assign(piece.data(), piece.size());
        const auto& v = raw ? raw_vocab_ : vocab_;
        auto it = v.find(w.scratch);
        if (it != v.end()) {
            out.push_back(it->second);
            return;
        }
    }
    const bool cacheable = piece.size() <= 128;
    const uint64_t h = cacheable ? hash_bytes(piece) : 0;
    if (cacheable && cache_.get(piece, h, out)) return;

    std::vector<int32_t>& word = w.word;
    word.clear();
    if (raw && byte_level_complete_) {
        for (char c : piece) word.push_back(byte_level_ids_[static_cast<unsigned char>(c)]);
    } else {
        std::string_view s = piece;
        std::string mapped;
        if (raw) {
            for (char c : piece) mapped += byte_table().byte_to_utf8[static_cast<unsigned char>(c)];
            s = mapped;
        }
        int32_t unk = -1;
        size_t i = 0;
        std::string& key = w.scratch;
        while (i < s.size()) {
            const size_t b = i;
            i += utf8_len(static_cast<unsigned char>(s[i]));
            if (i > s.size()) i = s.size();
            key.clear();
            if (b != 0) key += prefix_;
            key.append(s.data() + b, i - b);
            if (i == s.size()) key += suffix_;
            const int32_t id = vocab_get(key);
            if (id >= 0) {
                if (unk >= 0) {
                    word.push_back(unk);
                    unk = -1;
                }
                word.push_back(id);
                continue;
            }
            if (byte_fallback_) {
                bool all = true;
                for (char c : key) all = all && byte_fallback_ids_[static_cast<unsigned char>(c)] >= 0;
                if (all) {
                    for (char c : key) word.push_back(byte_fallback_ids_[static_cast<unsigned char>(c)]);
                    continue;
                }
            }
            if (has_unk_) {
                if (unk >= 0 && !fuse_unk_) word.push_back(unk);
                unk = unk_id_;
            }
        }
        if (unk >= 0) word.push_back(unk);
    }
    merge(word);
    out.insert(out.end(), word.begin(), word.end());
    if (cacheable) cache_.put(piece, h, word.data(), word.size());
}

// HF's Word::merge_all without dropout: repeatedly merge the pair with the lowest
// rank, the leftmost one among equals.
void BpeTokenizer::merge(std::vector<int32_t>& ids) const {
    const size_t n = ids.size();
    if (n < 2) return;
    if (n <= 24) {
        // Short words: linear scans are cheaper than a heap.
        size_t len = n;
        while (len > 1) {
            uint32_t best = UINT32_MAX;
            size_t at = 0;
            int32_t best_id = -1;
            for (size_t k = 0; k + 1 < len; ++k) {
                uint32_t r;
                int32_t id;
                if (merges_.get(ids[k], ids[k + 1], r, id) && r < best) {
                    best = r;
                    at = k;
                    best_id = id;
                }
            }
            if (best == UINT32_MAX) break;
            ids[at] = best_id;
            std::copy(ids.begin() + static_cast<std::ptrdiff_t>(at) + 2, ids.begin() + static_cast<std::ptrdiff_t>(len),
                      ids.begin() + static_cast<std::ptrdiff_t>(at) + 1);
            --len;
        }
        ids.resize(len);
        return;
    }
    thread_local std::vector<int32_t> prev, next;
    thread_local std::vector<uint64_t> heap;
    prev.resize(n);
    next.resize(n);
    heap.clear();
    for (size_t k = 0; k < n; ++k) {
        prev[k] = static_cast<int32_t>(k) - 1;
        next[k] = k + 1 < n ? static_cast<int32_t>(k + 1) : -1;
    }
    auto push = [&](size_t k) {
        const int32_t nx = next[k];
        if (nx < 0) return;
        uint32_t r;
        int32_t id;
        if (merges_.get(ids[k], ids[static_cast<size_t>(nx)], r, id)) {
            heap.push_back((static_cast<uint64_t>(r) << 32) | k);
            std::push_heap(heap.begin(), heap.end(), std::greater<uint64_t>());
        }
    };
    for (size_t k = 0; k + 1 < n; ++k) push(k);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), std::greater<uint64_t>());
        const uint64_t top = heap.back();
        heap.pop_back();
        const size_t k = static_cast<size_t>(top & 0xFFFFFFFFu);
        const uint32_t rank = static_cast<uint32_t>(top >> 32);
        if (ids[k] < 0) continue;
        const int32_t nx = next[k];
        if (nx < 0) continue;
        uint32_t r;
        int32_t id;
        if (!merges_.get(ids[k], ids[static_cast<size_t>(nx)], r, id) || r != rank) continue;
        ids[k] = id;
        ids[static_cast<size_t>(nx)] = -1;
        next[k] = next[static_cast<size_t>(nx)];
        if (next[k] >= 0) prev[static_cast<size_t>(next[k])] = static_cast<int32_t>(k);
        if (prev[k] >= 0) push(static_cast<size_t>(prev[k]));
        push(k);
    }
    size_t m = 0;
    for (size_t k = 0; k < n; ++k)
        if (ids[k] >= 0) ids[m++] = ids[k];
    ids.resize(m);
}

std::string BpeTokenizer::decode(const int32_t* ids, size_t n, bool skip_special) const {
    std::vector<std::string> toks;
    toks.reserve(n);
    for (size_t k = 0; k < n; ++k) {
        check_id(ids[k]);
        const size_t id = static_cast<size_t>(ids[k]);
        if (skip_special && special_flag_[id]) continue;
        if (id_to_text_[id].empty() && !added_by_id_.count(ids[k]) && !vocab_.count(std::string())) continue;
        toks.push_back(id_to_text_[id]);
    }
    if (!decoder_) {
        std::string out;
        for (size_t k = 0; k < toks.size(); ++k) {
            if (k) out += ' ';
            out += toks[k];
        }
        return out;
    }
    decoder_->run(toks, false);
    std::string out;
    for (auto& t : toks) out += t;
    return out;
}

std::string BpeTokenizer::token_to_piece(int32_t id) const {
    check_id(id);
    std::vector<std::string> toks{id_to_text_[static_cast<size_t>(id)]};
    if (decoder_) decoder_->run(toks, true);
    std::string out;
    for (auto& t : toks) out += t;
    return out;
}

}  // namespace

bool tokenizer_sanitize_utf8(std::string_view text, std::string& out) { return sanitize_utf8(text, out); }

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& json_path, const nlohmann::json& config) {
    return std::make_unique<BpeTokenizer>(json_path, config);
}

}  // namespace mola
