#!/usr/bin/env python3
"""Train mola's bundled default model: a tiny DeepSeek-V3-architecture model on Python source.

Architecture: transformers' DeepseekV3ForCausalLM (MLA with q/kv LoRA and a latent KV, one dense
layer then MoE layers with routed + shared experts, sigmoid routing with group-limited top-k and
the e_score_correction_bias, YaRN RoPE as in V3). The correction bias is trained with the
DeepSeek-V3 auxiliary-loss-free rule: after every optimizer step, for each MoE layer,
    bias_i += gamma * sign(mean_load - load_i)
where load_i is the number of tokens routed to expert i during the step.

Data: every /usr/lib/python3.11/**/*.py file (CPython standard library, present on any Debian 12
machine with python3.11; licensed under the PSF License Agreement, a permissive license), sorted by
path, decoded as UTF-8 with errors="replace", split by file into train / validation by a SHA-1
hash of the relative path (2% validation).

Tokenizer: byte-level BPE trained with `tokenizers`, using DeepSeek-V3's pre-tokenizer (the three
Split regexes + ByteLevel without regex) and DeepSeek special-token spellings.

Objective: next-token prediction on packed windows. Documents are cut at line boundaries into
chunks of at most --chunk-chars characters; each chunk is, with probability --fim-rate, turned
into PSM fill-in-the-middle form
    <｜fim▁begin｜>prefix<｜fim▁hole｜>suffix<｜fim▁end｜>middle
(split at two random character positions), then encoded as BOS + text + EOS.

Usage:
    python3 tools/train_default_model.py                       # train (110 min budget) into models/default-train/
    python3 tools/train_default_model.py --resume              # continue an interrupted run
    python3 tools/train_default_model.py --resume --max-minutes 0 --export models/default   # export only

--max-minutes is the total training-time budget of the run, accumulated across resumes; the
cosine learning-rate schedule runs on that time axis (so an interrupted run resumes on the same
schedule). See tools/default_model_recipe.md.
"""

import argparse
import glob
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DATA_ROOT = "/usr/lib/python3.11"

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
FIM_BEGIN = "<｜fim▁begin｜>"
FIM_HOLE = "<｜fim▁hole｜>"
FIM_END = "<｜fim▁end｜>"
SPECIALS = [BOS, EOS, "<｜▁pad▁｜>", FIM_HOLE, FIM_BEGIN, FIM_END, "<｜User｜>", "<｜Assistant｜>", "<|EOT|>"]

# DeepSeek-V3 tokenizer.json pre-tokenizer regexes (spec §8.1), after JSON decoding.
V3_SPLITS = [
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
]

MODEL_CONFIG = dict(
    hidden_size=256,
    intermediate_size=512,           # the dense (first) layer's MLP
    moe_intermediate_size=80,
    num_hidden_layers=5,
    first_k_dense_replace=1,
    num_attention_heads=4,
    num_key_value_heads=4,
    q_lora_rank=128,
    kv_lora_rank=64,
    qk_nope_head_dim=32,
    qk_rope_head_dim=16,
    v_head_dim=32,
    n_routed_experts=16,
    n_shared_experts=1,
    num_experts_per_tok=4,
    n_group=4,
    topk_group=2,
    norm_topk_prob=True,
    routed_scaling_factor=2.5,
    hidden_act="silu",
    rms_norm_eps=1e-6,
    initializer_range=0.02,
    tie_word_embeddings=False,
    max_position_embeddings=163840,  # = factor * original_max_position_embeddings, as in V3
    rope_theta=10000.0,
    rope_scaling=dict(type="yarn", rope_type="yarn", factor=40.0, original_max_position_embeddings=4096,
                      beta_fast=32, beta_slow=1, mscale=1.0, mscale_all_dim=1.0),
    rope_interleave=True,
    attention_bias=False,
    attention_dropout=0.0,
)
MAX_PARAMS = 8_000_000
MAX_EXPORT_BYTES = 16 * 1024 * 1024


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ----------------------------------------------------------------------------- data

