#!/usr/bin/env python3
"""Convert a DeepSeek-V2 Hugging Face checkpoint (BF16 safetensors) to a llama.cpp `deepseek2` GGUF.

    python3 tools/make_bench_gguf.py models/bench-v2lite-4l models/bench-v2lite-4l.gguf

Made for the random benchmark model of tools/make_bench_model.py, so that llama.cpp runs exactly the
same weights as mola. Needs `pip install gguf` (0.19+) plus safetensors/torch/numpy.

What is written (follows llama.cpp's own convert_hf_to_gguf.py DeepseekV2Model for the llama.cpp
version bundled with llama-cpp-python 0.3.36, gguf 0.19):
  * tensors: BF16, except 1-D norms and the router ffn_gate_inp, which are F32 (as the converter does);
    kv_b_proj is split into attn_k_b [H, d_c, d_n] (transposed W_UK) and attn_v_b [H, d_v, d_c] (the
    "MLA" layout the current deepseek2 loader requires); routed experts are stacked into
    ffn_{gate,up,down}_exps [E, ...]; shared experts become ffn_*_shexp.
  * metadata: n_head_kv = 1 (MLA as MQA), key_length = d_c + d_r, value_length = d_c,
    key_length_mla = d_n + d_r, value_length_mla = d_v, q_lora_rank (0 when the checkpoint has no q LoRA:
    the loader only skips that key for 27-layer "lite" models), kv_lora_rank, leading_dense_block_count,
    expert counts/widths, expert_weights_scale, expert_weights_norm (only when true), gating func,
    expert groups, YaRN (type, factor, original context, beta fast/slow) and
    rope.scaling.yarn_log_multiplier = 0.1 * mscale_all_dim (llama.cpp divides the 0.1 back out).
  * vocabulary: synthetic SentencePiece-style ("llama") list of vocab_size pieces: <unk>, the 256 byte
    tokens <0x00>..<0xFF>, filler pieces, and BOS/EOS control tokens at the config's ids. It is only
    there so that llama.cpp loads the file; benchmarks feed token ids directly.

Tensors are streamed: all tensor infos are registered first, then data is written one tensor at a time.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("make_bench_gguf.py: the 'gguf' package is missing (pip install gguf)")


def bf16_bits_to_f32(u16):
    return (u16.astype(np.uint32) << np.uint32(16)).view(np.float32)


class Checkpoint:
    """BF16 tensors of a safetensors checkpoint (single file or sharded) as uint16 bit patterns."""

    def __init__(self, model_dir):
        from safetensors import safe_open

        index = os.path.join(model_dir, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        else:
            files = ["model.safetensors"]
        self.handles = {}
        for fn in files:
            h = safe_open(os.path.join(model_dir, fn), framework="pt")
            for k in h.keys():
                self.handles[k] = h

    def __contains__(self, name):
        return name in self.handles

    def get(self, name):
        import torch

        t = self.handles[name].get_tensor(name)
        if t.dtype != torch.bfloat16:
            t = t.to(torch.bfloat16)
        return t.contiguous().view(torch.int16).numpy().view(np.uint16)


def synthetic_vocab(n_vocab, bos, eos):
    tokens, scores, types = [], [], []
    for i in range(n_vocab):
        if i == 0:
            tok, ty = "<unk>", gguf.TokenType.UNKNOWN
        elif 1 <= i <= 256:
            tok, ty = f"<0x{i - 1:02X}>", gguf.TokenType.BYTE
        elif i == bos:
            tok, ty = "<｜begin▁of▁sentence｜>", gguf.TokenType.CONTROL
        elif i == eos:
            tok, ty = "<｜end▁of▁sentence｜>", gguf.TokenType.CONTROL
        else:
            tok, ty = f"▁t{i}", gguf.TokenType.NORMAL
        tokens.append(tok)
        scores.append(-float(i))
        types.append(int(ty))
    return tokens, scores, types


def tname(tensor, bid=None, suffix="weight"):
    base = gguf.TENSOR_NAMES[tensor]
    return (base.format(bid=bid) if bid is not None else base) + "." + suffix


def plan_tensors(cfg, ckpt):
    """[(gguf name, numpy shape, 'bf16'|'f32', loader)] in file order."""
    T = gguf.MODEL_TENSOR
    H = cfg["num_attention_heads"]
    d_n, d_v, d_c = cfg["qk_nope_head_dim"], cfg["v_head_dim"], cfg["kv_lora_rank"]
    E = cfg["n_routed_experts"]
    n_layers = cfg["num_hidden_layers"]
    first_dense = cfg.get("first_k_dense_replace", 0)
    freq = cfg.get("moe_layer_freq", 1)
    plan = []

    def direct(hf_name, gg_name, kind="bf16"):
        shape = tuple(ckpt.handles[hf_name].get_slice(hf_name).get_shape())
        plan.append((gg_name, shape, kind, lambda: ckpt.get(hf_name)))

    direct("model.embed_tokens.weight", tname(T.TOKEN_EMBD))
    for i in range(n_layers):
        p = f"model.layers.{i}."
        direct(p + "input_layernorm.weight", tname(T.ATTN_NORM, i), "f32")
        if p + "self_attn.q_proj.weight" in ckpt:
            direct(p + "self_attn.q_proj.weight", tname(T.ATTN_Q, i))
        else:
            direct(p + "self_attn.q_a_proj.weight", tname(T.ATTN_Q_A, i))
            direct(p + "self_attn.q_a_layernorm.weight", tname(T.ATTN_Q_A_NORM, i), "f32")
            direct(p + "self_attn.q_b_proj.weight", tname(T.ATTN_Q_B, i))
        direct(p + "self_attn.kv_a_proj_with_mqa.weight", tname(T.ATTN_KV_A_MQA, i))
        direct(p + "self_attn.kv_a_layernorm.weight", tname(T.ATTN_KV_A_NORM, i), "f32")

        kvb = p + "self_attn.kv_b_proj.weight"

        def k_b(kvb=kvb):  # [H, d_n + d_v, d_c] -> rows [0, d_n) transposed -> [H, d_c, d_n]
            w = ckpt.get(kvb).reshape(H, d_n + d_v, d_c)
            return np.ascontiguousarray(w[:, :d_n, :].transpose(0, 2, 1))

        def v_b(kvb=kvb):  # rows [d_n, d_n + d_v) -> [H, d_v, d_c]
            w = ckpt.get(kvb).reshape(H, d_n + d_v, d_c)
            return np.ascontiguousarray(w[:, d_n:, :])

        plan.append((tname(T.ATTN_K_B, i), (H, d_c, d_n), "bf16", k_b))
        plan.append((tname(T.ATTN_V_B, i), (H, d_v, d_c), "bf16", v_b))
        direct(p + "self_attn.o_proj.weight", tname(T.ATTN_OUT, i))
        direct(p + "post_attention_layernorm.weight", tname(T.FFN_NORM, i), "f32")

        if i < first_dense or i % freq != 0:
            direct(p + "mlp.gate_proj.weight", tname(T.FFN_GATE, i))
            direct(p + "mlp.up_proj.weight", tname(T.FFN_UP, i))
            direct(p + "mlp.down_proj.weight", tname(T.FFN_DOWN, i))
            continue
        direct(p + "mlp.gate.weight", tname(T.FFN_GATE_INP, i), "f32")
        if p + "mlp.gate.e_score_correction_bias" in ckpt:
            direct(p + "mlp.gate.e_score_correction_bias", tname(T.FFN_EXP_PROBS_B, i, "bias"), "f32")
        for proj, tensor in (("gate_proj", T.FFN_GATE_EXP), ("up_proj", T.FFN_UP_EXP),
                             ("down_proj", T.FFN_DOWN_EXP)):
            names = [f"{p}mlp.experts.{j}.{proj}.weight" for j in range(E)]
            shape = (E,) + tuple(ckpt.handles[names[0]].get_slice(names[0]).get_shape())

            def stacked(names=names):
                return np.stack([ckpt.get(n) for n in names])

            plan.append((tname(tensor, i), shape, "bf16", stacked))
        if cfg.get("n_shared_experts"):
            direct(p + "mlp.shared_experts.gate_proj.weight", tname(T.FFN_GATE_SHEXP, i))
            direct(p + "mlp.shared_experts.up_proj.weight", tname(T.FFN_UP_SHEXP, i))
            direct(p + "mlp.shared_experts.down_proj.weight", tname(T.FFN_DOWN_SHEXP, i))
    direct("model.norm.weight", tname(T.OUTPUT_NORM), "f32")
    direct("lm_head.weight", tname(T.OUTPUT))
    return plan


def write_metadata(w, cfg):
    n_layers = cfg["num_hidden_layers"]
    d_n, d_r, d_v, d_c = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"], cfg["kv_lora_rank"]
    w.add_name("mola bench deepseek-v2-lite random")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    w.add_block_count(n_layers)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(1)  # MLA is run as MQA with a single 576-wide KV head
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-6)))
    w.add_vocab_size(cfg["vocab_size"])
    w.add_leading_dense_block_count(cfg.get("first_k_dense_replace", 0))
    w.add_q_lora_rank(cfg.get("q_lora_rank") or 0)
    w.add_kv_lora_rank(d_c)
    w.add_key_length(d_c + d_r)
    w.add_value_length(d_c)
    w.add_key_length_mla(d_n + d_r)
    w.add_value_length_mla(d_v)
    w.add_rope_dimension_count(d_r)
    w.add_expert_count(cfg["n_routed_experts"])
    w.add_expert_used_count(cfg["num_experts_per_tok"])
    w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
    w.add_expert_shared_count(cfg.get("n_shared_experts", 0))
    w.add_expert_weights_scale(float(cfg.get("routed_scaling_factor", 1.0)))
    if cfg.get("norm_topk_prob"):
        w.add_expert_weights_norm(True)
    if cfg.get("n_group") is not None:
        w.add_expert_group_count(cfg["n_group"])
    if cfg.get("topk_group") is not None:
        w.add_expert_group_used_count(cfg["topk_group"])
    sf = cfg.get("scoring_func", "softmax")
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID if sf == "sigmoid"
                             else gguf.ExpertGatingFuncType.SOFTMAX)
    rs = cfg.get("rope_scaling") or {}
    if rs.get("type", rs.get("rope_type")) == "yarn":
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(float(rs["factor"]))
        w.add_rope_scaling_orig_ctx_len(int(rs["original_max_position_embeddings"]))
        if "beta_fast" in rs:
            w.add_rope_scaling_yarn_beta_fast(float(rs["beta_fast"]))
        if "beta_slow" in rs:
            w.add_rope_scaling_yarn_beta_slow(float(rs["beta_slow"]))
        if rs.get("mscale_all_dim") is not None:
            w.add_rope_scaling_yarn_log_mul(0.1 * float(rs["mscale_all_dim"]))

    bos, eos = cfg.get("bos_token_id", 1), cfg.get("eos_token_id", 2)
    tokens, scores, types = synthetic_vocab(cfg["vocab_size"], bos, eos)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(bos)
    w.add_eos_token_id(eos)
    w.add_unk_token_id(0)
    w.add_add_bos_token(False)
    w.add_add_eos_token(False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out")
    a = ap.parse_args()

    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") not in ("deepseek_v2", "deepseek_v3"):
        sys.exit(f"make_bench_gguf.py: model_type {cfg.get('model_type')!r} is not DeepSeek V2/V3")
    ckpt = Checkpoint(a.model_dir)
    plan = plan_tensors(cfg, ckpt)

    tmp = a.out + ".tmp"
    w = gguf.GGUFWriter(tmp, arch=gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.DEEPSEEK2])
    write_metadata(w, cfg)
    for name, shape, kind, _ in plan:
        if kind == "f32":
            w.add_tensor_info(name, shape, np.dtype(np.float32), int(np.prod(shape)) * 4)
        else:
            w.add_tensor_info(name, shape, np.dtype(np.uint16), int(np.prod(shape)) * 2,
                              raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    t0 = time.time()
    total = 0
    for k, (name, shape, kind, load) in enumerate(plan):
        data = load()
        assert data.shape == shape, (name, data.shape, shape)
        if kind == "f32":
            data = bf16_bits_to_f32(data)
        w.write_tensor_data(data)
        total += data.nbytes
        if k % 20 == 0 or k == len(plan) - 1:
            print(f"  [{k + 1}/{len(plan)}] {name} {list(shape)} {kind}; {total / 1e9:.2f} GB, "
                  f"{time.time() - t0:.0f} s", file=sys.stderr)
    w.close()
    os.replace(tmp, a.out)
    print(f"done: {a.out} ({len(plan)} tensors, {total / 1e9:.2f} GB)", file=sys.stderr)


if __name__ == "__main__":
    main()
