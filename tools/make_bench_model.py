#!/usr/bin/env python3
"""Random 4-layer DeepSeek-V2-Lite-shaped checkpoint for benchmarks.

    python3 tools/make_bench_model.py models/bench-v2lite-4l [--layers 4] [--seed 1234]

Writes OUT_DIR/config.json (model_type deepseek_v2, DeepseekV2ForCausalLM) and OUT_DIR/model.safetensors
(BF16, Hugging Face DeepSeek-V2 tensor names, spec section 2) with DeepSeek-V2-Lite's dimensions:
hidden 2048, 16 heads, no q LoRA, kv_lora_rank 512, 64 routed experts top-6 + 2 shared experts, layer 0
dense (intermediate 10944), vocab 102400. Four layers come to ~2.26 B parameters, ~4.5 GB.

Weights: linear layers N(0, 1) * 0.02, norm weights 1 + N(0, 1) * 0.02 (i.e. ~1). Every tensor gets its
own generator seeded from (seed, crc32(name)), so the output is byte-identical on every run regardless of
write order. float32 -> bf16 uses round-to-nearest-even on the float32 bit pattern.

The file is streamed tensor by tensor (safetensors layout: u64 little-endian header length, JSON header,
raw little-endian data) so peak memory stays around one tensor (~0.8 GB for the embedding in float32);
the numpy flavour of the safetensors package has no BF16 dtype, so the header is written here and the
result is checked by reading it back with safetensors.safe_open.
"""
import argparse
import json
import os
import sys
import time
import zlib

import numpy as np

VOCAB = 102400
HIDDEN = 2048
HEADS = 16
KV_LORA = 512
QK_NOPE = 128
QK_ROPE = 64
V_HEAD = 128
N_EXPERTS = 64
TOP_K = 6
N_SHARED = 2
MOE_INTER = 1408
DENSE_INTER = 10944
FIRST_DENSE = 1


def make_config(n_layers):
    return {
        "architectures": ["DeepseekV2ForCausalLM"],
        "model_type": "deepseek_v2",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 100000,
        "eos_token_id": 100001,
        "first_k_dense_replace": FIRST_DENSE,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": DENSE_INTER,
        "kv_lora_rank": KV_LORA,
        "max_position_embeddings": 163840,
        "moe_intermediate_size": MOE_INTER,
        "moe_layer_freq": 1,
        "n_group": 1,
        "n_routed_experts": N_EXPERTS,
        "n_shared_experts": N_SHARED,
        "norm_topk_prob": False,
        "num_attention_heads": HEADS,
        "num_experts_per_tok": TOP_K,
        "num_hidden_layers": n_layers,
        "num_key_value_heads": HEADS,
        "pretraining_tp": 1,
        "q_lora_rank": None,
        "qk_nope_head_dim": QK_NOPE,
        "qk_rope_head_dim": QK_ROPE,
        "rms_norm_eps": 1e-06,
        "rope_scaling": {
            "type": "yarn",
            "factor": 40,
            "original_max_position_embeddings": 4096,
            "beta_fast": 32,
            "beta_slow": 1,
            "mscale": 0.707,
            "mscale_all_dim": 0.707,
        },
        "rope_theta": 10000,
        "routed_scaling_factor": 1.0,
        "scoring_func": "softmax",
        "tie_word_embeddings": False,
        "topk_group": 1,
        "topk_method": "greedy",
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "v_head_dim": V_HEAD,
        "vocab_size": VOCAB,
    }


def tensor_specs(n_layers):
    """(name, shape, kind) in the order they are written; kind is 'linear' or 'norm'."""
    specs = [("model.embed_tokens.weight", (VOCAB, HIDDEN), "linear")]
    for i in range(n_layers):
        p = f"model.layers.{i}."
        specs += [
            (p + "input_layernorm.weight", (HIDDEN,), "norm"),
            (p + "self_attn.q_proj.weight", (HEADS * (QK_NOPE + QK_ROPE), HIDDEN), "linear"),
            (p + "self_attn.kv_a_proj_with_mqa.weight", (KV_LORA + QK_ROPE, HIDDEN), "linear"),
            (p + "self_attn.kv_a_layernorm.weight", (KV_LORA,), "norm"),
            (p + "self_attn.kv_b_proj.weight", (HEADS * (QK_NOPE + V_HEAD), KV_LORA), "linear"),
            (p + "self_attn.o_proj.weight", (HIDDEN, HEADS * V_HEAD), "linear"),
            (p + "post_attention_layernorm.weight", (HIDDEN,), "norm"),
        ]
        if i < FIRST_DENSE:
            specs += [
                (p + "mlp.gate_proj.weight", (DENSE_INTER, HIDDEN), "linear"),
                (p + "mlp.up_proj.weight", (DENSE_INTER, HIDDEN), "linear"),
                (p + "mlp.down_proj.weight", (HIDDEN, DENSE_INTER), "linear"),
            ]
        else:
            specs.append((p + "mlp.gate.weight", (N_EXPERTS, HIDDEN), "linear"))
            for j in range(N_EXPERTS):
                e = f"{p}mlp.experts.{j}."
                specs += [
                    (e + "gate_proj.weight", (MOE_INTER, HIDDEN), "linear"),
                    (e + "up_proj.weight", (MOE_INTER, HIDDEN), "linear"),
                    (e + "down_proj.weight", (HIDDEN, MOE_INTER), "linear"),
                ]
            s = N_SHARED * MOE_INTER
            specs += [
                (p + "mlp.shared_experts.gate_proj.weight", (s, HIDDEN), "linear"),
                (p + "mlp.shared_experts.up_proj.weight", (s, HIDDEN), "linear"),
                (p + "mlp.shared_experts.down_proj.weight", (HIDDEN, s), "linear"),
            ]
    specs += [
        ("model.norm.weight", (HIDDEN,), "norm"),
        ("lm_head.weight", (VOCAB, HIDDEN), "linear"),
    ]
    return specs


