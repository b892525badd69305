// kernels_avx512.cpp: the AVX-512 kernel table (F, BW, VL, DQ, with FMA and F16C).
//
// This file is compiled with -mavx512*: everything in it has internal linkage and it
// uses no inline functions or templates from other headers (not even Matrix's
// helpers or <algorithm>), so that no AVX-512 instantiation of a shared inline
// function can be picked by the linker for code that runs on an older CPU.
//
// Weights are read in place in their dtype and converted in registers:
//   BF16  the bits shifted into the top half of an fp32 (exact);
//   F16   vcvtph2ps (exact);
//   F8    the e4m3 bits moved into an IEEE half: same layout with a 5-bit exponent,
//         so the half is exactly value * 2^-8, subnormals included; then vcvtph2ps,
//         and the 2^8 folded into the block scale. (0x7F/0xFF, NaN in e4m3, read as
//         +-480: checkpoints do not hold NaN weights.)
// All products and sums are fp32 (FMA).
//
// linear() has two forms, chosen by the number of tokens (gemm_min_n):
//   dot form   a register tile of 4 rows x up to 4 tokens walks whole rows, the
//              weights converted in registers once per tile. Decode (n == 1) is
//              memory-bound: every weight is streamed from memory exactly once; each
//              thread takes a contiguous range of rows and walks them one after
//              another, one sequential stream (linear_decode).
//   GEMM form  per thread, 12 rows x 256 columns of W are converted into a small
//              fp32 tile and used by every token; the activations are packed once
//              per call into [k][32 tokens] panels; a 12 x 32 register micro-kernel
//              broadcasts the weights and streams the tokens, accumulating into a
//              thread-local [rows][tokens] tile (the next tile's weights are
//              prefetched meanwhile).
//
// BF16 activations split as x = hi + lo for vdpbf16ps (AVX512_BF16) were tried for
// prefill: on Zen 4 vdpbf16ps issues at the rate of vfmadd231ps, so two of them per
// pair of columns are no faster than one FMA per column, and they lose ~2^-17 of x.
#include "backend/cpu/kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__) && defined(__FMA__) && defined(__F16C__)
#define MOLA_HAVE_AVX512 1
// GCC 12's AVX-512 headers self-initialize their "undefined" vectors, which trips
// -Wuninitialized wherever an intrinsic is inlined (GCC PR 105593, fixed in 13).
// The locations are inside the header, so silencing them around it is enough.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <omp.h>

#include <cstdlib>
#include <cstring>
#endif

