#!/usr/bin/env bash
# packaging/build_packages.sh: configures, builds and packs the DEB and RPM packages into
# build-pkg/ (a separate tree with MOLA_PACKAGE=ON and the /usr prefix), then lists them.
# Safe to rerun: the tree is reused; stale packages and staging files are removed before packing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${MOLA_PKG_BUILD_DIR:-build-pkg}
# Extra configure arguments (e.g. -DMOLA_BINDINGS=OFF for the core packages only) in MOLA_PKG_CMAKE_ARGS.
JOBS=${MOLA_JOBS:-2}

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DMOLA_PACKAGE=ON -DBUILD_TESTING=OFF -DMOLA_BINDINGS=ON -DPython3_EXECUTABLE=/usr/bin/python3 \
  ${MOLA_PKG_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j"$JOBS"
# A previous run's staging tree would feed its stale shlibs file to dpkg-shlibdeps.
rm -rf "$BUILD_DIR"/*.deb "$BUILD_DIR"/*.rpm "$BUILD_DIR/_CPack_Packages"
(cd "$BUILD_DIR" && cpack -G "DEB;RPM")
echo "packages in $BUILD_DIR:"
(cd "$BUILD_DIR" && ls -s -h -1 ./*.deb ./*.rpm)
