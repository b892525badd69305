#!/usr/bin/env python3
"""Independent oracle: tiny random DeepSeek V2/V3 checkpoints + golden logits.

    python3 tools/make_test_models.py --out tests/data              # regenerate everything
    python3 tools/make_test_models.py --out tests/data --self-check # + independent numpy check
    python3 tools/make_test_models.py --self-check-only --out tests/data  # check existing files

For every model in MODELS this writes tests/data/<name>/:
  config.json                 HF config as save_pretrained writes it, plus the keys DeepSeek's own
                              configs carry (scoring_func, topk_method, moe_layer_freq, ...)
  *.safetensors               weights with the HF/DeepSeek tensor names (spec section 2)
  model.safetensors.index.json  (sharded model only)
  golden.json, logits_<k>.npy float32 [n_tokens, vocab], C order, one full-sequence forward from pos 0

Everything is deterministic (fixed seeds, single-threaded torch on CPU).

How the goldens are made
------------------------
Random weights are drawn in fp32, rounded to the storage dtype FIRST (bf16 / f16 / fp8+scale), and
the goldens are computed from exactly those rounded values in float32 with Hugging Face transformers
(DeepseekV2ForCausalLM / DeepseekV3ForCausalLM, eager attention, CPU). The HF model is built from
the config.json we wrote (AutoConfig.from_pretrained on the output directory), so the written
config is what HF actually parses. For the non-FP8 models we also load the written directory with
AutoModelForCausalLM.from_pretrained and check that it yields bit-identical parameters to our own
name mapping, i.e. the stored tensor names are the ones HF's loader understands.

FP8 (v3_fp8): the golden is HF's fp32 forward with *weight-only* dequantization exactly as spec
section 2.1 / DeepSeek's inference/fp8_cast_bf16.py: W[r, c] = float(W_fp8[r, c]) * scale_inv[r//128,
c//128]. Activations are NOT quantized (the official fp8_gemm also quantizes activations per token per
128 channels; an engine doing that will differ from the golden by that quantization noise). The
scale_inv values are chosen with a 4-significant-bit mantissa, so fp8 * scale_inv is exact in fp32
AND in bf16: dequantizing to bf16 (as fp8_cast_bf16.py does) or to fp32 gives bit-identical weights.
Block scales differ strongly from block to block (random 2^[-1.5,1.5] per block factor), and shapes
are chosen so that 128x128 blocks are real and partial edge blocks exist on both axes.

HF (transformers 5.24) vs DeepSeek's official inference/model.py -- what HF does, what we do
--------------------------------------------------------------------------------------------
(a) softmax scale with mscale_all_dim's m^2 (spec 3.4/4.3): transformers 5.24 applies
    yarn_apply_mscale() in BOTH DeepseekV2Attention and DeepseekV3Attention, i.e.
    scaling = d_qk^-0.5 * (0.1*mscale_all_dim*ln(factor)+1)^2. Matches official (transformers#47435
    is fixed in this version). We recompute the value from the spec and assert/overwrite
    `attn.scaling` anyway (patch_model), so an older HF would be corrected too.
(b) excluded-group masking: HF V3 router masks with -inf (correct). HF V2 router
    (group_limited_greedy) masks with 0.0. With softmax scores (all > 0) this only matters when the
    kept groups hold fewer than K experts, but official code uses -inf, so we monkeypatch
    DeepseekV2TopkRouter.forward with the official semantics (-inf).
(c) YaRN: HF's _compute_yarn_parameters uses original_max_position_embeddings for the correction
    range, floor/ceil truncation (truncate defaults to True), ramp over dim/2 entries -- identical to
    spec 4.1; we recompute inv_freq from the spec in float64 and assert it matches. cos/sin scaling:
    HF multiplies cos/sin by attention_factor = get_mscale(s, mscale)/get_mscale(s, mscale_all_dim),
    which is exactly 1.0 for our configs (mscale == mscale_all_dim, as in all releases); official
    applies no magnitude at all. We force rotary_emb.attention_scaling = 1.0 (official).
(d) V2 group_limited_greedy: HF V2 uses group score = max softmax score in the group (= official,
    which uses amax when there is no bias). Kept as is (inside our patched forward, same math).
(e) V2 weights: HF V2 router always does w = s[idx] * routed_scaling_factor and never renormalises
    (it ignores norm_topk_prob; DeepSeek's hub remote code would renormalise if norm_topk_prob were
    true). Official: w = s[idx] * route_scale, renormalise only for sigmoid. All our V2 configs have
    norm_topk_prob=false, where all three agree. Our patched forward follows official.
(f) gate logits: HF computes F.linear(x.float(), W.float()) and keeps gate.weight in fp32
    (_keep_in_fp32_modules_strict); the whole golden forward is fp32 anyway. (The older official
    model.py computes gate logits in bf16; spec section 5 says fp32, V3.2 official does fp32.)
(g) RoPE: HF V2 uses the complex (adjacent pair) form directly; HF V3 with rope_interleave=True
    rotates the same adjacent pairs (x[2i], x[2i+1]) and leaves the result de-interleaved, applied
    identically to q_pe and k_pe, so q.k is unchanged. Nope dims come first in each q head in both.
    Matches official; no patch. (config.json keeps rope_interleave: true as HF writes it.)
(h) e_score_correction_bias: HF V3 adds it only to scores_for_choice (group + expert selection) and
    takes the weights from the unbiased sigmoid scores, normalises, multiplies by rsf. Matches
    official; no patch. HF V3 hardcodes sigmoid/noaux_tc (ignores scoring_func/topk_method keys).
Other notes:
  * moe_layer_freq: NOT honoured by transformers' DeepSeek V2/V3 classes (DeepseekV2DecoderLayer
    makes a layer MoE iff layer_idx >= first_k_dense_replace; the config key is kept as a plain
    attribute and never read). DeepSeek's hub remote code (modeling_deepseek.py) / vLLM make layer i
    MoE iff `n_routed_experts is not None and i >= first_k_dense_replace and i % moe_layer_freq == 0`,
    else a dense MLP of width intermediate_size. We patch this at construction time
    (install_patches: DeepseekV2DecoderLayer.__init__ / DeepseekV3DecoderLayer.__init__ run HF's
    constructor, then replace `self.mlp` by DeepseekV{2,3}MLP(config) -- width intermediate_size --
    where the remote-code rule says dense). For moe_layer_freq == 1 the rule coincides with HF's and
    the patch changes nothing (asserted). Only `v2_moe_freq` (4 layers, first_k_dense_replace 1,
    moe_layer_freq 2: layers 0, 1, 3 dense, layer 2 MoE) uses freq != 1; its weights file holds
    exactly the tensors the rule implies (dense layers: mlp.{gate,up,down}_proj; MoE layer: router,
    experts, shared experts), which load_state_dict(strict=True), the from_pretrained cross-check and
    --self-check's tensor-set check all enforce. The --self-check numpy reference implements the rule
    independently from config.json.
  * MTP (num_nextn_predict_layers=1 in `v3`): HF DeepseekV3 builds no MTP module and ignores the
    extra model.layers.{num_hidden_layers}.* tensors; the goldens therefore come from the main
    model only, which is what the engine must reproduce (it must skip those tensors).
  * HF's RMSNorm casts the normalised value back to the activation dtype before multiplying by the
    weight; in fp32 this is a no-op.

--self-check: an independent float64 numpy forward written from the spec (not from HF) that reads
the files on disk (own safetensors parser, own fp8 dequant, both rope spellings, sharding, MTP skip)
and compares against the goldens; it also prints routing statistics.
"""

