// Options.cs: the options of Model, Session and generation (plain classes with
// the native defaults, for object initializers) and ChatMessage.
using System;
using System.Collections.Generic;
using N = Mola.Native;

namespace Mola
{
    /// <summary>How a Model is loaded.</summary>
    public sealed class ModelOptions
    {
        /// <summary>Compute threads; 0 = all cores.</summary>
        public int Threads { get; set; }
        /// <summary>"auto", "cpu" or "cuda".</summary>
        public string Backend { get; set; }
        /// <summary>Attention form: "auto", "absorbed" or "naive".</summary>
        public string Mla { get; set; }
        /// <summary>"bf16", "f32" or "fp8_e4m3".</summary>
        public string KvCacheDtype { get; set; }
        /// <summary>Tokens per KV cache block; 0 = 64.</summary>
        public int KvBlockTokens { get; set; }
        /// <summary>KV cache budget; 0 = a quarter of physical memory.</summary>
        public long KvCacheBudgetBytes { get; set; }
        public bool PrefixCache { get; set; }
        /// <summary>Sees the load's progress (a fraction in [0, 1]); returning false
        /// cancels the load, and an exception it throws reaches the constructor's caller.</summary>
        public Func<double, bool> Progress { get; set; }

        public ModelOptions()
        {
            Backend = "auto";
            Mla = "auto";
            KvCacheDtype = "bf16";
            PrefixCache = true;
        }

        internal N.ModelOptions ToNative()
        {
            var o = new N.ModelOptions();
            o.n_threads = Threads;
            o.backend = Backend ?? "auto";
            o.mla = Mla ?? "auto";
            o.kv_cache_dtype = KvCacheDtype ?? "bf16";
            o.kv_block_tokens = KvBlockTokens;
            o.kv_cache_budget_bytes = KvCacheBudgetBytes;
            o.prefix_cache = PrefixCache;
            return o;
        }
    }

    /// <summary>How a Session is created.</summary>
    public sealed class SessionOptions
    {
        /// <summary>Context length; 0 = min(4096, the model's limit).</summary>
        public int ContextSize { get; set; }
        /// <summary>Prefill chunk in tokens; 0 = 256.</summary>
        public int BatchSize { get; set; }
        /// <summary>When the context is full: "error", or "slide" (keep KeepTokens,
        /// drop DiscardTokens after them).</summary>
        public string Overflow { get; set; }
        public int KeepTokens { get; set; }
        public int DiscardTokens { get; set; }
        /// <summary>Sees (done, total) after each chunk of a prefill of two or more
        /// tokens; returning false cancels it, and an exception it throws reaches the
        /// caller of the call that prefilled. Shared by the session's forks.</summary>
        public Func<long, long, bool> PrefillProgress { get; set; }

        public SessionOptions()
        {
            Overflow = "error";
        }

        internal N.SessionOptions ToNative()
        {
            var o = new N.SessionOptions();
            o.n_ctx = ContextSize;
            o.n_batch = BatchSize;
            o.overflow = Overflow ?? "error";
            o.n_keep = KeepTokens;
            o.n_discard = DiscardTokens;
            return o;
        }
    }

    /// <summary>How to sample and when to stop.</summary>
    public sealed class GenerateOptions
    {
        /// <summary>0: until EOS, a stop string or the context's end.</summary>
        public int MaxTokens { get; set; }
        /// <summary>Generation stops before any of these strings.</summary>
        public IList<string> Stop { get; set; }
        public bool IgnoreEos { get; set; }
        /// <summary>&lt;= 0: greedy.</summary>
        public double Temperature { get; set; }
        public int TopK { get; set; }
        public double TopP { get; set; }
        public double MinP { get; set; }
        public double RepeatPenalty { get; set; }
        public double PresencePenalty { get; set; }
        public double FrequencyPenalty { get; set; }
        public int PenaltyWindow { get; set; }
        public long Seed { get; set; }

        public GenerateOptions()
        {
            MaxTokens = 256;
            Stop = new List<string>();
            Temperature = 0.8;
            TopK = 40;
            TopP = 0.95;
            MinP = 0.05;
            RepeatPenalty = 1.0;
            PenaltyWindow = 64;
        }

        internal N.SamplerOptions Sampler()
        {
            var s = new N.SamplerOptions();
            s.temperature = Temperature;
            s.top_k = TopK;
            s.top_p = TopP;
            s.min_p = MinP;
            s.repeat_penalty = RepeatPenalty;
            s.presence_penalty = PresencePenalty;
            s.frequency_penalty = FrequencyPenalty;
            s.penalty_window = PenaltyWindow;
            s.seed = Seed;
            return s;
        }

        internal N.GenerateOptions Generate()
        {
            var g = new N.GenerateOptions();
            g.max_tokens = MaxTokens;
            g.ignore_eos = IgnoreEos;
            using (var stop = new N.StringVector())
            {
                if (Stop != null)
                    foreach (string s in Stop)
                    {
                        NativeCall.NotNull(s, "Stop");
                        stop.Add(s);
                    }
                g.stop = stop;  // copied into the native struct
            }
            return g;
        }
    }

    /// <summary>One turn of a conversation for Tokenizer.ApplyChat.</summary>
    public sealed class ChatMessage
    {
        /// <summary>"system", "user" or "assistant".</summary>
        public string Role { get; set; }
        public string Content { get; set; }

        public ChatMessage() { }

        public ChatMessage(string role, string content)
        {
            Role = role;
            Content = content;
        }
    }
}
