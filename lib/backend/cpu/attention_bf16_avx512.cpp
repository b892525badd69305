// attention_bf16_avx512.cpp: absorbed MLA attention over a BF16 or FP8 latent
// cache, with AVX512_BF16 dot products (vdpbf16ps) for the value product.
//
// At long contexts decode is bound by this attention, not by memory: every cached
// token costs each head d_c + d_r multiply-adds for its score and d_c for its
// value. The scores stay fp32 (the cache's bf16 keys times fp32 queries): rounding
// the absorbed queries to bf16 moved the logits of the V3 test model 20x further
// from the F32 cache's. The softmax weights are rounded to bf16 for the value
// product, as DeepSeek's reference does (inference/model.py casts the softmax to
// the activations' bf16 before multiplying the cache); there vdpbf16ps does 32
// products per instruction, 1.7x the multiply-adds per cycle of fp32 FMA on Zen 4.
//
// An FP8 cache's latents (e4m3 with a scale per token) are exact in bf16 once
// scaled by 2^-8; the 2^8 and the token's scale go into its weight before that
// is rounded to bf16.
//
// Layout, for one group of up to 16 query-head rows:
//   scores  lanes are rows. The queries are transposed once ([dim][16 rows]); a
//           tile's keys are converted to floats, and each key dim is broadcast
//           against a query vector: 8 keys (8 accumulators) per query load.
//   softmax online over tiles of 64 keys (the fp32 path's tiles), vectorized over
//           the rows (exp_ps below).
//   values  lanes are latent dims. The tile's latents are re-packed into pairs of
//           neighbouring keys ([16 dims][pair] dwords) and each row's weight pair
//           is broadcast: 16 rows at a time, one latent vector load per 16 products.
//
// Compiled with -mavx512*: internal linkage only, no inline functions or templates
// from other headers (see the note at the top of kernels_avx512.cpp).
#include "backend/cpu/kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
#define MOLA_HAVE_AVX512_BF16 1
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

namespace mola::cpu {

#if MOLA_HAVE_AVX512_BF16

namespace {

constexpr int64_t kLanes = 16;    // rows per group; dims per value vector
constexpr int64_t kTile = 64;     // keys per softmax tile (as in the fp32 path)
constexpr int64_t kScoreKeys = 8;   // keys per score register block (12 measured slower)

// exp(x) for x <= 88 (x = -inf gives 0): Cephes' expf polynomial on the remainder
// after x = n ln2 + r, |r| <= ln2/2, scaled by 2^n with vscalefps (no overflow
// tricks needed; results below 2^-149 are 0). About 1 ulp.
__m512 exp_ps(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

__m512 dp(__m512 acc, __m512i a, __m512i b) {
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

// Words 0-15 and 16-31 of w interleaved: dword i = (w[i], w[16 + i]).
__m512i interleave_halves(__m512i w) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,  //
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, w);
}

// Sixteen floats from a and sixteen from b as bf16 (round to nearest even),
// interleaved: dword i = (a[i], b[i]).
__m512i interleave_bf16(__m512 a, __m512 b) { return interleave_halves((__m512i)_mm512_cvtne2ps_pbh(b, a)); }

// Sixteen bf16 values from each of a and b (raw bits), interleaved as above.
__m512i interleave_raw(__m256i a, __m256i b) {
    return interleave_halves(_mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1));
}

// The queries of rows [0, nr) transposed, [d_c + d_r][16] floats (the latent dims,
// then the rope dims; rows >= nr zero).
void pack_queries(const float* q_lat, const float* q_rope, int64_t nr, int64_t d_c, int64_t d_r, float* qt) {
    for (int64_t i = 0; i < (d_c + d_r) * kLanes; ++i) qt[i] = 0.0f;
    for (int64_t r = 0; r < nr; ++r) {
        for (int64_t c = 0; c < d_c; ++c) qt[c * kLanes + r] = q_lat[r * d_c + c];
        for (int64_t c = 0; c < d_r; ++c) qt[(d_c + c) * kLanes + r] = q_rope[r * d_r + c];
    }
}

// n bf16 values (n a multiple of 16) as floats.
void bf16_to_float(const uint16_t* x, int64_t n, float* out) {
    for (int64_t i = 0; i < n; i += kLanes) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
        _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
}

// Sixteen e4m3 bytes as floats worth value * 2^-8 (the byte moved into an IEEE
// half with the same layout; see kernels_avx512.cpp), exact.
__m512 fp8x16_to_ps(const uint8_t* p) {
    __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    w = _mm256_and_si256(_mm256_slli_epi16(w, 7), _mm256_set1_epi16(short(0xBF80)));
    return _mm512_cvtph_ps(w);
}

// n latents of one key (n a multiple of 16) as floats: BF16, or FP8 e4m3 times
// the key's scale (scale != nullptr).
void latent_to_float(const void* row, const float* scale, int64_t n, float* out) {
    if (!scale) return bf16_to_float(static_cast<const uint16_t*>(row), n, out);
    const __m512 unit = _mm512_set1_ps(*scale * 256.0f);
    for (int64_t i = 0; i < n; i += kLanes)
        _mm512_storeu_ps(out + i, _mm512_mul_ps(fp8x16_to_ps(static_cast<const uint8_t*>(row) + i), unit));
}

// Sixteen latents of one key from dim c, as bf16 bits: BF16 as stored; FP8 as its
// value * 2^-8 (exact in bf16: the 2^8 and the key's scale go into its weight).
__m256i latent_bf16x16(const void* row, bool fp8, int64_t c) {
    if (!fp8) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + c));
    return (__m256i)_mm512_cvtneps_pbh(fp8x16_to_ps(static_cast<const uint8_t*>(row) + c));
}

