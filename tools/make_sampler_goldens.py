#!/usr/bin/env python3
"""Golden vectors for the sampler chain (lib/sampling/sampler.h), computed with numpy.

This is an independent float64 implementation of the rules documented in
lib/sampling/sampler.h, written from the documentation, not from the C++ code:

  logit bias -> penalties -> (greedy if temperature <= 0) -> top-k -> softmax with
  temperature -> top-p -> min-p -> renormalize -> draw with u = (splitmix64() >> 11) * 2^-53

Float parameters are float32 in C++ (SamplerParams) and widened exactly to double,
so every parameter here passes through np.float32 first; logits are float32 values.

Writes tests/data/sampling/goldens.json. Usage: python3 tools/make_sampler_goldens.py
"""
import json
import math
import os

import numpy as np

MASK64 = (1 << 64) - 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "sampling",
                   "goldens.json")


# ----------------------------------------------------------------------------- PRNG
class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self):
        return float(self.next() >> 11) * 2.0 ** -53


# ----------------------------------------------------------------------------- stages
def f32(x):
    return float(np.float32(x))


def logit_bias(x, bias):
    x = x.copy()
    for tok, b in bias:
        x[tok] += f32(b)
    return x


def penalties(x, history, window, rp, pp, fp):
    x = x.copy()
    if window == 0 or len(history) == 0:
        return x
    h = np.asarray(history if window == -1 else history[-window:], dtype=np.int64)
    counts = np.bincount(h, minlength=len(x)).astype(np.float64)
    m = counts > 0
    rp, pp, fp = f32(rp), f32(pp), f32(fp)
    y = x[m]
    y = np.where(y > 0, y / rp, y * rp)
    y = y - (counts[m] * fp + pp)
    x[m] = y
    return x


def greedy(x):
    return int(np.argmax(x))  # first maximum: ties go to the lower id


def sort_desc(v):
    """Indices sorted by value descending, then id ascending."""
    ids = np.arange(len(v))
    return np.lexsort((ids, -v))


def top_k(x, k):
    x = x.copy()
    n_finite = int(np.sum(np.isfinite(x) | (x > 0)))
    if k == 0 or k >= n_finite:
        return x
    order = sort_desc(x)
    x[order[k:]] = -np.inf
    return x


def softmax(x, t):
    t = f32(t)
    m = np.max(x)
    if np.isposinf(m):
        e = (x == m).astype(np.float64)
    else:
        with np.errstate(invalid="ignore"):
            e = np.exp((x - m) / t)
    return e / np.sum(e)


def top_p(p, top):
    top = f32(top)
    p = p.copy()
    if top >= 1.0:
        return p
    order = [i for i in sort_desc(p) if p[i] > 0]
    cs = np.cumsum(p[order])
    hit = np.nonzero(cs >= top)[0]
    keep = int(hit[0]) + 1 if len(hit) else len(order)
    p[order[keep:]] = 0.0
    return p


def min_p(p, mp):
    mp = f32(mp)
    p = p.copy()
    if mp <= 0:
        return p
    p[p < mp * np.max(p)] = 0.0
    return p


def renorm(p):
    return p / np.sum(p)


def draw(p, u):
    nz = np.nonzero(p > 0)[0]
    cs = np.cumsum(p[nz])
    hit = np.nonzero(u < cs)[0]
    return int(nz[hit[0]]) if len(hit) else int(nz[-1])


def pipeline_probs(logits, history, prm):
    x = logit_bias(logits, prm["logit_bias"])
    x = penalties(x, history, prm["penalty_window"], prm["repeat_penalty"],
                  prm["presence_penalty"], prm["frequency_penalty"])
    if f32(prm["temperature"]) <= 0:
        return x, None
    x = top_k(x, prm["top_k"])
    p = softmax(x, prm["temperature"])
    p = top_p(p, prm["top_p"])
    p = min_p(p, prm["min_p"])
    return x, renorm(p)


# ----------------------------------------------------------------------------- io
def enc(v):
    out = []
    for a in np.asarray(v, dtype=np.float64).tolist():
        if math.isinf(a):
            out.append("inf" if a > 0 else "-inf")
        else:
            out.append(a)
    return out


def logits_cases():
    rng = np.random.default_rng(20240611)
    cases = {
        "random50": (rng.standard_normal(50) * 3).astype(np.float32),
        "random256": (rng.standard_normal(256) * 2.5).astype(np.float32),
        "ties": np.array([1, 2, 2, 2, 0, -1, 2], dtype=np.float32),
        "all_equal": np.zeros(8, dtype=np.float32),
        "huge": np.concatenate([(rng.standard_normal(9)).astype(np.float32),
                                np.array([1.0e4], dtype=np.float32)]),
        "neg_inf": np.array([0.5, -np.inf, 1.5, -np.inf, -0.25, 3.0, -np.inf, 2.0],
                            dtype=np.float32),
        "vocab1": np.array([0.3], dtype=np.float32),
        "negative": (-np.abs(rng.standard_normal(12)) * 2 - 0.1).astype(np.float32),
    }
    return {k: v.astype(np.float64) for k, v in cases.items()}


