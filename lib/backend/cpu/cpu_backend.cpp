// cpu_backend.cpp: the backend operations on host memory, multi-threaded with
// OpenMP, on top of the ISA-dispatched kernels.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "common/error.h"

namespace mola {

namespace {

// Grow-only scratch: reallocates only when a larger size than ever before is
// needed, so steady-state decoding allocates nothing.
float* scratch(std::vector<float>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

// In-place softmax of n scores (float32, max-subtracted).
void softmax(float* s, int64_t n) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) max = std::max(max, s[i]);
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        s[i] = std::exp(s[i] - max);
        sum += s[i];
    }
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; ++i) s[i] *= inv;
}

// Indices of the k largest values (ties keep the lower index first).
void top_k(const float* v, int64_t n, int64_t k, int32_t* out) {
    thread_local std::vector<int32_t> order;
    order.resize(size_t(n));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [v](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
    std::copy(order.begin(), order.begin() + k, out);
}

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int n_threads)
        : k_(cpu::kernels()), threads_(n_threads > 0 ? n_threads : omp_get_num_procs()) {}

    std::string name() const override {
        return std::string("cpu (") + k_.isa + ", " + std::to_string(threads_) + " threads)";
    }

    float* alloc(size_t n) override {
        const size_t bytes = std::max<size_t>((n * sizeof(float) + 63) / 64 * 64, 64);
        void* p = std::aligned_alloc(64, bytes);
        if (!p) fail(MOLA_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes");
        std::memset(p, 0, bytes);
        return static_cast<float*>(p);
    }
    void free(float* p) override { std::free(p); }
    void read_back(const float* src, float* dst, size_t n) override {
        if (src != dst) std::memcpy(dst, src, n * sizeof(float));
    }

    void embed(const Matrix& table, const int32_t* tokens, int64_t n, float* out) override {
        for (int64_t i = 0; i < n; ++i) k_.dequant_rows(table, tokens[i], 1, out + i * table.cols);
    }

    void rms_norm(const float* x, int64_t x_stride, const float* w, int64_t n, int64_t dim, float eps, float* out,
                  int64_t out_stride) override {
        for (int64_t i = 0; i < n; ++i) {
            const float* xi = x + i * x_stride;
            float* yi = out + i * out_stride;
            double ss = 0;
            for (int64_t j = 0; j < dim; ++j) ss += double(xi[j]) * xi[j];
            const float r = float(1.0 / std::sqrt(ss / double(dim) + double(eps)));
            for (int64_t j = 0; j < dim; ++j) yi[j] = w[j] * (xi[j] * r);
        }
    }

    void linear(const Matrix& W, const float* x, int64_t n, float* y) override { k_.linear(W, x, n, y, threads_); }

    void copy_rows(const float* src, int64_t src_stride, int64_t n, int64_t dim, float* dst,
                   int64_t dst_stride) override {
        for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * dst_stride, src + i * src_stride, size_t(dim) * 4);
    }

    void add(float* y, const float* x, int64_t count) override {
        for (int64_t i = 0; i < count; ++i) y[i] += x[i];
    }

    void rope(float* x, int64_t n, int64_t token_stride, int64_t n_heads, int64_t head_stride, int64_t offset,
              int64_t d_rope, int64_t pos0, const float* theta, float attention_factor) override {
        for (int64_t t = 0; t < n; ++t) {
            const double pos = double(pos0 + t);
            for (int64_t i = 0; i < d_rope / 2; ++i) {
                const double angle = pos * double(theta[i]);
                const float c = float(std::cos(angle)) * attention_factor;
                const float s = float(std::sin(angle)) * attention_factor;
                for (int64_t h = 0; h < n_heads; ++h) {
                    float* v = x + t * token_stride + h * head_stride + offset + 2 * i;
                    const float x0 = v[0], x1 = v[1];
                    v[0] = x0 * c - x1 * s;
                    v[1] = x0 * s + x1 * c;
                }
            }
        }
    }

    void kv_write(const KvCacheView& cache, int64_t pos0, int64_t n, const float* kv, int64_t kv_stride) override {
        const KvLayout& L = *cache.layout;
        const int64_t d_c = L.d_c, d_r = L.d_r, mask = L.block_tokens - 1;
        for (int64_t i = 0; i < n; ++i) {
            const int64_t t = pos0 + i, r = t & mask;
            uint8_t* layer = L.layer_data(cache.blocks[t >> L.block_shift], cache.layer);
            uint8_t* latent = layer + size_t(r) * L.latent_row_bytes;
            uint8_t* rope = layer + L.rope_offset + size_t(r) * L.rope_row_bytes;
            const float* c_kv = kv + i * kv_stride;
            const float* k_pe = c_kv + d_c;
            switch (L.dtype) {
                case KvDType::F32:
                    std::memcpy(latent, c_kv, size_t(d_c) * sizeof(float));
                    std::memcpy(rope, k_pe, size_t(d_r) * sizeof(float));
                    break;
                case KvDType::BF16: {
                    uint16_t* lat = reinterpret_cast<uint16_t*>(latent);
                    for (int64_t j = 0; j < d_c; ++j) lat[j] = f32_to_bf16(c_kv[j]);
                    break;
                }
                case KvDType::FP8_E4M3: {
                    // One scale per token: the latent's largest magnitude maps to e4m3's 448.
                    float absmax = 0.0f;
                    for (int64_t j = 0; j < d_c; ++j) absmax = std::max(absmax, std::fabs(c_kv[j]));
                    const float scale = absmax > 0.0f ? absmax / 448.0f : 1.0f, inv = 1.0f / scale;
                    for (int64_t j = 0; j < d_c; ++j) latent[j] = f32_to_f8e4m3(c_kv[j] * inv);
                    reinterpret_cast<float*>(layer + L.scale_offset)[r] = scale;
                    break;
                }
            }
            if (L.rope_type == DType::BF16) {
                uint16_t* pe = reinterpret_cast<uint16_t*>(rope);
                for (int64_t j = 0; j < d_r; ++j) pe[j] = f32_to_bf16(k_pe[j]);
            }
        }
    }

    void kv_shift(const KvLayout& L, uint8_t* const* blocks, int64_t src_pos, int64_t dst_pos, int64_t n,
                  const float* theta) override {
        const int64_t half = L.d_r / 2, mask = L.block_tokens - 1;
        std::vector<double> cos_d(static_cast<size_t>(half)), sin_d(static_cast<size_t>(half));
        for (int64_t i = 0; i < half; ++i) {
            const double angle = double(dst_pos - src_pos) * double(theta[i]);
            cos_d[size_t(i)] = std::cos(angle);
            sin_d[size_t(i)] = std::sin(angle);
        }
        std::vector<float> pe(static_cast<size_t>(L.d_r));
        // Ascending order: with dst_pos < src_pos no row is overwritten before it moves.
        for (int64_t i = 0; i < n; ++i) {
            const int64_t s = src_pos + i, d = dst_pos + i, rs = s & mask, rd = d & mask;
            for (int64_t l = 0; l < L.n_layers; ++l) {
                const uint8_t* src = L.layer_data(blocks[s >> L.block_shift], l);
                uint8_t* dst = L.layer_data(blocks[d >> L.block_shift], l);
                std::memmove(dst + size_t(rd) * L.latent_row_bytes, src + size_t(rs) * L.latent_row_bytes,
                             L.latent_row_bytes);
                if (L.has_scales())
                    reinterpret_cast<float*>(dst + L.scale_offset)[rd] =
                        reinterpret_cast<const float*>(src + L.scale_offset)[rs];
                const uint8_t* rope_src = src + L.rope_offset + size_t(rs) * L.rope_row_bytes;
                uint8_t* rope_dst = dst + L.rope_offset + size_t(rd) * L.rope_row_bytes;
                if (L.rope_type == DType::F32)
                    std::memcpy(pe.data(), rope_src, size_t(L.d_r) * sizeof(float));
                else
                    for (int64_t j = 0; j < L.d_r; ++j)
                        pe[size_t(j)] = bf16_to_f32(reinterpret_cast<const uint16_t*>(rope_src)[j]);
                for (int64_t j = 0; j < half; ++j) {
                    const double x0 = pe[size_t(2 * j)], x1 = pe[size_t(2 * j + 1)];
                    pe[size_t(2 * j)] = float(x0 * cos_d[size_t(j)] - x1 * sin_d[size_t(j)]);
                    pe[size_t(2 * j + 1)] = float(x0 * sin_d[size_t(j)] + x1 * cos_d[size_t(j)]);
                }
                if (L.rope_type == DType::F32)
                    std::memcpy(rope_dst, pe.data(), size_t(L.d_r) * sizeof(float));
                else
                    for (int64_t j = 0; j < L.d_r; ++j)
                        reinterpret_cast<uint16_t*>(rope_dst)[j] = f32_to_bf16(pe[size_t(j)]);
            }
        }
    }

    void mla_attention(const MlaAttention& a) override {
        if (a.form == MlaForm::Absorbed)
            attention_absorbed(a);
        else
            attention_naive(a);
    }

    void mlp(const MlpWeights& w, const float* x, int64_t n, float* out) override { mlp_on(w, x, n, out, threads_); }

    void moe(const MoeWeights& w, const RoutingRule& rule, const float* x, int64_t n, float* out) override {
        const int64_t D = w.router.cols, E = rule.n_experts, K = rule.top_k;
        thread_local std::vector<float> logits_buf, weight_buf, y_buf, shared_buf;
        thread_local std::vector<int32_t> chosen, members, order;
        thread_local std::vector<int64_t> counts;
        float* logits = scratch(logits_buf, size_t(n * E));
        float* weights = scratch(weight_buf, size_t(n * K));
        chosen.resize(size_t(n * K));
        k_.linear(w.router, x, n, logits, threads_);
        for (int64_t t = 0; t < n; ++t) route(rule, w.correction_bias, logits + t * E, &chosen[size_t(t * K)], weights + t * K);

        // Group the tokens by expert so each selected expert's weights are read once.
        counts.assign(size_t(E + 1), 0);
        for (int32_t e : chosen) ++counts[size_t(e) + 1];
        std::partial_sum(counts.begin(), counts.end(), counts.begin());
        members.resize(size_t(n * K));
        {
            thread_local std::vector<int64_t> fill;
            fill.assign(counts.begin(), counts.end() - 1);
            for (int64_t j = 0; j < n * K; ++j) members[size_t(fill[size_t(chosen[size_t(j)])]++)] = int32_t(j);
        }
        // The selected experts run side by side, one whole expert per thread at a time
        // (largest first, dynamically scheduled): no barrier inside an expert, and each
        // thread streams its own expert's weights. Each (token, k) slot's output lands in
        // its own row of ys, and the weighted sum over k runs in a fixed order, so the
        // result does not depend on which thread ran which expert.
        order.clear();
        for (int64_t e = 0; e < E; ++e)
            if (counts[size_t(e) + 1] > counts[size_t(e)]) order.push_back(int32_t(e));
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
            return counts[size_t(a) + 1] - counts[size_t(a)] > counts[size_t(b) + 1] - counts[size_t(b)];
        });
        float* ys = scratch(y_buf, size_t(n * K * D));
        const int64_t n_active = int64_t(order.size());
        // (the thread_local vectors are this thread's: other threads see them through pointers)
        const int32_t* ord = order.data();
        const int32_t* mem = members.data();
        const int64_t* cnt = counts.data();
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 1) if (threads_ > 1)
        for (int64_t j = 0; j < n_active; ++j) {
            const int64_t e = ord[j];
            const int64_t first = cnt[e], m = cnt[e + 1] - first;
            thread_local std::vector<float> gathered_buf, expert_buf;
            float* gathered = scratch(gathered_buf, size_t(m * D));
            float* y = scratch(expert_buf, size_t(m * D));
            for (int64_t r = 0; r < m; ++r)
                std::memcpy(gathered + r * D, x + (mem[first + r] / K) * D, size_t(D) * 4);
            mlp_on(w.experts[size_t(e)], gathered, m, y, 1);
            for (int64_t r = 0; r < m; ++r)
                std::memcpy(ys + int64_t(mem[first + r]) * D, y + r * D, size_t(D) * 4);
        }
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && n > 1)
        for (int64_t t = 0; t < n; ++t) {
            float* o = out + t * D;
            std::fill(o, o + D, 0.0f);
            for (int64_t k = 0; k < K; ++k) k_.axpy(weights[t * K + k], ys + (t * K + k) * D, o, D);
        }
        if (!w.shared.gate.empty()) {
            float* shared = scratch(shared_buf, size_t(n * D));
            mlp(w.shared, x, n, shared);
            add(out, shared, n * D);
        }
    }

