// weights.h: the tensors of a DeepSeek checkpoint bound to the blocks of the model
// (spec §2): names, dtypes and shapes checked, matrices left in place in the mapped
// files, small vectors (norms, routing bias) widened to float.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/config.h"
#include "format/safetensors.h"

namespace mola {

struct LayerWeights {
    std::vector<float> attn_norm, ffn_norm;  // input_layernorm, post_attention_layernorm
    Matrix q_proj;                           // without q_lora
    Matrix q_a;                              // with q_lora: [d_q, D]
    std::vector<float> q_a_norm;             // [d_q]
    Matrix q_b;                              // [H * d_qk, d_q]
    Matrix kv_a;                             // [d_c + d_r, D]
    std::vector<float> kv_a_norm;            // [d_c]
    Matrix kv_b;                             // [H * (d_n + d_v), d_c]
    Matrix o;                                // [D, H * d_v]
    bool is_moe = false;
    MlpWeights dense;
    MoeWeights moe;
    std::vector<float> correction_bias;      // backs moe.correction_bias
};

struct ModelWeights {
    Matrix embed, lm_head;
    std::vector<float> final_norm;
    std::vector<LayerWeights> layers;
    int64_t n_mtp_layers = 0;     // MTP layers present in the files and skipped
    uint64_t n_params = 0;        // main model, MTP excluded
    uint64_t n_params_active = 0; // per token: all but the unselected routed experts
    uint64_t weight_bytes = 0;
    std::string dtypes;           // e.g. "BF16, F32"
};

// Binds every tensor of the checkpoint; throws Error naming the file, the tensor
// and the problem for missing or unexpected tensors, wrong shapes and dtypes.
ModelWeights bind_weights(const DeepSeekConfig& config, const Checkpoint& checkpoint);

}  // namespace mola
