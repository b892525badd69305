"""Runs the README's hello-world blocks (```python, ```java, ```csharp, ```go) as
written, from the repository root, against the bindings in the build tree, so
that the README's examples keep working.

    python3 bindings/readme_blocks.py README.md BUILD_DIR
"""
import os
import re
import subprocess
import sys
import tempfile


def run(cmd, root, env=None):
    done = subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{done.stdout}")
    return done.stdout


def main() -> int:
    readme, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    root = os.path.dirname(readme)
    text = open(readme, encoding="utf-8").read()
    bindings = os.path.join(build, "bindings")
    ran = 0
    with tempfile.TemporaryDirectory() as tmp:
        for lang, code in re.findall(r"^```(python|java|csharp|go)\n(.*?)^```$", text, re.S | re.M):
            try:
                if lang == "python":
                    env = dict(os.environ, PYTHONPATH=os.path.join(bindings, "python"))
                    run([sys.executable, "-c", code], root, env)
                elif lang == "java":
                    src = os.path.join(tmp, "Hello.java")
                    open(src, "w").write(code)
                    java = os.path.join(bindings, "java")
                    run(["java", f"-Djava.library.path={java}", "-cp", os.path.join(java, "mola.jar"), src], root)
                elif lang == "csharp":
                    src = os.path.join(tmp, "Hello.cs")
                    open(src, "w").write(code)
                    out = os.path.join(bindings, "csharp", "out")
                    exe = os.path.join(out, "ReadmeHello.exe")
                    run(["mcs", "-nologo", f"-r:{os.path.join(out, 'Mola.dll')}", f"-out:{exe}", src], root)
                    run(["mono", exe], root)
                elif lang == "go":
                    run([sys.executable, os.path.join(root, "bindings", "go", "run_readme_block.py"), build], root,
                        dict(os.environ, MOLA_README_GO=code))
            except RuntimeError as e:
                print(f"{readme}: a ```{lang} block failed:\n{code}\n{e}")
                return 1
            ran += 1
    print(f"ran {ran} README block(s)")
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
