// config.cpp: reading a DeepSeek config.json, honouring every key of spec §1 and
// both spellings of the RoPE scaling block.
#include "engine/config.h"

#include <cmath>
#include <sstream>

#include "common/error.h"

namespace mola {

namespace {

using json = nlohmann::json;

class Reader {
public:
    Reader(const json& j, const std::string& path) : j_(j), path_(path) {}

    bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

    int64_t integer(const char* key, int64_t fallback, bool required = false) const {
        if (!has(key)) {
            if (required) fail(MOLA_ERR_BAD_FORMAT, path_ + ": missing required key \"" + key + "\"");
            return fallback;
        }
        const json& v = j_[key];
        if (!v.is_number_integer())
            fail(MOLA_ERR_BAD_FORMAT, path_ + ": \"" + key + "\" must be an integer, not " + v.dump());
        return v.get<int64_t>();
    }
    double number(const char* key, double fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_[key];
        if (!v.is_number()) fail(MOLA_ERR_BAD_FORMAT, path_ + ": \"" + key + "\" must be a number, not " + v.dump());
        return v.get<double>();
    }
    bool boolean(const char* key, bool fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_[key];
        if (!v.is_boolean()) fail(MOLA_ERR_BAD_FORMAT, path_ + ": \"" + key + "\" must be true or false, not " + v.dump());
        return v.get<bool>();
    }
    std::string string(const char* key, const std::string& fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_[key];
        if (!v.is_string()) fail(MOLA_ERR_BAD_FORMAT, path_ + ": \"" + key + "\" must be a string, not " + v.dump());
        return v.get<std::string>();
    }
    // eos_token_id may be a list; the first entry is the one we report.
    int64_t token_id(const char* key) const {
        if (!has(key)) return -1;
        const json& v = j_[key];
        if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
        if (v.is_number_integer()) return v.get<int64_t>();
        fail(MOLA_ERR_BAD_FORMAT, path_ + ": \"" + key + "\" must be a token id, not " + v.dump());
    }

private:
    const json& j_;
    const std::string& path_;
};

std::string detect_model_type(const json& j, const std::string& path) {
    std::string type = j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>() : "";
    std::string arch;
    if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
        j["architectures"][0].is_string())
        arch = j["architectures"][0].get<std::string>();
    if (type == "deepseek_v2" || arch == "DeepseekV2ForCausalLM") return "deepseek_v2";
    if (type == "deepseek_v3" || arch == "DeepseekV3ForCausalLM") return "deepseek_v3";
    fail(MOLA_ERR_UNSUPPORTED, path + ": unknown architecture (model_type \"" + type + "\", architectures \"" + arch +
                                   "\"); mola runs deepseek_v2 and deepseek_v3 (DeepSeek-V2, V2-Lite, V2.5, "
                                   "Coder-V2, V3, R1, V3.1)");
}

void parse_rope(const json& j, const std::string& path, DeepSeekConfig& c) {
    // Older configs say rope_scaling {type|rope_type: "yarn", ...}; newer Hugging Face
    // releases say rope_parameters {rope_type: "yarn", rope_theta, ...}.
    const json* block = nullptr;
    std::string key;
    for (const char* k : {"rope_scaling", "rope_parameters"})
        if (j.contains(k) && !j[k].is_null()) {
            block = &j[k];
            key = k;
            break;
        }
    if (!block) return;
    if (!block->is_object()) fail(MOLA_ERR_BAD_FORMAT, path + ": \"" + key + "\" must be an object");
    const std::string where = path + " (" + key + ")";
    Reader r(*block, where);
    std::string type = r.string("rope_type", r.string("type", "default"));
    if (block->contains("rope_theta")) c.rope_theta = r.number("rope_theta", c.rope_theta);
    if (type == "default") return;
    if (type != "yarn" && type != "deepseek_yarn")
        fail(MOLA_ERR_UNSUPPORTED, where + ": rope type \"" + type + "\" is not supported (mola implements yarn)");
    YarnConfig& y = c.yarn;
    y.enabled = true;
    y.factor = r.number("factor", 1.0);
    y.original_max_position_embeddings = r.integer("original_max_position_embeddings", c.max_position_embeddings);
    y.beta_fast = r.number("beta_fast", 32.0);
    y.beta_slow = r.number("beta_slow", 1.0);
    y.mscale = r.number("mscale", 1.0);
    y.mscale_all_dim = r.number("mscale_all_dim", 0.0);
    y.truncate = r.boolean("truncate", true);
    if (!(y.factor >= 1.0) || y.original_max_position_embeddings <= 0 || !(y.beta_fast > 0) || !(y.beta_slow > 0))
        fail(MOLA_ERR_BAD_FORMAT, where + ": yarn needs factor >= 1, original_max_position_embeddings > 0 and "
                                          "positive beta_fast/beta_slow");
    // cos/sin carry get_mscale(mscale)/get_mscale(mscale_all_dim) when both are given
    // (1.0 for every release); DeepSeek's reference code never scales them otherwise.
    if (block->contains("attention_factor"))
        y.attention_factor = r.number("attention_factor", 1.0);
    else if (y.mscale != 0.0 && y.mscale_all_dim != 0.0)
        y.attention_factor = yarn_get_mscale(y.factor, y.mscale) / yarn_get_mscale(y.factor, y.mscale_all_dim);
}

}  // namespace

