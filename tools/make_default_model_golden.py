#!/usr/bin/env python3
"""Golden logits of the bundled default model, computed by Hugging Face transformers.

Loads share/models/mola-tiny-code with transformers' DeepseekV3ForCausalLM (BF16 weights widened to
float32, eager attention) and its tokenizer.json with the `tokenizers` library, encodes held-out text
(the start of standard-library files that the training script put in its validation split, so the
model never trained on them, plus a fill-in-the-middle prompt), and writes

  tests/data/default_model/golden.json   {"model": sha256 of model.safetensors,
                                          "cases": [{"name", "text", "tokens", "logits"}]}
  tests/data/default_model/logits_<k>.npy float32 [len(rows), vocab]: the rows (positions) listed in
                                          the case, every 4th and the last, of one forward from 0

tests/api/test_default_model.cpp checks that mola's tokenizer gives the same ids and mola's forward
pass the same logits. Rerun this after retraining the model:

    python3 tools/make_default_model_golden.py
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import train_default_model as tdm  # noqa: E402  (the corpus split and special-token spellings)

ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "share", "models", "mola-tiny-code"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "default_model"))
    ap.add_argument("--chars", type=int, default=600, help="characters of each validation file used")
    args = ap.parse_args()

    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
    model.eval()

    _, val = tdm.load_corpus(val_percent=2)
    texts = []
    for rel, text in val[:3]:
        texts.append((f"held-out {rel}", text[: args.chars]))
    prefix, suffix = val[3][1][:300], val[3][1][300:500]
    texts.append(("held-out fill-in-the-middle", f"{tdm.FIM_BEGIN}{prefix}{tdm.FIM_HOLE}{suffix}{tdm.FIM_END}"))

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.model, "model.safetensors"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    cases = []
    for k, (name, text) in enumerate(texts):
        ids = tok.encode(text).ids  # BOS added by the tokenizer's post-processor, as mola's add_special
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
        rows = sorted(set(range(0, len(ids), 4)) | {len(ids) - 1})  # a quarter of the rows keeps the file small
        fname = f"logits_{k}.npy"
        np.save(os.path.join(args.out, fname), np.ascontiguousarray(logits[rows], dtype=np.float32))
        cases.append({"name": name, "text": text, "tokens": ids, "rows": rows, "logits": fname})
        print(f"{name}: {len(ids)} tokens")
    with open(os.path.join(args.out, "golden.json"), "w", encoding="utf-8") as f:
        json.dump({"model_sha256": digest, "transformers": __import__("transformers").__version__,
                   "cases": cases}, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
