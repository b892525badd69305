// kernels_avx2.cpp: the AVX2 + FMA + F16C kernel table. The same algorithms as
// kernels_avx512.cpp (read its header comment) on 8-float vectors and 16 registers:
// the dot form uses 4 rows x up to 2 tokens, the GEMM micro-kernel 6 rows x 16
// tokens.
//
// This file is compiled with -mavx2 -mfma -mf16c: everything in it has internal
// linkage and it uses no inline functions or templates from other headers, so that
// no AVX2 instantiation of a shared inline function can be picked by the linker for
// code that runs on an older CPU.
#include "backend/cpu/kernels.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define MOLA_HAVE_AVX2 1
#include <immintrin.h>

#include <omp.h>

#include <cstdlib>
#include <cstring>
#endif

namespace mola::cpu {

#if MOLA_HAVE_AVX2

namespace detail {  // kernels.cpp
[[noreturn]] void fail_unsupported_dtype(const char* op, DType t);
[[noreturn]] void fail_out_of_memory(size_t bytes);
}

namespace {

constexpr int64_t kV = 8;  // floats per vector

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

alignas(64) const int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
// Lanes [0, n) set, n in [0, 8].
inline __m256i tail_mask(int64_t n) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - n));
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// e4m3 bytes (sign-extended to 16 bits) -> halves worth value * 2^-8 -> floats.
inline __m256 fp8x8_to_ps(__m128i bytes) {
    __m128i w = _mm_cvtepi8_epi16(bytes);
    w = _mm_and_si128(_mm_slli_epi16(w, 7), _mm_set1_epi16(short(0xBF80)));
    return _mm256_cvtph_ps(w);
}

