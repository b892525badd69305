// weights.cpp: binding checkpoint tensors to model blocks, with validation.
#include "engine/weights.h"

#include <cstdio>
#include <cstring>
#include <set>

#include "common/error.h"

namespace mola {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

class Binder {
public:
    Binder(const DeepSeekConfig& config, const Checkpoint& checkpoint, ModelWeights& out)
        : config_(config), ckpt_(checkpoint), out_(out) {}

    const TensorInfo& tensor(const std::string& name) {
        const TensorInfo* t = ckpt_.find(name);
        if (!t)
            fail(MOLA_ERR_BAD_FORMAT, ckpt_.dir() + ": missing tensor '" + name + "' (required by " +
                                          ckpt_.config_path() + ")");
        used_.insert(name);
        return *t;
    }

    static std::string where(const TensorInfo& t) { return *t.file + ": tensor '" + t.name + "'"; }

    void expect_shape(const TensorInfo& t, std::vector<int64_t> shape) {
        if (t.shape != shape) {
            TensorInfo expected;
            expected.shape = shape;
            fail(MOLA_ERR_BAD_FORMAT, where(t) + ": shape " + t.shape_string() + ", expected " +
                                          expected.shape_string() + " from config.json");
        }
    }

    Matrix matrix(const std::string& name, int64_t rows, int64_t cols, bool may_be_fp8 = true) {
        const TensorInfo& t = tensor(name);
        expect_shape(t, {rows, cols});
        Matrix m;
        m.dtype = t.dtype;
        m.rows = rows;
        m.cols = cols;
        m.data = t.data;
        switch (t.dtype) {
            case DType::F32:
            case DType::F16:
            case DType::BF16: break;
            case DType::F8_E4M3: {
                if (!may_be_fp8)
                    fail(MOLA_ERR_UNSUPPORTED, where(t) + ": F8_E4M3 is supported only for attention and FFN "
                                                          "projections (spec: embeddings, lm_head and router stay BF16)");
                const TensorInfo& s = tensor(name + "_scale_inv");
                if (s.dtype != DType::F32)
                    fail(MOLA_ERR_UNSUPPORTED, where(s) + ": dtype " + dtype_name(s.dtype) + ", expected F32 block scales");
                expect_shape(s, {ceil_div(rows, kFp8Block), ceil_div(cols, kFp8Block)});
                m.scale = reinterpret_cast<const float*>(s.data);
                m.scale_cols = ceil_div(cols, kFp8Block);
                break;
            }
            default:
                fail(MOLA_ERR_UNSUPPORTED, where(t) + ": dtype " + dtype_name(t.dtype) +
                                               " cannot hold weights (F32, F16, BF16 or F8_E4M3)");
        }
        return m;
    }

    std::vector<float> vector(const std::string& name, int64_t n) {
        const TensorInfo& t = tensor(name);
        expect_shape(t, {n});
        std::vector<float> v(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
            switch (t.dtype) {
                case DType::F32: std::memcpy(&v[i], t.data + 4 * i, 4); break;
                case DType::F16: v[i] = f16_to_f32(uint16_t(t.data[2 * i] | t.data[2 * i + 1] << 8)); break;
                case DType::BF16: v[i] = bf16_to_f32(uint16_t(t.data[2 * i] | t.data[2 * i + 1] << 8)); break;
                default:
                    fail(MOLA_ERR_UNSUPPORTED, where(t) + ": dtype " + dtype_name(t.dtype) +
                                                   " for a vector (F32, F16 or BF16)");
            }
        }
        return v;
    }

    MlpWeights mlp(const std::string& prefix, int64_t width) {
        const int64_t D = config_.hidden_size;
        return {matrix(prefix + ".gate_proj.weight", width, D), matrix(prefix + ".up_proj.weight", width, D),
                matrix(prefix + ".down_proj.weight", D, width)};
    }

