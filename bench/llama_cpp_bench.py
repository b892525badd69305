#!/usr/bin/env python3
"""Prefill/decode speed of llama.cpp (through llama-cpp-python's low-level API) on a GGUF file.

    python3 bench/llama_cpp_bench.py models/bench-v2lite-4l.gguf --threads 2 \
        --prompt-tokens 512 --gen-tokens 128 [--json]

Measures the same thing as `mola bench`:
  * warm-up: one full prompt pass plus one decode step (touches every weight page, including all
    experts), then the KV cache is cleared;
  * prefill: the N random prompt tokens (uniform over the vocabulary, fixed seed) in one llama_decode
    call (n_batch = n_ubatch = N unless --batch is given), logits only for the last token;
  * decode: M greedy steps continuing after the prompt (argmax of the last logits, one token per
    llama_decode call), so decode attends over N..N+M tokens of context like mola's.
Times are wall clock around llama_decode (+ argmax for decode); llama.cpp's own perf counters are
reported alongside. With --repeat R the whole prefill+decode measurement is repeated R times (cache
cleared in between) and the best run is reported (--aggregate median to change that).

With --depths 1024,8192,32768 it measures decode at several context depths instead, like
`mola bench --depths`: the prompt is evaluated incrementally up to each depth (n_batch tokens per
llama_decode), M decode steps are timed there, and the decoded tokens are removed from the cache
(llama_memory_seq_rm) before going deeper. It also reports whether the GGUF stores MLA's split
attn_k_b / attn_v_b (llama.cpp then caches the latent, as mola does) or only attn_kv_b (llama.cpp
expands per-head K/V), and the KV-cache size llama.cpp logs for its n_ctx cells.

Requires `pip install llama-cpp-python` (built from source; CMAKE_ARGS="-DGGML_NATIVE=ON" for this CPU).
"""
import argparse
import ctypes
import json
import statistics
import sys
import time

import numpy as np

try:
    import llama_cpp as L
except ImportError:
    sys.exit("llama_cpp_bench.py: llama_cpp is not importable (pip install llama-cpp-python)")


_log_lines = []


@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _quiet_log(level, text, user_data):  # keeps llama.cpp's log lines for parsing, prints nothing
    _log_lines.append(text.decode(errors="replace") if text else "")


def kv_cache_logged():
    """(bytes, cells, the log line) of the KV cache from llama.cpp's context log
    ("llama_kv_cache: size = X MiB (N cells, ...), K (f16): ..., V (f16): ..."), or Nones."""
    import re
    for line in "".join(_log_lines).splitlines():
        m = re.search(r"size\s*=\s*([0-9.]+)\s*MiB\s*\(\s*(\d+)\s*cells", line)
        if m and "kv" in line.lower():
            return float(m.group(1)) * 1024 * 1024, int(m.group(2)), line.strip()
    return None, None, None


def gguf_attention_layout(path):
    """'mla' if the GGUF has attn_k_b/attn_v_b, 'per-head' if only attn_kv_b, None if unknown."""
    try:
        import gguf
        names = {t.name for t in gguf.GGUFReader(path).tensors if t.name.startswith("blk.0.")}
    except Exception:
        return None
    if "blk.0.attn_k_b.weight" in names:
        return "mla"
    return "per-head" if "blk.0.attn_kv_b.weight" in names else None


def seq_remove_from(ctx, pos):
    if hasattr(L, "llama_memory_seq_rm"):
        L.llama_memory_seq_rm(L.llama_get_memory(ctx), 0, pos, -1)
    else:
        L.llama_kv_self_seq_rm(ctx, 0, pos, -1)


def run_depths(ctx, batch, prompt, depths, n_gen, n_batch, n_vocab):
    """Decode tokens/s at each depth, the prompt evaluated incrementally; also the total prefill time."""
    clear_cache(ctx)
    held, prefill_s, out = 0, 0.0, []
    for depth in depths:
        t0 = time.perf_counter()
        for s in range(held, depth, n_batch):
            chunk = prompt[s:min(s + n_batch, depth)]
            fill_batch(batch, chunk, s, want_last_logits=(s + len(chunk) == depth))
            decode(ctx, batch)
        L.llama_synchronize(ctx)
        prefill_s += time.perf_counter() - t0
        held = depth
        nxt = last_argmax(ctx, n_vocab)
        t0 = time.perf_counter()
        pos = depth
        for _ in range(n_gen):
            fill_batch(batch, [nxt], pos)
            decode(ctx, batch)
            nxt = last_argmax(ctx, n_vocab)
            pos += 1
        out.append(n_gen / (time.perf_counter() - t0))
        seq_remove_from(ctx, depth)
    return out, prefill_s