namespace mola::cpu {

#if MOLA_HAVE_AVX512

namespace detail {  // kernels.cpp
[[noreturn]] void fail_unsupported_dtype(const char* op, DType t);
[[noreturn]] void fail_out_of_memory(size_t bytes);
void attend_bf16_avx512(const Bf16Attention& a);  // attention_bf16_avx512.cpp
}

namespace {

constexpr int64_t kV = 16;  // floats per vector

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

inline __mmask16 tail_mask(int64_t n) { return __mmask16((1u << n) - 1u); }  // n in [0, 16]

inline float hsum(__m512 v) {
    __m512 t = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm512_add_ps(t, _mm512_shuffle_f32x4(t, t, _MM_SHUFFLE(2, 3, 0, 1)));
    __m128 s = _mm512_castps512_ps128(t);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// e4m3 bytes (sign-extended to 16 bits) -> halves worth value * 2^-8 -> floats.
inline __m512 fp8x16_to_ps(__m128i bytes) {
    __m256i w = _mm256_cvtepi8_epi16(bytes);
    w = _mm256_and_si256(_mm256_slli_epi16(w, 7), _mm256_set1_epi16(short(0xBF80)));
    return _mm512_cvtph_ps(w);
}

// Sixteen weights at byte address p as floats (F8: times 2^-8, see kUnit).
template <DType D>
struct Wt;
template <>
struct Wt<DType::F32> {
    static constexpr int64_t kBytes = 4;
    static __m512 load(const uint8_t* p) { return _mm512_loadu_ps(p); }
    static __m512 load(const uint8_t* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
template <>
struct Wt<DType::BF16> {
    static constexpr int64_t kBytes = 2;
    static __m512 cvt(__m256i h) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    static __m512 load(const uint8_t* p) { return cvt(_mm256_loadu_si256((const __m256i*)p)); }
    static __m512 load(const uint8_t* p, __mmask16 m) { return cvt(_mm256_maskz_loadu_epi16(m, p)); }
};
template <>
struct Wt<DType::F16> {
    static constexpr int64_t kBytes = 2;
    static __m512 load(const uint8_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p));
    }
    static __m512 load(const uint8_t* p, __mmask16 m) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    }
};
template <>
struct Wt<DType::F8_E4M3> {
    static constexpr int64_t kBytes = 1;
    static constexpr float kUnit = 256.0f;  // the halves above are value * 2^-8
    static __m512 load(const uint8_t* p) { return fp8x16_to_ps(_mm_loadu_si128((const __m128i*)p)); }
    static __m512 load(const uint8_t* p, __mmask16 m) { return fp8x16_to_ps(_mm_maskz_loadu_epi8(m, p)); }
};

// The scale row of view row r (F8 only).
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
// Dot form: y[t][r + i] = W[r + i] . x[t] for i < R, t < T, over the whole row.
//
// The row is walked in groups of Group<D>::kG elements, each converted into
// kG / 16 vectors with as few shuffles as possible (shuffles, not loads or FMAs, bound
// a single core here): BF16 splits 32 weights into even and odd elements with one
// shift and one AND; F8 spreads 64 bytes into halves with two in-lane unpacks. The
// vectors then hold the group's elements in a fixed permuted order, so the
// activations are permuted the same way once per call (permute_x); the tail of a row
// (K % kG elements) keeps the natural order and goes 16 at a time.

template <DType D>
struct Group {  // F32, F16: 16 elements, natural order
    static constexpr int64_t kG = 16;
    static constexpr int64_t perm(int64_t j) { return j; }
    static void load(const uint8_t* p, __m512* v) { v[0] = Wt<D>::load(p); }
};
template <>
struct Group<DType::BF16> {
    static constexpr int64_t kG = 32;
    static constexpr int64_t perm(int64_t j) { return j < 16 ? 2 * j : 2 * (j - 16) + 1; }
    static void load(const uint8_t* p, __m512* v) {
        const __m512i w = _mm512_loadu_si512(p);
        v[0] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
        v[1] = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(int(0xFFFF0000u))));
    }
};
template <>
struct Group<DType::F8_E4M3> {
    static constexpr int64_t kG = 64;
    // unpack{lo,hi}_epi8 take bytes 0-7 / 8-15 of each 16-byte lane.
    static constexpr int64_t perm(int64_t j) {
        const int64_t base[4] = {0, 32, 8, 40}, e = j % 16;
        return base[j / 16] + (e < 8 ? e : 8 + e);
    }
    static void load(const uint8_t* p, __m512* v) {
        // byte b as the word b << 8, then >> 1 (arithmetic) and bit 14 cleared: the
        // half whose value is e4m3(b) * 2^-8 (see Wt<F8_E4M3>).
        const __m512i b = _mm512_loadu_si512(p), zero = _mm512_setzero_si512();
        const __m512i m = _mm512_set1_epi16(short(0xBFFF));
        const __m512i lo = _mm512_and_si512(_mm512_srai_epi16(_mm512_unpacklo_epi8(zero, b), 1), m);
        const __m512i hi = _mm512_and_si512(_mm512_srai_epi16(_mm512_unpackhi_epi8(zero, b), 1), m);
        v[0] = _mm512_cvtph_ps(_mm512_castsi512_si256(lo));
        v[1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(lo, 1));
        v[2] = _mm512_cvtph_ps(_mm512_castsi512_si256(hi));
        v[3] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(hi, 1));
    }
};

