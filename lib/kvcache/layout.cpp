// layout.cpp: sizes and offsets of the paged latent cache's blocks (see layout.h).
#include "kvcache/layout.h"

namespace mola {

namespace {

size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

size_t latent_size(KvDType t) { return t == KvDType::F32 ? 4 : t == KvDType::BF16 ? 2 : 1; }
size_t rope_size(KvDType t) { return t == KvDType::F32 ? 4 : 2; }
size_t scale_size(KvDType t) { return t == KvDType::FP8_E4M3 ? sizeof(float) : 0; }

}  // namespace

const char* kv_dtype_name(KvDType t) {
    switch (t) {
        case KvDType::F32: return "f32";
        case KvDType::BF16: return "bf16";
        case KvDType::FP8_E4M3: return "fp8_e4m3";
    }
    return "?";
}

uint64_t kv_bytes_per_token(KvDType t, int64_t n_layers, int64_t d_c, int64_t d_r) {
    return uint64_t(n_layers) * (uint64_t(d_c) * latent_size(t) + uint64_t(d_r) * rope_size(t) + scale_size(t));
}

KvLayout make_kv_layout(KvDType dtype, int64_t n_layers, int64_t d_c, int64_t d_r, int64_t block_tokens) {
    KvLayout L;
    L.dtype = dtype;
    L.n_layers = n_layers;
    L.d_c = d_c;
    L.d_r = d_r;
    L.block_tokens = block_tokens;
    while ((int64_t(1) << L.block_shift) < block_tokens) ++L.block_shift;
    L.latent_type = dtype == KvDType::F32 ? DType::F32 : dtype == KvDType::BF16 ? DType::BF16 : DType::F8_E4M3;
    L.rope_type = dtype == KvDType::F32 ? DType::F32 : DType::BF16;
    L.latent_row_bytes = size_t(d_c) * latent_size(dtype);
    L.rope_row_bytes = size_t(d_r) * rope_size(dtype);
    const size_t bt = size_t(block_tokens);
    L.rope_offset = round64(bt * L.latent_row_bytes);
    L.scale_offset = L.rope_offset + round64(bt * L.rope_row_bytes);
    L.layer_bytes = L.scale_offset + round64(bt * scale_size(dtype));
    L.block_bytes = size_t(n_layers) * L.layer_bytes;
    L.bytes_per_token = kv_bytes_per_token(dtype, n_layers, d_c, d_r);
    return L;
}

}  // namespace mola
