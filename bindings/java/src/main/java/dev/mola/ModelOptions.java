// ModelOptions.java: how to load a model (threads, backend, KV cache), with fluent setters.
package dev.mola;

public final class ModelOptions {
    private int threads;
    private String backend = "auto";
    private String mla = "auto";
    private String kvCacheDtype = "bf16";
    private int kvBlockTokens;
    private long kvCacheBudgetBytes;
    private boolean prefixCache = true;
    LoadProgressListener progress;

    /** Worker threads; 0 = all cores. */
    public ModelOptions threads(int n) { threads = n; return this; }
    /** "auto", "cpu" or "cuda". */
    public ModelOptions backend(String name) { backend = name; return this; }
    /** "auto", "absorbed" or "naive". */
    public ModelOptions mla(String mode) { mla = mode; return this; }
    /** "bf16", "f32" or "fp8_e4m3". */
    public ModelOptions kvCacheDtype(String dtype) { kvCacheDtype = dtype; return this; }
    /** Tokens per KV cache block; 0 = 64. */
    public ModelOptions kvBlockTokens(int n) { kvBlockTokens = n; return this; }
    /** 0 = a quarter of physical memory. */
    public ModelOptions kvCacheBudgetBytes(long bytes) { kvCacheBudgetBytes = bytes; return this; }
    public ModelOptions prefixCache(boolean on) { prefixCache = on; return this; }
    /** Sees the load's progress; returning false (or throwing) cancels the load. */
    public ModelOptions onProgress(LoadProgressListener listener) { progress = listener; return this; }

    dev.mola.internal.ModelOptions toNative() {
        dev.mola.internal.ModelOptions o = new dev.mola.internal.ModelOptions();
        o.setN_threads(threads);
        o.setBackend(backend);
        o.setMla(mla);
        o.setKv_cache_dtype(kvCacheDtype);
        o.setKv_block_tokens(kvBlockTokens);
        o.setKv_cache_budget_bytes(kvCacheBudgetBytes);
        o.setPrefix_cache(prefixCache);
        return o;
    }
}