import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import warnings

import ml_dtypes
import numpy as np
import torch
import torch.nn.functional as F

GENERATOR = "tools/make_test_models.py"
SEQ_LENS = [1, 7, 33, 70]
CANDIDATES = 32  # random token sequences tried per case (see generate())
MAX_DIR_BYTES = 2 * 1024 * 1024
FP8_BLOCK = 128

# ----------------------------------------------------------------------------------------------
# Model zoo. Dimensions are deliberately all different from each other so that layout bugs show.
# ----------------------------------------------------------------------------------------------
MODELS = {
    # DeepSeek-V2-Lite-like: no q LoRA, softmax/greedy, 2 shared experts, mscale 0.707, BF16.
    "v2_lite": dict(
        seed=1001, arch="v2", storage="bf16", shards=1, rope_spelling="rope_scaling",
        vocab_size=384, hidden_size=96, num_hidden_layers=3, num_attention_heads=3,
        q_lora_rank=None, kv_lora_rank=40, qk_nope_head_dim=24, qk_rope_head_dim=16, v_head_dim=20,
        intermediate_size=160, moe_intermediate_size=32, n_routed_experts=8, n_shared_experts=2,
        num_experts_per_tok=3, scoring_func="softmax", topk_method="greedy", n_group=1, topk_group=1,
        norm_topk_prob=False, routed_scaling_factor=1.0, first_k_dense_replace=1, moe_layer_freq=1,
        rope_theta=10000.0, yarn=dict(factor=40.0, original_max_position_embeddings=2048, beta_fast=32,
                                      beta_slow=1, mscale=0.707, mscale_all_dim=0.707),
        bos_token_id=0, eos_token_id=1, num_nextn_predict_layers=0,
    ),
    # DeepSeek-V2-like: q LoRA, softmax/group_limited_greedy, rsf 16, F16, sharded, rope_parameters.
    "v2": dict(
        seed=1002, arch="v2", storage="f16", shards=2, rope_spelling="rope_parameters",
        vocab_size=320, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
        q_lora_rank=48, kv_lora_rank=56, qk_nope_head_dim=16, qk_rope_head_dim=32, v_head_dim=24,
        intermediate_size=192, moe_intermediate_size=24, n_routed_experts=16, n_shared_experts=2,
        num_experts_per_tok=4, scoring_func="softmax", topk_method="group_limited_greedy", n_group=4,
        topk_group=2, norm_topk_prob=False, routed_scaling_factor=16.0, first_k_dense_replace=1,
        moe_layer_freq=1,
        rope_theta=10000.0, yarn=dict(factor=40.0, original_max_position_embeddings=512, beta_fast=32,
                                      beta_slow=1, mscale=0.707, mscale_all_dim=0.707),
        bos_token_id=0, eos_token_id=1, num_nextn_predict_layers=0,
    ),
    # DeepSeek-V3-like: sigmoid/noaux_tc with nonzero bias, BF16, one MTP layer (to be skipped).
    "v3": dict(
        seed=1003, arch="v3", storage="bf16", shards=1, rope_spelling="rope_scaling",
        vocab_size=352, hidden_size=112, num_hidden_layers=3, num_attention_heads=5,
        q_lora_rank=64, kv_lora_rank=48, qk_nope_head_dim=20, qk_rope_head_dim=16, v_head_dim=28,
        intermediate_size=176, moe_intermediate_size=16, n_routed_experts=16, n_shared_experts=1,
        num_experts_per_tok=4, scoring_func="sigmoid", topk_method="noaux_tc", n_group=4, topk_group=2,
        norm_topk_prob=True, routed_scaling_factor=2.5, first_k_dense_replace=1, moe_layer_freq=1,
        rope_theta=10000.0, yarn=dict(factor=40.0, original_max_position_embeddings=4096, beta_fast=32,
                                      beta_slow=1, mscale=1.0, mscale_all_dim=1.0),
        bos_token_id=0, eos_token_id=1, num_nextn_predict_layers=1,
    ),
    # Same V3 architecture, FP8 e4m3 weights with 128x128 block scales (real + partial blocks).
    # No MTP layer here (2 MB budget); MTP is covered by `v3`.
    "v3_fp8": dict(
        seed=1004, arch="v3", storage="fp8", shards=1, rope_spelling="rope_scaling",
        vocab_size=256, hidden_size=320, num_hidden_layers=2, num_attention_heads=3,
        q_lora_rank=160, kv_lora_rank=200, qk_nope_head_dim=40, qk_rope_head_dim=32, v_head_dim=56,
        intermediate_size=272, moe_intermediate_size=48, n_routed_experts=8, n_shared_experts=1,
        num_experts_per_tok=3, scoring_func="sigmoid", topk_method="noaux_tc", n_group=4, topk_group=2,
        norm_topk_prob=True, routed_scaling_factor=2.5, first_k_dense_replace=1, moe_layer_freq=1,
        rope_theta=10000.0, yarn=dict(factor=40.0, original_max_position_embeddings=4096, beta_fast=32,
                                      beta_slow=1, mscale=1.0, mscale_all_dim=1.0),
        bos_token_id=0, eos_token_id=1, num_nextn_predict_layers=0,
    ),
    # moe_layer_freq != 1: transformers ignores moe_layer_freq, so the golden comes from HF's
    # DeepseekV2 with the construction-time dense-MLP patch (module docstring, install_patches).
    "v2_moe_freq": dict(
        # V2-like, q LoRA, softmax/greedy, rsf 2, BF16, 4 layers: 0, 1, 3 dense, 2 MoE.
        seed=1005, arch="v2", storage="bf16", shards=1, rope_spelling="rope_scaling",
        vocab_size=288, hidden_size=104, num_hidden_layers=4, num_attention_heads=2,
        q_lora_rank=40, kv_lora_rank=36, qk_nope_head_dim=20, qk_rope_head_dim=24, v_head_dim=22,
        intermediate_size=144, moe_intermediate_size=20, n_routed_experts=12, n_shared_experts=1,
        num_experts_per_tok=2, scoring_func="softmax", topk_method="greedy", n_group=1, topk_group=1,
        norm_topk_prob=False, routed_scaling_factor=2.0, first_k_dense_replace=1, moe_layer_freq=2,
        rope_theta=10000.0, yarn=dict(factor=40.0, original_max_position_embeddings=1024, beta_fast=32,
                                      beta_slow=1, mscale=0.707, mscale_all_dim=0.707),
        bos_token_id=0, eos_token_id=1, num_nextn_predict_layers=0,
    ),
    # One layer (dense), V3 with a 160K YaRN window from a short original one: factor 640 over
    # original_max_position_embeddings 256 gives max_position_embeddings 163840, as V3's 40 x 4096.
    # With one layer a cache row depends only on its token and position, which the session tests
    # use (a slid context must equal a fresh prefill). long_golden: logits of the last positions
    # of a sequence longer than the original window (YaRN's interpolated frequencies at work).
    "v3_long": dict(
        seed=1006, arch="v3", storage="bf16", shards=1, rope_spelling="rope_scaling",
        vocab_size=272, hidden_size=88, num_hidden_layers=1, num_attention_heads=2,
        q_lora_rank=36, kv_lora_rank=28, qk_nope_head_dim=12, qk_rope_head_dim=16, v_head_dim=18,
        intermediate_size=136, moe_intermediate_size=16, n_routed_experts=8, n_shared_experts=1,
        num_experts_per_tok=2, scoring_func="sigmoid", topk_method="noaux_tc", n_group=1, topk_group=1,
        norm_topk_prob=True, routed_scaling_factor=2.5, first_k_dense_replace=1, moe_layer_freq=1,
        rope_theta=10000.0, yarn=dict(factor=640.0, original_max_position_embeddings=256, beta_fast=32,
                                      beta_slow=1, mscale=1.0, mscale_all_dim=1.0),
        bos_token_id=0, eos_token_id=1, num_nextn_predict_layers=0,
        long_golden=dict(n_tokens=600, last=4),
    ),
}

