"""Runs leakcheck.py under valgrind memcheck and fails on any invalid access, or any
memory definitely or indirectly lost, whose stack passes through mola (the
library, the generated wrapper or the binding classes). The interpreter's own
allocations at exit are not mola's and are ignored.

    python3 check_valgrind.py MODEL_DIR
"""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

MOLA_MARKERS = ("libmola", "_mola_native", "mola::", "mola_")
# SWIG's own runtime inside the generated module (its type table, freed only at
# interpreter exit) is not mola's.
SWIG_RUNTIME = "SWIG_Python_"


def mola_frames(error: ET.Element) -> list:
    found = []
    for frame in error.iter("frame"):
        text = " ".join((frame.findtext(k) or "") for k in ("obj", "fn"))
        if SWIG_RUNTIME in (frame.findtext("fn") or ""):
            continue
        if any(m in text for m in MOLA_MARKERS):
            found.append(text.strip())
    return found


def main() -> int:
    model_dir = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = os.path.join(tmp, "memcheck.xml")
        env = dict(os.environ, PYTHONMALLOC="malloc", OMP_NUM_THREADS="1")
        cmd = ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite,indirect",
               "--xml=yes", f"--xml-file={xml_path}", sys.executable, os.path.join(here, "leakcheck.py"),
               model_dir, "3"]
        run = subprocess.run(cmd, env=env)
        if run.returncode != 0:
            print(f"leakcheck.py failed under valgrind (exit {run.returncode})")
            return 1
        bad = []
        for error in ET.parse(xml_path).getroot().iter("error"):
            kind = error.findtext("kind") or ""
            if kind.startswith("Leak_") and kind not in ("Leak_DefinitelyLost", "Leak_IndirectlyLost"):
                continue
            frames = mola_frames(error)
            if frames:
                what = error.findtext("what") or error.findtext("xwhat/text") or kind
                bad.append(f"{kind}: {what}\n    " + "\n    ".join(frames[:6]))
        if bad:
            print("valgrind found problems in mola:\n" + "\n".join(bad))
            return 1
        print("valgrind: no invalid access and no leak through mola")
        return 0


if __name__ == "__main__":
    sys.exit(main())
