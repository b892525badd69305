// CacheUsage.java: the model's shared KV cache: blocks in use, cached prefixes, evictions.
package dev.mola;

public record CacheUsage(int blockTokens, long blocksTotal, long blocksUsed, long blocksFree, long bytesBudget,
        long bytesUsed, long blocksCached, long prefixHits, long prefixTokensReused, long blocksEvicted) {

    static CacheUsage of(dev.mola.internal.CacheUsage u) {
        try {
            return new CacheUsage(u.getBlock_tokens(), u.getBlocks_total(), u.getBlocks_used(), u.getBlocks_free(),
                    u.getBytes_budget(), u.getBytes_used(), u.getBlocks_cached(), u.getPrefix_hits(),
                    u.getPrefix_tokens_reused(), u.getBlocks_evicted());
        } finally {
            u.delete();
        }
    }
}
