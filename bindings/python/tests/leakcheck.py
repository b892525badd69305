"""Runs create/use/destroy cycles of every handle through the Python binding; run
under valgrind by check_valgrind.py (the native memory check of the bindings).

    python3 leakcheck.py MODEL_DIR [CYCLES]
"""
import sys

import mola


def main() -> None:
    model_dir = sys.argv[1]
    cycles = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    for _ in range(cycles):
        with mola.Model(model_dir, n_threads=1) as model:
            tok = model.tokenizer
            ids = tok.encode("def f(x):\n    return x")
            with model.session() as s:
                s.append(ids)
                with s.fork() as f:
                    f.complete([], max_tokens=2, ignore_eos=True, seed=1)
                gen = s.generate([], max_tokens=2, ignore_eos=True)
                list(gen)
                stopped = s.generate([], max_tokens=0, ignore_eos=True)
                next(stopped)
                stopped.close()  # a stream closed mid-generation
            try:
                with model.session() as s:
                    s.complete(ids, on_text=lambda t: 1 / 0, max_tokens=2)
            except ZeroDivisionError:
                pass
            try:
                mola.Model(model_dir + "/no-such-dir")
            except mola.FileError:
                pass


if __name__ == "__main__":
    main()
