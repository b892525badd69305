#!/usr/bin/env python3
"""Generates lib/tokenizer/unicode_classes.inc: the code-point sets that Hugging Face
`tokenizers` (Rust, Oniguruma via onig_sys) matches for the Unicode property escapes
used in tokenizer.json regexes.

The sets are not taken from a Unicode database: they are probed from the installed
`tokenizers` library itself. Each property is compiled as a Split pre-tokenizer regex
`X+` with behaviour "removed" and applied to strings holding every code point
(surrogates skipped); the code points that disappear are the ones `X` matches.

mola compiles regexes with PCRE2 (Debian 12: 10.42, Unicode 14), whose property
tables lag behind; bpe_tokenizer.cpp rewrites every property escape into these ranges
so both engines agree.

Usage: python3 tools/make_unicode_classes.py [--check]   (needs `pip install tokenizers`)
"""
import os
import sys

import tokenizers
from tokenizers import Regex, pre_tokenizers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "tokenizer", "unicode_classes.inc")
CPS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]

# Stored sets: general-category leaves plus properties that are not unions of them.
LEAVES = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
          "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
          "Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Cn", "Alphabetic", "White_Space", "Word"]
# Sets built at load time as unions; each one is checked against the probe here.
UNIONS = {
    "L": ["Lu", "Ll", "Lt", "Lm", "Lo"], "LC": ["Lu", "Ll", "Lt"],
    "M": ["Mn", "Mc", "Me"], "N": ["Nd", "Nl", "No"],
    "P": ["Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"], "S": ["Sm", "Sc", "Sk", "So"],
    "Z": ["Zs", "Zl", "Zp"], "C": ["Cc", "Cf", "Co", "Cn"],
    "Any": ["L", "M", "N", "P", "S", "Z", "C"],
}
# Backslash escapes whose Oniguruma meaning is checked (and compared to a union).
# "Word" (\w) is stored as probed: it is close to Alphabetic|M|Nd|Pc but not equal.
ESCAPES = {"s": ["White_Space"], "d": ["Nd"], "w": ["Word"], "h": ["HexDigit"]}
EXTRA = {"HexDigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)]}
# Long names (as Oniguruma spells them; it ignores case, '_', '-' and ' ') -> stored name.
ALIASES = {
    "Letter": "L", "Cased_Letter": "LC", "Uppercase_Letter": "Lu", "Lowercase_Letter": "Ll",
    "Titlecase_Letter": "Lt", "Modifier_Letter": "Lm", "Other_Letter": "Lo",
    "Mark": "M", "Combining_Mark": "M", "Nonspacing_Mark": "Mn", "Spacing_Mark": "Mc", "Enclosing_Mark": "Me",
    "Number": "N", "Decimal_Number": "Nd", "Letter_Number": "Nl", "Other_Number": "No",
    "Punctuation": "P", "Connector_Punctuation": "Pc", "Dash_Punctuation": "Pd", "Open_Punctuation": "Ps",
    "Close_Punctuation": "Pe", "Initial_Punctuation": "Pi", "Final_Punctuation": "Pf", "Other_Punctuation": "Po",
    "Symbol": "S", "Math_Symbol": "Sm", "Currency_Symbol": "Sc", "Modifier_Symbol": "Sk", "Other_Symbol": "So",
    "Separator": "Z", "Space_Separator": "Zs", "Line_Separator": "Zl", "Paragraph_Separator": "Zp",
    "Other": "C", "Control": "Cc", "Format": "Cf", "Private_Use": "Co", "Unassigned": "Cn",
    "Alpha": "Alphabetic", "Space": "White_Space", "WSpace": "White_Space",
}


def probe(pattern):
    sp = pre_tokenizers.Split(Regex(pattern + "+"), "removed")
    keep = set()
    for i in range(0, len(CPS), 0x8000):
        s = "".join(map(chr, CPS[i:i + 0x8000]))
        for piece, _ in sp.pre_tokenize_str(s):
            keep.update(map(ord, piece))
    return frozenset(c for c in CPS if c not in keep)


def to_ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] + 1 == c:
            out[-1][1] = c
        else:
            out.append([c, c])
    return [tuple(r) for r in out]