// xp[t][k] = x[t][g * kG + perm(j)] for k = g * kG + j in a whole group; the tail
// is copied as is.
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
    // F8 with few tokens sums each 128-column block apart and applies its scale once
    // per block; with more tokens (registers run short) it scales each weight vector.
    constexpr bool kBlockSums = kF8 && T <= 2;
    const int64_t K = W.cols, stride = K * L::kBytes;
    const uint8_t* w = row_ptr(W, r, L::kBytes);
    const float* srow[R];
    if constexpr (kF8)
        for (int i = 0; i < R; ++i) srow[i] = scale_row(W, r + i);
    __m512 acc[R][T], tot[R][T];
    for (int i = 0; i < R; ++i)
        for (int t = 0; t < T; ++t) acc[i][t] = tot[i][t] = _mm512_setzero_ps();

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
        __m512 sc[R];
        if constexpr (kF8)
            for (int i = 0; i < R; ++i) sc[i] = _mm512_set1_ps(srow[i][kb / kFp8Block] * L::kUnit);
        for (int64_t k = kb; k < kend; k += G::kG) {
            __m512 xv[T][kNV];
            for (int t = 0; t < T; ++t)
                for (int q = 0; q < kNV; ++q) xv[t][q] = _mm512_loadu_ps(xp + t * K + k + q * kV);
            for (int i = 0; i < R; ++i) {
                _mm_prefetch(reinterpret_cast<const char*>(wbase + uintptr_t(i * stride + k * L::kBytes + ahead)),
                             _MM_HINT_T0);
                __m512 wv[kNV];
                G::load(w + i * stride + k * L::kBytes, wv);
                for (int q = 0; q < kNV; ++q) {
                    if constexpr (kF8 && !kBlockSums) wv[q] = _mm512_mul_ps(wv[q], sc[i]);
                    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_fmadd_ps(wv[q], xv[t][q], acc[i][t]);
                }
            }
        }
        if constexpr (kBlockSums)
            for (int i = 0; i < R; ++i)
                for (int t = 0; t < T; ++t) {
                    tot[i][t] = _mm512_fmadd_ps(acc[i][t], sc[i], tot[i][t]);
                    acc[i][t] = _mm512_setzero_ps();
                }
    }
    // The tail (fewer than kG columns, inside one F8 block): 16 at a time, in order.
    for (int64_t k = full; k < K; k += kV) {
        const __mmask16 m = tail_mask(min64(kV, K - k));
        __m512 xv[T];
        for (int t = 0; t < T; ++t) xv[t] = _mm512_maskz_loadu_ps(m, xp + t * K + k);
        for (int i = 0; i < R; ++i) {
            __m512 wv = L::load(w + i * stride + k * L::kBytes, m);
            if constexpr (kF8) wv = _mm512_mul_ps(wv, _mm512_set1_ps(srow[i][k / kFp8Block] * L::kUnit));
            for (int t = 0; t < T; ++t) acc[i][t] = _mm512_fmadd_ps(wv, xv[t], acc[i][t]);
        }
    }
    for (int i = 0; i < R; ++i)
        for (int t = 0; t < T; ++t) y[t * ldy + r + i] = hsum(_mm512_add_ps(acc[i][t], tot[i][t]));
}

template <DType D, int R>
void dot_tile_n(const Matrix& W, int64_t r, const float* xp, int64_t tn, float* y, int64_t ldy) {
    switch (tn) {
        case 1: dot_tile<D, R, 1>(W, r, xp, y, ldy); break;
        case 2: dot_tile<D, R, 2>(W, r, xp, y, ldy); break;
        case 3: dot_tile<D, R, 3>(W, r, xp, y, ldy); break;
        default: dot_tile<D, R, 4>(W, r, xp, y, ldy); break;
    }
}

