#!/usr/bin/env bash
# test_packages.sh: the install proof of mola's packages. Builds the .deb and .rpm
# packages (packaging/build_packages.sh), lints the .debs, inspects the RPMs and
# installs them into a scratch root, installs the .debs on this machine, builds and
# runs C, C++, CLI, Python, Java, C# and Go programs against the installed files
# only, then purges everything and checks that nothing is left behind.
#
#   packaging/test_packages.sh            # build the packages, then test them
#   MOLA_PKG_SKIP_BUILD=1 packaging/test_packages.sh   # test the packages already in build-pkg/
#
# Prints one PASS or FAIL line per check and exits non-zero if any check failed.
# Installing needs root (sudo is used otherwise); the machine is left clean on every
# exit path, including a failed step or Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
SOURCE_DIR=$(pwd)
PKG_DIR=$SOURCE_DIR/build-pkg
TESTS_DIR=$SOURCE_DIR/packaging/tests
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi

VERSION=$(sed -n 's/^project(mola VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
TRIPLET=x86_64-linux-gnu
LIBDIR=/usr/lib/$TRIPLET
MODEL_DIR=/usr/share/mola/models/mola-tiny-code
GO_SOURCE_DIR=/usr/share/gocode/src/mola.dev/mola

# The agreed package names (packaging.md), per component, as .deb and as .rpm.
COMPONENTS=(runtime dev cli python java csharp go)
declare -A DEB_NAME=([runtime]=libmola0 [dev]=libmola-dev [cli]=mola [python]=python3-mola
                     [java]=libmola-java [csharp]=libmola-cil [go]=golang-mola-dev)
declare -A RPM_NAME=([runtime]=libmola0 [dev]=libmola-devel [cli]=mola [python]=python3-mola
                     [java]=mola-java [csharp]=mola-cil [go]=golang-mola-devel)
# Files each component must ship (as extended regexes over `rpm -qlp` / `dpkg -L`).
declare -A EXPECTED_FILES=(
  [runtime]="^$LIBDIR/libmola\.so\.0$ ^$LIBDIR/libmola\.so\.${VERSION//./\\.}$"
  [dev]="^/usr/include/mola/mola\.h$ ^/usr/include/mola/mola\.hpp$ ^/usr/include/mola/mola_version\.h$
         ^$LIBDIR/libmola\.so$ ^$LIBDIR/pkgconfig/mola\.pc$ ^$LIBDIR/cmake/mola/molaConfig\.cmake$
         ^$LIBDIR/cmake/mola/molaConfigVersion\.cmake$ ^$LIBDIR/cmake/mola/molaTargets\.cmake$"
  [cli]="^/usr/bin/mola$ ^$MODEL_DIR/config\.json$ ^$MODEL_DIR/model\.safetensors$ ^$MODEL_DIR/tokenizer\.json$"
  [python]="^/usr/lib/python3/dist-packages/mola/__init__\.py$ ^/usr/lib/python3/dist-packages/mola/_mola_native[^/]*\.so$"
  [java]="^/usr/share/java/mola\.jar$ ^/usr/share/java/mola-${VERSION//./\\.}\.jar$ ^$LIBDIR/jni/libmola_jni\.so$"
  [csharp]="^/usr/lib/cli/mola/Mola\.dll$ ^$LIBDIR/libmola_csharp\.so$ ^$LIBDIR/pkgconfig/mola-sharp\.pc$"
  [go]="^$GO_SOURCE_DIR/go\.mod$ ^$GO_SOURCE_DIR/mola\.go$ ^$GO_SOURCE_DIR/internal/native/[^/]*\.go$
        ^$GO_SOURCE_DIR/internal/native/[^/]*\.cxx$ ^$GO_SOURCE_DIR/.*mola_bind\.hpp$"
)
# What every component but the runtime must require exactly: the bindings wrap the
# C++ facade inline, and the Go source needs the headers and the libmola.so link.
declare -A DEB_EXACT_DEP=([dev]=libmola0 [python]=libmola0 [java]=libmola0 [csharp]=libmola0 [go]=libmola-dev)
declare -A RPM_EXACT_DEP=([dev]=libmola0 [python]=libmola0 [java]=libmola0 [csharp]=libmola0 [go]=libmola-devel)

# The generation every program repeats; the C++ consumer's output is the expected line.
PROMPT='def f(x):'
SEED=1234
MAX_TOKENS=16

failures=0
# Everything scratch (check logs, the RPM root, the programs) lives here, outside the source tree.
WORK=$(mktemp -d /tmp/mola-pkgtest.XXXXXX)
# fd 3 stays the terminal: the cleanup may run (on a signal) while a check redirects stdout.
exec 3>&1
section() { echo; echo "== $*"; }
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# check DESCRIPTION COMMAND...: runs COMMAND quietly, showing its output only on failure.
check() {
  local description=$1 log
  shift
  log=$(mktemp "$WORK/check.XXXXXX")
  if "$@" >"$log" 2>&1; then pass "$description"; else fail "$description"; sed 's/^/    /' "$log" | tail -n 30; fi
  rm -f "$log"
}

installed_mola_packages() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 2>/dev/null |
    awk -v names=" ${DEB_NAME[*]} " '$1 != "un" && index(names, " " $NF " ") { print $NF }'
}