def load_corpus(val_percent):
    paths = sorted(glob.glob(os.path.join(DATA_ROOT, "**", "*.py"), recursive=True))
    train, val = [], []
    for p in paths:
        rel = os.path.relpath(p, DATA_ROOT)
        with open(p, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        if not text.strip():
            continue
        h = int(hashlib.sha1(rel.encode()).hexdigest(), 16) % 100
        (val if h < val_percent else train).append((rel, text))
    return train, val


def chunk_document(text, max_chars):
    """Cut text at line boundaries into pieces of at most ~max_chars characters."""
    out, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        while len(line) > max_chars:  # pathological long line
            if cur:
                out.append("".join(cur)); cur, n = [], 0
            out.append(line[:max_chars]); line = line[max_chars:]
        if n + len(line) > max_chars and cur:
            out.append("".join(cur)); cur, n = [], 0
        cur.append(line); n += len(line)
    if cur:
        out.append("".join(cur))
    return [c for c in out if c.strip()]


def fim_transform(text, rng):
    """PSM fill-in-the-middle at two random character positions (DeepSeek-Coder style)."""
    a, b = sorted(rng.randint(0, len(text)) for _ in range(2))
    prefix, middle, suffix = text[:a], text[a:b], text[b:]
    return FIM_BEGIN + prefix + FIM_HOLE + suffix + FIM_END + middle


# ----------------------------------------------------------------------------- tokenizer

def train_tokenizer(train_docs, vocab_size, out_dir):
    from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, trainers, normalizers

    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.normalizer = normalizers.Sequence([])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r), behavior="isolated", invert=False) for r in V3_SPLITS]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator((t for _, t in train_docs), trainer=trainer)
    set_post_processor(tok)  # after training: the BOS id exists only once the vocabulary does
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    write_tokenizer_config(out_dir)
    return tok


def set_post_processor(tok):
    """BOS before each sequence (as DeepSeek-V3's tokenizer.json), so plain `tokenizers` and
    transformers' TokenizersBackend add BOS too; mola rebuilds it from add_bos_token (same result)."""
    from tokenizers import processors
    bos = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos)])


def write_tokenizer_config(out_dir):
    cfg = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "unk_token": None,
        "clean_up_tokenization_spaces": False,
        "legacy": True,
        "model_max_length": 16384,
        "tokenizer_class": "LlamaTokenizerFast",
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)


def encode_docs(tok, texts):
    bos, eos = tok.token_to_id(BOS), tok.token_to_id(EOS)
    encs = tok.encode_batch(texts, add_special_tokens=False)
    return [[bos] + e.ids + [eos] for e in encs]


def build_epoch_stream(tok, train_chunks, epoch, seed, fim_rate, seq_len):
    """Deterministic (seed, epoch) token stream cut into windows of seq_len + 1."""
    rng = random.Random(seed * 1000003 + epoch)
    order = list(range(len(train_chunks)))
    rng.shuffle(order)
    texts = []
    for i in order:
        t = train_chunks[i]
        texts.append(fim_transform(t, rng) if rng.random() < fim_rate else t)
    ids = np.fromiter((x for doc in encode_docs(tok, texts) for x in doc), dtype=np.int32)
    n = (len(ids) - 1) // seq_len
    # window k covers ids[k*seq_len : k*seq_len + seq_len + 1]
    win_order = np.random.default_rng(seed * 7919 + epoch).permutation(n)
    return ids, win_order


# ----------------------------------------------------------------------------- model

def make_config(vocab_size, tok):
    from transformers import DeepseekV3Config
    cfg = DeepseekV3Config(vocab_size=vocab_size, bos_token_id=tok.token_to_id(BOS),
                           eos_token_id=tok.token_to_id(EOS), pad_token_id=None, **MODEL_CONFIG)
    return cfg


def count_params(model):
    return sum(p.numel() for p in model.parameters())


class RouterLoadTracker:
    """Counts, per MoE router, how many tokens pick each expert (for the aux-loss-free bias update)."""

    def __init__(self, model):
        from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3TopkRouter
        self.routers = [m for m in model.modules() if isinstance(m, DeepseekV3TopkRouter)]
        self.counts = [torch.zeros(r.num_experts, dtype=torch.float64) for r in self.routers]
        self.enabled = True
        for i, r in enumerate(self.routers):
            r.register_forward_hook(self._hook(i))

    def _hook(self, i):
        def fn(module, inputs, output):
            if self.enabled and module.training:
                idx = output[2].detach().reshape(-1)
                self.counts[i] += torch.bincount(idx, minlength=module.num_experts).double()
        return fn

    @torch.no_grad()
    def update_bias(self, gamma):
        """DeepSeek-V3 aux-loss-free balancing; returns the mean max/mean load ratio."""
        ratios = []
        for r, c in zip(self.routers, self.counts):
            if c.sum() == 0:
                continue
            mean = c.mean()
            r.e_score_correction_bias += gamma * torch.sign(mean - c).float()
            ratios.append(float(c.max() / mean))
            c.zero_()
        return sum(ratios) / max(1, len(ratios))


