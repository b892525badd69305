#!/usr/bin/env python3
"""Writes tests/data/tokenizers/unit/: small Hugging Face tokenizer.json files that
exercise each normalizer, pre-tokenizer, decoder, BPE option and added-token flag
mola implements, plus cases.json with texts and the ids/strings the Rust
`tokenizers` library (the reference) gives for them. tests/unit/test_tokenizer_bpe.cpp
replays cases.json against mola's loader.

    python3 tools/make_tokenizer_unit_cases.py [--out DIR]

Deterministic: the tokenizers are trained on a fixed corpus with fixed settings.
"""
import argparse
import json
import os
import random

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

DS_PATTERNS = [
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
]
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's 2024 and we're testing tokenizers!",
    "def encode(self, text):\n    return [self.vocab[t] for t in text.split()]\n",
    "for (int i = 0; i < 10; ++i) { printf(\"%d\\n\", i); }",
    "Hello world, hello WORLD, héllo wörld. Ça va? Naïve café.",
    "深度求索的模型很好。日本語のテキストもあります。カタカナ",
    "Numbers: 1234567890 3.14159 42 007 ١٢٣",
    "   leading spaces\ttabs\r\nwindows lines\n\n\nmany newlines",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)\n",
    "Don't you think they'll say I'd've done it? YOU'LL SEE.",
    "emoji 🙂 and symbols ∑ ≠ → ©",
] * 3

# Texts every tokenizer is checked on (added-token texts included: a tokenizer
# without those tokens treats them as text).
TEXTS = [
    "",
    " ",
    "Hello world",
    " Hello world ",
    "hello  world\n\nnew   line\r\n\tand tabs",
    "It's we're they'll I'd IT'S",
    "def f(x):\n    return x**2 + 1  # square\n",
    "for (int i = 0; i < 10; ++i) {}",
    "12345678 3.14 ١٢٣٤",
    "深度求索的模型很好。日本語のテキスト。カタカナ",
    "Ça va? naïve CAFÉ ﬁne Ⅻ ①",
    "emoji 🙂🙂 and ∑≠→©",
    "trailing spaces   ",
    "a\u00a0b\u3000c\u2028d\u180ee\u0085f",
    "<｜begin▁of▁sentence｜>Hello<｜User｜>hi<｜Assistant｜>",
    "<s>Hello</s> <s> x",
    "a <mask> b <mask>c  <mask>  d",
    "wordtok word tok wordtokx (tok) _tok",
    "Hello HELLO normtok NORMTOK",
    "<unk> <0x41> xyzzy",
    "İstanbul ΣΑΣ",
    "x" * 40 + " " + "ab" * 30,
]

# Invalid UTF-8 (hex): decoded as Python's errors="replace" before HF sees them.
BAD_UTF8 = [
    "48656c6c6fff776f726c64",          # Hello\xffworld
    "e282",                            # truncated 3-byte sequence
    "61e282e282ac62",                  # truncated then complete euro sign
    "c0afeda080f4908080f88080808061",  # overlong, surrogate, > U+10FFFF, 5-byte
    "f09f998220f09f99",               # emoji then a truncated one
]


def fuzz_texts(seed, n):
    rnd = random.Random(seed)
    alphabet = (list("abcXYZ019 '\"-_.,;:!?()[]{}<>/\\#$%&*+=@^`|~") + [" ", " ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u3000",
                "\u180e", "\u2009", "\u0085", "é", "e\u0301", "ß", "深", "度", "ぁ", "カ", "ー", "한", "١", "²", "Ⅻ", "🙂", "∑",
                "’", "—", "'s", "'LL", "'d", "\u200b", "\u0300"])
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 24))) for _ in range(n)]


def train(kind, vocab_size=400, **kw):
    """A small BPE model trained on CORPUS; kind picks the alphabet/pre-tokenizer used for training."""
    opts = {k: v for k, v in [("unk_token", kw.get("unk")), ("continuing_subword_prefix", kw.get("prefix")),
                              ("end_of_word_suffix", kw.get("suffix"))] if v is not None}
    tok = Tokenizer(models.BPE(byte_fallback=kw.get("byte_fallback", False), **opts))
    if kind == "bytelevel":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace() if kind == "metaspace" else pre_tokenizers.Whitespace()
        alphabet = []
    special = [kw["unk"]] if kw.get("unk") else []
    if kw.get("byte_fallback"):
        special += [f"<0x{b:02X}>" for b in range(256)]
    topts = {k: v for k, v in [("continuing_subword_prefix", kw.get("prefix")), ("end_of_word_suffix", kw.get("suffix")),
                               ("limit_alphabet", kw.get("limit_alphabet"))] if v is not None}
    tr = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, special_tokens=special, show_progress=False,
                             **topts)
    tok.train_from_iterator(CORPUS, trainer=tr)
    return json.loads(tok.to_str())