// Eight weights at byte address p as floats (F8: times 2^-8, see kUnit); load(p, n)
// reads only the first n in [0, 8] and zero-fills the rest.
template <DType D>
struct Wt;
template <>
struct Wt<DType::F32> {
    static constexpr int64_t kBytes = 4;
    static __m256 load(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
    static __m256 load(const uint8_t* p, int64_t n) {
        return _mm256_maskload_ps(reinterpret_cast<const float*>(p), tail_mask(n));
    }
};
template <>
struct Wt<DType::BF16> {
    static constexpr int64_t kBytes = 2;
    static __m256 load(const uint8_t* p) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    static __m256 load(const uint8_t* p, int64_t n) {
        alignas(16) uint8_t tmp[16] = {};
        std::memcpy(tmp, p, size_t(n) * 2);
        return load(tmp);
    }
};
template <>
struct Wt<DType::F16> {
    static constexpr int64_t kBytes = 2;
    static __m256 load(const uint8_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static __m256 load(const uint8_t* p, int64_t n) {
        alignas(16) uint8_t tmp[16] = {};
        std::memcpy(tmp, p, size_t(n) * 2);
        return load(tmp);
    }
};
template <>
struct Wt<DType::F8_E4M3> {
    static constexpr int64_t kBytes = 1;
    static constexpr float kUnit = 256.0f;  // the halves above are value * 2^-8
    static __m256 load(const uint8_t* p) {
        return fp8x8_to_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    }
    static __m256 load(const uint8_t* p, int64_t n) {
        alignas(16) uint8_t tmp[16] = {};
        std::memcpy(tmp, p, size_t(n));
        return load(tmp);
    }
};

inline const float* scale_row(const Matrix& W, int64_t r) {
    return W.scale + ((W.row0 + r) / kFp8Block) * W.scale_cols;
}

inline const uint8_t* row_ptr(const Matrix& W, int64_t r, int64_t bytes) {
    return static_cast<const uint8_t*>(W.data) + r * W.cols * bytes;
}

// A grow-only, per-thread, 64-byte aligned buffer: no allocation per call once warm.
struct Scratch {
    void* p = nullptr;
    size_t cap = 0;
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() { std::free(p); }
    void* get(size_t bytes) {
        if (bytes > cap) {
            std::free(p);
            const size_t c = (bytes + bytes / 4 + 4095) & ~size_t(4095);
            p = std::aligned_alloc(64, c);
            if (!p) {
                cap = 0;
                detail::fail_out_of_memory(bytes);
            }
            cap = c;
        }
        return p;
    }
};
thread_local Scratch tl_pack;  // the caller's scratch for one call, shared by its team

// ---------------------------------------------------------------------------------
// Dot form: y[t][r + i] = W[r + i] . x[t] for i < R, t < T, over the whole row, in
// groups converted with few shuffles and activations permuted to match (see
// kernels_avx512.cpp): BF16 16 weights as even and odd elements, F8 32 bytes through
// two in-lane unpacks.

template <DType D>
struct Group {  // F32, F16: 8 elements, natural order
    static constexpr int64_t kG = 8;
    static constexpr int64_t perm(int64_t j) { return j; }
    static void load(const uint8_t* p, __m256* v) { v[0] = Wt<D>::load(p); }
};
template <>
struct Group<DType::BF16> {
    static constexpr int64_t kG = 16;
    static constexpr int64_t perm(int64_t j) { return j < 8 ? 2 * j : 2 * (j - 8) + 1; }
    static void load(const uint8_t* p, __m256* v) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        v[0] = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
        v[1] = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32(int(0xFFFF0000u))));
    }
};
template <>
struct Group<DType::F8_E4M3> {
    static constexpr int64_t kG = 32;
    // unpack{lo,hi}_epi8 take bytes 0-7 / 8-15 of each 16-byte lane.
    static constexpr int64_t perm(int64_t j) {
        const int64_t base[4] = {0, 16, 8, 24};
        return base[j / 8] + j % 8;
    }
    static void load(const uint8_t* p, __m256* v) {
        // byte b as the word b << 8, then >> 1 (arithmetic) and bit 14 cleared: the
        // half whose value is e4m3(b) * 2^-8 (see Wt<F8_E4M3>).
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), zero = _mm256_setzero_si256();
        const __m256i m = _mm256_set1_epi16(short(0xBFFF));
        const __m256i lo = _mm256_and_si256(_mm256_srai_epi16(_mm256_unpacklo_epi8(zero, b), 1), m);
        const __m256i hi = _mm256_and_si256(_mm256_srai_epi16(_mm256_unpackhi_epi8(zero, b), 1), m);
        v[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(lo));
        v[1] = _mm256_cvtph_ps(_mm256_extracti128_si256(lo, 1));
        v[2] = _mm256_cvtph_ps(_mm256_castsi256_si128(hi));
        v[3] = _mm256_cvtph_ps(_mm256_extracti128_si256(hi, 1));
    }
};

template <DType D>
void permute_x(const float* x, int64_t n, int64_t K, float* xp) {
    using G = Group<D>;
    const int64_t full = K / G::kG * G::kG;
    for (int64_t t = 0; t < n; ++t) {
        const float* src = x + t * K;
        float* dst = xp + t * K;
        for (int64_t g = 0; g < full; g += G::kG)
            for (int64_t j = 0; j < G::kG; ++j) dst[g + j] = src[g + G::perm(j)];
        for (int64_t k = full; k < K; ++k) dst[k] = src[k];
    }
}

constexpr int64_t kPrefetchAhead = 1536, kPrefetchMinRow = 8192;  // bytes