cleanup() {
  local leftover
  leftover=$(installed_mola_packages)
  if [ -n "$leftover" ]; then
    echo "cleanup: purging $(echo $leftover)" >&3
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $leftover >/dev/null 2>&1 ||
      "${SUDO[@]}" dpkg -P $leftover >/dev/null 2>&1
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
  echo
  if [ "$failures" -eq 0 ]; then
    echo "PASS: packaging/test_packages.sh: every check passed"
    exit 0
  fi
  echo "FAIL: packaging/test_packages.sh: $failures check(s) failed"
  exit 1
}

if [ -z "$VERSION" ]; then
  fail "read the version from project(mola VERSION ...) in CMakeLists.txt"
  finish
fi
if [ -n "$(installed_mola_packages)" ]; then
  echo "note: mola packages were already installed; purging them first"
  cleanup
fi

section "1. Build the packages"
if [ "${MOLA_PKG_SKIP_BUILD:-0}" != 1 ]; then
  if [ ! -x packaging/build_packages.sh ]; then
    fail "packaging/build_packages.sh exists"
    finish
  fi
  check "build the packages (packaging/build_packages.sh)" packaging/build_packages.sh
else
  echo "skipped (MOLA_PKG_SKIP_BUILD=1): testing the packages in $PKG_DIR"