STORAGE_DTYPE = {"bf16": torch.bfloat16, "f16": torch.float16, "fp8": torch.bfloat16}
TORCH_DTYPE_NAME = {"bf16": "bfloat16", "f16": "float16", "fp8": "bfloat16"}


# ----------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------
def make_config_json(spec):
    """HF config via save_pretrained + DeepSeek's own keys, with the requested rope spelling."""
    from transformers import DeepseekV2Config, DeepseekV3Config

    H = spec["num_attention_heads"]
    y = spec["yarn"]
    max_pos = int(y["factor"] * y["original_max_position_embeddings"])
    common = dict(
        vocab_size=spec["vocab_size"], hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate_size"], moe_intermediate_size=spec["moe_intermediate_size"],
        num_hidden_layers=spec["num_hidden_layers"], num_attention_heads=H, num_key_value_heads=H,
        n_shared_experts=spec["n_shared_experts"], n_routed_experts=spec["n_routed_experts"],
        routed_scaling_factor=spec["routed_scaling_factor"], kv_lora_rank=spec["kv_lora_rank"],
        q_lora_rank=spec["q_lora_rank"], qk_rope_head_dim=spec["qk_rope_head_dim"],
        qk_nope_head_dim=spec["qk_nope_head_dim"], v_head_dim=spec["v_head_dim"],
        n_group=spec["n_group"], topk_group=spec["topk_group"],
        num_experts_per_tok=spec["num_experts_per_tok"], first_k_dense_replace=spec["first_k_dense_replace"],
        norm_topk_prob=spec["norm_topk_prob"], hidden_act="silu", max_position_embeddings=max_pos,
        rms_norm_eps=1e-6, bos_token_id=spec["bos_token_id"], eos_token_id=spec["eos_token_id"],
        tie_word_embeddings=False, attention_bias=False,
        rope_parameters=dict(rope_type="yarn", rope_theta=spec["rope_theta"], **y),
    )
    if spec["arch"] == "v2":
        cfg = DeepseekV2Config(topk_method=spec["topk_method"], **common)
        cfg.architectures = ["DeepseekV2ForCausalLM"]
    else:
        cfg = DeepseekV3Config(num_nextn_predict_layers=spec["num_nextn_predict_layers"], **common)
        cfg.architectures = ["DeepseekV3ForCausalLM"]
    cfg.dtype = TORCH_DTYPE_NAME[spec["storage"]]
    tmp = tempfile.mkdtemp()
    try:
        cfg.save_pretrained(tmp)
        with open(os.path.join(tmp, "config.json")) as f:
            j = json.load(f)
    finally:
        shutil.rmtree(tmp)

    # Keys DeepSeek's configs carry that HF may omit.
    j["architectures"] = cfg.architectures
    j["model_type"] = "deepseek_v2" if spec["arch"] == "v2" else "deepseek_v3"
    for k in ("scoring_func", "topk_method", "n_group", "topk_group", "norm_topk_prob",
              "routed_scaling_factor", "first_k_dense_replace", "moe_layer_freq",
              "num_nextn_predict_layers", "n_routed_experts", "n_shared_experts", "q_lora_rank"):
        j[k] = spec[k]
    j["rope_theta"] = spec["rope_theta"]
    if spec["rope_spelling"] == "rope_scaling":
        # Classic DeepSeek spelling: top-level rope_theta + rope_scaling{type: yarn, ...}.
        j.pop("rope_parameters", None)
        j["rope_scaling"] = dict(type="yarn", **y)
    else:
        # transformers-5 spelling (what save_pretrained writes): rope_parameters{rope_type, rope_theta,...}
        rp = j["rope_parameters"]
        rp.pop("type", None)
        assert rp["rope_type"] == "yarn" and rp["original_max_position_embeddings"] == y[
            "original_max_position_embeddings"], rp
        j.pop("rope_scaling", None)
    if spec["storage"] == "fp8":
        j["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                    "weight_block_size": [FP8_BLOCK, FP8_BLOCK]}
    return dict(sorted(j.items()))


# ----------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------
def fp8_quantize(w, gen):
    """w fp32 [out, in] -> (fp8 tensor, scale_inv fp32 [ceil(out/128), ceil(in/128)], dequantized fp32).

    Each 128x128 block first gets a random 2^U(-1.5,1.5) factor so block scales differ a lot; the
    scale is amax/448 rounded UP to a 4-significant-bit value (so |w/scale| <= 448 and
    fp8 * scale_inv is exact in fp32 and bf16)."""
    out_f, in_f = w.shape
    nb_r, nb_c = -(-out_f // FP8_BLOCK), -(-in_f // FP8_BLOCK)
    fac = torch.pow(2.0, torch.rand(nb_r, nb_c, generator=gen) * 3.0 - 1.5)
    fac_full = fac.repeat_interleave(FP8_BLOCK, 0).repeat_interleave(FP8_BLOCK, 1)[:out_f, :in_f]
    w = w * fac_full
    scale = torch.empty(nb_r, nb_c, dtype=torch.float64)
    for r in range(nb_r):
        for c in range(nb_c):
            blk = w[r * FP8_BLOCK:(r + 1) * FP8_BLOCK, c * FP8_BLOCK:(c + 1) * FP8_BLOCK]
            s = max(float(blk.abs().max()), 1e-12) / 448.0
            e = math.floor(math.log2(s))
            m = math.ceil(s / 2.0 ** e * 8.0) / 8.0  # mantissa in [1, 2], 3 fraction bits
            scale[r, c] = m * 2.0 ** e
    scale = scale.float()
    s_full = scale.repeat_interleave(FP8_BLOCK, 0).repeat_interleave(FP8_BLOCK, 1)[:out_f, :in_f]
    q = (w / s_full).to(torch.float8_e4m3fn)
    deq = q.float() * s_full
    assert torch.isfinite(deq).all()
    assert torch.equal(deq.to(torch.bfloat16).float(), deq), "fp8*scale must be exact in bf16"
    return q, scale, deq


class WeightBuilder:
    def __init__(self, spec):
        self.spec = spec
        self.gen = torch.Generator().manual_seed(spec["seed"])
        self.stored = {}  # name -> tensor in storage dtype (what goes to disk)
        self.fp32 = {}  # name -> fp32 tensor exactly equal to the stored (dequantized) value
        self.sdt = STORAGE_DTYPE[spec["storage"]]

    def randn(self, *shape):
        return torch.randn(*shape, generator=self.gen, dtype=torch.float32)

    def plain(self, name, w, dtype=None):
        dtype = dtype or self.sdt
        s = w.to(dtype).contiguous()
        self.stored[name] = s
        self.fp32[name] = s.float()

    def linear(self, name, out_f, in_f, gain=1.0, quantize=True):
        w = self.randn(out_f, in_f) * (gain / math.sqrt(in_f))
        if self.spec["storage"] == "fp8" and quantize:
            q, sc, deq = fp8_quantize(w, self.gen)
            self.stored[name] = q.contiguous()
            self.stored[name + "_scale_inv"] = sc.contiguous()
            self.fp32[name] = deq
        else:
            self.plain(name, w)

    def norm(self, name, n):
        self.plain(name, 1.0 + 0.2 * self.randn(n))

    def mlp(self, p, inter):
        D = self.spec["hidden_size"]
        self.linear(p + ".gate_proj.weight", inter, D)
        self.linear(p + ".up_proj.weight", inter, D)
        self.linear(p + ".down_proj.weight", D, inter)

    def layer(self, i, moe):
        s = self.spec
        D, H = s["hidden_size"], s["num_attention_heads"]
        dqk = s["qk_nope_head_dim"] + s["qk_rope_head_dim"]
        p = f"model.layers.{i}"
        self.norm(p + ".input_layernorm.weight", D)
        a = p + ".self_attn"
        if s["q_lora_rank"] is None:
            self.linear(a + ".q_proj.weight", H * dqk, D)
        else:
            self.linear(a + ".q_a_proj.weight", s["q_lora_rank"], D)
            self.norm(a + ".q_a_layernorm.weight", s["q_lora_rank"])
            self.linear(a + ".q_b_proj.weight", H * dqk, s["q_lora_rank"])
        self.linear(a + ".kv_a_proj_with_mqa.weight", s["kv_lora_rank"] + s["qk_rope_head_dim"], D)
        self.norm(a + ".kv_a_layernorm.weight", s["kv_lora_rank"])
        self.linear(a + ".kv_b_proj.weight", H * (s["qk_nope_head_dim"] + s["v_head_dim"]), s["kv_lora_rank"])
        self.linear(a + ".o_proj.weight", D, H * s["v_head_dim"])
        self.norm(p + ".post_attention_layernorm.weight", D)
        if not moe:
            self.mlp(p + ".mlp", s["intermediate_size"])
            return
        E = s["n_routed_experts"]
        # Router: BF16 (F16 for the F16 model), never FP8; gain 2 -> logits std ~2.
        self.plain(p + ".mlp.gate.weight", self.randn(E, D) * (2.0 / math.sqrt(D)))
        if s["topk_method"] == "noaux_tc":
            self.plain(p + ".mlp.gate.e_score_correction_bias", 0.15 * self.randn(E), torch.float32)
        for j in range(E):
            self.mlp(p + f".mlp.experts.{j}", s["moe_intermediate_size"])
        self.mlp(p + ".mlp.shared_experts", s["moe_intermediate_size"] * s["n_shared_experts"])

    def build(self):
        s = self.spec
        D, V, L = s["hidden_size"], s["vocab_size"], s["num_hidden_layers"]
        self.plain("model.embed_tokens.weight", self.randn(V, D))
        for i in range(L):
            self.layer(i, is_moe_layer(s, i))
        self.norm("model.norm.weight", D)
        self.plain("lm_head.weight", self.randn(V, D) * (2.0 / math.sqrt(D)))
        for m in range(s["num_nextn_predict_layers"]):
            # MTP module (random, must be skipped by plain inference; HF ignores it).
            i = L + m
            self.layer(i, True)
            p = f"model.layers.{i}"
            self.plain(p + ".embed_tokens.weight", self.randn(V, D))
            self.norm(p + ".enorm.weight", D)
            self.norm(p + ".hnorm.weight", D)
            self.plain(p + ".eh_proj.weight", self.randn(D, 2 * D) / math.sqrt(2 * D))  # BF16, not FP8
            self.norm(p + ".shared_head.norm.weight", D)
            self.plain(p + ".shared_head.head.weight", self.randn(V, D) * (2.0 / math.sqrt(D)))
        return self


def is_moe_layer(cfg, i):
    """DeepSeek remote-code rule (modeling_deepseek.py); cfg is a spec/config.json dict."""
    return (cfg.get("n_routed_experts") is not None and i >= cfg["first_k_dense_replace"]
            and i % cfg.get("moe_layer_freq", 1) == 0)


def write_weights(outdir, spec, stored):
    from safetensors.torch import save_file

    names = sorted(stored)
    if spec["shards"] == 1:
        save_file({n: stored[n] for n in names}, os.path.join(outdir, "model.safetensors"),
                  metadata={"format": "pt"})
        return
    assert spec["shards"] == 2
    # shard 1: embeddings + layer 0, shard 2: everything else
    first = [n for n in names if n.startswith("model.embed_tokens.") or n.startswith("model.layers.0.")]
    second = [n for n in names if n not in first]
    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map = {}
    for fn, group in zip(files, [first, second]):
        save_file({n: stored[n] for n in group}, os.path.join(outdir, fn), metadata={"format": "pt"})
        for n in group:
            weight_map[n] = fn
    total = sum(stored[n].numel() * stored[n].element_size() for n in names)
    with open(os.path.join(outdir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
                  f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------------------------
# HF model + official-semantics patches
# ----------------------------------------------------------------------------------------------
def yarn_inv_freq_spec(d, base, factor, L0, beta_fast, beta_slow):
    """Spec 4.1, float64."""
    i = np.arange(d // 2, dtype=np.float64)
    theta = base ** (-2.0 * i / d)

    def corr_dim(r):
        return d * math.log(L0 / (2 * math.pi * r)) / (2 * math.log(base))

    low = max(math.floor(corr_dim(beta_fast)), 0)
    high = min(math.ceil(corr_dim(beta_slow)), d - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((i - low) / (high - low), 0.0, 1.0)
    return theta / factor * ramp + theta * (1.0 - ramp)


def mscale_sq(factor, mscale_all_dim):
    m = 1.0 if factor <= 1 else 0.1 * mscale_all_dim * math.log(factor) + 1.0
    return m * m


def v2_router_forward_official(self, hidden_states):
    """Replacement for DeepseekV2TopkRouter.forward with official inference/model.py Gate semantics:
    softmax scores in fp32; greedy or group-limited (group score = max, excluded groups -> -inf);
    weights = original scores at the chosen indices (renormalised only for sigmoid, never for
    softmax) times routed_scaling_factor."""
    hidden_states = hidden_states.view(-1, self.hidden_dim)
    router_logits = F.linear(hidden_states.type(torch.float32), self.weight.type(torch.float32))
    scores = router_logits.softmax(dim=-1, dtype=torch.float32)
    choice = scores
    if self.topk_method == "group_limited_greedy":
        g = choice.view(-1, self.num_group, self.num_experts // self.num_group)
        group_scores = g.max(dim=-1).values
        group_idx = torch.topk(group_scores, k=self.topk_group, dim=-1, sorted=False)[1]
        keep = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, group_idx, True)
        choice = g.masked_fill(~keep.unsqueeze(-1), float("-inf")).reshape(-1, self.num_experts)
    elif self.topk_method not in ("greedy", "gready"):
        raise ValueError(self.topk_method)
    topk_indices = torch.topk(choice, k=self.top_k, dim=-1, sorted=False)[1]
    topk_weights = scores.gather(1, topk_indices) * self.routed_scaling_factor
    return router_logits, topk_weights, topk_indices


def patch_model(model, cfg_json):
    """Apply/verify official semantics on an instantiated HF model (see module docstring)."""
    inner = model.model
    rp = cfg_json.get("rope_scaling") or cfg_json["rope_parameters"]
    dqk = cfg_json["qk_nope_head_dim"] + cfg_json["qk_rope_head_dim"]
    # (c) cos/sin magnitude: official applies none.
    hf_att = float(inner.rotary_emb.attention_scaling)
    assert abs(hf_att - 1.0) < 1e-12, f"HF attention_factor {hf_att} != 1 for this config"
    inner.rotary_emb.attention_scaling = 1.0
    # (c) YaRN frequencies per spec 4.1.
    ref = yarn_inv_freq_spec(cfg_json["qk_rope_head_dim"], cfg_json["rope_theta"], rp["factor"],
                             rp["original_max_position_embeddings"], rp["beta_fast"], rp["beta_slow"])
    hf = inner.rotary_emb.inv_freq.double().numpy()
    assert np.allclose(hf, ref, rtol=1e-6, atol=0), (hf, ref)
    # (a) softmax scale with m^2.
    want = dqk ** -0.5 * mscale_sq(rp["factor"], rp["mscale_all_dim"])
    for layer in inner.layers:
        got = layer.self_attn.scaling
        assert abs(got - want) < 1e-9 * want, f"HF softmax scale {got} != {want}"
        layer.self_attn.scaling = want
    # (g) interleaved rope for V3
    if cfg_json["model_type"] == "deepseek_v3":
        assert model.config.rope_interleave is True


_ROUTE_LOG = []


def install_patches():
    from transformers.models.deepseek_v2 import modeling_deepseek_v2 as m2
    from transformers.models.deepseek_v3 import modeling_deepseek_v3 as m3

    # (b)/(d)/(e): V2 router with official semantics (-inf group mask).
    m2.DeepseekV2TopkRouter.forward = v2_router_forward_official

    # Record routing decisions (for the non-degeneracy checks), both archs.
    def wrap(cls):
        orig = cls.forward

        def fwd(self, hidden_states):
            out = orig(self, hidden_states)
            _ROUTE_LOG.append((self, out[0].detach().clone(), out[2].detach().clone()))
            return out

        cls.forward = fwd

    wrap(m2.DeepseekV2TopkRouter)
    wrap(m3.DeepseekV3TopkRouter)

    # moe_layer_freq (module docstring, "Other notes"): after HF's own layer constructor, replace
    # the MoE block by a dense MLP of width intermediate_size where the remote-code rule says dense.
    def dense_where_remote_code_says(layer_cls, moe_cls, mlp_cls):
        orig = layer_cls.__init__

        def init(self, config, layer_idx):
            orig(self, config, layer_idx)
            rule = dict(n_routed_experts=config.n_routed_experts,
                        first_k_dense_replace=config.first_k_dense_replace,
                        moe_layer_freq=getattr(config, "moe_layer_freq", 1))
            hf_moe = isinstance(self.mlp, moe_cls)
            if rule["moe_layer_freq"] == 1:
                assert hf_moe == is_moe_layer(rule, layer_idx), "HF layer rule changed"
            if hf_moe and not is_moe_layer(rule, layer_idx):
                self.mlp = mlp_cls(config)  # intermediate_size defaults to config.intermediate_size
            assert isinstance(self.mlp, moe_cls) == is_moe_layer(rule, layer_idx), (layer_idx, rule)

        layer_cls.__init__ = init

    dense_where_remote_code_says(m2.DeepseekV2DecoderLayer, m2.DeepseekV2Moe, m2.DeepseekV2MLP)
    dense_where_remote_code_says(m3.DeepseekV3DecoderLayer, m3.DeepseekV3MoE, m3.DeepseekV3MLP)


def hf_state_dict(cfg_json, fp32):
    """Map stored (dequantized) tensors to the HF module names: fuse experts, drop MTP + scales."""
    L = cfg_json["num_hidden_layers"]
    sd = {}
    experts = {}
    for n, t in fp32.items():
        parts = n.split(".")
        if n.startswith("model.layers.") and int(parts[2]) >= L:
            continue  # MTP: HF (and the engine) skip it
        if ".mlp.experts." in n:
            i, j, proj = int(parts[2]), int(parts[5]), parts[6]
            experts.setdefault(i, {}).setdefault(j, {})[proj] = t
            continue
        sd[n] = t
    for i, ex in experts.items():
        E = len(ex)
        sd[f"model.layers.{i}.mlp.experts.gate_up_proj"] = torch.stack(
            [torch.cat([ex[j]["gate_proj"], ex[j]["up_proj"]], 0) for j in range(E)])
        sd[f"model.layers.{i}.mlp.experts.down_proj"] = torch.stack([ex[j]["down_proj"] for j in range(E)])
    return sd


def build_hf_model(outdir, cfg_json, fp32):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(outdir)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config  # we dequantize ourselves (weight-only, spec 2.1)
    # sanity: HF parsed our rope spelling as intended
    rp = cfg.rope_parameters
    y = cfg_json.get("rope_scaling") or cfg_json["rope_parameters"]
    assert rp["rope_type"] == "yarn" and rp["factor"] == y["factor"] and rp["rope_theta"] == cfg_json[
        "rope_theta"] and rp["original_max_position_embeddings"] == y["original_max_position_embeddings"] and \
        rp["mscale_all_dim"] == y["mscale_all_dim"], rp
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation="eager")
    model.load_state_dict(hf_state_dict(cfg_json, fp32), strict=True)
    model.eval()
    patch_model(model, cfg_json)
    return model


def crosscheck_from_pretrained(outdir, model):
    """HF's own loader must read our files (names, sharding) into the same parameters."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    m2 = AutoModelForCausalLM.from_pretrained(outdir, dtype=torch.float32, attn_implementation="eager")
    a, b = model.state_dict(), m2.state_dict()
    assert set(a) == set(b), set(a) ^ set(b)
    for k in a:
        assert torch.equal(a[k].float(), b[k].float()), f"from_pretrained differs on {k}"


def route_margin(cfg_json):
    """Smallest selection gap over all routed tokens/layers of the last forward (in score units):
    min over (K-th minus (K+1)-th choice score after group masking, TG-th minus (TG+1)-th group
    score). inf when there is no MoE layer / nothing to choose."""
    K, E = cfg_json["num_experts_per_tok"], cfg_json["n_routed_experts"]
    G, TG = cfg_json["n_group"], cfg_json["topk_group"]
    grouped = cfg_json["topk_method"] in ("group_limited_greedy", "noaux_tc") and G > 1
    best = float("inf")
    for mod, logits, _ in _ROUTE_LOG:
        if cfg_json["scoring_func"] == "softmax":
            c = logits.double().softmax(-1)
        else:
            c = logits.double().sigmoid() + mod.e_score_correction_bias.double()
        if grouped:
            g = c.view(-1, G, E // G)
            if cfg_json["topk_method"] == "group_limited_greedy":
                gs = g.max(-1).values
            else:
                gs = g.topk(2, dim=-1).values.sum(-1)
            gs_sorted = gs.sort(-1, descending=True).values
            if TG < G:
                best = min(best, float((gs_sorted[:, TG - 1] - gs_sorted[:, TG]).min()))
            keep = torch.zeros_like(gs, dtype=torch.bool).scatter_(1, gs.topk(TG, -1).indices, True)
            c = g.masked_fill(~keep.unsqueeze(-1), float("-inf")).reshape(-1, E)
        cs = c.sort(-1, descending=True).values
        if K < E:
            gap = cs[:, K - 1] - cs[:, K]
            best = min(best, float(gap.min()))
    return best


def dump_golden(golden):
    """golden.json with one line per case."""
    head = {k: v for k, v in golden.items() if k != "cases"}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()] + ['  "cases": [']
    cases = [f"    {json.dumps(c)}" for c in golden["cases"]]
    lines += [",\n".join(cases), "  ]", "}", ""]
    return "\n".join(lines)


def route_stats(cfg_json):
    """Non-degeneracy of routing for the longest case: distinct experts, effect of bias/groups."""
    K, E = cfg_json["num_experts_per_tok"], cfg_json["n_routed_experts"]
    G, TG = cfg_json["n_group"], cfg_json["topk_group"]
    out = []
    for mod, logits, idx in _ROUTE_LOG:
        T = idx.shape[0]
        sets = [frozenset(r.tolist()) for r in idx]
        st = dict(tokens=T, distinct_experts=len(set().union(*sets)), distinct_sets=len(set(sets)))
        if cfg_json["scoring_func"] == "sigmoid":
            sc = logits.sigmoid()
            nob = torch.topk(sc, K, dim=-1)[1]  # plain top-K, no bias, no groups
            st["bias_or_group_changes_selection"] = sum(
                frozenset(nob[t].tolist()) != sets[t] for t in range(T))
            bias = mod.e_score_correction_bias
            c = sc + bias
            grp = torch.topk(c, K, dim=-1)[1]  # biased top-K without group limit
            st["group_limit_changes_selection"] = sum(frozenset(grp[t].tolist()) != sets[t] for t in range(T))
            st["bias_changes_selection"] = sum(
                frozenset(grp[t].tolist()) != frozenset(nob[t].tolist()) for t in range(T))
        elif cfg_json["topk_method"] == "group_limited_greedy":
            plain = torch.topk(logits.softmax(-1), K, dim=-1)[1]
            st["group_limit_changes_selection"] = sum(
                frozenset(plain[t].tolist()) != sets[t] for t in range(T))
        out.append(st)
    return out


# ----------------------------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------------------------
def write_long_golden(model, spec, outdir, rng):
    """long_golden.json + long_logits.npy: one sequence past original_max_position_embeddings and the
    logits of its last few positions only (the file stays small)."""
    lg = spec["long_golden"]
    n, last = lg["n_tokens"], lg["last"]
    assert n > spec["yarn"]["original_max_position_embeddings"]
    tokens = rng.integers(0, spec["vocab_size"], size=n).tolist()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([tokens]), use_cache=False).logits[0]
    arr = np.ascontiguousarray(logits[n - last:].float().numpy(), dtype=np.float32)
    assert np.isfinite(arr).all()
    np.save(os.path.join(outdir, "long_logits.npy"), arr)
    with open(os.path.join(outdir, "long_golden.json"), "w") as f:
        json.dump({"generator": GENERATOR, "tokens": tokens, "first_position": n - last,
                   "logits": "long_logits.npy"}, f)
        f.write("\n")


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def generate(name, spec, outroot):
    import transformers

    outdir = os.path.join(outroot, name)
    if os.path.isdir(outdir):
        shutil.rmtree(outdir)
    os.makedirs(outdir)
    cfg_json = make_config_json(spec)
    with open(os.path.join(outdir, "config.json"), "w") as f:
        json.dump(cfg_json, f, indent=2)
        f.write("\n")
    wb = WeightBuilder(spec).build()
    write_weights(outdir, spec, wb.stored)

    model = build_hf_model(outdir, cfg_json, wb.fp32)
    if spec["storage"] != "fp8":
        crosscheck_from_pretrained(outdir, model)

    rng = np.random.default_rng(spec["seed"] + 7)
    cases = []
    stats = None
    for k, n in enumerate(SEQ_LENS):
        # Among CANDIDATES random sequences keep the one whose routing decisions are least
        # tie-prone (largest minimum top-k / group gap), so an engine with bf16 activations does
        # not flip expert choices against the fp32 golden.
        best = None
        for _ in range(CANDIDATES):
            toks = rng.integers(0, spec["vocab_size"], size=n).tolist()
            _ROUTE_LOG.clear()
            with torch.no_grad():
                lg = model(input_ids=torch.tensor([toks]), use_cache=False).logits[0]
            mg = route_margin(cfg_json)
            if best is None or mg > best[0]:
                best = (mg, toks, lg, list(_ROUTE_LOG))
        margin, tokens, logits, log = best
        _ROUTE_LOG[:] = log
        arr = np.ascontiguousarray(logits.float().numpy(), dtype=np.float32)
        assert arr.shape == (n, spec["vocab_size"]) and np.isfinite(arr).all()
        fn = f"logits_{k}.npy"
        np.save(os.path.join(outdir, fn), arr)
        # (null without a MoE layer: JSON has no infinity)
        cases.append({"tokens": tokens, "logits": fn,
                      "min_route_margin": float("%.3g" % margin) if math.isfinite(margin) else None})
        if n == max(SEQ_LENS):
            stats = route_stats(cfg_json)
            std = float(arr.std())
            per_tok_argmax = len(set(arr.argmax(-1).tolist()))
    golden = {"generator": GENERATOR, "transformers": transformers.__version__, "torch": torch.__version__,
              "cases": cases}
    with open(os.path.join(outdir, "golden.json"), "w") as f:
        f.write(dump_golden(golden))
    if "long_golden" in spec:
        write_long_golden(model, spec, outdir, rng)

    # non-degeneracy checks
    assert 0.3 < std < 30, f"{name}: logits std {std}"
    assert per_tok_argmax > 10, f"{name}: argmax too uniform ({per_tok_argmax})"
    K = spec["num_experts_per_tok"]
    for st in stats:
        assert st["distinct_experts"] >= min(spec["n_routed_experts"], 2 * K), (name, st)
        assert st["distinct_sets"] > 10, (name, st)
        if spec["topk_method"] != "greedy":
            assert st["group_limit_changes_selection"] > 0, (name, st)
        if spec["topk_method"] == "noaux_tc":
            assert st["bias_changes_selection"] > 0, (name, st)
    size = dir_bytes(outdir)
    assert size <= MAX_DIR_BYTES, f"{name}: {size} bytes > 2 MB"
    print(f"[{name}] {size} bytes; logits std {std:.3f}; distinct argmax over 70 tokens {per_tok_argmax}")
    for li, st in enumerate(stats):
        print(f"[{name}]   MoE layer #{li}: {st}")
    return size


# ----------------------------------------------------------------------------------------------
# --self-check: independent float64 numpy reference written from the spec, reading the files
# ----------------------------------------------------------------------------------------------
_ST_DTYPES = {"BF16": ml_dtypes.bfloat16, "F16": np.float16, "F32": np.float32,
              "F8_E4M3": ml_dtypes.float8_e4m3fn}


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (hlen,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = _ST_DTYPES[info["dtype"]]
        out[name] = np.frombuffer(buf[base + a:base + b], dtype=dt).reshape(info["shape"])
    return out


def load_dir_numpy(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    raw = {}
    if os.path.exists(idx):
        with open(idx) as f:
            wm = json.load(f)["weight_map"]
        for fn in sorted(set(wm.values())):
            part = read_safetensors(os.path.join(d, fn))
            for n, v in part.items():
                assert wm[n] == fn
                raw[n] = v
        assert set(raw) == set(wm)
    else:
        raw = read_safetensors(os.path.join(d, "model.safetensors"))
    W = {}
    for n, v in raw.items():
        if n.endswith("_scale_inv"):
            continue
        v = v.astype(np.float64)
        if raw[n].dtype == ml_dtypes.float8_e4m3fn:
            s = raw[n + "_scale_inv"].astype(np.float64)
            r, c = v.shape
            assert s.shape == (-(-r // 128), -(-c // 128)), (n, s.shape)
            v = v * np.kron(s, np.ones((128, 128)))[:r, :c]
        W[n] = v
    return W


def np_rms(x, w, eps):
    return w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))


def np_silu(x):
    return x / (1.0 + np.exp(-x))


def np_forward(cfg, W, tokens):
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dn, dr, dv, dc = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"], cfg["kv_lora_rank"]
    eps = cfg["rms_norm_eps"]
    rp = cfg.get("rope_scaling") or cfg.get("rope_parameters")
    rtype = rp.get("type") or rp.get("rope_type")
    assert rtype == "yarn"
    theta_base = cfg.get("rope_theta") or rp["rope_theta"]
    inv = yarn_inv_freq_spec(dr, theta_base, rp["factor"], rp["original_max_position_embeddings"],
                             rp.get("beta_fast", 32), rp.get("beta_slow", 1))
    scale = (dn + dr) ** -0.5 * mscale_sq(rp["factor"], rp.get("mscale_all_dim", 0) or 0)
    T = len(tokens)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(x):  # x [..., T, dr] adjacent pairs (2i, 2i+1)
        xr, xi = x[..., 0::2], x[..., 1::2]
        y = np.empty_like(x)
        y[..., 0::2] = xr * cos - xi * sin
        y[..., 1::2] = xr * sin + xi * cos
        return y

    def mlp(p, x):
        return (np_silu(x @ W[p + ".gate_proj.weight"].T) * (x @ W[p + ".up_proj.weight"].T)) @ W[
            p + ".down_proj.weight"].T

    routes = []
    h = W["model.embed_tokens.weight"][np.asarray(tokens)]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        a = p + ".self_attn"
        x = np_rms(h, W[p + ".input_layernorm.weight"], eps)
        if cfg["q_lora_rank"] is None:
            q = x @ W[a + ".q_proj.weight"].T
        else:
            q = np_rms(x @ W[a + ".q_a_proj.weight"].T, W[a + ".q_a_layernorm.weight"], eps) @ W[
                a + ".q_b_proj.weight"].T
        q = q.reshape(T, H, dn + dr).transpose(1, 0, 2)  # [H, T, dqk]
        kv = x @ W[a + ".kv_a_proj_with_mqa.weight"].T
        c = np_rms(kv[:, :dc], W[a + ".kv_a_layernorm.weight"], eps)
        kpe = rope(kv[:, dc:])  # [T, dr], shared by heads, not normalised
        qn, qp = q[..., :dn], rope(q[..., dn:])
        kvb = W[a + ".kv_b_proj.weight"].reshape(H, dn + dv, dc)
        kn = np.einsum("hjc,tc->htj", kvb[:, :dn], c)
        vv = np.einsum("hjc,tc->htj", kvb[:, dn:], c)
        s = (np.einsum("hqd,hkd->hqk", qn, kn) + np.einsum("hqd,kd->hqk", qp, kpe)) * scale
        s = s + np.triu(np.full((T, T), -np.inf), 1)
        s = np.exp(s - s.max(-1, keepdims=True))
        pr = s / s.sum(-1, keepdims=True)
        o = np.einsum("hqk,hkd->qhd", pr, vv).reshape(T, H * dv)
        h = h + o @ W[a + ".o_proj.weight"].T
        x = np_rms(h, W[p + ".post_attention_layernorm.weight"], eps)
        if not is_moe_layer(cfg, i):
            h = h + mlp(p + ".mlp", x)
            continue
        E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
        G, TG = cfg["n_group"], cfg["topk_group"]
        logits = x @ W[p + ".mlp.gate.weight"].T
        if cfg["scoring_func"] == "softmax":
            e = np.exp(logits - logits.max(-1, keepdims=True))
            sc = e / e.sum(-1, keepdims=True)
        else:
            sc = 1.0 / (1.0 + np.exp(-logits))
        bias_name = p + ".mlp.gate.e_score_correction_bias"
        choice = sc + W[bias_name] if bias_name in W else sc.copy()
        y = np.zeros_like(x)
        for t in range(T):
            ch = choice[t].copy()
            if cfg["topk_method"] in ("group_limited_greedy", "noaux_tc") and G > 1:
                g = ch.reshape(G, E // G)
                gs = g.max(-1) if cfg["topk_method"] == "group_limited_greedy" else np.sort(g, -1)[:, -2:].sum(-1)
                keep = np.argsort(-gs, kind="stable")[:TG]
                m = np.full(G, True)
                m[keep] = False
                g = g.copy()
                g[m] = -np.inf
                ch = g.reshape(E)
            idx = np.argsort(-ch, kind="stable")[:K]
            srt = np.sort(-ch)
            margin = srt[K - 1] - srt[K] if K < E else np.inf  # selection robustness
            w = sc[t, idx]
            if cfg["norm_topk_prob"] and cfg["scoring_func"] == "sigmoid":
                w = w / w.sum()
            w = w * cfg["routed_scaling_factor"]
            for wk, j in zip(w, idx):
                y[t] += wk * mlp(p + f".mlp.experts.{j}", x[t:t + 1])[0]
            routes.append((i, t, tuple(sorted(idx.tolist())), -margin))
        h = h + y + mlp(p + ".mlp.shared_experts", x)
    h = np_rms(h, W["model.norm.weight"], eps)
    return h @ W["lm_head.weight"].T, routes


def expected_main_tensors(cfg):
    """Tensor names (non-MTP, without FP8 scales) that config.json implies, written from the spec
    with the remote-code moe_layer_freq rule, independently of WeightBuilder."""
    names = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        names |= {p + "input_layernorm.weight", p + "post_attention_layernorm.weight"}
        a = p + "self_attn."
        attn = ["q_proj"] if cfg["q_lora_rank"] is None else ["q_a_proj", "q_a_layernorm", "q_b_proj"]
        attn += ["kv_a_proj_with_mqa", "kv_a_layernorm", "kv_b_proj", "o_proj"]
        names |= {a + t + ".weight" for t in attn}
        proj = ("gate_proj", "up_proj", "down_proj")
        if not is_moe_layer(cfg, i):
            names |= {f"{p}mlp.{t}.weight" for t in proj}
            continue
        names.add(p + "mlp.gate.weight")
        if cfg["topk_method"] == "noaux_tc":
            names.add(p + "mlp.gate.e_score_correction_bias")
        names |= {f"{p}mlp.experts.{j}.{t}.weight" for j in range(cfg["n_routed_experts"]) for t in proj}
        if cfg.get("n_shared_experts"):
            names |= {f"{p}mlp.shared_experts.{t}.weight" for t in proj}
    return names


def self_check(outroot, names):
    ok = True
    for name in names:
        d = os.path.join(outroot, name)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(d, "golden.json")) as f:
            golden = json.load(f)
        W = load_dir_numpy(d)
        L = cfg["num_hidden_layers"]
        mtp = [n for n in W if n.startswith(f"model.layers.{L}.")]
        # The files hold exactly the tensors the config implies (moe_layer_freq rule included).
        main = {n for n in W if not (n.startswith("model.layers.") and int(n.split(".")[2]) >= L)}
        want = expected_main_tensors(cfg)
        kinds = "".join("M" if is_moe_layer(cfg, i) else "D" for i in range(L))
        good = main == want
        ok &= good
        print(f"[self-check {name}] layers {kinds} (D dense, M MoE; moe_layer_freq "
              f"{cfg.get('moe_layer_freq', 1)}): {len(main)} main tensors "
              f"{'match the config' if good else 'MISMATCH: ' + str(sorted(main ^ want)[:8])}")
        for case in golden["cases"]:
            ref = np.load(os.path.join(d, case["logits"]))
            assert ref.dtype == np.float32 and ref.flags.c_contiguous
            got, routes = np_forward(cfg, W, case["tokens"])
            err = float(np.abs(got - ref).max())
            rel = err / float(np.abs(ref).max())
            min_margin = min((r[3] for r in routes), default=float("inf"))
            good = rel < 1e-4
            ok &= good
            print(f"[self-check {name}] T={len(case['tokens']):3d} max|np64-golden|={err:.3e} "
                  f"(rel {rel:.2e}) min routing margin {min_margin:.2e} "
                  f"distinct expert sets {len(set(r[2] for r in routes))} MTP tensors skipped {len(mtp)} "
                  f"{'OK' if good else 'MISMATCH'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/data")
    ap.add_argument("--only", nargs="*", help="subset of models")
    ap.add_argument("--self-check", action="store_true", help="also run the independent numpy reference")
    ap.add_argument("--self-check-only", action="store_true", help="only check existing files")
    args = ap.parse_args()
    names = args.only or list(MODELS)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if not args.self_check_only:
        install_patches()
        os.makedirs(args.out, exist_ok=True)
        total = 0
        for name in names:
            total += generate(name, MODELS[name], args.out)
        print(f"total {total} bytes")
    if args.self_check or args.self_check_only:
        if not self_check(args.out, names):
            sys.exit(1)


if __name__ == "__main__":
    main()