template <DType D, int R, int T>
void dot_tile(const Matrix& W, int64_t r, const float* xp, float* y, int64_t ldy) {
    using L = Wt<D>;
    using G = Group<D>;
    constexpr bool kF8 = D == DType::F8_E4M3;
    constexpr int kNV = int(G::kG / kV);
    // F8 with one token sums each 128-column block apart and applies its scale once
    // per block; with two (registers run short) it scales each weight vector.
    constexpr bool kBlockSums = kF8 && T == 1;
    const int64_t K = W.cols, stride = K * L::kBytes;
    const uint8_t* w = row_ptr(W, r, L::kBytes);
    const float* srow[R];
    if constexpr (kF8)
        for (int i = 0; i < R; ++i) srow[i] = scale_row(W, r + i);
    __m256 acc[R][T], tot[R][T];
    for (int i = 0; i < R; ++i)
        for (int t = 0; t < T; ++t) acc[i][t] = tot[i][t] = _mm256_setzero_ps();

    const int64_t full = K / G::kG * G::kG;
    const int64_t block = kF8 ? kFp8Block : full;  // kFp8Block is a multiple of kG
    // Software prefetch (measured on Zen 4, weights streamed from DRAM): long rows
    // prefetch kPrefetchAhead bytes ahead in the same row (+10-15% on rows of 10-20
    // KiB; the hardware prefetchers stop at 4 KiB pages); short rows, where that
    // loses, prefetch the same place in the next tile's rows instead (+10-60% on rows
    // of 2-4 KiB). Prefetches past the matrix are harmless: they never fault.
    const int64_t ahead = stride > kPrefetchMinRow ? kPrefetchAhead : R * stride;
    const uintptr_t wbase = reinterpret_cast<uintptr_t>(w);  // (addresses past the end)
    for (int64_t kb = 0; kb < full; kb += block) {
        const int64_t kend = min64(full, kb + block);
        __m256 sc[R];
        if constexpr (kF8)
            for (int i = 0; i < R; ++i) sc[i] = _mm256_set1_ps(srow[i][kb / kFp8Block] * L::kUnit);
        for (int64_t k = kb; k < kend; k += G::kG) {
            for (int i = 0; i < R; ++i) {
                _mm_prefetch(reinterpret_cast<const char*>(wbase + uintptr_t(i * stride + k * L::kBytes + ahead)),
                             _MM_HINT_T0);
                __m256 wv[kNV];
                G::load(w + i * stride + k * L::kBytes, wv);
                for (int q = 0; q < kNV; ++q) {
                    if constexpr (kF8 && !kBlockSums) wv[q] = _mm256_mul_ps(wv[q], sc[i]);
                    for (int t = 0; t < T; ++t)
                        acc[i][t] = _mm256_fmadd_ps(wv[q], _mm256_loadu_ps(xp + t * K + k + q * kV), acc[i][t]);
                }
            }
        }
        if constexpr (kBlockSums)
            for (int i = 0; i < R; ++i)
                for (int t = 0; t < T; ++t) {
                    tot[i][t] = _mm256_fmadd_ps(acc[i][t], sc[i], tot[i][t]);
                    acc[i][t] = _mm256_setzero_ps();
                }
    }
    // The tail (fewer than kG columns, inside one F8 block): 8 at a time, in order.
    for (int64_t k = full; k < K; k += kV) {
        const int64_t left = min64(kV, K - k);
        for (int i = 0; i < R; ++i) {
            __m256 wv = L::load(w + i * stride + k * L::kBytes, left);
            if constexpr (kF8) wv = _mm256_mul_ps(wv, _mm256_set1_ps(srow[i][k / kFp8Block] * L::kUnit));
            for (int t = 0; t < T; ++t)
                acc[i][t] = _mm256_fmadd_ps(wv, _mm256_maskload_ps(xp + t * K + k, tail_mask(left)), acc[i][t]);
        }
    }
    for (int i = 0; i < R; ++i)
        for (int t = 0; t < T; ++t) y[t * ldy + r + i] = hsum(_mm256_add_ps(acc[i][t], tot[i][t]));
}

template <DType D, int R>
void dot_tile_n(const Matrix& W, int64_t r, const float* xp, int64_t tn, float* y, int64_t ldy) {
    if (tn == 1)
        dot_tile<D, R, 1>(W, r, xp, y, ldy);
    else
        dot_tile<D, R, 2>(W, r, xp, y, ldy);
}

