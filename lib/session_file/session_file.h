// session_file.h: saved sessions: the file format that stores a session (its
// tokens, last logits and latent KV-cache rows) and the atomic writer and
// validating reader of it. The functions are declared in engine/model.h, as
// friends of Session; this header documents the format.
//
// All integers little-endian. A file is
//
//   "MOLASESS" | u32 version (2) | u32 flags
//   section*   each: u32 tag | u64 payload length | payload
//   "CRC " section: u32 CRC-32 (zlib) of every byte before this section
//
// with the sections, in this order:
//
//   HEAD  char fingerprint[16] (Model::fingerprint), u32 cache dtype (KvDType),
//         u32 n_layers, u32 d_c, u32 d_r, u32 n_vocab, u32 has_logits,
//         u64 n_ctx, u64 n_tokens
//   TOKS  i32 tokens[n_tokens]
//   LOGT  f32 logits[n_vocab] after the last token (empty when has_logits is 0)
//   KVCH  per layer, per token t < n_tokens: the latent row, the rope row and (FP8)
//         the f32 scale, in the cache dtype (only filled rows; independent of the
//         block size)
//   SAMP  empty, or the sampler saved with the session (version 2 and later):
//         u32 n_vocab, f32 temperature, i32 top_k, f32 top_p, f32 min_p,
//         f32 repeat_penalty, f32 presence_penalty, f32 frequency_penalty,
//         i32 penalty_window, u64 seed, u64 rng_state (the splitmix64 state),
//         u32 n_bias, then n_bias x (i32 token, f32 bias)
//   META  (version 2 and later) the session's application metadata, opaque bytes
//         of at most MOLA_SESSION_METADATA_MAX_BYTES
//
// Version 1 files (without META) still load, with empty metadata.
// flags: bit 0 (kSessionSlid) = the context slid (Session::slide): the rows are kept
// exactly as they are (re-rotated to their positions), but they are not what a
// fresh prefill of the tokens would give, so the loaded session is marked so too.
// Other bits are 0; readers before this flag ignore the word.
#pragma once

#include <cstdint>

namespace mola {

constexpr uint32_t kSessionFileVersion = 2;
constexpr uint32_t kOldestSessionFileVersion = 1;
constexpr uint32_t kSessionSlid = 1;

}  // namespace mola
