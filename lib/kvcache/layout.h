// layout.h: the byte layout of the paged latent KV cache: the cache dtypes, and
// where token t of layer l lives inside a block of block_tokens tokens.
//
// A block holds block_tokens consecutive tokens of one session for every layer:
//
//   block = layer 0 | layer 1 | ... | layer L-1          (layer_bytes each)
//   layer = latent [block_tokens][d_c] | rope [block_tokens][d_r] | scale [block_tokens]
//
// Each section starts on a 64-byte boundary. The latent rows hold RMSNorm(c_kv),
// the rope rows RoPE(k_pe) (spec §3.6), stored as:
//
//   F32        latent F32,     rope F32,  no scales          (exact)
//   BF16       latent BF16,    rope BF16, no scales          (the default)
//   FP8_E4M3   latent F8_E4M3, rope BF16, one float per token: the latent's absmax / 448
//
// FP8 keeps the 64 rope values in BF16 (as FlashMLA's FP8 cache does): they carry the
// position, are a tenth of the bytes, and an e4m3 rope key would cost accuracy for
// little memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/dtype.h"

namespace mola {

enum class KvDType : uint8_t { F32, BF16, FP8_E4M3 };

// "f32", "bf16", "fp8_e4m3".
const char* kv_dtype_name(KvDType t);

struct KvLayout {
    KvDType dtype = KvDType::BF16;
    int64_t n_layers = 0, d_c = 0, d_r = 0;
    int64_t block_tokens = 0;  // a power of two
    int block_shift = 0;       // log2(block_tokens)
    DType latent_type = DType::BF16, rope_type = DType::BF16;  // the stored element types
    size_t latent_row_bytes = 0, rope_row_bytes = 0;
    size_t rope_offset = 0, scale_offset = 0;  // of the sections, from a layer's start
    size_t layer_bytes = 0, block_bytes = 0;
    uint64_t bytes_per_token = 0;  // all layers, padding excluded

    bool has_scales() const { return dtype == KvDType::FP8_E4M3; }
    // The start of layer's part of a block.
    uint8_t* layer_data(uint8_t* block, int64_t layer) const { return block + size_t(layer) * layer_bytes; }
    const uint8_t* layer_data(const uint8_t* block, int64_t layer) const {
        return block + size_t(layer) * layer_bytes;
    }
};

// The layout of a cache of n_layers x (d_c + d_r) values per token in blocks of
// block_tokens (a power of two) tokens.
KvLayout make_kv_layout(KvDType dtype, int64_t n_layers, int64_t d_c, int64_t d_r, int64_t block_tokens);

// Stored bytes per token over all layers for a dtype (padding excluded).
uint64_t kv_bytes_per_token(KvDType dtype, int64_t n_layers, int64_t d_c, int64_t d_r);

}  // namespace mola
