"""Runs every ```python block of the README as written, from the repository root,
so that the README's Python examples keep working.

    python3 run_readme.py README.md
"""
import os
import re
import subprocess
import sys


def main() -> int:
    readme = os.path.abspath(sys.argv[1])
    blocks = re.findall(r"^```python\n(.*?)^```$", open(readme, encoding="utf-8").read(), re.S | re.M)
    if not blocks:
        print(f"{readme}: no ```python block")
        return 1
    for i, code in enumerate(blocks, 1):
        run = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(readme))
        if run.returncode != 0:
            print(f"{readme}: python block {i} failed (exit {run.returncode}):\n{code}")
            return 1
    print(f"{len(blocks)} python block(s) of {readme} ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