def main():
    out = {"prng": [], "stages": [], "pipeline": []}

    for seed in [0, 1, 42, 0xDEADBEEF, MASK64]:
        g = SplitMix64(seed)
        nxt = [g.next() for _ in range(8)]
        g = SplitMix64(seed)
        uni = [g.uniform() for _ in range(8)]
        out["prng"].append({"seed": seed, "next": nxt, "uniform": uni})

    cases = logits_cases()
    st = out["stages"]

    def add(stage, name, inp, params, output):
        rec = {"stage": stage, "case": name, "input": enc(inp), "params": params}
        if isinstance(output, int):
            rec["token"] = output
        else:
            rec["output"] = enc(output)
        st.append(rec)

    for name, x in cases.items():
        n = len(x)
        # logit bias
        bias = [[0, 1.5], [n - 1, -2.25], [n // 2, float("-inf")], [0, 0.125]]
        if n == 1:
            bias = [[0, 1.5], [0, -0.75]]
        add("logit_bias", name, x, {"logit_bias": [[t, "-inf" if math.isinf(b) else f32(b)]
                                                   for t, b in bias]},
            logit_bias(x, bias))
        # penalties
        hr = np.random.default_rng(n)
        history = hr.integers(0, n, size=3 * n + 5).tolist()
        history += [0, 0, n - 1]
        for window in [0, 3, 64, -1]:
            for rp, pp, fp in [(1.0, 0.0, 0.0), (1.3, 0.0, 0.0), (0.8, 0.0, 0.0),
                               (1.1, 0.5, 0.25), (1.0, 0.0, 0.4), (1.0, -0.3, 0.0)]:
                prm = {"history": history, "penalty_window": window, "repeat_penalty": f32(rp),
                       "presence_penalty": f32(pp), "frequency_penalty": f32(fp)}
                add("penalties", name, x, prm, penalties(x, history, window, rp, pp, fp))
        # greedy
        add("greedy", name, x, {}, greedy(x))
        # top-k
        for k in [0, 1, 2, 3, 5, 40, n, n + 7]:
            add("top_k", name, x, {"top_k": k}, top_k(x, k))
        # softmax (on the top-k output for k=5 and the raw logits)
        for src, xs in [("raw", x), ("k5", top_k(x, 5))]:
            for t in [0.5, 0.8, 1.0, 1.7]:
                add("softmax", name + "/" + src, xs, {"temperature": f32(t)}, softmax(xs, t))
        p = softmax(x, 0.8)
        for tp in [0.1, 0.5, 0.9, 0.95, 1.0]:
            add("top_p", name, p, {"top_p": f32(tp)}, top_p(p, tp))
        for mp in [0.0, 0.05, 0.2, 0.5, 1.0]:
            add("min_p", name, p, {"min_p": f32(mp)}, min_p(p, mp))
        q = top_p(p, 0.9)
        add("renormalize", name, q, {}, renorm(q))
        r = renorm(min_p(q, 0.05))
        for u in [0.0, 1e-12, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999999, 1.0 - 2.0 ** -53]:
            add("draw", name, r, {"u": u}, draw(r, u))

    # exact-boundary draws on dyadic probabilities (cumulative sums are exact)
    q = np.array([0.25, 0.0, 0.25, 0.5], dtype=np.float64)
    for u in [0.0, 0.2499999, 0.25, 0.4999, 0.5, 0.75, 0.9999]:
        add("draw", "dyadic", q, {"u": u}, draw(q, u))

    # full pipeline: sampled ids for seeds, plus the final distribution
    combos = [
        {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05},
        {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0},
        {"temperature": 1.3, "top_k": 10, "top_p": 0.9, "min_p": 0.0, "repeat_penalty": 1.2,
         "presence_penalty": 0.3, "frequency_penalty": 0.1, "penalty_window": 16},
        {"temperature": 0.7, "top_k": 0, "top_p": 0.8, "min_p": 0.1,
         "logit_bias": [[1, 2.0], [2, "-inf"]]},
        {"temperature": 0.0},
        {"temperature": -1.0, "repeat_penalty": 1.5, "penalty_window": -1},
    ]
    defaults = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
                "repeat_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
                "penalty_window": 64, "logit_bias": []}
    for name in ["random50", "random256", "ties", "neg_inf", "all_equal", "vocab1"]:
        x = cases[name]
        n = len(x)
        hr = np.random.default_rng(7 + n)
        history = hr.integers(0, n, size=40).tolist()
        for ci, c in enumerate(combos):
            prm = dict(defaults)
            prm.update(c)
            prm["logit_bias"] = [[t, b] for t, b in prm["logit_bias"] if t < n]
            bias_num = [[t, float("-inf") if b == "-inf" else b] for t, b in prm["logit_bias"]]
            pr = dict(prm)
            pr["logit_bias"] = bias_num
            xl, probs = pipeline_probs(x, history, pr)
            for k in ["temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty",
                      "frequency_penalty"]:
                prm[k] = f32(prm[k])
            prm["logit_bias"] = [[t, b if b == "-inf" else f32(b)] for t, b in prm["logit_bias"]]
            for seed in [0, 12345]:
                rec = {"case": "%s/%d" % (name, ci), "logits": enc(x), "history": history,
                       "params": prm, "seed": seed}
                if probs is None:
                    rec["tokens"] = [greedy(xl)] * 5
                else:
                    g = SplitMix64(seed)
                    rec["tokens"] = [draw(probs, g.uniform()) for _ in range(10)]
                    rec["probs"] = enc(probs)
                out["pipeline"].append(rec)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d prng, %d stage, %d pipeline records" %
          (os.path.normpath(OUT), len(out["prng"]), len(st), len(out["pipeline"])))


if __name__ == "__main__":
    main()
