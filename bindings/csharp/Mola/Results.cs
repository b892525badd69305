// Results.cs: the read-only values mola returns: ModelInfo, CacheUsage and
// GenerationResult, copied out of the generated layer's structs.
using System;
using System.Collections.Generic;
using N = Mola.Native;

namespace Mola
{
    /// <summary>What a loaded checkpoint is (Model.Info).</summary>
    public sealed class ModelInfo
    {
        public string Architecture { get; private set; }
        public string Variant { get; private set; }
        public string WeightDtypes { get; private set; }
        public string Backend { get; private set; }
        public string KvCacheDtype { get; private set; }
        public string Fingerprint { get; private set; }
        public int VocabSize { get; private set; }
        public int EmbeddingSize { get; private set; }
        public int LayerCount { get; private set; }
        public int HeadCount { get; private set; }
        public int TrainContextSize { get; private set; }
        public int RoutedExperts { get; private set; }
        public int ExpertsPerToken { get; private set; }
        public int SharedExperts { get; private set; }
        public int KvLoraRank { get; private set; }
        public int BosTokenId { get; private set; }
        public int EosTokenId { get; private set; }
        public long ParameterCount { get; private set; }
        public long ActiveParameterCount { get; private set; }
        public long WeightBytes { get; private set; }
        public long KvBytesPerToken { get; private set; }

        internal static ModelInfo From(N.ModelInfo i)
        {
            using (i)
                return new ModelInfo
                {
                    Architecture = i.architecture, Variant = i.variant, WeightDtypes = i.weight_dtypes,
                    Backend = i.backend, KvCacheDtype = i.kv_cache_dtype, Fingerprint = i.fingerprint,
                    VocabSize = i.n_vocab, EmbeddingSize = i.n_embd, LayerCount = i.n_layer, HeadCount = i.n_head,
                    TrainContextSize = i.n_ctx_train, RoutedExperts = i.n_routed_experts,
                    ExpertsPerToken = i.n_experts_per_token, SharedExperts = i.n_shared_experts,
                    KvLoraRank = i.kv_lora_rank, BosTokenId = i.bos_token_id, EosTokenId = i.eos_token_id,
                    ParameterCount = i.n_params, ActiveParameterCount = i.n_params_active,
                    WeightBytes = i.weight_bytes, KvBytesPerToken = i.kv_bytes_per_token,
                };
        }
    }

    /// <summary>The model's KV cache (Model.CacheUsage).</summary>
    public sealed class CacheUsage
    {
        public int BlockTokens { get; private set; }
        public long BlocksTotal { get; private set; }
        public long BlocksUsed { get; private set; }
        public long BlocksFree { get; private set; }
        public long BytesBudget { get; private set; }
        public long BytesUsed { get; private set; }
        public long BlocksCached { get; private set; }
        public long PrefixHits { get; private set; }
        public long PrefixTokensReused { get; private set; }
        public long BlocksEvicted { get; private set; }

        internal static CacheUsage From(N.CacheUsage u)
        {
            using (u)
                return new CacheUsage
                {
                    BlockTokens = u.block_tokens, BlocksTotal = u.blocks_total, BlocksUsed = u.blocks_used,
                    BlocksFree = u.blocks_free, BytesBudget = u.bytes_budget, BytesUsed = u.bytes_used,
                    BlocksCached = u.blocks_cached, PrefixHits = u.prefix_hits,
                    PrefixTokensReused = u.prefix_tokens_reused, BlocksEvicted = u.blocks_evicted,
                };
        }
    }

    /// <summary>The outcome of a generation.</summary>
    public sealed class GenerationResult
    {
        public string Text { get; private set; }
        public IReadOnlyList<int> Tokens { get; private set; }
        /// <summary>"eos", "stop", "length" or "cancelled".</summary>
        public string FinishReason { get; private set; }
        public int PromptTokenCount { get; private set; }
        public int GeneratedTokenCount { get; private set; }
        public double TimeToFirstTokenMs { get; private set; }
        public double PrefillTokensPerSecond { get; private set; }
        public double DecodeTokensPerSecond { get; private set; }

        internal static GenerationResult From(N.GenerateResult r)
        {
            using (r)
                return new GenerationResult
                {
                    Text = r.text, Tokens = Array.AsReadOnly(Vectors.ToArray(r.tokens)), FinishReason = r.finish_reason,
                    PromptTokenCount = r.n_prompt_tokens, GeneratedTokenCount = r.n_generated_tokens,
                    TimeToFirstTokenMs = r.time_to_first_token_ms, PrefillTokensPerSecond = r.prefill_tokens_per_second,
                    DecodeTokensPerSecond = r.decode_tokens_per_second,
                };
        }
    }
}
