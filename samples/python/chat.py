"""A streaming chat with mola from Python: each line you type is a user turn; the
answer streams back piece by piece. The conversation's common prefix is not
recomputed: each turn's new session takes it from the model's prefix cache.

    PYTHONPATH=build/bindings/python python3 samples/python/chat.py [MODEL_DIR] [--max-tokens N]
"""
import argparse
import sys

import mola

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("model", nargs="?", default="share/models/mola-tiny-code")
parser.add_argument("--max-tokens", type=int, default=128)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

with mola.Model(args.model) as model:
    conversation = []
    print("mola chat: type a message, Ctrl-D to quit", file=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            continue
        conversation.append({"role": "user", "content": line.strip()})
        prompt = model.tokenizer.apply_chat(conversation)
        with model.session(n_ctx=2048) as session:
            answer = session.generate(prompt, max_tokens=args.max_tokens, seed=args.seed)
            for piece in answer:
                print(piece, end="", flush=True)
        print()
        conversation.append({"role": "assistant", "content": answer.result.text})
