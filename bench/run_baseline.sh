#!/usr/bin/env bash
# run_baseline.sh: reproduces the CPU performance baseline, mola vs llama.cpp, on a random
# 4-layer model with DeepSeek-V2-Lite's dimensions (BF16).
#
#   bench/run_baseline.sh                 # from anywhere; works in the repository root
#
# Steps: builds mola (cmake --build build), makes models/bench-v2lite-4l (tools/make_bench_model.py) and
# its GGUF (tools/make_bench_gguf.py, only when llama_cpp + gguf are importable) if missing, then with
# THREADS threads: membw (build/membw or build/bench/membw; bandwidth before), mola bench, the llama.cpp
# bench (bench/llama_cpp_bench.py), membw again (after), and prints a table. Raw outputs are kept in
# $RESULTS (default build/baseline/<timestamp>/). Anything missing (membw, llama_cpp, a failed build)
# shows up as n/a instead of stopping the run.
#
# Each measurement also records how much CPU time *other* processes used while it ran ("other load",
# in cores: /proc/stat busy time minus the benchmark's own CPU time, over its wall time). On a 2-core
# machine a compiler or another benchmark running alongside easily halves every number; a run whose
# other load is above ~0.1 cores should not be trusted.
#
# Environment overrides: THREADS (2), PROMPT_TOKENS (512), GEN_TOKENS (128), MODEL_DIR
# (models/bench-v2lite-4l), GGUF (models/bench-v2lite-4l.gguf), PYTHON (python3), NO_BUILD=1 (use
# build/ as it is), BUILD (build; the build directory to use: NO_BUILD=1 BUILD=/tmp/x benchmarks another
# build without touching build/), LLAMA_REPEAT (1, best of N llama.cpp runs), RESULTS, WAIT_IDLE (seconds to wait
# for the CPUs to go idle before measuring; default 0 = only warn).
set -u
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
PROMPT_TOKENS=${PROMPT_TOKENS:-512}
GEN_TOKENS=${GEN_TOKENS:-128}
MODEL_DIR=${MODEL_DIR:-models/bench-v2lite-4l}
GGUF=${GGUF:-models/bench-v2lite-4l.gguf}
PYTHON=${PYTHON:-python3}
BUILD=${BUILD:-build}
LLAMA_REPEAT=${LLAMA_REPEAT:-1}
RESULTS=${RESULTS:-$BUILD/baseline/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"

log() { echo "[run_baseline] $*" >&2; }

# ---- build mola ------------------------------------------------------------------------------
mola_ok=0
if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building mola (Release) ..."
    if { [ -f "$BUILD/build.ninja" ] || cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release; } \
        >"$RESULTS/build.log" 2>&1 && cmake --build "$BUILD" -j"$(nproc)" >>"$RESULTS/build.log" 2>&1; then
        mola_ok=1
    else
        log "mola build FAILED (see $RESULTS/build.log); mola numbers will be n/a"
        tail -5 "$RESULTS/build.log" >&2
    fi
elif [ -x "$BUILD/mola" ]; then
    mola_ok=1
fi
[ -x "$BUILD/mola" ] || mola_ok=0

# ---- models ----------------------------------------------------------------------------------
if [ ! -f "$MODEL_DIR/config.json" ] || [ ! -f "$MODEL_DIR/model.safetensors" ]; then
    log "making $MODEL_DIR (random weights, ~4.5 GB) ..."
    "$PYTHON" tools/make_bench_model.py "$MODEL_DIR" || { log "model generation failed"; exit 1; }
fi

have_llama=0
if "$PYTHON" -c "import llama_cpp" 2>/dev/null; then
    have_llama=1
    if [ ! -f "$GGUF" ]; then
        if "$PYTHON" -c "import gguf" 2>/dev/null; then
            log "converting $MODEL_DIR -> $GGUF ..."
            "$PYTHON" tools/make_bench_gguf.py "$MODEL_DIR" "$GGUF" || { log "GGUF conversion failed"; have_llama=0; }
        else
            log "gguf package missing (pip install gguf); skipping llama.cpp"
            have_llama=0
        fi
    fi
else
    log "llama_cpp not importable (pip install llama-cpp-python); skipping llama.cpp"
fi

MEMBW=""
for c in "$BUILD/membw" "$BUILD/bench/membw"; do [ -x "$c" ] && { MEMBW=$c; break; }; done
[ -n "$MEMBW" ] || log "membw not built (bench/membw.cpp); bandwidth will be n/a"

# ---- helpers ---------------------------------------------------------------------------------
cpu_busy() {  # cores' worth of CPU busy over one second, from /proc/stat
    local a b
    a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
    awk -v i="$idle" -v t="$total" -v n="$(nproc)" 'BEGIN { printf "%.2f", (t > 0 ? n * (1 - i / t) : 0) }'
}

# measured TAG CMD...: runs CMD with stdout -> $RESULTS/TAG.out, stderr -> TAG.err, and writes
# TAG.load.json with wall time, own CPU time and other processes' CPU time during the run.
measured() {
    local tag=$1; shift
    "$PYTHON" bench/measured.py "$RESULTS/$tag.load.json" "$@" >"$RESULTS/$tag.out" 2>"$RESULTS/$tag.err"
}

# ---- measurements ----------------------------------------------------------------------------
busy=$(cpu_busy)
if [ "${WAIT_IDLE:-0}" -gt 0 ]; then
    deadline=$(( $(date +%s) + WAIT_IDLE ))
    while awk -v b="$busy" 'BEGIN { exit !(b > 0.1) }' && [ "$(date +%s)" -lt "$deadline" ]; do
        log "other processes use $busy cores; waiting for the CPUs to go idle ..."
        sleep 10; busy=$(cpu_busy)
    done
fi
echo "$busy" >"$RESULTS/cpu_busy_before.txt"
awk -v b="$busy" 'BEGIN { exit !(b > 0.1) }' && log "WARNING: other processes use $busy cores; numbers will be low"

if [ -n "$MEMBW" ]; then
    log "$MEMBW $THREADS (before) ..."
    measured membw_before "$MEMBW" "$THREADS" --json || measured membw_before "$MEMBW" "$THREADS"
fi

if [ $mola_ok = 1 ]; then
    log "$BUILD/mola bench $MODEL_DIR --prompt-tokens $PROMPT_TOKENS --gen-tokens $GEN_TOKENS --threads $THREADS --json ..."
    measured mola "$BUILD/mola" bench "$MODEL_DIR" --prompt-tokens "$PROMPT_TOKENS" --gen-tokens "$GEN_TOKENS" \
        --threads "$THREADS" --json || { log "mola bench failed:"; tail -5 "$RESULTS/mola.err" >&2; }
fi

if [ $have_llama = 1 ]; then
    log "bench/llama_cpp_bench.py $GGUF --threads $THREADS --prompt-tokens $PROMPT_TOKENS --gen-tokens $GEN_TOKENS --json ..."
    measured llama_cpp "$PYTHON" bench/llama_cpp_bench.py "$GGUF" --threads "$THREADS" \
        --prompt-tokens "$PROMPT_TOKENS" --gen-tokens "$GEN_TOKENS" --repeat "$LLAMA_REPEAT" --json \
        || { log "llama.cpp bench failed:"; tail -5 "$RESULTS/llama_cpp.err" >&2; }
fi

if [ -n "$MEMBW" ]; then
    log "$MEMBW $THREADS (after) ..."
    measured membw_after "$MEMBW" "$THREADS" --json || measured membw_after "$MEMBW" "$THREADS"
fi

# ---- table -----------------------------------------------------------------------------------
"$PYTHON" - "$RESULTS" "$THREADS" "$PROMPT_TOKENS" "$GEN_TOKENS" <<'EOF'
import json, os, re, subprocess, sys
res, threads, n_p, n_g = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def read(name):
    try:
        return open(os.path.join(res, name)).read()
    except OSError:
        return ""

def load_json(tag):
    for line in read(tag + ".out").splitlines():
        if line.strip().startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None

def other_load(tag):
    try:
        return json.loads(read(tag + ".load.json"))["other_load_cores"]
    except (ValueError, KeyError):
        return None

def membw(tag):
    text = read(tag + ".out")
    m = re.search(r'"read_gbps"\s*:\s*([0-9.]+)', text) or re.search(r"([0-9.]+)\s*GB/s", text)
    return float(m.group(1)) if m else None

mola, llama = load_json("mola"), load_json("llama_cpp")
bw_before, bw_after = membw("membw_before"), membw("membw_after")
bws = [b for b in (bw_before, bw_after) if b]
bw = sum(bws) / len(bws) if bws else None

def get(d, k):
    return d.get(k) if d else None

m_pf, m_dc = get(mola, "prefill_tokens_per_s"), get(mola, "decode_tokens_per_s")
m_gbs, wbytes = get(mola, "decode_weight_GB_per_s"), get(mola, "weight_bytes_per_token")
l_pf, l_dc = get(llama, "prefill_tokens_per_s"), get(llama, "decode_tokens_per_s")
l_gbs = l_dc * wbytes / 1e9 if (l_dc and wbytes) else None

def fmt(x, spec=".2f", suffix=""):
    return "n/a" if x is None else format(x, spec) + suffix

def ratio(a, b):
    return a / b if (a is not None and b) else None

try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except Exception:
    cpu = "?"
try:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    rev += "+dirty" if dirty else ""
except Exception:
    rev = "?"
busy = read("cpu_busy_before.txt").strip() or "?"

print()
print(f"baseline: {cpu}, {os.cpu_count()} cpus, {threads} threads, prompt {n_p} / gen {n_g} tokens, mola {rev}")
print(f"weights streamed per decoded token (mola's count): {fmt(wbytes and wbytes / 1e9, '.3f', ' GB')}")
print()
print(f"{'':20}{'prefill tok/s':>15}{'decode tok/s':>14}{'decode GB/s':>13}{'other load':>12}")
print(f"{'mola':20}{fmt(m_pf):>15}{fmt(m_dc):>14}{fmt(m_gbs):>13}{fmt(other_load('mola')):>12}")
print(f"{'llama.cpp':20}{fmt(l_pf):>15}{fmt(l_dc):>14}{fmt(l_gbs):>13}{fmt(other_load('llama_cpp')):>12}")
print(f"{'mola / llama.cpp':20}{fmt(ratio(m_pf, l_pf), '.3f'):>15}{fmt(ratio(m_dc, l_dc), '.3f'):>14}")
print()
print(f"memory read bandwidth (membw {threads}): before {fmt(bw_before, '.2f', ' GB/s')}"
      f" (other load {fmt(other_load('membw_before'))}), after {fmt(bw_after, '.2f', ' GB/s')}"
      f" (other load {fmt(other_load('membw_after'))})")
print(f"mola decode GB/s / measured bandwidth:      {fmt(ratio(m_gbs, bw), '.3f')}")
print(f"llama.cpp decode GB/s / measured bandwidth: {fmt(ratio(l_gbs, bw), '.3f')}")
print(f"other processes before measuring: {busy} cores; 'other load' = cores used by other processes during "
      f"that run (> 0.1: numbers are depressed)")
summary = {"threads": int(threads), "prompt_tokens": int(n_p), "gen_tokens": int(n_g), "cpu": cpu, "git": rev,
           "mola": mola, "llama_cpp": llama, "membw_before_gbps": bw_before, "membw_after_gbps": bw_after,
           "llama_cpp_decode_weight_GB_per_s": l_gbs, "other_load_cores_before": busy,
           "other_load_cores": {t: other_load(t) for t in ("membw_before", "mola", "llama_cpp", "membw_after")},
           "ratios": {"mola_decode_bw_fraction": ratio(m_gbs, bw), "llama_decode_bw_fraction": ratio(l_gbs, bw),
                      "mola_over_llama_prefill": ratio(m_pf, l_pf), "mola_over_llama_decode": ratio(m_dc, l_dc)}}
with open(os.path.join(res, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
print(f"\nraw outputs and summary.json: {res}")
EOF
