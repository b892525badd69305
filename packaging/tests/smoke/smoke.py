"""The installed-package Python smoke program: run with /usr/bin/python3 against
python3-mola; generates and prints the text hex-encoded, to compare with the C++
consumer's line.

    python3 smoke.py MODEL_DIR PROMPT SEED MAX_TOKENS
"""
import sys

import mola

model_dir, prompt, seed, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if not mola.__file__.startswith("/usr/lib/python3/dist-packages/"):
    sys.exit(f"smoke.py: mola imported from {mola.__file__}, not from the installed package")
with mola.Model(model_dir, n_threads=1) as model, model.session() as session:
    result = session.complete(prompt, seed=seed, max_tokens=max_tokens, ignore_eos=True)
if not result.text:
    sys.exit("smoke.py: nothing generated")
print(result.text.encode("utf-8").hex())