// Scores of the tile's m keys for the packed rows, fp32 like the reference's
// scores: s[j] = scale * (q_lat . latent_j + q_rope . rope_j), lanes are rows.
// The keys are first converted into kf ([kTile][d_c + d_r] floats), then each
// query vector is loaded once per kScoreKeys keys (one accumulator each).
void score_tile(const float* qt, const void* const* lat, const float* const* lat_scales,
                const uint16_t* const* rope, int64_t m, int64_t d_c, int64_t d_r, float scale, float* kf, __m512* s) {
    const int64_t d = d_c + d_r;
    for (int64_t j = 0; j < m; ++j) {
        latent_to_float(lat[j], lat_scales ? lat_scales[j] : nullptr, d_c, kf + j * d);
        const int64_t tail = d_r % kLanes;  // d_r is even but may not fill a vector
        bf16_to_float(rope[j], d_r - tail, kf + j * d + d_c);
        for (int64_t c = d_r - tail; c < d_r; ++c) {
            const uint32_t bits = uint32_t(rope[j][c]) << 16;
            __builtin_memcpy(kf + j * d + d_c + c, &bits, 4);
        }
    }
    const __m512 sc = _mm512_set1_ps(scale);
    for (int64_t j0 = 0; j0 < m; j0 += kScoreKeys) {
        const int64_t nk = m - j0 < kScoreKeys ? m - j0 : kScoreKeys;
        const float* K[kScoreKeys];
        __m512 acc[kScoreKeys];
        for (int64_t j = 0; j < kScoreKeys; ++j) {
            K[j] = kf + (j0 + (j < nk ? j : 0)) * d;
            acc[j] = _mm512_setzero_ps();
        }
        for (int64_t c = 0; c < d; ++c) {
            const __m512 q = _mm512_load_ps(qt + c * kLanes);
            for (int64_t j = 0; j < kScoreKeys; ++j) acc[j] = _mm512_fmadd_ps(q, _mm512_set1_ps(K[j][c]), acc[j]);
        }
        for (int64_t j = 0; j < nk; ++j) s[j0 + j] = _mm512_mul_ps(acc[j], sc);
    }
}

