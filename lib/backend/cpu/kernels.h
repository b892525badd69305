// kernels.h: the CPU compute kernels, one table per instruction set (scalar,
// AVX2+FMA, AVX-512 with BF16 dot products), chosen at run time from what the CPU
// supports. All math is float32 on activations; weights are read in place in their
// file dtype (F32, F16, BF16, F8_E4M3 with 128x128 block scales) and never copied.
#pragma once

#include <cstdint>

#include "backend/matrix.h"

namespace mola::cpu {

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
};

// The best kernel table for this CPU. MOLA_CPU_ISA=scalar|avx2|avx512 in the
// environment caps the choice (for tests and benchmarks).
const Kernels& kernels();

// Every table this CPU can run, best last (for tests that compare them).
int available_kernels(const Kernels** out, int capacity);

// Per-ISA tables, defined in kernels_<isa>.cpp; nullptr where not compiled.
const Kernels* kernels_scalar();
const Kernels* kernels_avx2();
const Kernels* kernels_avx512();

}  // namespace mola::cpu
