#!/usr/bin/env python3
"""Second oracle: run DeepSeek's official inference/model.py on our test models, compare to the goldens.

    python3 tools/check_official.py --official-dir /path/to/DeepSeek-V3/inference
    python3 tools/check_official.py --official-dir DIR --models v3 v3_fp8 --attn-impl absorb
    python3 tools/check_official.py --official-dir DIR --patch-moe-layer-freq   # also v2_moe_freq

The goldens in tests/data/<model>/ come from Hugging Face transformers (tools/make_test_models.py).
The project's rule is that correctness is checked against BOTH transformers and DeepSeek's official
inference code (spec section 0, tag V3/model). This script contains no DeepSeek code: it imports
`model.py` (and, through it, `kernel.py`) from a directory the user supplies, builds the official
`Transformer` from our config.json, loads our safetensors into it and compares its logits with
logits_<k>.npy. Exit status 1 if any supported case exceeds --tol.

Getting the official files
--------------------------
Check out deepseek-ai/DeepSeek-V3 at commit 9b4e9788e4a3a731f7567338ed15d3ec549ce03b (HEAD when
this was written) and pass its `inference/` folder:

    git clone https://github.com/deepseek-ai/DeepSeek-V3 && git -C DeepSeek-V3 checkout 9b4e978
    python3 tools/check_official.py --official-dir DeepSeek-V3/inference

Only model.py and kernel.py are used (kernel.py needs `triton` importable; no GPU is needed because
no kernel is ever launched: all weights are handed over in float32). The files used for the
measurements below had sha256 model.py fdb7995bc234badbf0011b5af8cf391be94343abc51305428cb9a04452116f02,
kernel.py ffee39fb93658b6ddd783c0932b1445cc4a007a061c0de2a40ac2a3b1563cc00 (model.py is byte-identical
to the upstream file since commit b15f0dbb, the V3.1 `scale_fmt` change). The files are not
edited; everything below is done at run time.

Run-time adaptations of the official code (no file is modified)
---------------------------------------------------------------
 1. float32 on CPU: the official `Transformer.__init__` sets `Linear.dtype = bfloat16` itself, so
    setting it beforehand does not stick. We keep torch's default dtype float32, construct with
    args.dtype="bf16" and call `model.float()` before loading weights (every parameter and the
    kv/pe caches become float32; freqs_cis stays complex64). With float32 weights the official
    `linear()` takes its plain F.linear branch, gemm_impl/act_quant/fp8_gemm are never reached,
    so the gate logits are float32 too (the bf16 gate-logit behaviour of the bf16 official run is
    therefore NOT exercised; spec section 5).
 2. world_size = 1: nothing to do, `Transformer.__init__` sets world_size/rank to 1/0 when
    torch.distributed is not initialised.
 3. attn_impl: the module global `attn_impl` is set to "naive" or "absorb" before construction
    (it decides which caches are registered) and stays set during that model's forward.
 4. noaux_tc bias: the official Gate creates `self.bias` only when dim == 7168 (the 671B
    checkpoint). For models whose checkpoint carries `e_score_correction_bias` we assign
    `gate.bias = nn.Parameter(float32[n_routed_experts])` to every MoE gate after construction, so
    the official group/expert selection with bias (top-2 sum per group) is used.
 5. FP8 (v3_fp8): weights are dequantised here, W = float(W_fp8) * scale_inv[r//128, c//128]
    (partial edge blocks included), and handed over as float32 Linear weights (no `.scale`). This
    is the official gemm_impl="bf16" path (weight_dequant) without the bf16 rounding of the result;
    our scale_inv values make the dequantised weights exact in bf16 anyway. The official
    gemm_impl="fp8" path (activation quantisation, fp8_gemm) is not run: it needs a GPU and
    differs from the weight-only golden by activation-quantisation noise by design.
 6. All positions: the official `Transformer.forward` returns only the last position's logits.
    A forward hook on `model.norm` captures the normalised hidden states of every position and we
    apply `model.head` to them ourselves (one full-sequence forward from position 0 per case);
    the official last-position output is checked against our last row (equal up to GEMM
    rounding: the head is applied to [T, dim] instead of [1, dim]).
 7. Decode check ("decode" mode): prefill the first half of the case (all positions via the hook),
    then feed the rest one token at a time with start_pos, using the official return value. This
    exercises the official kv-cache (naive) / latent-cache (absorb) paths. The official code
    cannot do a multi-token chunk at start_pos > 0 (its causal mask is [seqlen, seqlen]).
 8. moe_layer_freq != 1 (v2_moe_freq): the official Block makes every layer >= n_dense_layers a
    MoE, so this model is unsupported and skipped, unless --patch-moe-layer-freq: then the
    `ffn` of each layer that the remote-code rule (i >= first_k_dense_replace and
    i % moe_layer_freq == 0) makes dense is replaced by the official `MLP(dim, inter_dim)`.
 9. MTP: tensors of layers >= num_hidden_layers (model.layers.3.* in `v3`) are skipped, as the
    official convert.py skips model.layers.61.

Config mapping (config.json -> official ModelArgs)
---------------------------------------------------
dim=hidden_size, inter_dim=intermediate_size, moe_inter_dim=moe_intermediate_size,
n_layers=num_hidden_layers, n_dense_layers=first_k_dense_replace, n_heads=num_attention_heads,
n_routed_experts, n_shared_experts, n_activated_experts=num_experts_per_tok,
n_expert_groups=n_group, n_limited_groups=topk_group, score_func=scoring_func,
route_scale=routed_scaling_factor, q_lora_rank (null -> 0, i.e. the official `wq` path),
kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim, vocab_size, rope_theta;
YaRN (rope_scaling / rope_parameters): original_seq_len=original_max_position_embeddings,
rope_factor=factor, beta_fast, beta_slow, mscale=mscale_all_dim (the official code has a single
mscale and uses it only for the softmax factor (0.1*mscale*ln(factor)+1)^2; it applies no
magnitude to cos/sin, which equals HF for mscale == mscale_all_dim). The official code enables
YaRN only when max_seq_len > original_seq_len, so max_seq_len = 4*original_seq_len for YaRN
models; without rope scaling, original_seq_len = max_seq_len = 256 and rope_factor = 1, so neither
the YaRN frequencies nor the mscale factor are applied (no test model exercises this branch: all
five use YaRN, `v2` spelled as rope_parameters).
Semantics the official code cannot express are refused rather than silently changed:
  - softmax scoring with norm_topk_prob=true (official never renormalises softmax weights) or
    sigmoid scoring with norm_topk_prob=false (official always renormalises sigmoid weights);
  - topk_method "greedy" with n_group > 1 (official does group selection whenever n_groups > 1);
  - rms_norm_eps != 1e-6 (official RMSNorm eps is hard-wired).
Softmax routing (V2): official w = softmax[idx] * route_scale, no renormalisation, group score =
max softmax score in the group, excluded groups masked with -inf (spec 5.1) -- what the goldens use.

Weight names follow DeepSeek's inference/convert.py: strip "model.", self_attn->attn, mlp->ffn,
weight_scale_inv->scale, e_score_correction_bias->bias, then the second-to-last component through
its table (embed_tokens->embed, input_layernorm->attn_norm, post_attention_layernorm->ffn_norm,
q_proj->wq, q_a_proj->wq_a, q_a_layernorm->q_norm, q_b_proj->wq_b, kv_a_proj_with_mqa->wkv_a,
kv_a_layernorm->kv_norm, kv_b_proj->wkv_b, o_proj->wo, gate->gate, gate_proj->w1, down_proj->w2,
up_proj->w3, norm->norm, lm_head->head). load_state_dict(strict=True) checks the tensor set.

Measured (official 9b4e978, torch 2.15.0 CPU, float32; relative L2 error
||official - golden|| / ||golden|| over all positions of a case; cases have 1, 7, 33, 70 tokens)
-----------------------------------------------------------------------------------------------
model        attn    case0 (T=1)  case1 (T=7)  case2 (T=33) case3 (T=70)  decode mode, worst case
v2_lite      naive   1.65e-07     3.68e-07     2.28e-07     2.48e-07      4.31e-07
v2_lite      absorb  1.65e-07     5.08e-07     5.94e-07     6.07e-07      6.29e-07
v2           naive   8.72e-08     7.10e-07     2.04e-07     3.79e-07      7.10e-07
v2           absorb  8.72e-08     8.29e-07     7.88e-07     8.36e-07      8.73e-07
v3           naive   1.48e-07     6.08e-07     6.67e-07     6.74e-07      7.02e-07
v3           absorb  1.48e-07     6.64e-07     7.49e-07     7.50e-07      8.29e-07
v3_fp8       naive   7.95e-08     1.47e-06     9.83e-07     8.97e-07      1.80e-06
v3_fp8       absorb  7.95e-08     1.29e-06     2.24e-06     1.39e-06      2.08e-06
v2_moe_freq  unsupported as is (moe_layer_freq 2); with --patch-moe-layer-freq:
v2_moe_freq  naive   0            5.17e-07     4.05e-07     4.73e-07      6.62e-07
v2_moe_freq  absorb  2.73e-07     6.27e-07     7.71e-07     7.43e-07      7.96e-07
Argmax agrees at every position of every case; official naive vs official absorb differ by
<= 2.1e-06. So the HF goldens and the official code agree to float32 rounding for every model,
including V2 softmax routing with group limiting (`v2`), q_lora null (`v2_lite`), mscale 0.707,
noaux_tc bias routing, MTP skipping, sharded and FP8-block-dequantised checkpoints.
The comparison is sensitive: with deliberately wrong settings the same harness gives rel L2
0.25-0.53 (v3 gate bias dropped), 0.07-0.12 (v2_lite mscale 1.0 instead of 0.707), 0.88-1.01
(v2 route_scale 1), 0.23-0.31 (v2 without group limiting), 0.42-0.52 (v3 without YaRN), over the
multi-token cases (the 1-token case only moves where position 0 is affected: bias, route_scale).
Not covered: the official bf16 run (bf16 activations and gate logits) and the fp8_gemm path
(activation quantisation), which differ from the float32 weight-only goldens by design.
"""

