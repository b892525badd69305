#!/usr/bin/env bash
# Installs what mola needs to build on Debian 12 (only what is missing), then
# configures and builds it in ./build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ ninja-build pkg-config catch2 nlohmann-json3-dev binutils
          libpcre2-dev libsentencepiece-dev libutf8proc-dev zlib1g-dev libssl-dev python3 python3-pip
          # the bindings: SWIG, Python's headers, a JDK with JUnit 5, Mono with NUnit, Go; valgrind
          swig python3-dev openjdk-17-jdk-headless junit5 mono-mcs mono-devel nunit-console
          libnunit-cil-dev golang-go valgrind
          # the packages and their proof: dpkg-dev (CPack's shlibdeps), lintian, rpm
          dpkg-dev lintian rpm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# pytest (and numpy, for logits as arrays) for the Python binding's tests, from PyPI;
# Debian's own python3 refuses pip installs outside a virtual environment unless told.
if ! python3 -c "import pytest, numpy" 2>/dev/null; then
  python3 -m pip install -q pytest numpy 2>/dev/null ||
    python3 -m pip install -q --break-system-packages pytest numpy
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOLA_WERROR=ON
cmake --build build -j"$(nproc)"