template <DType D>
void linear_dot(const Matrix& W, const float* x, int64_t n, float* y, int n_threads) {
    const int64_t R = W.rows, K = W.cols, groups = ceil_div(R, 4);
    const float* xp = x;
    if (Group<D>::kG != kV) {
        float* buf = static_cast<float*>(tl_pack.get(size_t(n * K) * sizeof(float)));
        permute_x<D>(x, n, K, buf);
        xp = buf;
    }
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n_threads > 1)
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t r = g * 4, cnt = min64(4, R - r);
        for (int64_t t0 = 0; t0 < n; t0 += 2) {
            const int64_t tn = min64(2, n - t0);
            if (cnt == 4)
                dot_tile_n<D, 4>(W, r, xp + t0 * K, tn, y + t0 * R, R);
            else
                for (int64_t i = 0; i < cnt; ++i) dot_tile_n<D, 1>(W, r + i, xp + t0 * K, tn, y + t0 * R, R);
        }
    }
}

// ---------------------------------------------------------------------------------
// GEMM form (see kernels_avx512.cpp).

constexpr int kMR = 6;           // rows per micro-tile (broadcast)
constexpr int kNR = 16;          // tokens per panel (two vectors)
constexpr int64_t kKC = 256;     // columns per K chunk (a multiple of kFp8Block)
constexpr int64_t kRBMax = 96;   // rows per thread block (a multiple of kMR)

void pack_x(const float* x, int64_t n, int64_t K, int64_t c, int64_t p, float* dst) {
    const int64_t k0 = c * kKC, kc = min64(kKC, K - k0), t0 = p * kNR, tn = min64(kNR, n - t0);
    for (int64_t t = 0; t < tn; ++t) {
        const float* src = x + (t0 + t) * K + k0;
        for (int64_t k = 0; k < kc; ++k) dst[k * kNR + t] = src[k];
    }
    if (tn < kNR)
        for (int64_t k = 0; k < kc; ++k)
            for (int64_t t = tn; t < kNR; ++t) dst[k * kNR + t] = 0.0f;
}

template <DType D>
void convert_tile(const Matrix& W, int64_t r0, int64_t rn, int64_t k0, int64_t kc, float* A) {
    using L = Wt<D>;
    for (int64_t i = 0; i < rn; ++i) {
        const uint8_t* w = row_ptr(W, r0 + i, L::kBytes) + k0 * L::kBytes;
        float* a = A + i * kKC;
        const float* srow = nullptr;
        if constexpr (D == DType::F8_E4M3) srow = scale_row(W, r0 + i);
        int64_t k = 0;
        for (; k + kV <= kc; k += kV) {
            __m256 v = L::load(w + k * L::kBytes);
            if constexpr (D == DType::F8_E4M3)
                v = _mm256_mul_ps(v, _mm256_set1_ps(srow[(k0 + k) / kFp8Block] * L::kUnit));
            _mm256_store_ps(a + k, v);
        }
        if (k < kc) {
            __m256 v = L::load(w + k * L::kBytes, kc - k);
            if constexpr (D == DType::F8_E4M3)
                v = _mm256_mul_ps(v, _mm256_set1_ps(srow[(k0 + k) / kFp8Block] * L::kUnit));
            _mm256_store_ps(a + k, v);
        }
    }
}

