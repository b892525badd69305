// backend.h: the small set of coarse operations the model's math is written in.
// A backend implements them for one kind of device. The CPU backend works on host
// memory; a GPU backend receives pointers to device memory it allocated itself
// (alloc), so the math never touches activations directly, and may queue work
// asynchronously until read_back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/matrix.h"
#include "engine/config.h"
#include "kvcache/layout.h"

namespace mola {

// A SwiGLU feed-forward block: down(silu(gate(x)) * up(x)).
struct MlpWeights {
    Matrix gate, up, down;
};

// Routing and experts of one MoE layer (spec §5).
struct MoeWeights {
    Matrix router;                       // [E, D]
    const float* correction_bias = nullptr;  // [E] or nullptr; used for selection only
    std::vector<MlpWeights> experts;     // E routed experts
    MlpWeights shared;                   // n_shared fused experts; empty if none
};

// The routing rule of a model (copied from its config).
struct RoutingRule {
    Scoring scoring = Scoring::Softmax;
    TopkMethod method = TopkMethod::Greedy;
    int64_t n_experts = 0, top_k = 0, n_group = 1, topk_group = 1;
    bool normalize = false;
    float scaling = 1.0f;
};

enum class MlaForm { Absorbed, Naive };

// One layer of a session's paged latent cache: token t is row t % block_tokens of
// block t / block_tokens, laid out and typed as layout says (kvcache/layout.h).
struct KvCacheView {
    const KvLayout* layout = nullptr;
    uint8_t* const* blocks = nullptr;  // the session's blocks in token order (backend memory)
    int64_t layer = 0;
};

// Multi-head latent attention of n query tokens at positions pos0 .. pos0+n-1 over
// the latent cache rows 0 .. pos0+n-1 of one layer (spec §3.5, §3.6).
struct MlaAttention {
    const float* q = nullptr;       // [n][H][d_n + d_r], rope part already rotated
    KvCacheView cache;              // rows: RMSNorm(c_kv) [d_c] and RoPE(k_pe) [d_r]
    Matrix kv_b;                    // [H * (d_n + d_v)][d_c]
    int64_t n = 0, pos0 = 0;
    int64_t n_heads = 0, d_nope = 0, d_rope = 0, d_v = 0, d_c = 0;
    float scale = 1.0f;
    MlaForm form = MlaForm::Absorbed;
    float* out = nullptr;           // [n][H][d_v]
};

class Backend {
public:
    virtual ~Backend() = default;
    // E.g. "cpu (avx512-bf16, 2 threads)".
    virtual std::string name() const = 0;

    // Buffers of floats in backend memory, zero-filled; freed with the backend's free.
    // Both are safe from any thread (sessions and the cache pool call them at once).
    virtual float* alloc(size_t n_floats) = 0;
    virtual void free(float* buffer) = 0;
    // Copies n floats from backend memory to host memory, finishing queued work.
    virtual void read_back(const float* src, float* host_dst, size_t n) = 0;

    // out[i] = row tokens[i] of table.
    virtual void embed(const Matrix& table, const int32_t* tokens, int64_t n, float* out) = 0;
    // RMSNorm of n rows of dim values (row strides in floats); may run in place.
    virtual void rms_norm(const float* x, int64_t x_stride, const float* weight, int64_t n, int64_t dim,
                          float eps, float* out, int64_t out_stride) = 0;
    // y[n][W.rows] = x[n][W.cols] * W^T: every projection and the lm_head.
    virtual void linear(const Matrix& W, const float* x, int64_t n, float* y) = 0;
    // Copies n rows of dim floats between strided layouts.
    virtual void copy_rows(const float* src, int64_t src_stride, int64_t n, int64_t dim, float* dst,
                           int64_t dst_stride) = 0;
    // y += x over count floats (residual connections).
    virtual void add(float* y, const float* x, int64_t count) = 0;
    // Rotates the d_rope values at offset of each of n_heads heads of n tokens at
    // positions pos0.. by the interleaved-pair rule of spec §3.3, using the per-pair
    // frequencies theta[d_rope/2]; cos/sin are multiplied by attention_factor.
    virtual void rope(float* x, int64_t n, int64_t token_stride, int64_t n_heads, int64_t head_stride,
                      int64_t offset, int64_t d_rope, int64_t pos0, const float* theta,
                      float attention_factor) = 0;
    // Stores n rows of [c_kv | k_pe] (d_c + d_r floats each, rows kv_stride floats
    // apart) as the cache rows of tokens pos0 .. pos0+n-1, converted to the cache's
    // dtype (FP8: the latent scaled by its absmax / 448, the scale stored beside it).
    virtual void kv_write(const KvCacheView& cache, int64_t pos0, int64_t n, const float* kv,
                          int64_t kv_stride) = 0;
    // Moves the cache rows of tokens src_pos .. src_pos+n-1 of every layer to
    // dst_pos .. dst_pos+n-1 (dst_pos < src_pos; blocks as in KvCacheView, those
    // written must not be shared). Latent rows (and FP8 scales) move unchanged; each
    // rope row, RoPE(k_pe) at its old position, is turned by (dst_pos - src_pos)
    // positions with the per-pair frequencies theta[d_r/2]: rotations compose, so
    // the result is RoPE(k_pe) at the new position, with the forward rope's
    // attention_factor already in it (the correction itself has magnitude 1).
    virtual void kv_shift(const KvLayout& layout, uint8_t* const* blocks, int64_t src_pos, int64_t dst_pos,
                          int64_t n, const float* theta) = 0;
    virtual void mla_attention(const MlaAttention& a) = 0;
    // out[n][D] = SwiGLU MLP of x.
    virtual void mlp(const MlpWeights& w, const float* x, int64_t n, float* out) = 0;
    // out[n][D] = routed experts (weighted by the rule) + shared experts of x.
    virtual void moe(const MoeWeights& w, const RoutingRule& rule, const float* x, int64_t n, float* out) = 0;
};

// The CPU backend with n_threads OpenMP threads (0 = all cores).
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

}  // namespace mola