double yarn_get_mscale(double scale, double mscale) {
    return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

double DeepSeekConfig::softmax_scale() const {
    double scale = 1.0 / std::sqrt(double(qk_head_dim()));
    if (yarn.enabled) {
        // Hugging Face takes m from mscale_all_dim, DeepSeek's reference from mscale;
        // every release sets both alike.
        const double m = yarn_get_mscale(yarn.factor, yarn.mscale_all_dim != 0.0 ? yarn.mscale_all_dim : yarn.mscale);
        scale *= m * m;
    }
    return scale;
}

std::string DeepSeekConfig::variant() const {
    std::ostringstream s;
    if (scoring == Scoring::Sigmoid)
        s << "V3";
    else if (q_lora_rank == 0)
        s << "V2-Lite";
    else
        s << "V2";
    s << " (" << (q_lora_rank ? "q_lora " + std::to_string(q_lora_rank) : std::string("no q_lora"));
    if (has_moe()) {
        s << ", " << (scoring == Scoring::Sigmoid ? "sigmoid" : "softmax") << ' '
          << (topk_method == TopkMethod::NoauxTc             ? "noaux_tc"
              : topk_method == TopkMethod::GroupLimitedGreedy ? "group_limited_greedy"
                                                              : "greedy")
          << " routing, " << n_routed_experts << " experts top-" << num_experts_per_tok;
        if (n_shared_experts) s << " + " << n_shared_experts << " shared";
    }
    s << (yarn.enabled ? ", YaRN x" : "") ;
    if (yarn.enabled) s << yarn.factor;
    s << ')';
    return s.str();
}

DeepSeekConfig parse_deepseek_config(const json& j, const std::string& path) {
    DeepSeekConfig c;
    c.model_type = detect_model_type(j, path);
    const bool v3 = c.model_type == "deepseek_v3";
    Reader r(j, path);
    c.vocab_size = r.integer("vocab_size", 0, true);
    c.hidden_size = r.integer("hidden_size", 0, true);
    c.num_hidden_layers = r.integer("num_hidden_layers", 0, true);
    c.num_attention_heads = r.integer("num_attention_heads", 0, true);
    c.intermediate_size = r.integer("intermediate_size", v3 ? 18432 : 11008);
    c.moe_intermediate_size = r.integer("moe_intermediate_size", v3 ? 2048 : 1407);
    c.q_lora_rank = r.integer("q_lora_rank", 0);  // null means no query compression
    c.kv_lora_rank = r.integer("kv_lora_rank", 512);
    c.qk_nope_head_dim = r.integer("qk_nope_head_dim", 128);
    c.qk_rope_head_dim = r.integer("qk_rope_head_dim", 64);
    c.v_head_dim = r.integer("v_head_dim", 128);
    c.n_routed_experts = r.integer("n_routed_experts", 0);
    c.n_shared_experts = r.integer("n_shared_experts", 0);
    c.num_experts_per_tok = r.integer("num_experts_per_tok", 0);
    c.first_k_dense_replace = r.integer("first_k_dense_replace", 0);
    c.moe_layer_freq = r.integer("moe_layer_freq", 1);
    c.n_group = r.integer("n_group", 1);
    c.topk_group = r.integer("topk_group", 1);
    c.norm_topk_prob = r.boolean("norm_topk_prob", v3);
    c.routed_scaling_factor = r.number("routed_scaling_factor", v3 ? 2.5 : 1.0);
    c.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
    c.rope_theta = r.number("rope_theta", 10000.0);
    c.max_position_embeddings = r.integer("max_position_embeddings", v3 ? 4096 : 2048);
    c.num_nextn_predict_layers = r.integer("num_nextn_predict_layers", 0);
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    c.bos_token_id = r.token_id("bos_token_id");
    c.eos_token_id = r.token_id("eos_token_id");

    const std::string scoring = r.string("scoring_func", v3 ? "sigmoid" : "softmax");
    if (scoring == "softmax")
        c.scoring = Scoring::Softmax;
    else if (scoring == "sigmoid")
        c.scoring = Scoring::Sigmoid;
    else
        fail(MOLA_ERR_UNSUPPORTED, path + ": scoring_func \"" + scoring + "\" is not supported (softmax, sigmoid)");
    const std::string topk = r.string("topk_method", v3 ? "noaux_tc" : "greedy");
    if (topk == "greedy" || topk == "gready")  // "gready": a spelling in early V2 code
        c.topk_method = TopkMethod::Greedy;
    else if (topk == "group_limited_greedy")
        c.topk_method = TopkMethod::GroupLimitedGreedy;
    else if (topk == "noaux_tc")
        c.topk_method = TopkMethod::NoauxTc;
    else
        fail(MOLA_ERR_UNSUPPORTED, path + ": topk_method \"" + topk +
                                       "\" is not supported (greedy, group_limited_greedy, noaux_tc)");
    parse_rope(j, path, c);

    if (j.contains("quantization_config") && j["quantization_config"].is_object()) {
        Reader q(j["quantization_config"], path + " (quantization_config)");
        const std::string method = q.string("quant_method", "");
        if (method != "fp8")
            fail(MOLA_ERR_UNSUPPORTED, path + ": quantization method \"" + method + "\" is not supported (fp8)");
        const std::string fmt = q.string("fmt", "e4m3");
        if (fmt != "e4m3") fail(MOLA_ERR_UNSUPPORTED, path + ": fp8 format \"" + fmt + "\" is not supported (e4m3)");
        const json& block = j["quantization_config"].value("weight_block_size", json::array({128, 128}));
        if (block != json::array({128, 128}))
            fail(MOLA_ERR_UNSUPPORTED, path + ": fp8 weight_block_size " + block.dump() + " is not supported ([128, 128])");
        c.fp8 = true;
    }

    auto require = [&](bool ok, const std::string& what) {
        if (!ok) fail(MOLA_ERR_BAD_FORMAT, path + ": " + what);
    };
    require(c.vocab_size > 0 && c.hidden_size > 0 && c.num_hidden_layers > 0 && c.num_attention_heads > 0,
            "vocab_size, hidden_size, num_hidden_layers and num_attention_heads must be positive");
    require(c.q_lora_rank >= 0 && c.kv_lora_rank > 0 && c.qk_nope_head_dim > 0 && c.v_head_dim > 0,
            "q_lora_rank must be >= 0; kv_lora_rank, qk_nope_head_dim and v_head_dim positive");
    require(c.qk_rope_head_dim > 0 && c.qk_rope_head_dim % 2 == 0, "qk_rope_head_dim must be positive and even");
    require(c.first_k_dense_replace >= 0 && c.moe_layer_freq >= 1, "first_k_dense_replace >= 0 and moe_layer_freq >= 1");
    require(c.rms_norm_eps > 0 && c.rope_theta > 0, "rms_norm_eps and rope_theta must be positive");
    require(c.max_position_embeddings > 0, "max_position_embeddings must be positive");
    require(c.num_nextn_predict_layers >= 0, "num_nextn_predict_layers must be >= 0");
    bool any_dense = false;
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) any_dense |= !c.is_moe_layer(i);
    if (any_dense) require(c.intermediate_size > 0, "intermediate_size must be positive (the model has dense layers)");
    if (c.has_moe()) {
        require(c.moe_intermediate_size > 0 && c.n_shared_experts >= 0, "moe_intermediate_size must be positive");
        require(c.num_experts_per_tok > 0 && c.num_experts_per_tok <= c.n_routed_experts,
                "num_experts_per_tok must be in [1, n_routed_experts]");
        require(c.n_group > 0 && c.n_routed_experts % c.n_group == 0, "n_routed_experts must be a multiple of n_group");
        require(c.topk_group > 0 && c.topk_group <= c.n_group, "topk_group must be in [1, n_group]");
        if (c.topk_method != TopkMethod::Greedy)
            require(c.num_experts_per_tok <= c.topk_group * (c.n_routed_experts / c.n_group),
                    "num_experts_per_tok exceeds the experts of topk_group groups");
        if (c.topk_method == TopkMethod::NoauxTc)
            require(c.n_routed_experts / c.n_group >= 2, "noaux_tc needs at least 2 experts per group");
    }
    return c;
}

}  // namespace mola
