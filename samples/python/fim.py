"""Fill-in-the-middle from Python, as an IDE plugin calls it: the code before and
after the cursor in, the completion for the cursor out (stopping at a blank line).

    PYTHONPATH=build/bindings/python python3 samples/python/fim.py [MODEL_DIR] \\
        --prefix 'def area(r):\\n    return ' --suffix '\\n\\nprint(area(2))\\n'
"""
import argparse

import mola

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("model", nargs="?", default="share/models/mola-tiny-code")
parser.add_argument("--prefix", default="def area(r):\\n    return ")
parser.add_argument("--suffix", default="\\n\\nprint(area(2))\\n")
parser.add_argument("--max-tokens", type=int, default=48)
args = parser.parse_args()

prefix = args.prefix.encode().decode("unicode_escape")
suffix = args.suffix.encode().decode("unicode_escape")
with mola.Model(args.model) as model, model.session() as session:
    prompt = model.tokenizer.build_fim(prefix, suffix)
    result = session.complete(prompt, max_tokens=args.max_tokens, stop=["\n\n"], temperature=0.2, seed=1)
    print(prefix + result.text + suffix, end="")
    print(f"-- {result.n_generated_tokens} tokens, {result.finish_reason}, "
          f"first token after {result.time_to_first_token_ms:.0f} ms")
