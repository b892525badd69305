"""Builds and runs one Go program from the README (the text in the environment
variable MOLA_README_GO) against the Go binding in a build tree, from the current
directory (the repository root), as bindings/readme_blocks.py asks.

    MOLA_README_GO="$(cat hello.go)" python3 bindings/go/run_readme_block.py BUILD_DIR

The program is built inside the samples module (<build>/bindings/go/samples),
which points at the binding's module, with the same go settings as CMake's.
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main() -> int:
    build = os.path.abspath(sys.argv[1])
    code = os.environ["MOLA_README_GO"]
    go_dir = os.path.join(build, "bindings", "go")
    samples = os.path.join(go_dir, "samples")
    env = dict(os.environ, GOCACHE=os.path.join(go_dir, "gocache"), GOPATH=os.path.join(go_dir, "gopath"),
               GOPROXY="off", GOFLAGS="-mod=mod", GO111MODULE="on")
    with tempfile.TemporaryDirectory(dir=samples, prefix="readme_") as package:
        with open(os.path.join(package, "main.go"), "w", encoding="utf-8") as f:
            f.write(code)
        binary = os.path.join(package, "hello")
        build_run = subprocess.run([shutil.which("go") or "go", "build", "-o", binary, "./" + os.path.basename(package)],
                                   cwd=samples, env=env)
        if build_run.returncode != 0:
            return build_run.returncode
        return subprocess.run([binary], env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