import argparse
import glob
import importlib.util
import json
import os
import sys
import types

import numpy as np
import torch
from safetensors import safe_open

FP8_BLOCK = 128
OFFICIAL_RMS_EPS = 1e-6

# DeepSeek inference/convert.py name table (HF component -> official component).
NAME_MAP = {
    "embed_tokens": "embed",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "q_proj": "wq",
    "q_a_proj": "wq_a",
    "q_a_layernorm": "q_norm",
    "q_b_proj": "wq_b",
    "kv_a_proj_with_mqa": "wkv_a",
    "kv_a_layernorm": "kv_norm",
    "kv_b_proj": "wkv_b",
    "o_proj": "wo",
    "gate": "gate",
    "gate_proj": "w1",
    "down_proj": "w2",
    "up_proj": "w3",
    "norm": "norm",
    "lm_head": "head",
    "scale": "scale",
}


class Unsupported(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# Loading the official module
# ----------------------------------------------------------------------------------------------
def import_official(official_dir):
    model_py = os.path.join(official_dir, "model.py")
    if not os.path.isfile(model_py):
        sys.exit(f"no model.py in {official_dir}")
    official_dir = os.path.abspath(official_dir)
    if official_dir not in sys.path:
        sys.path.insert(0, official_dir)
    note = "kernel.py imported"
    try:
        import kernel  # noqa: F401  (model.py does `from kernel import ...`)
    except ImportError as e:  # e.g. no triton: never called here, so a stub is enough
        stub = types.ModuleType("kernel")

        def _never(*a, **k):
            raise RuntimeError("official kernel.py was not importable; FP8 GEMM path unavailable")

        stub.act_quant = stub.weight_dequant = stub.fp8_gemm = _never
        sys.modules["kernel"] = stub
        note = f"kernel.py NOT importable ({e}); stub installed (never called)"
    spec = importlib.util.spec_from_file_location("deepseek_official_model", model_py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, note


# ----------------------------------------------------------------------------------------------
# config.json -> ModelArgs
# ----------------------------------------------------------------------------------------------
def rope_cfg(cfg):
    r = cfg.get("rope_scaling") or cfg.get("rope_parameters")
    if r and (r.get("type") or r.get("rope_type")) == "yarn":
        return r
    if r and (r.get("type") or r.get("rope_type")) not in (None, "default"):
        raise Unsupported(f"rope type {r.get('type') or r.get('rope_type')} not in the official code")
    return None


def is_moe_layer(cfg, i):
    return (cfg.get("n_routed_experts") is not None and i >= cfg["first_k_dense_replace"]
            and i % cfg.get("moe_layer_freq", 1) == 0)


def model_args(mod, cfg, max_tokens, patch_moe_freq):
    score = cfg.get("scoring_func", "softmax")
    method = cfg.get("topk_method", "greedy")
    norm_topk = bool(cfg.get("norm_topk_prob", False))
    if score == "softmax" and norm_topk:
        raise Unsupported("softmax scoring with norm_topk_prob=true (official never renormalises)")
    if score == "sigmoid" and not norm_topk:
        raise Unsupported("sigmoid scoring with norm_topk_prob=false (official always renormalises)")
    n_group = cfg.get("n_group") or 1
    if method in ("greedy", "gready") and n_group > 1:
        raise Unsupported("topk_method greedy with n_group > 1 (official would group-limit)")
    if abs(cfg.get("rms_norm_eps", 1e-6) - OFFICIAL_RMS_EPS) > 0:
        raise Unsupported(f"rms_norm_eps {cfg['rms_norm_eps']} (official RMSNorm eps is 1e-6)")
    if cfg.get("moe_layer_freq", 1) != 1 and not patch_moe_freq:
        raise Unsupported(f"moe_layer_freq {cfg['moe_layer_freq']} (official: every layer >= "
                          f"n_dense_layers is MoE; rerun with --patch-moe-layer-freq)")
    a = dict(
        max_batch_size=1, dtype="bf16", vocab_size=cfg["vocab_size"], dim=cfg["hidden_size"],
        inter_dim=cfg["intermediate_size"], moe_inter_dim=cfg["moe_intermediate_size"],
        n_layers=cfg["num_hidden_layers"], n_dense_layers=cfg["first_k_dense_replace"],
        n_heads=cfg["num_attention_heads"], n_routed_experts=cfg["n_routed_experts"],
        n_shared_experts=cfg["n_shared_experts"], n_activated_experts=cfg["num_experts_per_tok"],
        n_expert_groups=n_group, n_limited_groups=cfg.get("topk_group") or 1, score_func=score,
        route_scale=float(cfg.get("routed_scaling_factor", 1.0)),
        q_lora_rank=cfg.get("q_lora_rank") or 0, kv_lora_rank=cfg["kv_lora_rank"],
        qk_nope_head_dim=cfg["qk_nope_head_dim"], qk_rope_head_dim=cfg["qk_rope_head_dim"],
        v_head_dim=cfg["v_head_dim"], rope_theta=float(cfg.get("rope_theta", 10000.0)),
    )
    y = rope_cfg(cfg)
    if y is not None:
        L0 = int(y["original_max_position_embeddings"])
        a.update(original_seq_len=L0, max_seq_len=max(4 * L0, max_tokens + 1),
                 rope_factor=float(y["factor"]), beta_fast=y.get("beta_fast", 32),
                 beta_slow=y.get("beta_slow", 1),
                 mscale=float(y.get("mscale_all_dim", y.get("mscale", 1.0)) or 0.0))
        if y.get("mscale", 1.0) != y.get("mscale_all_dim", 1.0):
            print(f"    note: mscale {y.get('mscale')} != mscale_all_dim {y.get('mscale_all_dim')}: "
                  f"HF scales cos/sin by their ratio, official does not")
    else:
        L = max(256, max_tokens + 1)
        a.update(original_seq_len=L, max_seq_len=L, rope_factor=1.0)
    return mod.ModelArgs(**a)


# ----------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------
def official_name(hf_name):
    """DeepSeek inference/convert.py renaming (same string operations)."""
    name = hf_name
    if name.startswith("model."):
        name = name[len("model."):]
    name = name.replace("self_attn", "attn")
    name = name.replace("mlp", "ffn")
    name = name.replace("weight_scale_inv", "scale")
    name = name.replace("e_score_correction_bias", "bias")
    key = name.split(".")[-2]
    if key not in NAME_MAP:
        raise KeyError(f"{hf_name}: component {key!r} not in convert.py's table")
    return name.replace(key, NAME_MAP[key])


def dequant_fp8(w, scale_inv):
    w = w.float()
    r, c = w.shape
    s = scale_inv.float().repeat_interleave(FP8_BLOCK, 0).repeat_interleave(FP8_BLOCK, 1)[:r, :c]
    return w * s


def load_official_state_dict(model_dir, n_layers):
    raw = {}
    for f in sorted(glob.glob(os.path.join(model_dir, "*.safetensors"))):
        with safe_open(f, "pt") as h:
            for k in h.keys():
                raw[k] = h.get_tensor(k)
    sd, skipped = {}, []
    for k, t in raw.items():
        parts = k.split(".")
        if len(parts) > 2 and parts[0] == "model" and parts[1] == "layers" and int(parts[2]) >= n_layers:
            skipped.append(k)  # MTP module
            continue
        sd[official_name(k)] = t
    out, n_fp8 = {}, 0
    for k, t in sd.items():
        if k.endswith(".scale"):
            continue
        sk = k[: -len("weight")] + "scale" if k.endswith(".weight") else None
        if t.dtype == torch.float8_e4m3fn:
            if sk not in sd:
                raise KeyError(f"{k}: fp8 weight without scale")
            t = dequant_fp8(t, sd[sk])
            n_fp8 += 1
        elif sk in sd:
            raise KeyError(f"{k}: scale for a non-fp8 weight")
        out[k] = t.float().contiguous()
    return out, skipped, n_fp8


# ----------------------------------------------------------------------------------------------
# Build + run
# ----------------------------------------------------------------------------------------------
def build(mod, cfg, args, impl, model_dir, patch_moe_freq):
    mod.attn_impl = impl
    torch.manual_seed(0)
    model = mod.Transformer(args)
    patches = []
    n_bias = 0
    has_bias = cfg.get("topk_method") == "noaux_tc"
    for i, blk in enumerate(model.layers):
        moe = isinstance(blk.ffn, mod.MoE)
        if patch_moe_freq and moe and not is_moe_layer(cfg, i):
            blk.ffn = mod.MLP(args.dim, args.inter_dim)
            patches.append(f"layer {i} ffn: MoE -> MLP(inter_dim)")
            moe = False
        if moe != is_moe_layer(cfg, i):
            raise Unsupported(f"layer {i}: official MoE={moe}, config MoE={is_moe_layer(cfg, i)}")
        if moe and has_bias and blk.ffn.gate.bias is None:
            blk.ffn.gate.bias = torch.nn.Parameter(torch.zeros(args.n_routed_experts, dtype=torch.float32))
            n_bias += 1
    if n_bias:
        patches.append(f"Gate.bias added to {n_bias} gates (official: only if dim == 7168)")
    model.float()
    sd, skipped, n_fp8 = load_official_state_dict(model_dir, args.n_layers)
    model.load_state_dict(sd, strict=True)
    model.eval()
    info = dict(patches=patches, skipped=len(skipped), fp8=n_fp8, n_tensors=len(sd))
    return model, info


class AllPositions:
    """Forward hook on model.norm: keeps the normalised hidden states of every position."""

    def __init__(self, model):
        self.model = model
        self.h = None
        self.handle = model.norm.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.h = output.detach().clone()

    @torch.inference_mode()
    def run(self, tokens, start_pos=0):
        last = self.model(tokens, start_pos)
        logits = self.model.head(self.h)[0]
        d = (logits[-1] - last[0]).abs().max().item()
        if d > 1e-5 * (1.0 + last.abs().max().item()):  # same math, GEMM of [T,dim] vs [1,dim]
            raise AssertionError(f"hooked last row != official return value (max diff {d})")
        return logits.float().numpy()


def rel_l2(a, b):
    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(b.ravel()))


def run_model(mod, name, data_dir, impls, modes, patch_moe_freq, tol):
    d = os.path.join(data_dir, name)
    cfg = json.load(open(os.path.join(d, "config.json")))
    golden = json.load(open(os.path.join(d, "golden.json")))
    cases = golden["cases"]
    max_tokens = max(len(c["tokens"]) for c in cases)
    print(f"== {name}  ({cfg.get('model_type')}, {cfg.get('scoring_func')}/{cfg.get('topk_method')}, "
          f"q_lora={cfg.get('q_lora_rank')}, moe_layer_freq={cfg.get('moe_layer_freq', 1)}, "
          f"fp8={'quantization_config' in cfg})")
    try:
        args = model_args(mod, cfg, max_tokens, patch_moe_freq)
    except Unsupported as e:
        print(f"   UNSUPPORTED by the official code: {e}")
        return [dict(model=name, status="unsupported", why=str(e))]
    print(f"   ModelArgs: max_seq_len={args.max_seq_len} original_seq_len={args.original_seq_len} "
          f"rope_factor={args.rope_factor} mscale={args.mscale} n_expert_groups={args.n_expert_groups} "
          f"n_limited_groups={args.n_limited_groups} route_scale={args.route_scale} "
          f"q_lora_rank={args.q_lora_rank}")
    results, per_impl = [], {}
    for impl in impls:
        try:
            model, info = build(mod, cfg, args, impl, d, patch_moe_freq)
        except Unsupported as e:
            print(f"   UNSUPPORTED by the official code: {e}")
            return [dict(model=name, status="unsupported", why=str(e))]
        if impl == impls[0]:
            print(f"   loaded {info['n_tensors']} tensors ({info['fp8']} fp8 dequantised, "
                  f"{info['skipped']} MTP tensors skipped); run-time patches: "
                  f"{'; '.join(info['patches']) or 'none'}")
        runner = AllPositions(model)
        for k, case in enumerate(cases):
            toks = case["tokens"]
            ref = np.load(os.path.join(d, case["logits"]))
            t = torch.tensor([toks], dtype=torch.long)
            for mode in modes:
                if mode == "full":
                    out = runner.run(t, 0)
                else:  # decode: prefill first half, then one token at a time
                    n0 = max(1, (len(toks) + 1) // 2)
                    rows = [runner.run(t[:, :n0], 0)]
                    with torch.inference_mode():
                        for p in range(n0, len(toks)):
                            rows.append(model(t[:, p:p + 1], p).float().numpy())
                    out = np.concatenate(rows, 0)
                err = rel_l2(out, ref)
                worst_pos = max(rel_l2(out[i], ref[i]) for i in range(len(toks)))
                argmax = float(np.mean(out.argmax(-1) == ref.argmax(-1)))
                ok = err <= tol
                per_impl.setdefault((k, mode), {})[impl] = out
                results.append(dict(model=name, impl=impl, mode=mode, case=k, n=len(toks), rel_l2=err,
                                    worst_pos=worst_pos, max_abs=float(np.abs(out - ref).max()),
                                    argmax=argmax, status="ok" if ok else "FAIL"))
                print(f"   {impl:6s} {mode:6s} case {k} (T={len(toks):2d}): rel L2 {err:.3e}  "
                      f"worst position {worst_pos:.3e}  max|d| {np.abs(out - ref).max():.3e}  "
                      f"argmax agree {argmax:.3f}  {'ok' if ok else 'FAIL'}")
    if len(impls) > 1:
        for (k, mode), outs in sorted(per_impl.items()):
            a, b = outs[impls[0]], outs[impls[1]]
            print(f"   {impls[0]} vs {impls[1]} {mode:6s} case {k}: rel L2 {rel_l2(a, b):.3e}")
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official-dir", required=True,
                    help="folder holding DeepSeek-V3's inference/model.py and kernel.py")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data"))
    ap.add_argument("--models", nargs="*", default=["v2_lite", "v2", "v3", "v3_fp8", "v2_moe_freq"])
    ap.add_argument("--attn-impl", nargs="*", default=["naive", "absorb"], choices=["naive", "absorb"])
    ap.add_argument("--modes", nargs="*", default=["full", "decode"], choices=["full", "decode"])
    ap.add_argument("--patch-moe-layer-freq", action="store_true",
                    help="run moe_layer_freq != 1 models by swapping official MLPs into the dense layers")
    ap.add_argument("--tol", type=float, default=1e-4, help="relative L2 error allowed per case")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_default_dtype(torch.float32)
    mod, note = import_official(a.official_dir)
    print(f"official model.py: {os.path.abspath(os.path.join(a.official_dir, 'model.py'))}; {note}")
    print(f"torch {torch.__version__}, float32, CPU")
    results = []
    for name in a.models:
        results += run_model(mod, name, a.data, a.attn_impl, a.modes, a.patch_moe_layer_freq, a.tol)
    fails = [r for r in results if r.get("status") == "FAIL"]
    unsup = sorted({r["model"] for r in results if r.get("status") == "unsupported"})
    worst = max((r["rel_l2"] for r in results if "rel_l2" in r), default=float("nan"))
    print(f"\nsummary: {sum(1 for r in results if r.get('status') == 'ok')} ok, {len(fails)} over tol "
          f"{a.tol:g}, worst rel L2 {worst:.3e}; unsupported by the official code: {', '.join(unsup) or 'none'}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