def make_batch(capacity):
    return L.llama_batch_init(capacity, 0, 1)


def fill_batch(batch, tokens, pos0, want_last_logits=True):
    n = len(tokens)
    for i, t in enumerate(tokens):
        batch.token[i] = int(t)
        batch.pos[i] = pos0 + i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = 1 if (want_last_logits and i == n - 1) else 0
    batch.n_tokens = n


def clear_cache(ctx):
    if hasattr(L, "llama_get_memory") and hasattr(L, "llama_memory_clear"):
        L.llama_memory_clear(L.llama_get_memory(ctx), True)
    elif hasattr(L, "llama_kv_self_clear"):
        L.llama_kv_self_clear(ctx)
    else:
        L.llama_kv_cache_clear(ctx)


def decode(ctx, batch):
    rc = L.llama_decode(ctx, batch)
    if rc != 0:
        raise RuntimeError(f"llama_decode returned {rc}")


def last_argmax(ctx, n_vocab):
    ptr = L.llama_get_logits_ith(ctx, -1)
    return int(np.ctypeslib.as_array(ptr, shape=(n_vocab,)).argmax())


def run_once(ctx, batch, prompt, n_gen, n_batch, n_vocab):
    clear_cache(ctx)
    if hasattr(L, "llama_perf_context_reset"):
        L.llama_perf_context_reset(ctx)
    t0 = time.perf_counter()
    for s in range(0, len(prompt), n_batch):
        chunk = prompt[s:s + n_batch]
        fill_batch(batch, chunk, s, want_last_logits=(s + len(chunk) == len(prompt)))
        decode(ctx, batch)
    L.llama_synchronize(ctx)
    t1 = time.perf_counter()
    nxt = last_argmax(ctx, n_vocab)
    t2 = time.perf_counter()
    pos = len(prompt)
    for _ in range(n_gen):
        fill_batch(batch, [nxt], pos)
        decode(ctx, batch)
        nxt = last_argmax(ctx, n_vocab)
        pos += 1
    t3 = time.perf_counter()
    perf = None
    if hasattr(L, "llama_perf_context"):
        p = L.llama_perf_context(ctx)
        perf = {"prompt_eval_ms": p.t_p_eval_ms, "prompt_eval_tokens": p.n_p_eval,
                "eval_ms": p.t_eval_ms, "eval_tokens": p.n_eval}
    return t1 - t0, t3 - t2, perf


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--batch", type=int, default=0, help="n_batch = n_ubatch (default: prompt tokens)")
    ap.add_argument("--flash-attn", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--aggregate", choices=["best", "median"], default="best")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--depths", default="", help="comma-separated context depths: decode speed at each")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="keep llama.cpp's log output (stderr)")
    a = ap.parse_args()
    if a.prompt_tokens < 1:
        ap.error("--prompt-tokens must be >= 1")

    if not a.verbose:
        L.llama_log_set(_quiet_log, ctypes.c_void_p())
    L.llama_backend_init()

    mparams = L.llama_model_default_params()
    load_fn = getattr(L, "llama_model_load_from_file", None) or L.llama_load_model_from_file
    t_load = time.perf_counter()
    model = load_fn(a.gguf.encode(), mparams)
    if not model:
        sys.exit(f"llama_cpp_bench.py: failed to load {a.gguf} (rerun with --verbose)")

    depths = sorted({int(x) for x in a.depths.split(",") if x.strip()}) if a.depths else []
    if depths:
        a.prompt_tokens = depths[-1]
    n_batch = a.batch or (min(512, a.prompt_tokens) if depths else a.prompt_tokens)
    cparams = L.llama_context_default_params()
    cparams.n_ctx = a.prompt_tokens + a.gen_tokens + 16
    cparams.n_batch = n_batch
    cparams.n_ubatch = n_batch
    cparams.n_threads = a.threads
    cparams.n_threads_batch = a.threads
    if hasattr(cparams, "flash_attn_type"):
        cparams.flash_attn_type = {"auto": -1, "off": 0, "on": 1}[a.flash_attn]
    elif hasattr(cparams, "flash_attn"):
        cparams.flash_attn = a.flash_attn == "on"
    cparams.no_perf = False
    init_fn = getattr(L, "llama_init_from_model", None) or L.llama_new_context_with_model
    ctx = init_fn(model, cparams)
    if not ctx:
        sys.exit("llama_cpp_bench.py: failed to create a context (rerun with --verbose)")
    load_s = time.perf_counter() - t_load

    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    rng = np.random.default_rng(a.seed)
    prompt = rng.integers(0, n_vocab, size=a.prompt_tokens).tolist()
    batch = make_batch(max(n_batch, 1))

    if not a.no_warmup:
        run_once(ctx, batch, prompt[:n_batch], 1, n_batch, n_vocab)

    if depths:
        tps, prefill_s = run_depths(ctx, batch, prompt, depths, a.gen_tokens, n_batch, n_vocab)
        kv_bytes, kv_cells, kv_line = kv_cache_logged()
        result = {
            "engine": "llama.cpp", "llama_cpp_python": getattr(L, "__version__", "?"), "model": a.gguf,
            "threads": a.threads, "gen_tokens": a.gen_tokens, "n_batch": n_batch, "n_ctx": cparams.n_ctx,
            "flash_attn": a.flash_attn, "attention_layout": gguf_attention_layout(a.gguf),
            "depths": [{"depth": d, "decode_tokens_per_s": round(t, 3), "ratio_to_first": round(t / tps[0], 4)}
                       for d, t in zip(depths, tps)],
            "prefill": {"tokens": depths[-1], "seconds": round(prefill_s, 3),
                        "tokens_per_s": round(depths[-1] / prefill_s, 3)},
            "kv_cache_bytes": kv_bytes, "kv_cache_cells": kv_cells, "kv_cache_log": kv_line,
            "kv_bytes_per_token": round(kv_bytes / kv_cells, 1) if kv_bytes else None,
        }
        L.llama_batch_free(batch)
        L.llama_free(ctx)
        (getattr(L, "llama_model_free", None) or L.llama_free_model)(model)
        if a.json:
            print(json.dumps(result))
        else:
            for d in result["depths"]:
                print(f"depth {d['depth']:6d}: decode {d['decode_tokens_per_s']:.2f} tokens/s ({d['ratio_to_first']:.3f}x)")
            print(f"prefill {depths[-1]} tokens: {prefill_s:.1f} s; attention layout in the GGUF: "
                  f"{result['attention_layout']}; KV bytes per token: {result['kv_bytes_per_token']}")
        return

    runs = [run_once(ctx, batch, prompt, a.gen_tokens, n_batch, n_vocab) for _ in range(max(1, a.repeat))]
    pf = [a.prompt_tokens / r[0] for r in runs]
    dc = [a.gen_tokens / r[1] if a.gen_tokens else 0.0 for r in runs]
    agg = max if a.aggregate == "best" else statistics.median
    prefill_tps, decode_tps = agg(pf), agg(dc)
    perf = runs[-1][2]

    L.llama_batch_free(batch)
    L.llama_free(ctx)
    (getattr(L, "llama_model_free", None) or L.llama_free_model)(model)

    result = {
        "engine": "llama.cpp",
        "llama_cpp_python": getattr(L, "__version__", "?"),
        "model": a.gguf,
        "threads": a.threads,
        "prompt_tokens": a.prompt_tokens,
        "gen_tokens": a.gen_tokens,
        "n_batch": n_batch,
        "flash_attn": a.flash_attn,
        "repeat": len(runs),
        "aggregate": a.aggregate,
        "prefill_tokens_per_s": round(prefill_tps, 3),
        "decode_tokens_per_s": round(decode_tps, 3),
        "prefill_runs_tokens_per_s": [round(x, 3) for x in pf],
        "decode_runs_tokens_per_s": [round(x, 3) for x in dc],
        "load_s": round(load_s, 3),
    }
    if perf:
        result["llama_perf_last_run"] = perf
    if a.json:
        print(json.dumps(result))
    else:
        print(f"model:    {a.gguf} (llama.cpp via llama-cpp-python {result['llama_cpp_python']})")
        print(f"threads:  {a.threads}, n_batch {n_batch}, flash_attn {a.flash_attn}, load {load_s:.1f} s")
        print(f"prefill:  {a.prompt_tokens} tokens: {prefill_tps:.2f} tokens/s  (runs: {result['prefill_runs_tokens_per_s']})")
        print(f"decode:   {a.gen_tokens} tokens: {decode_tps:.2f} tokens/s  (runs: {result['decode_runs_tokens_per_s']})")
        if perf:
            print(f"llama.cpp perf (last run): prompt {perf['prompt_eval_tokens']} tok in {perf['prompt_eval_ms']:.0f} ms, "
                  f"eval {perf['eval_tokens']} tok in {perf['eval_ms']:.0f} ms")


if __name__ == "__main__":
    main()