fi
declare -A DEB_FILE RPM_FILE
for c in "${COMPONENTS[@]}"; do
  shopt -s nullglob
  debs=("$PKG_DIR/${DEB_NAME[$c]}_${VERSION}"*_amd64.deb)
  rpms=("$PKG_DIR/${RPM_NAME[$c]}-${VERSION}"-*.x86_64.rpm)
  shopt -u nullglob
  if [ ${#debs[@]} -eq 1 ]; then DEB_FILE[$c]=${debs[0]}; else fail "one ${DEB_NAME[$c]} $VERSION .deb in build-pkg/ (found ${#debs[@]})"; fi
  if [ ${#rpms[@]} -eq 1 ]; then RPM_FILE[$c]=${rpms[0]}; else fail "one ${RPM_NAME[$c]} $VERSION .rpm in build-pkg/ (found ${#rpms[@]})"; fi
done
if [ ${#DEB_FILE[@]} -ne ${#COMPONENTS[@]} ] || [ ${#RPM_FILE[@]} -ne ${#COMPONENTS[@]} ]; then finish; fi

section "2. The .debs: lintian, metadata, contents"
lintian_output=$(lintian --fail-on error "${DEB_FILE[@]}" 2>&1)
lintian_status=$?
if [ "$lintian_status" -eq 0 ] && ! grep -q "^E: " <<<"$lintian_output"; then
  lintian_warnings=$(grep -c "^W: " <<<"$lintian_output")
  if [ "$lintian_warnings" -eq 0 ]; then pass "lintian: no errors or warnings in the .debs"
  else pass "lintian: no errors in the .debs ($lintian_warnings warning(s); packaging/README.md explains those kept)"; fi
  grep "^W: " <<<"$lintian_output" | sed 's/^/    /'
else
  fail "lintian: no errors in the .debs"
  grep -E "^(E|W): |error" <<<"$lintian_output" | sed 's/^/    /'
fi

deb_has_files() {  # COMPONENT: the .deb ships the expected files and its copyright
  local c=$1 listing pattern
  listing=$(dpkg-deb -c "${DEB_FILE[$c]}" | awk '{ sub(/^\./, "", $6); print $6 }')
  for pattern in ${EXPECTED_FILES[$c]} "^/usr/share/doc/${DEB_NAME[$c]}/copyright$"; do
    grep -Eq "$pattern" <<<"$listing" || { echo "no file matches $pattern"; return 1; }
  done
  dpkg-deb --fsys-tarfile "${DEB_FILE[$c]}" | tar -xO "./usr/share/doc/${DEB_NAME[$c]}/copyright" |
    grep -q "Permission is hereby granted" || { echo "copyright lacks the MIT license text"; return 1; }
}
deb_has_version() {  # COMPONENT: the project version, with or without a Debian revision
  local version
  version=$(dpkg-deb -f "${DEB_FILE[$1]}" Version)
  echo "Version: $version"
  [ "$version" = "$VERSION" ] || [ "${version%-*}" = "$VERSION" ]
}
deb_depends_exactly() {  # COMPONENT DEPENDENCY
  local depends
  depends=$(dpkg-deb -f "${DEB_FILE[$1]}" Depends)
  echo "Depends: $depends"
  grep -Eq "(^|, )$2 \(= ${VERSION//./\\.}(-[^)]*)?\)" <<<"$depends"
}
deb_has_ldconfig_trigger() {
  dpkg-deb --ctrl-tarfile "${DEB_FILE[$1]}" | tar -xO ./triggers | grep -Eq "^activate-noawait ldconfig$"
}
for c in "${COMPONENTS[@]}"; do
  check "${DEB_NAME[$c]}.deb: version $VERSION" deb_has_version "$c"
  check "${DEB_NAME[$c]}.deb: expected files and MIT copyright" deb_has_files "$c"
  if [ -n "${DEB_EXACT_DEP[$c]:-}" ]; then
    check "${DEB_NAME[$c]}.deb: Depends ${DEB_EXACT_DEP[$c]} (= $VERSION)" deb_depends_exactly "$c" "${DEB_EXACT_DEP[$c]}"
  fi
done
check "mola.deb: Depends on libmola0" bash -c 'dpkg-deb -f "$1" Depends | grep -Eq "(^|, )libmola0( |,|$)"' _ "${DEB_FILE[cli]}"
check "libmola0.deb: ldconfig trigger" deb_has_ldconfig_trigger runtime
check "libmola-cil.deb: ldconfig trigger (libmola_csharp.so is in $LIBDIR)" deb_has_ldconfig_trigger csharp

section "3. The RPMs: contents, requirements, an install into a scratch root"
rpm_has_files() {
  local c=$1 listing pattern
  listing=$(rpm -qlp "${RPM_FILE[$c]}" 2>/dev/null)
  for pattern in ${EXPECTED_FILES[$c]}; do
    grep -Eq "$pattern" <<<"$listing" || { echo "no file matches $pattern"; return 1; }
  done
  rpm -qp --qf '%{LICENSE}\n' "${RPM_FILE[$c]}" 2>/dev/null | grep -q MIT || { echo "License is not MIT"; return 1; }
}
rpm_requires_exactly() {  # COMPONENT DEPENDENCY
  local requires
  requires=$(rpm -qp --requires "${RPM_FILE[$1]}" 2>/dev/null)
  echo "$requires"
  grep -Eq "^$2 = ${VERSION//./\\.}(-.*)?$" <<<"$requires"
}
for c in "${COMPONENTS[@]}"; do
  check "${RPM_NAME[$c]}.rpm: expected files, MIT license" rpm_has_files "$c"
  if [ -n "${RPM_EXACT_DEP[$c]:-}" ]; then
    check "${RPM_NAME[$c]}.rpm: Requires ${RPM_EXACT_DEP[$c]} = $VERSION" rpm_requires_exactly "$c" "${RPM_EXACT_DEP[$c]}"
  fi
done
check "mola.rpm: Requires libmola.so.0 or libmola0" \
  bash -c 'rpm -qp --requires "$1" 2>/dev/null | grep -Eq "^(libmola\.so\.0\(\)\(64bit\)|libmola0( |$))"' _ "${RPM_FILE[cli]}"
check "libmola0.rpm: provides libmola.so.0()(64bit)" \
  bash -c 'rpm -qp --provides "$1" 2>/dev/null | grep -q "^libmola\.so\.0()(64bit)"' _ "${RPM_FILE[runtime]}"
check "libmola0.rpm: runs ldconfig after install and removal" \
  bash -c 'rpm -qp --scripts "$1" 2>/dev/null | tr -d "\n" | grep -Eq "postinstall.*ldconfig.*postuninstall.*ldconfig"' _ "${RPM_FILE[runtime]}"

rpm_scratch_install() {
  local c missing=0 file
  rpm --root "$RPM_ROOT" --initdb || return 1
  rpm --root "$RPM_ROOT" -ivh --nodeps "${RPM_FILE[@]}" 2>&1 | grep -v "should not be used directly" || true
  local installed expected
  installed=$(rpm --root "$RPM_ROOT" -qa --qf '%{NAME}\n' 2>/dev/null | sort)
  expected=$(printf '%s\n' "${RPM_NAME[@]}" | sort)
  [ "$installed" = "$expected" ] || { echo "installed: $installed"; return 1; }
  for c in "${COMPONENTS[@]}"; do
    while read -r file; do
      [ -e "$RPM_ROOT$file" ] || [ -L "$RPM_ROOT$file" ] || { echo "missing $RPM_ROOT$file"; missing=1; }
    done < <(rpm -qlp "${RPM_FILE[$c]}" 2>/dev/null)
  done
  return $missing
}
RPM_ROOT=$WORK/rpmroot
mkdir -p "$RPM_ROOT"
check "RPMs: install into a scratch root (rpm --root), every file present" rpm_scratch_install
rm -rf "$RPM_ROOT"

section "4. Install the .debs; use them from outside the source tree, with only system paths"
check "apt-get install the .debs" \
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${DEB_FILE[@]}"
declare -A INSTALLED_FILES
for c in "${COMPONENTS[@]}"; do
  INSTALLED_FILES[$c]=$(dpkg -L "${DEB_NAME[$c]}" 2>/dev/null)
  if [ -z "${INSTALLED_FILES[$c]}" ]; then fail "${DEB_NAME[$c]} is installed"; finish; fi
done
check "ldconfig knows libmola.so.0" bash -c 'ldconfig -p | grep -qE "libmola\.so\.0 .*=> (/usr)?/lib/'"$TRIPLET"'/libmola\.so\.0$"'

no_source_paths_installed() {  # no installed file names the source or build tree
  local c file found=0
  for c in "${COMPONENTS[@]}"; do
    while read -r file; do
      if [ -f "$file" ] && grep -qF "$SOURCE_DIR" "$file"; then echo "$file mentions $SOURCE_DIR"; found=1; fi
    done <<<"${INSTALLED_FILES[$c]}"
  done
  return $found
}
check "no installed file mentions the source or build tree" no_source_paths_installed

mkdir -p "$WORK/home"
cp -r "$TESTS_DIR/consumer" "$TESTS_DIR/smoke" "$WORK/"
# Runs a command in $WORK with only system paths in the environment; a hang fails
# after 10 minutes instead of blocking the test.
in_clean_env() {
  (cd "$WORK" && timeout 600 env -i HOME="$WORK/home" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
     LANG=C.UTF-8 TMPDIR=/tmp "$@")
}
to_hex() { od -An -v -tx1 | tr -d ' \n'; echo; }
# same_as_cpp NAME OUTPUT_FILE: the program printed the C++ consumer's line.
same_as_cpp() {
  local got
  got=$(cat "$2")
  echo "expected $EXPECTED"
  echo "got      $got"
  [ -n "$got" ] && [ "$got" = "$EXPECTED" ]
}

EXPECTED=""
check "pkg-config: mola $VERSION" bash -c '[ "$(pkg-config --modversion mola)" = "$1" ]' _ "$VERSION"
check "C++ consumer: cmake find_package(mola) + mola::mola, build" \
  in_clean_env bash -c 'cmake -S consumer -B consumer-build -DCMAKE_BUILD_TYPE=Release && cmake --build consumer-build -j2'
check "C++ consumer: run on the installed model" \
  in_clean_env bash -c 'consumer-build/consumer "$@" > cpp.out' _ "$MODEL_DIR" "$PROMPT" "$SEED" "$MAX_TOKENS"
EXPECTED=$(cat "$WORK/cpp.out" 2>/dev/null)
if [ -z "$EXPECTED" ]; then
  fail "the C++ consumer printed the expected line for the other programs"
else
  echo "      generated (hex): $EXPECTED"
fi

check "C sample: build with pkg-config --cflags --libs mola" \
  in_clean_env bash -c 'gcc -std=c99 -Wall -Werror -o smoke_c smoke/smoke.c $(pkg-config --cflags --libs mola)'
check "C sample: uses the installed libmola" \
  in_clean_env bash -c 'ldd smoke_c | grep -qE "libmola\.so\.0 => (/usr)?/lib/'"$TRIPLET"'/libmola\.so\.0 "'
in_clean_env bash -c './smoke_c "$@" > c.out' _ "$MODEL_DIR" "$PROMPT" "$SEED" "$MAX_TOKENS"
check "C sample: same text as the C++ consumer" same_as_cpp C "$WORK/c.out"

check "CLI: mola is /usr/bin/mola" in_clean_env bash -c '[ "$(command -v mola)" = /usr/bin/mola ]'
# No MODEL argument: the CLI must find the bundled model where the package put it.
in_clean_env bash -c 'mola run -p "$1" -n "$3" --seed "$2" --ignore-eos --threads 1' _ "$PROMPT" "$SEED" "$MAX_TOKENS" \
  2>"$WORK/cli.err" | to_hex >"$WORK/cli.out"
check "CLI: mola run on the default installed model, same text as the C++ consumer" same_as_cpp CLI "$WORK/cli.out"
in_clean_env bash -c 'mola run "$1" -p "$2" -n "$4" --seed "$3" --ignore-eos --threads 1' _ "$MODEL_DIR" "$PROMPT" "$SEED" "$MAX_TOKENS" \
  2>>"$WORK/cli.err" | to_hex >"$WORK/cli-model.out"
check "CLI: mola run $MODEL_DIR, same text as the C++ consumer" same_as_cpp CLI "$WORK/cli-model.out"

in_clean_env /usr/bin/python3 smoke/smoke.py "$MODEL_DIR" "$PROMPT" "$SEED" "$MAX_TOKENS" >"$WORK/python.out"
check "Python: /usr/bin/python3 imports the installed mola, same text as the C++ consumer" same_as_cpp Python "$WORK/python.out"

in_clean_env java -cp /usr/share/java/mola.jar smoke/Smoke.java "$MODEL_DIR" "$PROMPT" "$SEED" "$MAX_TOKENS" >"$WORK/java.out"
check "Java: mola.jar + the installed JNI library, same text as the C++ consumer" same_as_cpp Java "$WORK/java.out"

check "C#: mcs \$(pkg-config --libs mola-sharp)" \
  in_clean_env bash -c 'mcs $(pkg-config --libs mola-sharp) -out:Smoke.exe smoke/Smoke.cs'
in_clean_env MONO_PATH=/usr/lib/cli/mola mono Smoke.exe "$MODEL_DIR" "$PROMPT" "$SEED" "$MAX_TOKENS" >"$WORK/csharp.out"
check "C#: Mola.dll + the installed native library, same text as the C++ consumer" same_as_cpp C# "$WORK/csharp.out"

mkdir -p "$WORK/gosmoke"
cp "$TESTS_DIR/smoke/go/main.go" "$WORK/gosmoke/"
cp "$TESTS_DIR/smoke/go/go.mod.in" "$WORK/gosmoke/go.mod"
check "Go: go build against $GO_SOURCE_DIR and the installed libmola" \
  in_clean_env GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" GOFLAGS=-mod=mod GOPROXY=off \
  bash -c 'cd gosmoke && go build -o ../smoke_go .'
in_clean_env ./smoke_go "$MODEL_DIR" "$PROMPT" "$SEED" "$MAX_TOKENS" >"$WORK/go.out"
check "Go: same text as the C++ consumer" same_as_cpp Go "$WORK/go.out"
go_cgo_flags_are_installed_ones() {
  local flags
  flags=$(grep -rh "^// #cgo " "$GO_SOURCE_DIR" --include='*.go')
  echo "$flags"
  grep -qE "LDFLAGS:.*-lmola( |$)" <<<"$flags" && ! grep -qE -- "rpath|-L|TARGET_FILE|$SOURCE_DIR" <<<"$flags"
}
check "Go: the cgo flags link -lmola with no -L, rpath or build path" go_cgo_flags_are_installed_ones

section "5. Purge every package; nothing may be left"
check "purge every mola package" \
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${DEB_NAME[@]}"
nothing_left() {
  local c path left=0
  for c in "${COMPONENTS[@]}"; do
    while read -r path; do
      [ -n "$path" ] || continue
      # Directories other packages share (/usr/lib, /usr/share/java, ...) may stay;
      # every file, and every directory of mola's own, must be gone.
      if [ -d "$path" ] && [ ! -L "$path" ] && ! grep -qiE "mola" <<<"${path##*/}"; then continue; fi
      if [ -e "$path" ] || [ -L "$path" ]; then echo "left behind: $path"; left=1; fi
    done <<<"${INSTALLED_FILES[$c]}"
  done
  return $left
}
check "nothing of the packages is left after the purge" nothing_left
check "dpkg -l lists no mola package" bash -c '! dpkg -l | grep -i mola'
check "ldconfig no longer knows libmola" bash -c '! ldconfig -p | grep -q "libmola"'

finish
