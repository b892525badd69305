// kernels_scalar.cpp: the portable kernel table, plain C++ for any x86-64 (or any
// other CPU). Correct first; reasonably fast (each weight row is converted once per
// call into a small thread-local buffer, then reused for every token).
#include <omp.h>

#include <cstdlib>
#include <cstring>

#include "backend/cpu/kernels.h"

namespace mola::cpu {

namespace detail {  // kernels.cpp
[[noreturn]] void fail_unsupported_dtype(const char* op, DType t);
[[noreturn]] void fail_out_of_memory(size_t bytes);
}

namespace {

// Exact IEEE half -> float by bit manipulation.
inline float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0) {
        float f = float(mantissa) * 5.9604644775390625e-8f;  // m * 2^-24, exact
        std::memcpy(&bits, &f, 4);
        bits |= sign;
    } else if (exponent == 31) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline float bf16_bits_to_float(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// A grow-only, per-thread buffer: no allocation per call once warm.
struct Scratch {
    float* p = nullptr;
    size_t cap = 0;
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() { std::free(p); }
    float* get(size_t n) {
        if (n > cap) {
            std::free(p);
            p = static_cast<float*>(std::malloc(n * sizeof(float)));
            if (!p) {
                cap = 0;
                detail::fail_out_of_memory(n * sizeof(float));
            }
            cap = n;
        }
        return p;
    }
};
thread_local Scratch tl_row;

// out[c] = value of W[r][c0 + c] for c < count (r relative to the view).
void convert(const Matrix& W, int64_t r, int64_t c0, int64_t count, float* out) {
    const int64_t K = W.cols;
    switch (W.dtype) {
        case DType::F32: {
            const float* p = static_cast<const float*>(W.data) + r * K + c0;
            std::memcpy(out, p, size_t(count) * sizeof(float));
            return;
        }
        case DType::F16: {
            const uint16_t* p = static_cast<const uint16_t*>(W.data) + r * K + c0;
            for (int64_t c = 0; c < count; ++c) out[c] = half_to_float(p[c]);
            return;
        }
        case DType::BF16: {
            const uint16_t* p = static_cast<const uint16_t*>(W.data) + r * K + c0;
            for (int64_t c = 0; c < count; ++c) out[c] = bf16_bits_to_float(p[c]);
            return;
        }
        case DType::F8_E4M3: {
            const uint8_t* p = static_cast<const uint8_t*>(W.data) + r * K + c0;
            const float* table = f8e4m3_table();
            const float* srow = W.scale + ((W.row0 + r) / kFp8Block) * W.scale_cols;
            for (int64_t c = 0; c < count; ++c) out[c] = table[p[c]] * srow[(c0 + c) / kFp8Block];
            return;
        }
        default:
            detail::fail_unsupported_dtype("convert", W.dtype);
    }
}

float dot_f32(const float* a, const float* b, int64_t n) {
    // Eight independent partial sums: a fixed, vectorizable summation order.
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
    for (; i < n; ++i) s[i & 7] += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void check_dtype(const char* op, DType t) {
    if (t != DType::F32 && t != DType::F16 && t != DType::BF16 && t != DType::F8_E4M3)
        detail::fail_unsupported_dtype(op, t);
}

void linear(const Matrix& W, const float* x, int64_t n, float* y, int n_threads) {
    check_dtype("linear", W.dtype);
    const int64_t R = W.rows, K = W.cols;
    if (n <= 0 || R <= 0) return;
    if (n_threads < 1) n_threads = 1;
    if (W.dtype == DType::F32) {
        const float* w = static_cast<const float*>(W.data);
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n_threads > 1)
        for (int64_t r = 0; r < R; ++r)
            for (int64_t i = 0; i < n; ++i) y[i * R + r] = dot_f32(w + r * K, x + i * K, K);
        return;
    }
    // Each thread's row buffer, grown here (outside the parallel region, so that a
    // failure can throw).
    const int64_t width = K > 0 ? K : 1;
    float* rows = tl_row.get(size_t(n_threads) * size_t(width));
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
    {
        float* row = rows + omp_get_thread_num() * width;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < R; ++r) {
            convert(W, r, 0, K, row);
            for (int64_t i = 0; i < n; ++i) y[i * R + r] = dot_f32(row, x + i * K, K);
        }
    }
}

void linear_t(const Matrix& W, const float* x, int64_t n, float* y) {
    check_dtype("linear_t", W.dtype);
    const int64_t R = W.rows, K = W.cols;
    if (n <= 0 || K <= 0) return;
    std::memset(y, 0, size_t(n * K) * sizeof(float));
    float* row = tl_row.get(size_t(K));
    for (int64_t r = 0; r < R; ++r) {
        convert(W, r, 0, K, row);
        for (int64_t i = 0; i < n; ++i) axpy_f32(x[i * R + r], row, y + i * K, K);
    }
}

void dequant_rows(const Matrix& W, int64_t r0, int64_t n_rows, float* out) {
    check_dtype("dequant_rows", W.dtype);
    for (int64_t r = 0; r < n_rows; ++r) convert(W, r0 + r, 0, W.cols, out + r * W.cols);
}

// One cache value as a float (e4m3 unscaled).
template <DType D>
inline float row_value(const void* row, int64_t i);
template <>
inline float row_value<DType::BF16>(const void* row, int64_t i) {
    return bf16_bits_to_float(static_cast<const uint16_t*>(row)[i]);
}
template <>
inline float row_value<DType::F8_E4M3>(const void* row, int64_t i) {
    return f8e4m3_table()[static_cast<const uint8_t*>(row)[i]];
}

template <DType D>
float dot_row_typed(const float* x, const void* row, int64_t n) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // the summation order of dot_f32
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) s[j] += x[i + j] * row_value<D>(row, i + j);
    for (; i < n; ++i) s[i & 7] += x[i] * row_value<D>(row, i);
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

