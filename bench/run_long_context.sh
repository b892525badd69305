#!/usr/bin/env bash
# run_long_context.sh: long-context benchmark of the DeepSeek-V2-Lite-shaped 4-layer model: decode
# tokens/s at several context depths (mola and, when llama-cpp-python is importable, llama.cpp on
# the same weights), mola's time to first token for a question after a cached prefix vs a cold
# prefill, and cache bytes per token (BF16, FP8) vs a per-head K/V cache. Prints a markdown table.
#
#   bench/run_long_context.sh                       # from anywhere; uses build/mola
#   DEPTHS=1024,4096 GEN_TOKENS=16 bench/run_long_context.sh    # a quicker run
#
# The deepest prefix is prefilled once per engine (a 32K prefill takes minutes on 2 cores); each
# shallower depth is measured on the way. Each run records the CPU time other processes used while
# it ran ("other load", in cores); above ~0.1 the figures are depressed.
#
# Environment: THREADS (2), DEPTHS (1024,8192,32768), GEN_TOKENS (32, decoded at each depth),
# MODEL_DIR (models/bench-v2lite-4l), GGUF (models/bench-v2lite-4l.gguf), BUILD (build), PYTHON
# (python3), NO_LLAMA=1 (skip llama.cpp), RESULTS (default $BUILD/long_context/<timestamp>/), MOLA_ARGS
# (more `mola bench` options, e.g. "--mla absorbed" or "--kv-dtype fp8_e4m3").
set -u
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
DEPTHS=${DEPTHS:-1024,8192,32768}
GEN_TOKENS=${GEN_TOKENS:-32}
MODEL_DIR=${MODEL_DIR:-models/bench-v2lite-4l}
GGUF=${GGUF:-models/bench-v2lite-4l.gguf}
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
RESULTS=${RESULTS:-$BUILD/long_context/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"

log() { echo "[run_long_context] $*" >&2; }

# measured TAG CMD...: CMD's stdout -> $RESULTS/TAG.out, stderr -> TAG.err; TAG.load.json gets
# the wall time, the run's own CPU time and the CPU time other processes used meanwhile.
measured() {
    local tag=$1; shift
    "$PYTHON" bench/measured.py "$RESULTS/$tag.load.json" "$@" >"$RESULTS/$tag.out" 2>"$RESULTS/$tag.err"
}

[ -x "$BUILD/mola" ] || { log "$BUILD/mola is missing: cmake --build $BUILD --target mola"; exit 1; }
[ -f "$MODEL_DIR/config.json" ] || { log "$MODEL_DIR is missing: python3 tools/make_bench_model.py $MODEL_DIR"; exit 1; }

log "$BUILD/mola bench $MODEL_DIR --depths $DEPTHS --gen-tokens $GEN_TOKENS --threads $THREADS ${MOLA_ARGS:-} --json ..."
# shellcheck disable=SC2086  # MOLA_ARGS is a list of options
measured mola "$BUILD/mola" bench "$MODEL_DIR" --depths "$DEPTHS" --gen-tokens "$GEN_TOKENS" --threads "$THREADS" \
    ${MOLA_ARGS:-} --json -q || { log "mola bench failed:"; tail -5 "$RESULTS/mola.err" >&2; }

if [ "${NO_LLAMA:-0}" != 1 ] && [ -f "$GGUF" ] && "$PYTHON" -c "import llama_cpp" 2>/dev/null; then
    log "bench/llama_cpp_bench.py $GGUF --depths $DEPTHS --gen-tokens $GEN_TOKENS --threads $THREADS --json ..."
    measured llama_cpp "$PYTHON" bench/llama_cpp_bench.py "$GGUF" --depths "$DEPTHS" --gen-tokens "$GEN_TOKENS" \
        --threads "$THREADS" --json || { log "llama.cpp bench failed:"; tail -5 "$RESULTS/llama_cpp.err" >&2; }
else
    log "skipping llama.cpp (NO_LLAMA=1, no $GGUF, or llama_cpp not importable)"
fi

"$PYTHON" - "$RESULTS" "$THREADS" "$GEN_TOKENS" <<'EOF'
import json, os, subprocess, sys
res, threads, gen = sys.argv[1:4]

def load(tag):
    try:
        lines = open(os.path.join(res, tag + ".out")).read().splitlines()
        return next(json.loads(l) for l in lines if l.strip().startswith("{"))
    except (OSError, StopIteration, ValueError):
        return None

def other_load(tag):
    try:
        return json.load(open(os.path.join(res, tag + ".load.json")))["other_load_cores"]
    except (OSError, ValueError, KeyError):
        return None

def fmt(x, spec=".2f"):
    return "n/a" if x is None else format(x, spec)

mola, llama = load("mola"), load("llama_cpp")
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"\nlong context: {threads} threads, {gen} decoded tokens per depth, mola {rev}, "
      f"other load: mola {fmt(other_load('mola'))}, llama.cpp {fmt(other_load('llama_cpp'))} cores\n")