template <int NV>
void micro(const float* A, const float* B, int64_t kc, float* C, int64_t ldc, bool first) {
    __m256 acc[kMR][NV];
    if (first) {
#pragma GCC unroll 16
        for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
    } else {
#pragma GCC unroll 16
        for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_load_ps(C + i * ldc + v * kV);
    }
    for (int64_t k = 0; k < kc; ++k) {
        __m256 b[NV];
        for (int v = 0; v < NV; ++v) b[v] = _mm256_load_ps(B + k * kNR + v * kV);
#pragma GCC unroll 6
        for (int i = 0; i < kMR; ++i) {
            const __m256 a = _mm256_broadcast_ss(A + i * kKC + k);
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(a, b[v], acc[i][v]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) _mm256_store_ps(C + i * ldc + v * kV, acc[i][v]);
}

int64_t row_block(int64_t R, int n_threads) {
    return min64(kRBMax, max64(kMR, round_up(ceil_div(R, n_threads), kMR)));
}

// Prefetches the weights of view rows [r0, r0 + rn), columns [k0, k0 + kc).
void prefetch_rows(const Matrix& W, int64_t r0, int64_t rn, int64_t k0, int64_t kc, int64_t bytes) {
    for (int64_t i = 0; i < rn; ++i) {
        const char* p = reinterpret_cast<const char*>(row_ptr(W, r0 + i, bytes) + k0 * bytes);
        for (int64_t off = 0; off < kc * bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
    }
}

void store_tile(const float* C, int64_t ldc, int64_t rn, int64_t n, float* y, int64_t R, int64_t r0) {
    for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < rn; ++i) y[t * R + r0 + i] = C[i * ldc + t];
}

template <DType D>
void linear_gemm(const Matrix& W, const float* x, int64_t n, float* y, int n_threads) {
    const int64_t R = W.rows, K = W.cols;
    const int64_t nk = ceil_div(K, kKC), npan = ceil_div(n, kNR), ldc = npan * kNR;
    const int64_t RB = row_block(R, n_threads), nrb = ceil_div(R, RB);
    // One allocation (grown here, outside the parallel region, so that a failure can
    // throw): the packed activations, then each thread's weight tile and output tile.
    const int64_t xp_size = nk * npan * kKC * kNR, work_size = round_up(kMR * kKC + RB * ldc, 16);
    float* xp = static_cast<float*>(tl_pack.get(size_t(xp_size + n_threads * work_size) * sizeof(float)));
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
    {
#pragma omp for schedule(static)
        for (int64_t cp = 0; cp < nk * npan; ++cp)
            pack_x(x, n, K, cp / npan, cp % npan, xp + cp * kKC * kNR);
        float* A = xp + xp_size + omp_get_thread_num() * work_size;
        float* C = A + kMR * kKC;
#pragma omp for schedule(static)
        for (int64_t b = 0; b < nrb; ++b) {
            const int64_t r0 = b * RB, rn = min64(RB, R - r0);
            for (int64_t c = 0; c < nk; ++c) {
                const int64_t k0 = c * kKC, kc = min64(kKC, K - k0);
                for (int64_t i = 0; i < rn; i += kMR) {
                    // Prefetch the weights of this thread's next micro-tile (the next
                    // rows, else the next chunk, else the next block) while this one runs.
                    if (i + kMR < rn)
                        prefetch_rows(W, r0 + i + kMR, min64(kMR, rn - i - kMR), k0, kc, Wt<D>::kBytes);
                    else if (c + 1 < nk)
                        prefetch_rows(W, r0, min64(kMR, rn), k0 + kKC, min64(kKC, K - k0 - kKC), Wt<D>::kBytes);
                    else if (b + 1 < nrb)
                        prefetch_rows(W, r0 + RB, min64(kMR, R - r0 - RB), 0, min64(kKC, K), Wt<D>::kBytes);
                    // Convert kMR rows x kc columns (zero rows past the block), then run
                    // them against every token panel.
                    const int64_t mr = min64(kMR, rn - i);
                    convert_tile<D>(W, r0 + i, mr, k0, kc, A);
                    for (int64_t j = mr; j < kMR; ++j) std::memset(A + j * kKC, 0, size_t(kc) * sizeof(float));
                    for (int64_t p = 0; p < npan; ++p) {
                        const float* B = xp + (c * npan + p) * kKC * kNR;
                        if (n - p * kNR > kV)
                            micro<2>(A, B, kc, C + i * ldc + p * kNR, ldc, c == 0);
                        else
                            micro<1>(A, B, kc, C + i * ldc + p * kNR, ldc, c == 0);
                    }
                }
            }
            store_tile(C, ldc, rn, n, y, R, r0);
        }
    }
}

// From how many tokens the GEMM form beats the dot form (measured on Zen 4; the dot
// form keeps up longer where the conversion is cheap relative to the FMAs).
constexpr int64_t gemm_min_n(DType t) {
    return t == DType::F32 ? 32 : t == DType::F16 ? 48 : t == DType::BF16 ? 32 : 8;
}

template <DType D>
void linear_typed(const Matrix& W, const float* x, int64_t n, float* y, int n_threads) {
    if (n >= gemm_min_n(D))
        linear_gemm<D>(W, x, n, y, n_threads);
    else
        linear_dot<D>(W, x, n, y, n_threads);
}

void linear(const Matrix& W, const float* x, int64_t n, float* y, int n_threads) {
    if (n <= 0 || W.rows <= 0) return;
    if (W.cols <= 0) {
        std::memset(y, 0, size_t(n * W.rows) * sizeof(float));
        return;
    }
    if (n_threads < 1) n_threads = 1;
    switch (W.dtype) {
        case DType::F32: return linear_typed<DType::F32>(W, x, n, y, n_threads);
        case DType::F16: return linear_typed<DType::F16>(W, x, n, y, n_threads);
        case DType::BF16: return linear_typed<DType::BF16>(W, x, n, y, n_threads);
        case DType::F8_E4M3: return linear_typed<DType::F8_E4M3>(W, x, n, y, n_threads);
        default: detail::fail_unsupported_dtype("linear", W.dtype);
    }
}

// ---------------------------------------------------------------------------------
// linear_t: a register tile of 32 columns x up to 2 tokens walks all rows.

constexpr int kTV = 4;  // vectors of columns per tile

template <DType D, int T, bool kMasked>
void lt_tile(const Matrix& W, const float* x, float* y, int64_t c0) {
    using L = Wt<D>;
    const int64_t R = W.rows, K = W.cols;
    int64_t left[kTV];
    for (int v = 0; v < kTV; ++v) left[v] = kMasked ? max64(0, min64(kV, K - c0 - v * kV)) : kV;
    __m256 acc[T][kTV];
    for (int t = 0; t < T; ++t)
        for (int v = 0; v < kTV; ++v) acc[t][v] = _mm256_setzero_ps();
    const uint8_t* w = row_ptr(W, 0, L::kBytes) + c0 * L::kBytes;
    const int64_t stride = K * L::kBytes;
    for (int64_t r = 0; r < R; ++r, w += stride) {
        __m256 wv[kTV];
        for (int v = 0; v < kTV; ++v)
            wv[v] = kMasked ? L::load(w + v * kV * L::kBytes, left[v]) : L::load(w + v * kV * L::kBytes);
        float s = 1.0f;
        if constexpr (D == DType::F8_E4M3) s = scale_row(W, r)[c0 / kFp8Block] * L::kUnit;
        for (int t = 0; t < T; ++t) {
            const __m256 xb = _mm256_set1_ps(D == DType::F8_E4M3 ? x[t * R + r] * s : x[t * R + r]);
            for (int v = 0; v < kTV; ++v) acc[t][v] = _mm256_fmadd_ps(xb, wv[v], acc[t][v]);
        }
    }
    for (int t = 0; t < T; ++t)
        for (int v = 0; v < kTV; ++v) {
            if (kMasked)
                _mm256_maskstore_ps(y + t * K + c0 + v * kV, tail_mask(left[v]), acc[t][v]);
            else
                _mm256_storeu_ps(y + t * K + c0 + v * kV, acc[t][v]);
        }
}

template <DType D>
void linear_t_typed(const Matrix& W, const float* x, int64_t n, float* y) {
    const int64_t R = W.rows, K = W.cols, width = kTV * kV;
    for (int64_t t0 = 0; t0 < n; t0 += 2) {
        const bool two = n - t0 >= 2;
        int64_t c0 = 0;
        for (; c0 + width <= K; c0 += width) {
            if (two)
                lt_tile<D, 2, false>(W, x + t0 * R, y + t0 * K, c0);
            else
                lt_tile<D, 1, false>(W, x + t0 * R, y + t0 * K, c0);
        }
        if (c0 < K) {
            if (two)
                lt_tile<D, 2, true>(W, x + t0 * R, y + t0 * K, c0);
            else
                lt_tile<D, 1, true>(W, x + t0 * R, y + t0 * K, c0);
        }
    }
}

void linear_t(const Matrix& W, const float* x, int64_t n, float* y) {
    if (n <= 0 || W.cols <= 0) return;
    switch (W.dtype) {
        case DType::F32: return linear_t_typed<DType::F32>(W, x, n, y);
        case DType::F16: return linear_t_typed<DType::F16>(W, x, n, y);
        case DType::BF16: return linear_t_typed<DType::BF16>(W, x, n, y);
        case DType::F8_E4M3: return linear_t_typed<DType::F8_E4M3>(W, x, n, y);
        default: detail::fail_unsupported_dtype("linear_t", W.dtype);
    }
}

// ---------------------------------------------------------------------------------

template <DType D>
void dequant_typed(const Matrix& W, int64_t r0, int64_t n_rows, float* out) {
    using L = Wt<D>;
    const int64_t K = W.cols;
    for (int64_t i = 0; i < n_rows; ++i) {
        const uint8_t* w = row_ptr(W, r0 + i, L::kBytes);
        float* o = out + i * K;
        const float* srow = nullptr;
        if constexpr (D == DType::F8_E4M3) srow = scale_row(W, r0 + i);
        int64_t k = 0;
        for (; k + kV <= K; k += kV) {
            __m256 v = L::load(w + k * L::kBytes);
            if constexpr (D == DType::F8_E4M3)
                v = _mm256_mul_ps(v, _mm256_set1_ps(srow[k / kFp8Block] * L::kUnit));
            _mm256_storeu_ps(o + k, v);
        }
        if (k < K) {
            __m256 v = L::load(w + k * L::kBytes, K - k);
            if constexpr (D == DType::F8_E4M3)
                v = _mm256_mul_ps(v, _mm256_set1_ps(srow[k / kFp8Block] * L::kUnit));
            _mm256_maskstore_ps(o + k, tail_mask(K - k), v);
        }
    }
}

void dequant_rows(const Matrix& W, int64_t r0, int64_t n_rows, float* out) {
    switch (W.dtype) {
        case DType::F32: return dequant_typed<DType::F32>(W, r0, n_rows, out);
        case DType::F16: return dequant_typed<DType::F16>(W, r0, n_rows, out);
        case DType::BF16: return dequant_typed<DType::BF16>(W, r0, n_rows, out);
        case DType::F8_E4M3: return dequant_typed<DType::F8_E4M3>(W, r0, n_rows, out);
        default: detail::fail_unsupported_dtype("dequant_rows", W.dtype);
    }
}

float dot(const float* a, const float* b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 * kV <= n; i += 4 * kV) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + kV), _mm256_loadu_ps(b + i + kV), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 2 * kV), _mm256_loadu_ps(b + i + 2 * kV), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 3 * kV), _mm256_loadu_ps(b + i + 3 * kV), s3);
    }
    for (; i < n; i += kV) {
        const __m256i m = tail_mask(min64(kV, n - i));
        s0 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s0);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