// Decode (n == 1): each thread takes a contiguous range of rows and walks them one
// after another, so that it reads one sequential stream of memory. (Tiles of 4 rows
// side by side read four 4 KiB-apart streams, which the hardware prefetchers follow
// much worse: on Zen 4, 1408x2048 BF16 went from ~14 to ~21 GB/s on one thread and
// from ~27 to ~31 GB/s on two.) Two groups per step into separate accumulators keep
// the FMA chains short. No software prefetch: on one stream it measured no better.
template <DType D>
void dot_rows(const Matrix& W, int64_t r0, int64_t r1, const float* xp, float* y) {
    using L = Wt<D>;
    using G = Group<D>;
    constexpr bool kF8 = D == DType::F8_E4M3;
    constexpr int kNV = int(G::kG / kV);
    const int64_t K = W.cols, full = K / G::kG * G::kG;
    const int64_t block = kF8 ? kFp8Block : (full > 0 ? full : 1);  // kFp8Block is a multiple of 2 * kG
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* w = row_ptr(W, r, L::kBytes);
        const float* srow = nullptr;
        if constexpr (kF8) srow = scale_row(W, r);
        __m512 acc[2][kNV], tot = _mm512_setzero_ps();
        for (int u = 0; u < 2; ++u)
            for (int q = 0; q < kNV; ++q) acc[u][q] = _mm512_setzero_ps();
        for (int64_t kb = 0; kb < full; kb += block) {
            const int64_t kend = min64(full, kb + block);
            int64_t k = kb;
            for (; k + 2 * G::kG <= kend; k += 2 * G::kG)
                for (int u = 0; u < 2; ++u) {
                    __m512 wv[kNV];
                    G::load(w + (k + u * G::kG) * L::kBytes, wv);
                    for (int q = 0; q < kNV; ++q)
                        acc[u][q] = _mm512_fmadd_ps(wv[q], _mm512_loadu_ps(xp + k + u * G::kG + q * kV), acc[u][q]);
                }
            for (; k < kend; k += G::kG) {
                __m512 wv[kNV];
                G::load(w + k * L::kBytes, wv);
                for (int q = 0; q < kNV; ++q)
                    acc[0][q] = _mm512_fmadd_ps(wv[q], _mm512_loadu_ps(xp + k + q * kV), acc[0][q]);
            }
            if constexpr (kF8) {  // this block's sum times its scale
                __m512 b = _mm512_setzero_ps();
                for (int u = 0; u < 2; ++u)
                    for (int q = 0; q < kNV; ++q) {
                        b = _mm512_add_ps(b, acc[u][q]);
                        acc[u][q] = _mm512_setzero_ps();
                    }
                tot = _mm512_fmadd_ps(b, _mm512_set1_ps(srow[kb / kFp8Block] * L::kUnit), tot);
            }
        }
        // The tail (fewer than kG columns, inside one F8 block): 16 at a time, in order.
        for (int64_t k = full; k < K; k += kV) {
            const __mmask16 m = tail_mask(min64(kV, K - k));
            __m512 wv = L::load(w + k * L::kBytes, m);
            if constexpr (kF8) wv = _mm512_mul_ps(wv, _mm512_set1_ps(srow[k / kFp8Block] * L::kUnit));
            tot = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, xp + k), tot);
        }
        for (int u = 0; u < 2; ++u)
            for (int q = 0; q < kNV; ++q) tot = _mm512_add_ps(tot, acc[u][q]);
        y[r] = hsum(tot);
    }
}

template <DType D>
void linear_decode(const Matrix& W, const float* x, float* y, int n_threads) {
    const int64_t R = W.rows, K = W.cols;
    const float* xp = x;
    if (Group<D>::kG != kV) {
        float* buf = static_cast<float*>(tl_pack.get(size_t(K) * sizeof(float)));
        permute_x<D>(x, 1, K, buf);
        xp = buf;
    }
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
    {
        const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
        dot_rows<D>(W, R * id / nt, R * (id + 1) / nt, xp, y);
    }
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
        for (int64_t t0 = 0; t0 < n; t0 += 4) {
            const int64_t tn = min64(4, n - t0);
            if (cnt == 4)
                dot_tile_n<D, 4>(W, r, xp + t0 * K, tn, y + t0 * R, R);
            else
                for (int64_t i = 0; i < cnt; ++i) dot_tile_n<D, 1>(W, r + i, xp + t0 * K, tn, y + t0 * R, R);
        }
    }
}

// ---------------------------------------------------------------------------------
// GEMM form.

constexpr int kMR = 12;          // rows per micro-tile (broadcast)
constexpr int kNR = 32;          // tokens per panel (two vectors)
constexpr int64_t kKC = 256;     // columns per K chunk (a multiple of kFp8Block)
constexpr int64_t kRBMax = 96;   // rows per thread block (a multiple of kMR)

// Activations [n][K] -> panels: for chunk c and panel p, kKC x kNR floats at
// dst + (c * npan + p) * kKC * kNR, [k][token], zero beyond n (and beyond K).
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

// A[i][k] = value of W[r0 + i][k0 + k] for i < rn, k < kc (row stride kKC).
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
            __m512 v = L::load(w + k * L::kBytes);
            if constexpr (D == DType::F8_E4M3)
                v = _mm512_mul_ps(v, _mm512_set1_ps(srow[(k0 + k) / kFp8Block] * L::kUnit));
            _mm512_store_ps(a + k, v);
        }
        if (k < kc) {
            const __mmask16 m = tail_mask(kc - k);
            __m512 v = L::load(w + k * L::kBytes, m);
            if constexpr (D == DType::F8_E4M3)
                v = _mm512_mul_ps(v, _mm512_set1_ps(srow[(k0 + k) / kFp8Block] * L::kUnit));
            _mm512_store_ps(a + k, v);
        }
    }
}