// o[r][c] = o[r][c] * rescale[r] + sum over the tile's keys of w[r][key] * latent[key][c]
// for all 16 rows: vt holds the tile's latents as [d_c/16][pair][16] dwords, wp the
// weights as [pair][16 rows] dwords.
void accumulate_values(const int32_t* vt, const int32_t* wp, int64_t n_pairs, int64_t d_c, const float* rescale,
                       float* o) {
    for (int64_t cb = 0; cb < d_c / kLanes; ++cb) {
        __m512 acc[kLanes];
        for (int64_t r = 0; r < kLanes; ++r)
            acc[r] = _mm512_mul_ps(_mm512_load_ps(o + r * d_c + cb * kLanes), _mm512_set1_ps(rescale[r]));
        const int32_t* v = vt + cb * n_pairs * kLanes;
        for (int64_t u = 0; u < n_pairs; ++u) {
            const __m512i lat = _mm512_load_si512(v + u * kLanes);
            for (int64_t r = 0; r < kLanes; ++r) acc[r] = dp(acc[r], _mm512_set1_epi32(wp[u * kLanes + r]), lat);
        }
        for (int64_t r = 0; r < kLanes; ++r) _mm512_store_ps(o + r * d_c + cb * kLanes, acc[r]);
    }
}

}  // namespace