def f32_to_bf16_bits(x):
    """float32 array -> uint16 bf16 bit patterns, round to nearest even (no NaNs are produced here)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))
    return ((u + rounding) >> np.uint32(16)).astype(np.uint16)


def generate(name, shape, kind, seed, chunk_elems=1 << 24):
    """Yields the tensor's bf16 bytes in row-aligned chunks (deterministic for a given seed and name)."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    rows = shape[0]
    row_elems = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    rows_per_chunk = max(1, chunk_elems // row_elems)
    for r0 in range(0, rows, rows_per_chunk):
        n = min(rows_per_chunk, rows - r0) * row_elems
        x = rng.standard_normal(n, dtype=np.float32)
        x *= np.float32(0.02)
        if kind == "norm":
            x += np.float32(1.0)
        yield f32_to_bf16_bits(x).tobytes()


def write_safetensors(path, specs, seed):
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, _ in specs:
        nbytes = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hbytes = json.dumps(header, separators=(",", ":")).encode()
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)  # keep the data 8-byte aligned
    tmp = path + ".tmp"
    t0 = time.time()
    with open(tmp, "wb") as f:
        f.write(len(hbytes).to_bytes(8, "little"))
        f.write(hbytes)
        written = 0
        for k, (name, shape, kind) in enumerate(specs):
            for chunk in generate(name, shape, kind, seed):
                f.write(chunk)
                written += len(chunk)
            if k % 50 == 0 or k == len(specs) - 1:
                print(f"  [{k + 1}/{len(specs)}] {written / 1e9:.2f} / {offset / 1e9:.2f} GB, "
                      f"{time.time() - t0:.0f} s", file=sys.stderr)
        assert written == offset
    os.replace(tmp, path)
    return offset


def verify(path, specs, seed):
    """Reads the file back with the safetensors package: names, shapes, dtype, and a few values."""
    from safetensors import safe_open
    import torch

    with safe_open(path, framework="pt") as f:
        keys = set(f.keys())
        assert keys == {n for n, _, _ in specs}, "tensor set mismatch"
        for name, shape, kind in specs[:3] + specs[-2:]:
            t = f.get_tensor(name)
            assert t.dtype == torch.bfloat16 and tuple(t.shape) == shape, name
            first = next(generate(name, shape, kind, seed))
            ref = np.frombuffer(first, dtype=np.uint16)
            got = t.flatten()[: ref.size].view(torch.int16).numpy().view(np.uint16)
            assert np.array_equal(ref, got), f"value mismatch in {name}"
            print(f"  ok {name} {list(shape)} mean {t.float().mean():+.4f} std {t.float().std():.4f}",
                  file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--no-verify", action="store_true")
    a = ap.parse_args()
    if a.layers < 2:
        ap.error("--layers must be >= 2 (layer 0 is dense, the rest MoE)")

    os.makedirs(a.out_dir, exist_ok=True)
    specs = tensor_specs(a.layers)
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump(make_config(a.layers), f, indent=2)
        f.write("\n")
    path = os.path.join(a.out_dir, "model.safetensors")
    n_params = sum(int(np.prod(s)) for _, s, _ in specs)
    print(f"writing {path}: {len(specs)} tensors, {n_params / 1e9:.3f} B params, seed {a.seed}", file=sys.stderr)
    nbytes = write_safetensors(path, specs, a.seed)
    if not a.no_verify:
        verify(path, specs, a.seed)
    print(f"done: {a.out_dir} ({nbytes / 1e9:.2f} GB of weights)", file=sys.stderr)


if __name__ == "__main__":
    main()
