// test_attention.cpp: the CPU backend's MLA attention over long paged caches (many
// blocks, key ranges split across threads and merged) against a double-precision
// reference computed from the values the cache stores: the fp32 path, and the
// bf16 dot-product path that BF16 caches take on CPUs with AVX512_BF16.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "kvcache/block_pool.h"
#include "kvcache/block_table.h"
#include "kvcache/layout.h"

using mola::KvDType;

namespace {

struct Dims {
    int64_t H = 4, d_nope = 16, d_rope = 8, d_v = 12, d_c = 40;
};

// Does a BF16 or FP8 cache of these dims take the bf16 dot-product kernel here?
bool bf16_kernel(const Dims& d, KvDType dtype) {
    return dtype != KvDType::F32 && mola::cpu::kernels().attend_bf16 && d.d_c % 16 == 0 && d.d_rope % 2 == 0;
}

// Absorbed-form attention (spec §3.6) in double precision: out [n][H][d_v].
std::vector<double> reference(const Dims& d, const mola::KvLayout& L, const mola::BlockTable& table,
                              const std::vector<float>& q, const std::vector<float>& kv_b, int64_t pos0, int64_t n,
                              float scale) {
    const int64_t T = pos0 + n, d_qk = d.d_nope + d.d_rope;
    std::vector<double> c(static_cast<size_t>(T * d.d_c)), pe(static_cast<size_t>(T * d.d_rope));
    std::vector<float> row(static_cast<size_t>(d.d_c));
    for (int64_t t = 0; t < T; ++t) {
        const uint8_t* layer = L.layer_data(table.data()[t >> L.block_shift], 0);
        const int64_t r = t & (L.block_tokens - 1);
        const double row_scale = L.has_scales() ? reinterpret_cast<const float*>(layer + L.scale_offset)[r] : 1.0;
        mola::cpu::kernels().load_row(layer + size_t(r) * L.latent_row_bytes, L.latent_type, row.data(), d.d_c);
        for (int64_t j = 0; j < d.d_c; ++j) c[size_t(t * d.d_c + j)] = row[size_t(j)] * row_scale;
        mola::cpu::kernels().load_row(layer + L.rope_offset + size_t(r) * L.rope_row_bytes, L.rope_type, row.data(),
                                      d.d_rope);
        for (int64_t j = 0; j < d.d_rope; ++j) pe[size_t(t * d.d_rope + j)] = row[size_t(j)];
    }
    std::vector<double> out(static_cast<size_t>(n * d.H * d.d_v)), q_abs(static_cast<size_t>(d.d_c));
    std::vector<double> s(static_cast<size_t>(T)), lat(static_cast<size_t>(d.d_c));
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t h = 0; h < d.H; ++h) {
            const float* qh = &q[size_t((i * d.H + h) * d_qk)];
            const float* w = &kv_b[size_t(h * (d.d_nope + d.d_v) * d.d_c)];  // W_UK rows, then W_UV rows
            for (int64_t j = 0; j < d.d_c; ++j) {
                q_abs[size_t(j)] = 0;
                for (int64_t k = 0; k < d.d_nope; ++k) q_abs[size_t(j)] += double(qh[k]) * w[k * d.d_c + j];
            }
            const int64_t visible = pos0 + i + 1;
            double max = -1e300, sum = 0;
            for (int64_t t = 0; t < visible; ++t) {
                double dot = 0;
                for (int64_t j = 0; j < d.d_c; ++j) dot += q_abs[size_t(j)] * c[size_t(t * d.d_c + j)];
                for (int64_t j = 0; j < d.d_rope; ++j) dot += double(qh[d.d_nope + j]) * pe[size_t(t * d.d_rope + j)];
                s[size_t(t)] = scale * dot;
                max = std::max(max, s[size_t(t)]);
            }
            std::fill(lat.begin(), lat.end(), 0.0);
            for (int64_t t = 0; t < visible; ++t) {
                const double p = std::exp(s[size_t(t)] - max);
                sum += p;
                for (int64_t j = 0; j < d.d_c; ++j) lat[size_t(j)] += p * c[size_t(t * d.d_c + j)];
            }
            for (int64_t k = 0; k < d.d_v; ++k) {
                double o = 0;
                for (int64_t j = 0; j < d.d_c; ++j) o += w[(d.d_nope + k) * d.d_c + j] * lat[size_t(j)] / sum;
                out[size_t((i * d.H + h) * d.d_v + k)] = o;
            }
        }
    }
    return out;
}

}  // namespace