namespace detail {

// Kernels::attend_bf16 (see kernels.h).
void attend_bf16_avx512(const Bf16Attention& a) {
    const int64_t d_c = a.d_c, d_r = a.d_r, n_keys = a.t_end - a.t_begin;
    // The caller's work area (bf16_attention_work_bytes), 64-byte aligned pieces.
    char* w = static_cast<char*>(a.work);
    float* qt = reinterpret_cast<float*>(w);                     // [d_c + d_r][16]
    w += (d_c + d_r) * kLanes * 4;
    float* kf = reinterpret_cast<float*>(w);                     // [kTile][d_c + d_r]
    w += kTile * (d_c + d_r) * 4;
    __m512* s = reinterpret_cast<__m512*>(w);                    // [kTile] scores, then weights
    w += kTile * 64;
    int32_t* wp = reinterpret_cast<int32_t*>(w);                 // [kTile/2][16]
    w += kTile / 2 * kLanes * 4;
    int32_t* vt = reinterpret_cast<int32_t*>(w);                 // [d_c/16][kTile/2][16]
    w += d_c * kTile / 2 * 4;
    float* o = reinterpret_cast<float*>(w);                      // [16][d_c]
    alignas(64) float rescale[kLanes];
    const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
    const bool fp8 = a.lat_scales != nullptr;

    for (int64_t r0 = 0; r0 < a.rows; r0 += kLanes) {
        const int64_t nr = a.rows - r0 < kLanes ? a.rows - r0 : kLanes;
        const __mmask16 live = nr == kLanes ? __mmask16(0xFFFF) : __mmask16((1u << nr) - 1u);
        pack_queries(a.q_lat + r0 * d_c, a.q_rope + r0 * d_r, nr, d_c, d_r, qt);
        const __m512i last_key = _mm512_mask_loadu_epi32(_mm512_set1_epi32(-1), live, a.last_key + r0);
        for (int64_t i = 0; i < kLanes * d_c; ++i) o[i] = 0.0f;
        __m512 max = neg_inf, sum = _mm512_setzero_ps();

        for (int64_t k0 = 0; k0 < n_keys; k0 += kTile) {
            const int64_t m = n_keys - k0 < kTile ? n_keys - k0 : kTile, n_pairs = (m + 1) / 2;
            // The next tile's rows start their way from memory into L2 now, so
            // that this tile's arithmetic hides their latency.
            for (int64_t j = k0 + kTile; j < n_keys && j < k0 + 2 * kTile; ++j) {
                for (int64_t b = 0; b < d_c * (fp8 ? 1 : 2); b += 64)
                    _mm_prefetch(reinterpret_cast<const char*>(a.lat_rows[j]) + b, _MM_HINT_T1);
                _mm_prefetch(reinterpret_cast<const char*>(a.rope_rows[j]), _MM_HINT_T1);
                _mm_prefetch(reinterpret_cast<const char*>(a.rope_rows[j]) + d_r * 2 - 1, _MM_HINT_T1);
            }
            score_tile(qt, a.lat_rows + k0, fp8 ? a.lat_scales + k0 : nullptr, a.rope_rows + k0, m, d_c, d_r, a.scale,
                       kf, s);

            // Online softmax, per lane (row): keys past a row's last key are masked.
            __m512 tile_max = neg_inf;
            for (int64_t j = 0; j < m; ++j) {
                const __m512i t = _mm512_set1_epi32(int32_t(a.t_begin + k0 + j));
                s[j] = _mm512_mask_mov_ps(neg_inf, _mm512_cmple_epi32_mask(t, last_key), s[j]);
                tile_max = _mm512_max_ps(tile_max, s[j]);
            }
            const __m512 new_max = _mm512_max_ps(max, tile_max);
            // Rows that have seen no key yet keep max -inf; 0 stands in so that
            // their exps are exp(-inf) = 0 rather than NaN.
            const __m512 base = _mm512_mask_mov_ps(new_max, _mm512_cmp_ps_mask(new_max, neg_inf, _CMP_EQ_OQ),
                                                   _mm512_setzero_ps());
            _mm512_store_ps(rescale, exp_ps(_mm512_sub_ps(max, base)));
            __m512 tile_sum = _mm512_setzero_ps();
            for (int64_t j = 0; j < m; ++j) tile_sum = _mm512_add_ps(tile_sum, s[j] = exp_ps(_mm512_sub_ps(s[j], base)));
            sum = _mm512_fmadd_ps(sum, _mm512_load_ps(rescale), tile_sum);
            max = new_max;
            if (fp8)  // the latents go in as value * 2^-8 without their scale
                for (int64_t j = 0; j < m; ++j) s[j] = _mm512_mul_ps(s[j], _mm512_set1_ps(*a.lat_scales[k0 + j] * 256.0f));
            for (int64_t u = 0; u < n_pairs; ++u)
                _mm512_store_si512(wp + u * kLanes,
                                   interleave_bf16(s[2 * u], 2 * u + 1 < m ? s[2 * u + 1] : _mm512_setzero_ps()));

            // The tile's latents as pairs of neighbouring keys, 16 dims per vector.
            for (int64_t u = 0; u < n_pairs; ++u) {
                const void* x = a.lat_rows[k0 + 2 * u];
                const void* y = 2 * u + 1 < m ? a.lat_rows[k0 + 2 * u + 1] : nullptr;
                for (int64_t cb = 0; cb < d_c / kLanes; ++cb) {
                    const __m256i xv = latent_bf16x16(x, fp8, cb * kLanes);
                    const __m256i yv = y ? latent_bf16x16(y, fp8, cb * kLanes) : _mm256_setzero_si256();
                    _mm512_store_si512(vt + (cb * n_pairs + u) * kLanes, interleave_raw(xv, yv));
                }
            }
            accumulate_values(vt, wp, n_pairs, d_c, rescale, o);
        }

        alignas(64) float max_out[kLanes], sum_out[kLanes];
        _mm512_store_ps(max_out, max);
        _mm512_store_ps(sum_out, sum);
        for (int64_t r = 0; r < nr; ++r) {
            float* p = a.part + (r0 + r) * (d_c + 2);
            p[0] = max_out[r];
            p[1] = sum_out[r];
            for (int64_t c = 0; c < d_c; ++c) p[2 + c] = o[r * d_c + c];
        }
    }
}

}  // namespace detail

#endif  // MOLA_HAVE_AVX512_BF16

}  // namespace mola::cpu