// C[i][t] (+)= sum_k A[i][k] * B[k][t] for i < kMR, t < 16 * NV.
template <int NV>
void micro(const float* A, const float* B, int64_t kc, float* C, int64_t ldc, bool first) {
    __m512 acc[kMR][NV];
    if (first) {
#pragma GCC unroll 16
        for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    } else {
#pragma GCC unroll 16
        for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_load_ps(C + i * ldc + v * kV);
    }
    for (int64_t k = 0; k < kc; ++k) {
        __m512 b[NV];
        for (int v = 0; v < NV; ++v) b[v] = _mm512_load_ps(B + k * kNR + v * kV);
#pragma GCC unroll 12
        for (int i = 0; i < kMR; ++i) {
            const __m512 a = _mm512_set1_ps(A[i * kKC + k]);
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) _mm512_store_ps(C + i * ldc + v * kV, acc[i][v]);
}

// Rows per thread block: enough blocks for every thread, at most kRBMax.
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

// Writes the rn x n output tile C (row stride ldc) into y[t][r0 + i].
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
        // (the implicit barrier: every panel is packed before any is read)
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

// ---------------------------------------------------------------------------------
// Entry points.

// From how many tokens the GEMM form beats the dot form (measured on Zen 4; the dot
// form keeps up longer where the conversion is cheap relative to the FMAs).
constexpr int64_t gemm_min_n(DType t) {
    return t == DType::F32 ? 48 : t == DType::F16 ? 64 : t == DType::BF16 ? 48 : 16;
}

template <DType D>
void linear_typed(const Matrix& W, const float* x, int64_t n, float* y, int n_threads) {
    if (n == 1)
        linear_decode<D>(W, x, y, n_threads);
    else if (n >= gemm_min_n(D))
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
// linear_t: y[t][c] = sum_r x[t][r] W[r][c]. A register tile of 64 columns x up to 4
// tokens walks all rows; weights converted once per tile.

constexpr int kTV = 4;  // vectors of columns per tile

template <DType D, int T, bool kMasked>
void lt_tile(const Matrix& W, const float* x, float* y, int64_t c0) {
    using L = Wt<D>;
    const int64_t R = W.rows, K = W.cols;
    __mmask16 m[kTV];
    for (int v = 0; v < kTV; ++v) m[v] = kMasked ? tail_mask(max64(0, min64(kV, K - c0 - v * kV))) : 0xFFFF;
    __m512 acc[T][kTV];
    for (int t = 0; t < T; ++t)
        for (int v = 0; v < kTV; ++v) acc[t][v] = _mm512_setzero_ps();
    const uint8_t* w = row_ptr(W, 0, L::kBytes) + c0 * L::kBytes;
    const int64_t stride = K * L::kBytes;
    for (int64_t r = 0; r < R; ++r, w += stride) {
        __m512 wv[kTV];
        for (int v = 0; v < kTV; ++v)
            wv[v] = kMasked ? L::load(w + v * kV * L::kBytes, m[v]) : L::load(w + v * kV * L::kBytes);
        float s = 1.0f;
        if constexpr (D == DType::F8_E4M3) s = scale_row(W, r)[c0 / kFp8Block] * L::kUnit;
        for (int t = 0; t < T; ++t) {
            const __m512 xb = _mm512_set1_ps(D == DType::F8_E4M3 ? x[t * R + r] * s : x[t * R + r]);
            for (int v = 0; v < kTV; ++v) acc[t][v] = _mm512_fmadd_ps(xb, wv[v], acc[t][v]);
        }
    }
    for (int t = 0; t < T; ++t)
        for (int v = 0; v < kTV; ++v) {
            if (kMasked)
                _mm512_mask_storeu_ps(y + t * K + c0 + v * kV, m[v], acc[t][v]);
            else
                _mm512_storeu_ps(y + t * K + c0 + v * kV, acc[t][v]);
        }
}

template <DType D, bool kMasked>
void lt_tile_n(const Matrix& W, const float* x, int64_t tn, float* y, int64_t c0) {
    switch (tn) {
        case 1: lt_tile<D, 1, kMasked>(W, x, y, c0); break;
        case 2: lt_tile<D, 2, kMasked>(W, x, y, c0); break;
        case 3: lt_tile<D, 3, kMasked>(W, x, y, c0); break;
        default: lt_tile<D, 4, kMasked>(W, x, y, c0); break;
    }
}

template <DType D>
void linear_t_typed(const Matrix& W, const float* x, int64_t n, float* y) {
    const int64_t R = W.rows, K = W.cols, width = kTV * kV;
    for (int64_t t0 = 0; t0 < n; t0 += 4) {
        const int64_t tn = min64(4, n - t0);
        int64_t c0 = 0;
        for (; c0 + width <= K; c0 += width) lt_tile_n<D, false>(W, x + t0 * R, tn, y + t0 * K, c0);
        if (c0 < K) lt_tile_n<D, true>(W, x + t0 * R, tn, y + t0 * K, c0);
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
            __m512 v = L::load(w + k * L::kBytes);
            if constexpr (D == DType::F8_E4M3)
                v = _mm512_mul_ps(v, _mm512_set1_ps(srow[k / kFp8Block] * L::kUnit));
            _mm512_storeu_ps(o + k, v);
        }
        if (k < K) {
            const __mmask16 m = tail_mask(K - k);
            __m512 v = L::load(w + k * L::kBytes, m);
            if constexpr (D == DType::F8_E4M3)
                v = _mm512_mul_ps(v, _mm512_set1_ps(srow[k / kFp8Block] * L::kUnit));
            _mm512_mask_storeu_ps(o + k, m, v);
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
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 * kV <= n; i += 4 * kV) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + kV), _mm512_loadu_ps(b + i + kV), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 2 * kV), _mm512_loadu_ps(b + i + 2 * kV), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 3 * kV), _mm512_loadu_ps(b + i + 3 * kV), s3);
    }
    for (; i < n; i += kV) {
        const __mmask16 m = tail_mask(min64(kV, n - i));
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return hsum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

void axpy(float a, const float* x, float* y, int64_t n) {
    const __m512 av = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + kV <= n; i += kV)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(
            y + i, m, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

// Cache rows (see Kernels::dot_row): the weights' in-register conversions (Wt) on
// rows of n values; F8 results carry Wt's 2^-8, undone with kUnit.
template <DType D>
float dot_row_typed(const float* x, const uint8_t* p, int64_t n) {
    constexpr int64_t B = Wt<D>::kBytes;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 * kV <= n; i += 4 * kV) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), Wt<D>::load(p + i * B), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + kV), Wt<D>::load(p + (i + kV) * B), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 2 * kV), Wt<D>::load(p + (i + 2 * kV) * B), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 3 * kV), Wt<D>::load(p + (i + 3 * kV) * B), s3);
    }
    for (; i < n; i += kV) {
        const __mmask16 m = tail_mask(min64(kV, n - i));
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), Wt<D>::load(p + i * B, m), s0);
    }
    return hsum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