def finish(d, normalizer, pre, post, decoder, added, legacy_merges, ignore_merges=False):
    d["normalizer"] = normalizer
    d["pre_tokenizer"] = pre
    d["post_processor"] = post
    d["decoder"] = decoder
    d["model"]["ignore_merges"] = ignore_merges
    if legacy_merges:
        d["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]
    else:
        d["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m for m in d["model"]["merges"]]
    tok = Tokenizer.from_str(json.dumps(d))
    if added:
        for content, special, flags in added:
            t = AddedToken(content, special=special, **flags)
            (tok.add_special_tokens if special else tok.add_tokens)([t])
    return tok


def split(pattern, behavior="isolated", invert=False, regex=True):
    return json.loads(pre_tokenizers.Split(Regex(pattern) if regex else pattern, behavior, invert).__getstate__())


def state(obj):
    return json.loads(obj.__getstate__())


def build():
    toks = {}
    # DeepSeek V3 style: three Splits then ByteLevel without its regex.
    d = train("bytelevel")
    ds_added = [("<｜begin▁of▁sentence｜>", True, {}), ("<｜end▁of▁sentence｜>", True, {}), ("<｜User｜>", True, {}),
                ("<｜Assistant｜>", True, {}), ("<mask>", True, {"lstrip": True, "rstrip": True}),
                ("wordtok", False, {"single_word": True, "normalized": False}), ("tok", False, {"single_word": True}),
                ("normtok", False, {"normalized": True})]
    toks["deepseek_v3_like"] = finish(
        d, {"type": "Sequence", "normalizers": []},
        {"type": "Sequence", "pretokenizers": [split(p) for p in DS_PATTERNS] +
         [{"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}, ds_added, legacy_merges=True)
    # GPT-2 style: ByteLevel with its regex and a prefix space, [a, b] merges, RoBERTa post-processor.
    d = train("bytelevel")
    toks["gpt2_like"] = finish(
        d, None, state(pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)),
        None, state(decoders.ByteLevel()),
        [("<s>", True, {}), ("</s>", True, {}), ("<mask>", True, {"lstrip": True})], legacy_merges=False)
    toks["gpt2_like"].post_processor = processors.RobertaProcessing(("</s>", toks["gpt2_like"].token_to_id("</s>")),
                                                                    ("<s>", toks["gpt2_like"].token_to_id("<s>")))
    # Llama-3 style: Split(regex) + ByteLevel(use_regex false), ignore_merges, BOS template.
    d = train("bytelevel", vocab_size=450)
    t = finish(d, None, {"type": "Sequence", "pretokenizers": [split(LLAMA3_PATTERN),
               {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
               None, state(decoders.ByteLevel()), [("<|begin_of_text|>", True, {}), ("<|eot_id|>", True, {})],
               legacy_merges=False, ignore_merges=True)
    t.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False), processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", t.token_to_id("<|begin_of_text|>"))])])
    toks["llama3_like"] = t
    # Llama-2 style (SentencePiece converted to BPE): Prepend/Replace normalizer, byte fallback, unk, fuse_unk.
    d = train("metaspace", vocab_size=420, unk="<unk>", byte_fallback=True, limit_alphabet=60)
    d["model"]["fuse_unk"] = True
    t = finish(d, {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                       {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
               None, None,
               {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                 {"type": "ByteFallback"}, {"type": "Fuse"},
                                                 {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
               [("<s>", True, {}), ("</s>", True, {})], legacy_merges=True)
    t.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", t.token_to_id("<s>"))])
    toks["llama2_like"] = t
    # Metaspace + unicode normalizers + Digits/Punctuation, unk without fusing.
    d = train("metaspace", vocab_size=380, unk="<unk>", limit_alphabet=70)
    d["model"]["fuse_unk"] = False
    toks["metaspace_nfkc"] = finish(
        d, state(normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip()])),
        state(pre_tokenizers.Sequence([pre_tokenizers.Metaspace(prepend_scheme="first"),
                                       pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.Punctuation()])),
        None, state(decoders.Metaspace(prepend_scheme="first")), [("<s>", True, {}), ("normtok", False, {})],
        legacy_merges=False)
    d = train("metaspace", vocab_size=380, unk="<unk>", limit_alphabet=70)
    toks["metaspace_nosplit_nfd"] = finish(
        d, state(normalizers.Sequence([normalizers.NFD(), normalizers.Replace(Regex(r"\d+"), "#")])),
        state(pre_tokenizers.Sequence([pre_tokenizers.Metaspace(prepend_scheme="always", split=False),
                                       pre_tokenizers.Digits(individual_digits=False)])),
        None, state(decoders.Metaspace()), [], legacy_merges=True)
    # WordPiece-like BPE: continuing_subword_prefix / end_of_word_suffix, Whitespace, NFKD.
    d = train("whitespace", vocab_size=380, unk="<unk>", prefix="##", limit_alphabet=70)
    toks["subword_prefix"] = finish(d, state(normalizers.NFKD()), state(pre_tokenizers.Whitespace()), None, None,
                                    [("[CLS]", True, {}), ("[SEP]", True, {})], legacy_merges=False)
    toks["subword_prefix"].post_processor = processors.BertProcessing(("[SEP]", toks["subword_prefix"].token_to_id("[SEP]")),
                                                                       ("[CLS]", toks["subword_prefix"].token_to_id("[CLS]")))
    d = train("whitespace", vocab_size=380, unk="<unk>", suffix="</w>", limit_alphabet=70)
    toks["word_suffix"] = finish(d, state(normalizers.Lowercase()), state(pre_tokenizers.WhitespaceSplit()), None, None, [],
                                 legacy_merges=True)
    # Split behaviors and invert, on a byte-level model.
    for name, pre in [
        ("split_removed", [split(r"\s+", "removed")]),
        ("split_merged_prev", [split(r"[.,!?]", "merged_with_previous")]),
        ("split_merged_next", [split(" ", "merged_with_next", regex=False)]),
        ("split_contiguous", [split(r"\d", "contiguous")]),
        ("split_invert", [split(r"\p{L}+", "isolated", invert=True), split(r"o", "removed", regex=False)]),
        ("bytelevel_no_prefix_strip", [state(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))]),
    ]:
        d = train("bytelevel", vocab_size=320)
        norm = state(normalizers.Strip(left=True, right=False)) if name == "bytelevel_no_prefix_strip" else None
        toks[name] = finish(d, norm, {"type": "Sequence", "pretokenizers": pre + ([] if name.startswith("bytelevel") else
                            [{"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}])},
                            None, state(decoders.ByteLevel()), [], legacy_merges=name.endswith("prev"))
    return toks


def spm_cases(out):
    """A tiny SentencePiece BPE model with byte fallback; the reference ids come from
    the SentencePiece library itself (special tokens never parsed from text there)."""
    import io
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=model, vocab_size=420, model_type="bpe",
                                   byte_fallback=True, character_coverage=0.98, num_threads=1, minloglevel=2,
                                   user_defined_symbols=["<mask>"], normalization_rule_name="identity")
    with open(os.path.join(out, "spm_tiny.model"), "wb") as f:
        f.write(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    entries = []
    for text in TEXTS + fuzz_texts(99, 10):
        ids = sp.encode(text)
        entries.append({"text": text, "ids": ids, "ids_add_special": [sp.bos_id()] + ids,
                        "decoded": sp.decode(ids)})
    return {"tokenizer": "spm_tiny.model", "vocab_size": sp.get_piece_size(), "cases": entries}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "tokenizers", "unit"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    toks = build()
    cases = []
    for k, (name, tok) in enumerate(sorted(toks.items())):
        path = os.path.join(args.out, name + ".json")
        tok.save(path, pretty=False)
        tok = Tokenizer.from_file(path)
        entries = []
        texts = [(t, None) for t in TEXTS] + [(t, None) for t in fuzz_texts(k, 15)] + \
                [(bytes.fromhex(h).decode("utf-8", errors="replace"), h) for h in BAD_UTF8]
        for text, hexed in texts:
            e = {"hex": hexed} if hexed else {"text": text}
            tok.encode_special_tokens = False
            e["ids"] = tok.encode(text, add_special_tokens=False).ids
            e["ids_add_special"] = tok.encode(text, add_special_tokens=True).ids
            tok.encode_special_tokens = True
            e["ids_no_parse_special"] = tok.encode(text, add_special_tokens=False).ids
            tok.encode_special_tokens = False
            e["decoded"] = tok.decode(e["ids_add_special"], skip_special_tokens=False)
            e["decoded_skip_special"] = tok.decode(e["ids_add_special"], skip_special_tokens=True)
            entries.append(e)
        cases.append({"tokenizer": name + ".json", "vocab_size": tok.get_vocab_size(with_added_tokens=True), "cases": entries})
    cases.append(spm_cases(args.out))
    with open(os.path.join(args.out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