private:
    // out = down(silu(gate x) * up x) on n_threads threads.
    void mlp_on(const MlpWeights& w, const float* x, int64_t n, float* out, int n_threads) {
        thread_local std::vector<float> gate_buf, up_buf;
        const int64_t I = w.gate.rows;
        float* gate = scratch(gate_buf, size_t(n * I));
        float* up = scratch(up_buf, size_t(n * I));
        k_.linear(w.gate, x, n, gate, n_threads);
        k_.linear(w.up, x, n, up, n_threads);
        for (int64_t i = 0; i < n * I; ++i) gate[i] = silu(gate[i]) * up[i];
        k_.linear(w.down, gate, n, out, n_threads);
    }

    // Chooses top_k experts and their weights for one token (spec §5).
    static void route(const RoutingRule& rule, const float* correction_bias, const float* logits, int32_t* chosen,
                      float* weights) {
        const int64_t E = rule.n_experts, K = rule.top_k, G = rule.n_group, per_group = E / G;
        thread_local std::vector<float> score_buf, select_buf, group_buf;
        thread_local std::vector<int32_t> groups;
        thread_local std::vector<char> keep;
        float* score = scratch(score_buf, size_t(E));   // the affinities weights come from
        float* select = scratch(select_buf, size_t(E)); // what selection ranks
        std::copy(logits, logits + E, score);
        if (rule.scoring == Scoring::Softmax) {
            softmax(score, E);
        } else {
            for (int64_t e = 0; e < E; ++e) score[e] = 1.0f / (1.0f + std::exp(-score[e]));
        }
        for (int64_t e = 0; e < E; ++e) select[e] = score[e] + (correction_bias ? correction_bias[e] : 0.0f);
        if (rule.method != TopkMethod::Greedy && rule.topk_group < G) {
            // Keep only the experts of the best topk_group groups; the others get -inf.
            float* group_score = scratch(group_buf, size_t(G));
            for (int64_t g = 0; g < G; ++g) {
                const float* s = select + g * per_group;
                if (rule.method == TopkMethod::NoauxTc) {  // sum of the two largest biased scores
                    float a = -INFINITY, b = -INFINITY;
                    for (int64_t j = 0; j < per_group; ++j) {
                        if (s[j] > a) {
                            b = a;
                            a = s[j];
                        } else if (s[j] > b) {
                            b = s[j];
                        }
                    }
                    group_score[g] = a + b;
                } else {  // group_limited_greedy: the largest score
                    group_score[g] = *std::max_element(s, s + per_group);
                }
            }
            groups.resize(size_t(rule.topk_group));
            top_k(group_score, G, rule.topk_group, groups.data());
            keep.assign(size_t(G), 0);
            for (int32_t g : groups) keep[size_t(g)] = 1;
            for (int64_t e = 0; e < E; ++e)
                if (!keep[size_t(e / per_group)]) select[e] = -INFINITY;
        }
        top_k(select, E, K, chosen);
        float sum = 0.0f;
        for (int64_t k = 0; k < K; ++k) sum += (weights[k] = score[chosen[k]]);
        const float norm = rule.normalize ? 1.0f / (sum + 1e-20f) : 1.0f;
        for (int64_t k = 0; k < K; ++k) weights[k] = weights[k] * norm * rule.scaling;
    }

    // Attention over the latent cache with W_UK absorbed into the queries and W_UV
    // applied after the weighted sum (spec §3.6), flash-decoding style: the cache is
    // read once, in tiles of kKeyTile keys, for all heads at once (each tile is
    // converted to floats once and multiplied as a matrix with every query-head
    // row), with an online softmax. Long key ranges are cut into fixed spans that
    // run on different threads, each keeping its own running max, sum and weighted
    // latent sum, merged afterwards in span order. Tiles and spans depend only on
    // token positions, never on the cache's block size or the thread count, so
    // neither changes a result. Queries are grouped so prefill chunks split by query.
    void attention_absorbed(const MlaAttention& a) {
        const int64_t H = a.n_heads, d_qk = a.d_nope + a.d_rope, d_c = a.d_c, d_r = a.d_rope, n = a.n;
        thread_local std::vector<float> qabs_buf, qpe_buf, part_buf, lat_buf;
        float* q_abs = scratch(qabs_buf, size_t(n * H * d_c));  // [n][H][d_c]
        float* q_pe = scratch(qpe_buf, size_t(n * H * d_r));    // [n][H][d_r]
        for (int64_t i = 0; i < n * H; ++i) std::memcpy(q_pe + i * d_r, a.q + i * d_qk + a.d_nope, size_t(d_r) * 4);
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1)
        for (int64_t h = 0; h < H; ++h) {
            thread_local std::vector<float> qn_buf, qa_buf;
            float* q_nope = scratch(qn_buf, size_t(n * a.d_nope));
            float* qa = scratch(qa_buf, size_t(n * d_c));
            for (int64_t i = 0; i < n; ++i)
                std::memcpy(q_nope + i * a.d_nope, a.q + (i * H + h) * d_qk, size_t(a.d_nope) * 4);
            k_.linear_t(a.kv_b.row_slice(h * (a.d_nope + a.d_v), a.d_nope), q_nope, n, qa);
            for (int64_t i = 0; i < n; ++i) std::memcpy(q_abs + (i * H + h) * d_c, qa + i * d_c, size_t(d_c) * 4);
        }

        // Work items: query groups x key spans. A group's keys end at its last
        // query's position; they are cut into spans only when there are too few
        // groups to share out (decode and short chunks).
        const int64_t group = std::min<int64_t>(n, std::max<int64_t>(1, kAttentionRows / H));
        const int64_t n_groups = (n + group - 1) / group;
        const int64_t span = n_groups >= kMinGroupsUnsplit ? a.pos0 + n : kSpanTiles * kKeyTile;
        const int64_t n_splits = (a.pos0 + n + span - 1) / span;
        const int64_t rows = group * H, part_floats = rows * (d_c + 2);
        float* parts = scratch(part_buf, size_t(n_groups * n_splits * part_floats));
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 1) if (threads_ > 1 && n_groups * n_splits > 1)
        for (int64_t item = 0; item < n_groups * n_splits; ++item) {
            const int64_t g = item / n_splits, split = item % n_splits;
            const int64_t i0 = g * group, ni = std::min(group, n - i0), T = a.pos0 + i0 + ni;
            attend_range(a, q_abs + i0 * H * d_c, q_pe + i0 * H * d_r, i0, ni, std::min(T, split * span),
                         std::min(T, (split + 1) * span), parts + item * part_floats);
        }

        // Merge the key ranges of each query-head row: rescale each range's sums
        // to the common max (spec §3.6's softmax, computed piecewise).
        float* o_lat = scratch(lat_buf, size_t(H * n * d_c));  // [H][n][d_c], for W_UV per head
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && n * H > 1)
        for (int64_t qh = 0; qh < n * H; ++qh) {
            const int64_t i = qh / H, h = qh % H, g = i / group, row = qh - g * rows;
            const float* first = parts + g * n_splits * part_floats;
            float max = -std::numeric_limits<float>::infinity();
            for (int64_t s = 0; s < n_splits; ++s) max = std::max(max, first[s * part_floats + row * (d_c + 2)]);
            float* lat = o_lat + (h * n + i) * d_c;
            std::fill(lat, lat + d_c, 0.0f);
            float sum = 0.0f;
            for (int64_t s = 0; s < n_splits; ++s) {
                const float* p = first + s * part_floats + row * (d_c + 2);
                if (p[0] == -std::numeric_limits<float>::infinity()) continue;  // a range with no visible key
                const float w = std::exp(p[0] - max);
                sum += w * p[1];
                k_.axpy(w, p + 2, lat, d_c);
            }
            const float inv = 1.0f / sum;
            for (int64_t j = 0; j < d_c; ++j) lat[j] *= inv;
        }
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1)
        for (int64_t h = 0; h < H; ++h) {
            thread_local std::vector<float> o_buf;
            float* o = scratch(o_buf, size_t(n * a.d_v));
            k_.linear(a.kv_b.row_slice(h * (a.d_nope + a.d_v) + a.d_nope, a.d_v), o_lat + h * n * d_c, n, o, 1);
            for (int64_t i = 0; i < n; ++i)
                std::memcpy(a.out + (i * H + h) * a.d_v, o + i * a.d_v, size_t(a.d_v) * 4);
        }
    }

    // Query-head rows per work item of attention_absorbed: enough rows that each
    // converted tile is reused many times while it sits in cache.
    static constexpr int64_t kAttentionRows = 64;
    // Keys per tile (converted to floats at once), tiles per span of a split key
    // range, and the query groups from which the keys are no longer split.
    static constexpr int64_t kKeyTile = 64, kSpanTiles = 8, kMinGroupsUnsplit = 4;

    // Online softmax of queries [i0, i0 + ni) (all heads; q_abs [ni][H][d_c], q_pe
    // [ni][H][d_r]) over keys [t_begin, t_end), tile by tile from t_begin.
    // Writes per query-head row: the running max, the sum of exp(score - max) and
    // the latent rows weighted by those exps ([rows][2 + d_c]); a row that sees no
    // key has max -inf, sum 0 and a zero latent sum. Causal: query i sees keys up
    // to pos0 + i.
    void attend_range(const MlaAttention& a, const float* q_abs, const float* q_pe, int64_t i0, int64_t ni,
                      int64_t t_begin, int64_t t_end, float* part) {
        const KvLayout& L = *a.cache.layout;
        const int64_t H = a.n_heads, d_c = a.d_c, d_r = a.d_rope, rows = ni * H, mask = L.block_tokens - 1;
        const float neg_inf = -std::numeric_limits<float>::infinity();
        if (k_.attend_bf16 && (L.latent_type == DType::BF16 || L.latent_type == DType::F8_E4M3) &&
            L.rope_type == DType::BF16 && d_c % 16 == 0 && d_r % 2 == 0) {
            attend_range_bf16(a, q_abs, q_pe, i0, ni, t_begin, t_end, part);
            return;
        }
        thread_local std::vector<float> lat_buf, pe_buf, s_buf, sr_buf, acc_buf;
        float* lat = scratch(lat_buf, size_t(kKeyTile * d_c));  // the tile's latents as floats
        float* pe = scratch(pe_buf, size_t(kKeyTile * d_r));
        float* s = scratch(s_buf, size_t(rows * kKeyTile));     // scores, then weights [rows][m]
        float* s_rope = scratch(sr_buf, size_t(rows * kKeyTile));
        float* acc = scratch(acc_buf, size_t(rows * d_c));
        for (int64_t r = 0; r < rows; ++r) {
            part[r * (d_c + 2)] = neg_inf;
            std::fill(part + r * (d_c + 2) + 1, part + (r + 1) * (d_c + 2), 0.0f);
        }
        for (int64_t t0 = t_begin; t0 < t_end; t0 += kKeyTile) {
            const int64_t m = std::min(kKeyTile, t_end - t0);
            for (int64_t r = 0; r < m; ++r) {
                const int64_t t = t0 + r, br = t & mask;
                const uint8_t* layer = L.layer_data(a.cache.blocks[t >> L.block_shift], a.cache.layer);
                float* c = lat + r * d_c;
                k_.load_row(layer + size_t(br) * L.latent_row_bytes, L.latent_type, c, d_c);
                if (L.has_scales()) {
                    const float row_scale = reinterpret_cast<const float*>(layer + L.scale_offset)[br];
                    for (int64_t j = 0; j < d_c; ++j) c[j] *= row_scale;
                }
                k_.load_row(layer + L.rope_offset + size_t(br) * L.rope_row_bytes, L.rope_type, pe + r * d_r, d_r);
            }
            Matrix lat_m, pe_m;
            lat_m.rows = pe_m.rows = m;
            lat_m.cols = d_c;
            pe_m.cols = d_r;
            lat_m.data = lat;
            pe_m.data = pe;
            k_.linear(lat_m, q_abs, rows, s, 1);
            k_.linear(pe_m, q_pe, rows, s_rope, 1);
            for (int64_t row = 0; row < rows; ++row) {
                float* sr = s + row * m;
                const float* srp = s_rope + row * m;
                const int64_t visible = std::min(m, a.pos0 + i0 + row / H + 1 - t0);  // causal
                float* p = part + row * (d_c + 2);
                if (visible <= 0) {
                    std::fill(sr, sr + m, 0.0f);
                    continue;
                }
                float tile_max = neg_inf;
                for (int64_t r = 0; r < visible; ++r) tile_max = std::max(tile_max, sr[r] = a.scale * (sr[r] + srp[r]));
                const float new_max = std::max(p[0], tile_max);
                const float rescale = std::exp(p[0] - new_max);  // 0 while nothing was seen
                float sum = 0.0f;
                for (int64_t r = 0; r < visible; ++r) sum += (sr[r] = std::exp(sr[r] - new_max));
                std::fill(sr + visible, sr + m, 0.0f);
                p[0] = new_max;
                p[1] = p[1] * rescale + sum;
                if (rescale != 1.0f)
                    for (int64_t j = 0; j < d_c; ++j) p[2 + j] *= rescale;
            }
            k_.linear_t(lat_m, s, rows, acc);
            for (int64_t row = 0; row < rows; ++row) k_.axpy(1.0f, acc + row * d_c, part + row * (d_c + 2) + 2, d_c);
        }
    }

    // attend_range on a BF16 or FP8 cache with the bf16 dot-product kernel: the keys'
    // row addresses and each row's last visible key, then one call.
    void attend_range_bf16(const MlaAttention& a, const float* q_abs, const float* q_pe, int64_t i0, int64_t ni,
                           int64_t t_begin, int64_t t_end, float* part) {
        const KvLayout& L = *a.cache.layout;
        const int64_t H = a.n_heads, rows = ni * H, n_keys = t_end - t_begin, mask = L.block_tokens - 1;
        thread_local std::vector<const void*> lat_rows;
        thread_local std::vector<const uint16_t*> rope_rows;
        thread_local std::vector<const float*> lat_scales;
        thread_local std::vector<int32_t> last_key;
        thread_local std::vector<float> work_buf;
        if (int64_t(lat_rows.size()) < n_keys)
            lat_rows.resize(size_t(n_keys)), rope_rows.resize(size_t(n_keys)), lat_scales.resize(size_t(n_keys));
        if (int64_t(last_key.size()) < rows) last_key.resize(size_t(rows));
        for (int64_t k = 0; k < n_keys; ++k) {
            const int64_t t = t_begin + k, br = t & mask;
            const uint8_t* layer = L.layer_data(a.cache.blocks[t >> L.block_shift], a.cache.layer);
            lat_rows[size_t(k)] = layer + size_t(br) * L.latent_row_bytes;
            if (L.has_scales()) lat_scales[size_t(k)] = reinterpret_cast<const float*>(layer + L.scale_offset) + br;
            rope_rows[size_t(k)] =
                reinterpret_cast<const uint16_t*>(layer + L.rope_offset + size_t(br) * L.rope_row_bytes);
        }
        for (int64_t row = 0; row < rows; ++row) last_key[size_t(row)] = int32_t(a.pos0 + i0 + row / H);
        const size_t work_floats = size_t(cpu::bf16_attention_work_bytes(a.d_c, a.d_rope)) / 4 + 16;
        float* work = scratch(work_buf, work_floats);
        work += (16 - (reinterpret_cast<uintptr_t>(work) / 4) % 16) % 16;  // 64-byte aligned
        cpu::Bf16Attention args;
        args.q_lat = q_abs;
        args.q_rope = q_pe;
        args.last_key = last_key.data();
        args.rows = rows;
        args.d_c = a.d_c;
        args.d_r = a.d_rope;
        args.scale = a.scale;
        args.lat_rows = lat_rows.data();
        args.lat_scales = L.has_scales() ? lat_scales.data() : nullptr;
        args.rope_rows = rope_rows.data();
        args.t_begin = t_begin;
        args.t_end = t_end;
        args.part = part;
        args.work = work;
        k_.attend_bf16(args);
    }

    // The first T rows of one layer of the cache as floats: c_kv [T][d_c] and
    // k_pe [T][d_r] (FP8 latents scaled back).
    void gather_cache(const KvCacheView& cache, int64_t T, float* c_kv, float* k_pe) {
        const KvLayout& L = *cache.layout;
        const int64_t d_c = L.d_c, d_r = L.d_r, bt = L.block_tokens;
        const int64_t n_blocks = (T + bt - 1) / bt;
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && n_blocks > 1)
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* layer = L.layer_data(cache.blocks[b], cache.layer);
            const float* row_scale = L.has_scales() ? reinterpret_cast<const float*>(layer + L.scale_offset) : nullptr;
            const int64_t t0 = b * bt, m = std::min(bt, T - t0);
            for (int64_t r = 0; r < m; ++r) {
                float* c = c_kv + (t0 + r) * d_c;
                k_.load_row(layer + size_t(r) * L.latent_row_bytes, L.latent_type, c, d_c);
                if (row_scale)
                    for (int64_t j = 0; j < d_c; ++j) c[j] *= row_scale[r];
                k_.load_row(layer + L.rope_offset + size_t(r) * L.rope_row_bytes, L.rope_type, k_pe + (t0 + r) * d_r,
                            d_r);
            }
        }
    }

    // Attention with keys and values decompressed from the latents: standard MHA
    // with head_dim_qk = d_n + d_r and head_dim_v = d_v (spec §3.5).
    void attention_naive(const MlaAttention& a) {
        const int64_t H = a.n_heads, d_qk = a.d_nope + a.d_rope, n = a.n, T_all = a.pos0 + n;
        const int64_t kv_width = H * (a.d_nope + a.d_v);
        thread_local std::vector<float> kv_buf, c_kv_buf, k_pe_buf;
        float* c_kv = scratch(c_kv_buf, size_t(T_all * a.d_c));
        float* k_pe_all = scratch(k_pe_buf, size_t(T_all * a.d_rope));
        gather_cache(a.cache, T_all, c_kv, k_pe_all);
        float* kv = scratch(kv_buf, size_t(T_all * kv_width));
        k_.linear(a.kv_b, c_kv, T_all, kv, threads_);
        const float* k_pe = k_pe_all;
#pragma omp parallel for num_threads(threads_) schedule(static) collapse(2)
        for (int64_t h = 0; h < H; ++h) {
            for (int64_t i = 0; i < n; ++i) {
                thread_local std::vector<float> score_buf;
                float* scores = scratch(score_buf, size_t(T_all));
                const float* q = a.q + (i * H + h) * d_qk;
                const int64_t T = a.pos0 + i + 1;
                for (int64_t t = 0; t < T; ++t) {
                    const float* k_nope = kv + t * kv_width + h * (a.d_nope + a.d_v);
                    scores[t] = a.scale * (k_.dot(q, k_nope, a.d_nope) +
                                           k_.dot(q + a.d_nope, k_pe + t * a.d_rope, a.d_rope));
                }
                softmax(scores, T);
                float* o = a.out + (i * H + h) * a.d_v;
                std::fill(o, o + a.d_v, 0.0f);
                for (int64_t t = 0; t < T; ++t)
                    k_.axpy(scores[t], kv + t * kv_width + h * (a.d_nope + a.d_v) + a.d_nope, o, a.d_v);
            }
        }
    }

    const cpu::Kernels& k_;
    int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

}  // namespace mola