void axpy(float a, const float* x, float* y, int64_t n) {
    const __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + kV <= n; i += kV)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m,
                            _mm256_fmadd_ps(av, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m)));
    }
}

// Cache rows (see Kernels::dot_row): the weights' in-register conversions (Wt) on
// rows of n values; F8 results carry Wt's 2^-8, undone with kUnit.
template <DType D>
float dot_row_typed(const float* x, const uint8_t* p, int64_t n) {
    constexpr int64_t B = Wt<D>::kBytes;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 * kV <= n; i += 4 * kV) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), Wt<D>::load(p + i * B), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + kV), Wt<D>::load(p + (i + kV) * B), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 2 * kV), Wt<D>::load(p + (i + 2 * kV) * B), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 3 * kV), Wt<D>::load(p + (i + 3 * kV) * B), s3);
    }
    for (; i + kV <= n; i += kV) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), Wt<D>::load(p + i * B), s0);
    if (i < n) {
        const int64_t r = n - i;
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(x + i, tail_mask(r)), Wt<D>::load(p + i * B, r), s1);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

template <DType D>
void axpy_row_typed(float a, const uint8_t* p, float* y, int64_t n) {
    constexpr int64_t B = Wt<D>::kBytes;
    const __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + kV <= n; i += kV)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, Wt<D>::load(p + i * B), _mm256_loadu_ps(y + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_fmadd_ps(av, Wt<D>::load(p + i * B, n - i), _mm256_maskload_ps(y + i, m)));
    }
}