def main():
    sets = {}
    for name in LEAVES:
        sets[name] = probe(r"\w" if name == "Word" else r"\p{%s}" % name)
    for name, rs in EXTRA.items():
        sets[name] = frozenset(c for a, b in rs for c in range(a, b + 1))
    for name, parts in UNIONS.items():
        got = probe(r"\p{%s}" % name)
        want = frozenset().union(*(sets[p] for p in parts))
        assert got == want, f"\\p{{{name}}} is not the union of {parts}"
        sets[name] = got
    assert not probe(r"\p{Cs}"), "\\p{Cs} matches something"
    for esc, parts in ESCAPES.items():
        got = probe("\\" + esc)
        want = frozenset().union(*(sets[p] for p in parts))
        assert got == want, f"\\{esc} is not the union of {parts}"
        neg = probe("\\" + esc.upper())
        assert neg == frozenset(CPS) - got, f"\\{esc.upper()} is not the complement of \\{esc}"
    for alias, name in ALIASES.items():
        for spelling in (alias, alias.lower().replace("_", "")):
            assert probe(r"\p{%s}" % spelling) == sets[name], f"\\p{{{spelling}}} != \\p{{{name}}}"
    for name in ("L", "S"):
        assert probe(r"\P{%s}" % name) == frozenset(CPS) - sets[name]
        assert probe(r"\p{^%s}" % name) == frozenset(CPS) - sets[name]

    lines = [
        f"// Generated by tools/make_unicode_classes.py from Hugging Face tokenizers {tokenizers.__version__}",
        "// (Rust, Oniguruma via onig_sys), probed through tokenizers.pre_tokenizers.Split. Do not edit.",
        "// Code-point ranges (inclusive) that tokenizers' regex engine matches for each Unicode",
        "// property; compound classes are unions (kUnicodeUnions), checked against the probe.",
        "// Oniguruma escapes: \\s = White_Space, \\d = Nd, \\w = Word (as probed),",
        "// \\h = [0-9A-Fa-f]; \\S \\D \\W \\H, \\P{X} and \\p{^X} are complements.",
        "",
        "struct UnicodeLeaf { const char* name; unsigned first; unsigned count; };",
        "struct UnicodeUnion { const char* name; const char* parts; };  // parts: space-separated",
        "struct UnicodeAlias { const char* alias; const char* name; };   // alias: lower case, no '_'",
        "",
        "static const unsigned kUnicodeRanges[][2] = {",
    ]
    leaves = []
    first = 0
    for name in LEAVES + list(EXTRA):
        rs = to_ranges(sets[name])
        leaves.append((name, first, len(rs)))
        first += len(rs)
        lines.append(f"    // {name}: {len(sets[name])} code points")
        for i in range(0, len(rs), 6):
            lines.append("    " + " ".join("{0x%X,0x%X}," % r for r in rs[i:i + 6]))
    lines.append("};")
    lines.append("")
    lines.append("static const UnicodeLeaf kUnicodeLeaves[] = {")
    for name, f, n in leaves:
        lines.append(f'    {{"{name}", {f}, {n}}},')
    lines.append("};")
    lines.append("")
    lines.append("static const UnicodeUnion kUnicodeUnions[] = {")
    for name, parts in list(UNIONS.items()) + [("\\" + e, p) for e, p in ESCAPES.items()]:
        lines.append('    {"%s", "%s"},' % (name.replace("\\", "\\\\"), " ".join(parts)))
    lines.append("};")
    lines.append("")
    lines.append("static const UnicodeAlias kUnicodeAliases[] = {")
    for alias, name in ALIASES.items():
        lines.append(f'    {{"{alias.lower().replace("_", "")}", "{name}"}},')
    lines.append("};")
    text = "\n".join(lines) + "\n"
    if "--check" in sys.argv:
        ok = open(OUT).read() == text
        print("unicode_classes.inc is " + ("up to date" if ok else "STALE"))
        sys.exit(0 if ok else 1)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}: {first} ranges")


if __name__ == "__main__":
    main()
