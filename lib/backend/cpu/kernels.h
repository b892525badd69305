// kernels.h: the CPU compute kernels, one table per instruction set (scalar,
// AVX2+FMA, AVX-512 with BF16 dot products), chosen at run time from what the CPU
// supports. All math is float32 on activations; weights are read in place in their
// file dtype (F32, F16, BF16, F8_E4M3 with 128x128 block scales) and never copied.
#pragma once

#include <cstdint>

#include "backend/matrix.h"

namespace mola::cpu {

// Absorbed MLA attention of query-head rows over the keys [t_begin, t_end) of a
// BF16 or FP8 latent cache with BF16 rope keys (Kernels::attend_bf16). Writes, per row, the running max of
// its scaled scores, the sum of exp(score - max) and the latent rows weighted by
// those exps ([rows][2 + d_c] floats), as the fp32 path does. A row sees the keys
// up to last_key[row] (causal); a row that sees none gets max -inf, sum 0 and zeros.
struct Bf16Attention {
    const float* q_lat;       // [rows][d_c]: queries with W_UK absorbed
    const float* q_rope;      // [rows][d_r]
    const int32_t* last_key;  // [rows]
    int64_t rows, d_c, d_r;   // d_c a multiple of 16, d_r even
    float scale;
    const void* const* lat_rows;       // [t_end - t_begin]: each key's d_c latents (bf16, or e4m3 bytes)
    const float* const* lat_scales;    // [t_end - t_begin]: each e4m3 key's scale; nullptr for bf16
    const uint16_t* const* rope_rows;  // [t_end - t_begin]: each key's d_r bf16 rope key
    int64_t t_begin, t_end;
    float* part;  // [rows][2 + d_c]
    void* work;   // bf16_attention_work_bytes(d_c, d_r) bytes, 64-byte aligned
};

// Bytes of Bf16Attention::work: the transposed queries, a tile's keys as floats, a tile's
// scores and weights, its re-packed latents and 16 rows of weighted sums.
inline int64_t bf16_attention_work_bytes(int64_t d_c, int64_t d_r) {
    return (d_c + d_r) * 64 + 64 * (d_c + d_r) * 4 + 64 * 64 + 32 * 64 + d_c * 32 * 4 + 16 * d_c * 4;
}

struct Kernels {
    const char* isa;  // "scalar", "avx2", "avx512", "avx512-bf16"

    // y[i][r] = sum_c x[i][c] * W[r][c] for i < n, r < W.rows (y is overwritten).
    // x has W.cols floats per row, y has W.rows floats per row. Runs on n_threads
    // OpenMP threads (the caller is not inside a parallel region).
    void (*linear)(const Matrix& W, const float* x, int64_t n, float* y, int n_threads);

    // y[i][c] = sum_r x[i][r] * W[r][c] for i < n, c < W.cols: the product with the
    // transposed matrix (used to absorb W_UK into queries). x has W.rows floats per
    // row, y has W.cols floats per row. Single-threaded: callers parallelize.
    void (*linear_t)(const Matrix& W, const float* x, int64_t n, float* y);

    // out[r][c] = float value of W rows [r0, r0 + n_rows), scales applied.
    void (*dequant_rows)(const Matrix& W, int64_t r0, int64_t n_rows, float* out);

    float (*dot)(const float* a, const float* b, int64_t n);
    // y += a * x
    void (*axpy)(float a, const float* x, float* y, int64_t n);

    // Rows of the KV cache (kvcache/layout.h): n values stored as t, one of F32,
    // BF16 or F8_E4M3 (e4m3 values unscaled: the caller applies the row's scale),
    // converted in registers. dot_row = x . row; axpy_row: y += a * row; load_row:
    // out = row as floats. For F32 rows dot_row and axpy_row are dot and axpy.
    float (*dot_row)(const float* x, const void* row, DType t, int64_t n);
    void (*axpy_row)(float a, const void* row, DType t, float* y, int64_t n);
    void (*load_row)(const void* row, DType t, float* out, int64_t n);

    // Absorbed attention over BF16 or FP8 cache rows, the value products with bf16
    // dot products (see Bf16Attention); nullptr where the CPU has no AVX512_BF16.
    void (*attend_bf16)(const Bf16Attention& a);
};

// The best kernel table for this CPU. MOLA_CPU_ISA=scalar|avx2|avx512|avx512-bf16 in the
// environment caps the choice (for tests and benchmarks).
const Kernels& kernels();

// Every table this CPU can run, best last (for tests that compare them).
int available_kernels(const Kernels** out, int capacity);

// Per-ISA tables, defined in kernels_<isa>.cpp; nullptr where not compiled.
const Kernels* kernels_scalar();
const Kernels* kernels_avx2();
const Kernels* kernels_avx512();
const Kernels* kernels_avx512_bf16();

}  // namespace mola::cpu