template <DType D>
void load_row_typed(const uint8_t* p, float* out, int64_t n, float unit) {
    constexpr int64_t B = Wt<D>::kBytes;
    const __m256 u = _mm256_set1_ps(unit);
    int64_t i = 0;
    for (; i + kV <= n; i += kV) _mm256_storeu_ps(out + i, _mm256_mul_ps(u, Wt<D>::load(p + i * B)));
    if (i < n) _mm256_maskstore_ps(out + i, tail_mask(n - i), _mm256_mul_ps(u, Wt<D>::load(p + i * B, n - i)));
}

float dot_row(const float* x, const void* row, DType t, int64_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(row);
    switch (t) {
        case DType::F32: return dot(x, static_cast<const float*>(row), n);
        case DType::BF16: return dot_row_typed<DType::BF16>(x, p, n);
        case DType::F8_E4M3: return dot_row_typed<DType::F8_E4M3>(x, p, n) * Wt<DType::F8_E4M3>::kUnit;
        default: detail::fail_unsupported_dtype("dot_row", t);
    }
}

void axpy_row(float a, const void* row, DType t, float* y, int64_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(row);
    switch (t) {
        case DType::F32: return axpy(a, static_cast<const float*>(row), y, n);
        case DType::BF16: return axpy_row_typed<DType::BF16>(a, p, y, n);
        case DType::F8_E4M3: return axpy_row_typed<DType::F8_E4M3>(a * Wt<DType::F8_E4M3>::kUnit, p, y, n);
        default: detail::fail_unsupported_dtype("axpy_row", t);
    }
}

void load_row(const void* row, DType t, float* out, int64_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(row);
    switch (t) {
        case DType::F32: return load_row_typed<DType::F32>(p, out, n, 1.0f);
        case DType::BF16: return load_row_typed<DType::BF16>(p, out, n, 1.0f);
        case DType::F8_E4M3: return load_row_typed<DType::F8_E4M3>(p, out, n, Wt<DType::F8_E4M3>::kUnit);
        default: detail::fail_unsupported_dtype("load_row", t);
    }
}

const Kernels kTable = {"avx2", linear, linear_t, dequant_rows, dot, axpy, dot_row, axpy_row, load_row, nullptr};

}  // namespace

const Kernels* kernels_avx2() { return &kTable; }

#else  // !MOLA_HAVE_AVX2

const Kernels* kernels_avx2() { return nullptr; }

#endif

}  // namespace mola::cpu