    // Every tensor not bound is either part of a skipped MTP layer or an error.
    void check_leftovers() {
        std::set<int64_t> mtp_layers;
        for (const auto& [name, t] : ckpt_.tensors()) {
            if (used_.count(name)) continue;
            long long layer = -1;
            int consumed = 0;
            if (std::sscanf(name.c_str(), "model.layers.%lld.%n", &layer, &consumed) == 1 && consumed > 0 &&
                layer >= config_.num_hidden_layers &&
                layer < config_.num_hidden_layers + config_.num_nextn_predict_layers) {
                mtp_layers.insert(layer);
                continue;
            }
            fail(MOLA_ERR_BAD_FORMAT, where(t) + ": unexpected tensor; " + ckpt_.config_path() +
                                          " describes no such weight");
        }
        out_.n_mtp_layers = int64_t(mtp_layers.size());
    }

private:
    const DeepSeekConfig& config_;
    const Checkpoint& ckpt_;
    ModelWeights& out_;
    std::set<std::string> used_;
};

uint64_t mlp_params(const MlpWeights& m) {
    return uint64_t(m.gate.rows * m.gate.cols + m.up.rows * m.up.cols + m.down.rows * m.down.cols);
}

}  // namespace

ModelWeights bind_weights(const DeepSeekConfig& c, const Checkpoint& ckpt) {
    ModelWeights w;
    Binder b(c, ckpt, w);
    const int64_t D = c.hidden_size, H = c.num_attention_heads;
    w.embed = b.matrix("model.embed_tokens.weight", c.vocab_size, D, false);
    w.final_norm = b.vector("model.norm.weight", D);
    w.lm_head = c.tie_word_embeddings ? w.embed : b.matrix("lm_head.weight", c.vocab_size, D, false);

    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
        const std::string p = "model.layers." + std::to_string(i);
        LayerWeights L;
        L.attn_norm = b.vector(p + ".input_layernorm.weight", D);
        L.ffn_norm = b.vector(p + ".post_attention_layernorm.weight", D);
        if (c.q_lora_rank > 0) {
            L.q_a = b.matrix(p + ".self_attn.q_a_proj.weight", c.q_lora_rank, D);
            L.q_a_norm = b.vector(p + ".self_attn.q_a_layernorm.weight", c.q_lora_rank);
            L.q_b = b.matrix(p + ".self_attn.q_b_proj.weight", H * c.qk_head_dim(), c.q_lora_rank);
        } else {
            L.q_proj = b.matrix(p + ".self_attn.q_proj.weight", H * c.qk_head_dim(), D);
        }
        L.kv_a = b.matrix(p + ".self_attn.kv_a_proj_with_mqa.weight", c.latent_dim(), D);
        L.kv_a_norm = b.vector(p + ".self_attn.kv_a_layernorm.weight", c.kv_lora_rank);
        L.kv_b = b.matrix(p + ".self_attn.kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
        L.o = b.matrix(p + ".self_attn.o_proj.weight", D, H * c.v_head_dim);
        L.is_moe = c.is_moe_layer(i);
        if (L.is_moe) {
            L.moe.router = b.matrix(p + ".mlp.gate.weight", c.n_routed_experts, D, false);
            if (c.topk_method == TopkMethod::NoauxTc) {
                L.correction_bias = b.vector(p + ".mlp.gate.e_score_correction_bias", c.n_routed_experts);
                L.moe.correction_bias = L.correction_bias.data();
            }
            for (int64_t e = 0; e < c.n_routed_experts; ++e)
                L.moe.experts.push_back(b.mlp(p + ".mlp.experts." + std::to_string(e), c.moe_intermediate_size));
            if (c.n_shared_experts > 0)
                L.moe.shared = b.mlp(p + ".mlp.shared_experts", c.n_shared_experts * c.moe_intermediate_size);
        } else {
            L.dense = b.mlp(p + ".mlp", c.intermediate_size);
        }
        w.layers.push_back(std::move(L));
    }
    b.check_leftovers();

    // Parameter counts and the dtypes in use.
    std::set<std::string> dtypes;
    for (const auto& [name, t] : ckpt.tensors()) {
        long long layer = -1;
        if (std::sscanf(name.c_str(), "model.layers.%lld.", &layer) == 1 && layer >= c.num_hidden_layers) continue;
        dtypes.insert(dtype_name(t.dtype));
        w.weight_bytes += t.nbytes;
        if (name.size() > 10 && name.compare(name.size() - 10, 10, "_scale_inv") == 0) continue;
        w.n_params += uint64_t(t.numel());
    }
    w.n_params_active = w.n_params;
    for (const LayerWeights& L : w.layers)
        if (L.is_moe)
            w.n_params_active -= uint64_t(c.n_routed_experts - c.num_experts_per_tok) * mlp_params(L.moe.experts[0]);
    for (const std::string& d : dtypes) w.dtypes += (w.dtypes.empty() ? "" : ", ") + d;
    return w;
}

}  // namespace mola