float dot_row(const float* x, const void* row, DType t, int64_t n) {
    switch (t) {
        case DType::F32: return dot_f32(x, static_cast<const float*>(row), n);
        case DType::BF16: return dot_row_typed<DType::BF16>(x, row, n);
        case DType::F8_E4M3: return dot_row_typed<DType::F8_E4M3>(x, row, n);
        default: detail::fail_unsupported_dtype("dot_row", t);
    }
}

void axpy_row(float a, const void* row, DType t, float* y, int64_t n) {
    switch (t) {
        case DType::F32: return axpy_f32(a, static_cast<const float*>(row), y, n);
        case DType::BF16:
            for (int64_t i = 0; i < n; ++i) y[i] += a * row_value<DType::BF16>(row, i);
            return;
        case DType::F8_E4M3:
            for (int64_t i = 0; i < n; ++i) y[i] += a * row_value<DType::F8_E4M3>(row, i);
            return;
        default: detail::fail_unsupported_dtype("axpy_row", t);
    }
}

void load_row(const void* row, DType t, float* out, int64_t n) {
    switch (t) {
        case DType::F32: std::memcpy(out, row, size_t(n) * sizeof(float)); return;
        case DType::BF16:
            for (int64_t i = 0; i < n; ++i) out[i] = row_value<DType::BF16>(row, i);
            return;
        case DType::F8_E4M3:
            for (int64_t i = 0; i < n; ++i) out[i] = row_value<DType::F8_E4M3>(row, i);
            return;
        default: detail::fail_unsupported_dtype("load_row", t);
    }
}

const Kernels kTable = {"scalar", linear, linear_t, dequant_rows, dot_f32, axpy_f32, dot_row, axpy_row, load_row, nullptr};

}  // namespace

const Kernels* kernels_scalar() { return &kTable; }

}  // namespace mola::cpu