TEST_CASE("absorbed attention over many cache blocks, split across threads, matches a double reference; "
          "neither the block size nor the thread count changes a bit",
          "[attention][backend]") {
    // d_c 40 takes the fp32 path for every cache; d_c 64 (with 6 heads: query-head
    // rows that do not fill the kernel's groups of 16) takes the bf16 kernel for
    // BF16 and FP8 caches where the CPU has one.
    Dims wide;
    wide.H = 6;
    wide.d_c = 64;
    for (const Dims& d : {Dims(), wide})
    for (KvDType dtype : {KvDType::F32, KvDType::BF16, KvDType::FP8_E4M3}) {
        const int64_t d_kv = d.d_c + d.d_rope, d_qk = d.d_nope + d.d_rope;
        std::normal_distribution<float> normal(0.0f, 1.0f);
        // The bf16 kernel rounds the softmax weights to bf16 for the value product,
        // as DeepSeek's reference does (its scores stay fp32): measured up to 6.2e-4 (BF16), 8.8e-4 (FP8).
        const double bound = bf16_kernel(d, dtype) ? 2e-3 : 1e-5;
        // A decode step deep into the cache, a prefill chunk of a few query groups
        // (keys split into spans) and one of many groups (keys not split).
        for (int64_t n : {int64_t(1), int64_t(37), int64_t(70)}) {
            std::vector<float> first;
            for (int64_t bt : {1, 16, 64, 256}) {
                for (int threads : {1, 2, 3}) {
                    const int64_t pos0 = 700, T = pos0 + n;
                    INFO(mola::kv_dtype_name(dtype) << " d_c " << d.d_c << " block_tokens " << bt << " threads "
                                                    << threads << " n " << n << " bf16 kernel " << bf16_kernel(d, dtype));
                    auto backend = mola::make_cpu_backend(threads);
                    const mola::KvLayout L = mola::make_kv_layout(dtype, 1, d.d_c, d.d_rope, bt);
                    mola::BlockPool pool(*backend, L, size_t((T + bt - 1) / bt + 1) * L.block_bytes);
                    mola::BlockTable table(pool);
                    table.reserve(T);
                    std::mt19937 rng(uint32_t(11 + n));  // the same inputs for every block size and thread count
                    std::vector<float> kv(size_t(T * d_kv)), q(size_t(n * d.H * d_qk));
                    std::vector<float> kv_b(size_t(d.H * (d.d_nope + d.d_v) * d.d_c));
                    for (float& v : kv) v = normal(rng);
                    for (float& v : q) v = normal(rng);
                    for (float& v : kv_b) v = normal(rng) * 0.3f;
                    const mola::KvCacheView view{&L, table.data(), 0};
                    backend->kv_write(view, 0, T, kv.data(), d_kv);

                    mola::MlaAttention a;
                    a.q = q.data();
                    a.cache = view;
                    a.kv_b.rows = d.H * (d.d_nope + d.d_v);
                    a.kv_b.cols = d.d_c;
                    a.kv_b.data = kv_b.data();
                    a.n = n;
                    a.pos0 = pos0;
                    a.n_heads = d.H;
                    a.d_nope = d.d_nope;
                    a.d_rope = d.d_rope;
                    a.d_v = d.d_v;
                    a.d_c = d.d_c;
                    a.scale = 0.15f;
                    std::vector<float> out(size_t(n * d.H * d.d_v), -1.0f);
                    a.out = out.data();
                    a.form = mola::MlaForm::Absorbed;
                    backend->mla_attention(a);

                    const std::vector<double> want = reference(d, L, table, q, kv_b, pos0, n, a.scale);
                    double err = 0, norm = 0;
                    for (size_t k = 0; k < want.size(); ++k) {
                        err += (out[k] - want[k]) * (out[k] - want[k]);
                        norm += want[k] * want[k];
                    }
                    CAPTURE(std::sqrt(err / norm));
                    CHECK(std::sqrt(err / norm) < bound);
                    if (first.empty())
                        first = out;
                    else
                        CHECK(out == first);
                }
            }
        }
    }
}