# ----------------------------------------------------------------------------- eval

def build_val(tok, val_docs, max_tokens):
    """Whole validation documents (plain, BOS + text + EOS) until max_tokens; returns windows info."""
    seqs, nbytes = [], 0
    total = 0
    for _, text in val_docs:
        ids = encode_docs(tok, [text])[0]
        if total + len(ids) > max_tokens and seqs:
            break
        seqs.append(ids); total += len(ids); nbytes += len(text.encode("utf-8"))
    return seqs, nbytes


@torch.no_grad()
def evaluate(model, val_seqs, val_bytes, seq_len, bf16):
    """Bits per byte: summed nats of predicting every text token and EOS (context restarts every
    seq_len tokens within long documents), / ln 2 / UTF-8 bytes of the validation text."""
    model.eval()
    total_nats, ntok = 0.0, 0
    windows = []
    for ids in val_seqs:
        for s in range(0, len(ids) - 1, seq_len):
            windows.append(ids[s:s + seq_len + 1])
    windows.sort(key=len)
    bs = 16
    for i in range(0, len(windows), bs):
        group = windows[i:i + bs]
        L = max(len(w) for w in group)
        x = torch.zeros(len(group), L - 1, dtype=torch.long)
        y = torch.full((len(group), L - 1), -100, dtype=torch.long)
        for j, w in enumerate(group):
            t = torch.tensor(w)
            x[j, :len(w) - 1] = t[:-1]
            y[j, :len(w) - 1] = t[1:]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1),
                               ignore_index=-100, reduction="sum")
        total_nats += float(loss); ntok += int((y != -100).sum())
    model.train()
    return total_nats / math.log(2) / val_bytes, total_nats / max(1, ntok)


# ----------------------------------------------------------------------------- checkpoint / export

def save_checkpoint(path, model, opt, state):
    tmp = path + ".tmp"
    torch.save({
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "state": state,
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                "numpy": np.random.get_state()},
    }, tmp)
    os.replace(tmp, path)