depths = sorted({d["depth"] for e in (mola, llama) if e for d in e["depths"]})
by = lambda e: {d["depth"]: d for d in e["depths"]} if e else {}
m, l = by(mola), by(llama)
print("| depth | mola decode tok/s | vs first depth | llama.cpp decode tok/s | vs first depth | mola / llama.cpp |")
print("|---:|---:|---:|---:|---:|---:|")
for d in depths:
    md, ld = m.get(d, {}), l.get(d, {})
    mt, lt = md.get("decode_tokens_per_s"), ld.get("decode_tokens_per_s")
    print(f"| {d} | {fmt(mt)} | {fmt(md.get('ratio_to_first'), '.3f')} | {fmt(lt)} | "
          f"{fmt(ld.get('ratio_to_first'), '.3f')} | {fmt(mt / lt if mt and lt else None, '.3f')} |")
if mola:
    t, kv = mola["ttft"], mola["kv_bytes_per_token"]
    print(f"\n| time to first token, {t['question_tokens']}-token question after {t['prefix_tokens']} tokens | seconds |")
    print("|---|---:|")
    print(f"| cached prefix (forked session) | {t['cached_prefix_s']:.4f} |")
    if t.get("prefix_cache_s"):
        print(f"| cached prefix (new session, prefix cache) | {t['prefix_cache_s']:.4f} |")
    print(f"| cold prefill of prefix + question | {t['cold_prefill_s']:.2f} ({t['speedup']:.0f}x) |")
    print(f"\n| cache bytes per token | bytes |")
    print("|---|---:|")
    print(f"| mola latent cache, BF16 | {kv['bf16']} |")
    print(f"| mola latent cache, FP8 e4m3 (+ scale, BF16 rope) | {kv['fp8_e4m3']} |")
    print(f"| per-head K/V cache, BF16 ({kv['per_head_formula']}) | {kv['per_head_bf16']} |")
    if llama and llama.get("kv_bytes_per_token"):
        print(f"| llama.cpp ({llama.get('attention_layout')} GGUF), as logged | {llama['kv_bytes_per_token']:.0f} |")
    print(f"\nmola cold prefill: {mola['prefill']['tokens']} tokens at {mola['prefill']['tokens_per_s']:.1f} tokens/s")
if llama:
    print(f"llama.cpp prefill: {llama['prefill']['tokens']} tokens at {llama['prefill']['tokens_per_s']:.1f} tokens/s; "
          f"KV cache: {llama.get('kv_cache_log')}")
json.dump({"mola": mola, "llama_cpp": llama, "other_load_cores": {"mola": other_load("mola"),
           "llama_cpp": other_load("llama_cpp")}}, open(os.path.join(res, "summary.json"), "w"), indent=2)
print(f"\nraw outputs and summary.json: {res}")
EOF
