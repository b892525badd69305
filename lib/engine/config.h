// config.h: the hyperparameters of a DeepSeek V2/V3-family model, read from a
// Hugging Face config.json (spec §1), with the derived quantities the math needs.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace mola {

enum class Scoring { Softmax, Sigmoid };
enum class TopkMethod { Greedy, GroupLimitedGreedy, NoauxTc };

struct YarnConfig {
    bool enabled = false;
    double factor = 1.0;
    int64_t original_max_position_embeddings = 4096;
    double beta_fast = 32.0, beta_slow = 1.0;
    double mscale = 1.0, mscale_all_dim = 0.0;
    bool truncate = true;
    double attention_factor = 1.0;  // multiplies cos/sin (1.0 for every released checkpoint)
};

struct DeepSeekConfig {
    std::string model_type;  // "deepseek_v2" or "deepseek_v3"
    int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, moe_intermediate_size = 0;
    int64_t num_hidden_layers = 0, num_attention_heads = 0;
    int64_t q_lora_rank = 0;  // 0: no query compression (a single q_proj)
    int64_t kv_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;
    int64_t n_routed_experts = 0, n_shared_experts = 0, num_experts_per_tok = 0;
    int64_t first_k_dense_replace = 0, moe_layer_freq = 1;
    int64_t n_group = 1, topk_group = 1;
    bool norm_topk_prob = false;
    double routed_scaling_factor = 1.0;
    Scoring scoring = Scoring::Softmax;
    TopkMethod topk_method = TopkMethod::Greedy;
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    YarnConfig yarn;
    int64_t max_position_embeddings = 4096;
    int64_t num_nextn_predict_layers = 0;
    bool tie_word_embeddings = false;
    bool fp8 = false;  // quantization_config says fp8 e4m3 with 128x128 blocks
    int64_t bos_token_id = -1, eos_token_id = -1;

    int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
    int64_t latent_dim() const { return kv_lora_rank + qk_rope_head_dim; }  // cached values per token per layer
    bool has_moe() const { return n_routed_experts > 0; }
    bool is_moe_layer(int64_t layer) const {
        return has_moe() && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
    }
    // d_qk^-1/2 times the YaRN m^2 (spec §3.4, §4.3).
    double softmax_scale() const;
    // A one-line description of the family member, e.g. "V3 (q_lora, sigmoid noaux_tc routing)".
    std::string variant() const;
};

// Parses and validates config.json; throws Error naming path and key.
DeepSeekConfig parse_deepseek_config(const nlohmann::json& json, const std::string& path);

// YaRN's magnitude correction: 0.1 * mscale * ln(scale) + 1 for scale > 1 (spec §4.2).
double yarn_get_mscale(double scale, double mscale);

}  // namespace mola