def export(out_dir, model, cfg, tok_dir, training_info):
    from safetensors.torch import save_file
    import shutil
    os.makedirs(out_dir, exist_ok=True)
    sd = model.state_dict()
    tensors = {}
    for k, v in sd.items():
        v = v.detach()
        if k.endswith("mlp.experts.gate_up_proj"):
            base = k[:-len("gate_up_proj")]
            I = v.shape[1] // 2
            for e in range(v.shape[0]):
                tensors[f"{base}{e}.gate_proj.weight"] = v[e, :I].to(torch.bfloat16).contiguous()
                tensors[f"{base}{e}.up_proj.weight"] = v[e, I:].to(torch.bfloat16).contiguous()
        elif k.endswith("mlp.experts.down_proj"):
            base = k[:-len("down_proj")]
            for e in range(v.shape[0]):
                tensors[f"{base}{e}.down_proj.weight"] = v[e].to(torch.bfloat16).contiguous()
        elif k.endswith("e_score_correction_bias"):
            tensors[k] = v.float().contiguous()
        else:
            tensors[k] = v.to(torch.bfloat16).contiguous()
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(out_dir, "model.safetensors"), 0o644)  # save_file writes 0600
    c = cfg.to_dict()
    c["architectures"] = ["DeepseekV3ForCausalLM"]
    c["model_type"] = "deepseek_v3"
    c["torch_dtype"] = "bfloat16"
    c["dtype"] = "bfloat16"
    c["topk_method"] = "noaux_tc"
    c["scoring_func"] = "sigmoid"
    c["num_nextn_predict_layers"] = 0
    # V3-style key too, for readers that predate rope_parameters
    c["rope_scaling"] = dict(MODEL_CONFIG["rope_scaling"])
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
    set_post_processor(tok)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    shutil.copyfile(os.path.join(tok_dir, "tokenizer_config.json"), os.path.join(out_dir, "tokenizer_config.json"))
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(training_info, f, indent=2)
    size = os.path.getsize(os.path.join(out_dir, "model.safetensors"))
    assert size <= MAX_EXPORT_BYTES, f"export too large: {size} bytes"
    log(f"exported to {out_dir} (model.safetensors {size} bytes)")


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="models/default-train", help="work dir (checkpoints, tokenizer)")
    ap.add_argument("--resume", action="store_true", help="continue from WORK/ckpt.pt")
    ap.add_argument("--export", metavar="OUT_DIR", help="write a Hugging Face directory at the end")
    ap.add_argument("--max-minutes", type=float, default=110.0, help="total training-time budget (accumulated over resumes)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = no limit)")
    ap.add_argument("--ckpt-minutes", type=float, default=10.0)
    ap.add_argument("--eval-minutes", type=float, default=10.0)
    ap.add_argument("--val-tokens", type=int, default=40000, help="cap on validation tokens (whole files)")
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--chunk-chars", type=int, default=1500)
    ap.add_argument("--fim-rate", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--bias-gamma", type=float, default=1e-3, help="aux-loss-free bias update speed")
    ap.add_argument("--val-percent", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast on CPU")
    ap.add_argument("--log-every", type=int, default=10)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "ckpt.pt")
    tok_dir = os.path.join(args.work, "tokenizer")

    t0 = time.time()
    train_docs, val_docs = load_corpus(args.val_percent)
    log(f"corpus: {len(train_docs)} train files, {len(val_docs)} validation files from {DATA_ROOT}")

    from tokenizers import Tokenizer
    if os.path.exists(os.path.join(tok_dir, "tokenizer.json")):
        tok = Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
        log(f"tokenizer loaded from {tok_dir} ({tok.get_vocab_size()} tokens)")
    else:
        if args.resume:
            sys.exit("--resume but no tokenizer in work dir")
        tok = train_tokenizer(train_docs, args.vocab_size, tok_dir)
        log(f"tokenizer trained: {tok.get_vocab_size()} tokens ({time.time() - t0:.0f}s)")
    vocab = tok.get_vocab_size()

    train_chunks = [c for _, t in train_docs for c in chunk_document(t, args.chunk_chars)]
    val_seqs, val_bytes = build_val(tok, val_docs, args.val_tokens)
    log(f"{len(train_chunks)} train chunks; validation: {len(val_seqs)} files, "
        f"{sum(map(len, val_seqs))} tokens, {val_bytes} bytes")

    from transformers import DeepseekV3ForCausalLM
    cfg = make_config(vocab, tok)
    torch.manual_seed(args.seed)
    model = DeepseekV3ForCausalLM(cfg)
    model.config.use_cache = False
    nparams = count_params(model)
    log(f"model: {nparams} parameters")
    assert nparams <= MAX_PARAMS, f"{nparams} parameters > {MAX_PARAMS}"
    tracker = RouterLoadTracker(model)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() >= 2 and "mlp.gate.weight" not in n else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    state = {"step": 0, "epoch": 0, "pos": 0, "train_seconds": 0.0, "tokens": 0, "history": [],
             "args": vars(args)}
    if args.resume:
        if not os.path.exists(ckpt_path):
            sys.exit(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state.update(ck["state"])
        state["args"] = vars(args)
        torch.set_rng_state(ck["rng"]["torch"])
        random.setstate(ck["rng"]["python"])
        np.random.set_state(ck["rng"]["numpy"])
        log(f"resumed at step {state['step']} (epoch {state['epoch']}, "
            f"{state['train_seconds'] / 60:.1f} min trained)")
    model.train()

    budget = args.max_minutes * 60.0

    def lr_at(step, seconds):
        if step < args.warmup_steps:
            return args.lr * (step + 1) / args.warmup_steps
        prog = min(1.0, seconds / budget) if budget > 0 else 1.0
        if args.max_steps:
            prog = max(prog, min(1.0, step / args.max_steps))
        return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * prog)))

    ids, win_order = build_epoch_stream(tok, train_chunks, state["epoch"], args.seed, args.fim_rate, args.seq_len)
    log(f"epoch {state['epoch']}: {len(ids)} tokens, {len(win_order)} windows")
    B, T = args.batch_size, args.seq_len

    def next_batch():
        nonlocal ids, win_order
        if state["pos"] + B > len(win_order):
            state["epoch"] += 1; state["pos"] = 0
            ids, win_order = build_epoch_stream(tok, train_chunks, state["epoch"], args.seed, args.fim_rate, T)
            log(f"epoch {state['epoch']}: {len(ids)} tokens, {len(win_order)} windows")
        w = win_order[state["pos"]:state["pos"] + B]
        state["pos"] += B
        batch = np.stack([ids[k * T:k * T + T + 1] for k in w]).astype(np.int64)
        batch = torch.from_numpy(batch)
        return batch[:, :-1], batch[:, 1:]

    def do_eval():
        bpb, nats = evaluate(model, val_seqs, val_bytes, T, args.bf16)
        state["history"].append({"step": state["step"], "minutes": round(state["train_seconds"] / 60, 2),
                                 "val_bits_per_byte": round(bpb, 4), "val_nats_per_token": round(nats, 4)})
        log(f"step {state['step']}: validation {bpb:.4f} bits/byte ({nats:.4f} nats/token)")
        return bpb

    if not args.resume and state["step"] == 0:
        do_eval()

    last_ckpt = last_eval = time.time()
    seg_start = time.time(); seg_base = state["train_seconds"]
    loss_acc, n_acc, tstep = 0.0, 0, time.time()
    while True:
        state["train_seconds"] = seg_base + (time.time() - seg_start)
        if state["train_seconds"] >= budget or (args.max_steps and state["step"] >= args.max_steps):
            break
        x, y = next_batch()
        lr = lr_at(state["step"], state["train_seconds"])
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        imb = tracker.update_bias(args.bias_gamma)
        state["step"] += 1
        state["tokens"] += x.numel()
        loss_acc += loss.item(); n_acc += 1
        if state["step"] % args.log_every == 0:
            dt = (time.time() - tstep) / n_acc
            log(f"step {state['step']} loss {loss_acc / n_acc:.4f} lr {lr:.2e} gnorm {float(gn):.2f} "
                f"maxload/mean {imb:.2f} {dt:.2f}s/step {x.numel() / dt:.0f} tok/s "
                f"[{state['train_seconds'] / 60:.1f}/{args.max_minutes:.0f} min]")
            loss_acc, n_acc, tstep = 0.0, 0, time.time()
        now = time.time()
        if now - last_eval >= args.eval_minutes * 60:
            do_eval(); last_eval = time.time()
        if now - last_ckpt >= args.ckpt_minutes * 60:
            save_checkpoint(ckpt_path, model, opt, state); last_ckpt = time.time()
            log(f"checkpoint saved at step {state['step']}")

    state["train_seconds"] = seg_base + (time.time() - seg_start)
    if not state["history"] or state["history"][-1]["step"] != state["step"]:
        do_eval()
    save_checkpoint(ckpt_path, model, opt, state)
    log(f"checkpoint saved at step {state['step']} ({state['train_seconds'] / 60:.1f} min trained)")

    if args.export:
        biases = [r.e_score_correction_bias for r in tracker.routers]
        info = {
            "recipe": "tools/train_default_model.py (see tools/default_model_recipe.md)",
            "data": f"{DATA_ROOT}/**/*.py (CPython standard library, PSF License), "
                    f"{len(train_docs)} train / {len(val_docs)} validation files split by SHA-1 of path",
            "args": vars(args),
            "model_config": {k: v for k, v in MODEL_CONFIG.items()},
            "vocab_size": vocab,
            "parameters": nparams,
            "steps": state["step"],
            "epochs_started": state["epoch"] + 1,
            "train_tokens": state["tokens"],
            "train_minutes": round(state["train_seconds"] / 60, 2),
            "validation_bits_per_byte": state["history"][-1]["val_bits_per_byte"],
            "validation_nats_per_token": state["history"][-1]["val_nats_per_token"],
            "validation_files_tokens_bytes": [len(val_seqs), sum(map(len, val_seqs)), val_bytes],
            "e_score_correction_bias_abs_mean": [round(float(b.abs().mean()), 5) for b in biases],
            "history": state["history"],
            "torch": torch.__version__,
        }
        import transformers
        info["transformers"] = transformers.__version__
        export(args.export, model, cfg, tok_dir, info)


if __name__ == "__main__":
    main()