template <DType D>
void axpy_row_typed(float a, const uint8_t* p, float* y, int64_t n) {
    constexpr int64_t B = Wt<D>::kBytes;
    const __m512 av = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + kV <= n; i += kV)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, Wt<D>::load(p + i * B), _mm512_loadu_ps(y + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(av, Wt<D>::load(p + i * B, m), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

template <DType D>
void load_row_typed(const uint8_t* p, float* out, int64_t n, float unit) {
    constexpr int64_t B = Wt<D>::kBytes;
    const __m512 u = _mm512_set1_ps(unit);
    int64_t i = 0;
    for (; i + kV <= n; i += kV) _mm512_storeu_ps(out + i, _mm512_mul_ps(u, Wt<D>::load(p + i * B)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(u, Wt<D>::load(p + i * B, m)));
    }
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

const Kernels kTable = {"avx512", linear, linear_t, dequant_rows, dot, axpy, dot_row, axpy_row, load_row, nullptr};
// The same with the bf16-dot-product attention (attention_bf16_avx512.cpp), for CPUs
// with AVX512_BF16.
const Kernels kTableBf16 = {"avx512-bf16", linear, linear_t, dequant_rows, dot, axpy,
                            dot_row, axpy_row, load_row, detail::attend_bf16_avx512};

}  // namespace

const Kernels* kernels_avx512() { return &kTable; }
const Kernels* kernels_avx512_bf16() { return &kTableBf16; }

#else  // !MOLA_HAVE_AVX512

const Kernels* kernels_avx512() { return nullptr; }
const Kernels* kernels_avx512_bf16() { return nullptr; }

#endif

}  // namespace mola::cpu
