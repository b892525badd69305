// block_pool.h: the model's pool of KV-cache blocks. Blocks of block_tokens tokens
// (every layer, see layout.h) are taken from memory lazily, up to a byte budget
// set at load, handed to sessions with a reference count, and recycled through a
// free list when the last holder lets go. The pool is the one mutable part of a
// loaded model: it is internally synchronized, so sessions on any threads
// allocate and release at once.
//
// The pool also keeps the shared-prefix cache (prefix_cache.h), under the same
// mutex: the cache holds one reference on each block it records, so a session's
// full blocks outlive the session. Blocks only the cache holds count toward the
// budget but are evicted, least recently used first, when an allocation needs
// them; blocks a session holds never are.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "kvcache/layout.h"
#include "kvcache/prefix_cache.h"

namespace mola {

class Backend;

class BlockPool {
public:
    struct Usage {
        int64_t block_tokens = 0;
        uint64_t block_bytes = 0;
        int64_t blocks_total = 0;      // blocks the budget holds
        int64_t blocks_used = 0;       // blocks a session holds
        int64_t blocks_cached = 0;     // blocks only the prefix cache holds (evicted on demand)
        int64_t blocks_allocated = 0;  // blocks whose memory exists (used, cached or on the free list)
        uint64_t bytes_budget = 0, bytes_used = 0, bytes_allocated = 0;
        bool prefix_cache = false;
        int64_t prefix_hits = 0;           // appends that took cached blocks
        int64_t prefix_tokens_reused = 0;  // the tokens of those blocks
        int64_t blocks_evicted = 0;        // cached blocks evicted for an allocation
    };

    // Blocks live in memory from backend.alloc; budget_bytes must hold at least one.
    // prefix_cache turns the shared-prefix cache on.
    BlockPool(Backend& backend, const KvLayout& layout, uint64_t budget_bytes, bool prefix_cache = false);
    ~BlockPool();
    BlockPool(const BlockPool&) = delete;
    BlockPool& operator=(const BlockPool&) = delete;

    const KvLayout& layout() const { return layout_; }
    uint64_t budget_bytes() const { return budget_; }
    int64_t capacity() const { return capacity_; }  // blocks the budget holds

    // Takes n blocks, each with one reference, all or none: their ids are appended
    // to ids and their addresses to data. Evicts blocks only the prefix cache holds
    // when no free ones are left. Throws MOLA_ERR_CACHE_FULL, saying the budget,
    // the bytes in use and what was asked for, when fewer than n are free or
    // evictable (and MOLA_ERR_OUT_OF_MEMORY if the system refuses the memory).
    void allocate(int64_t n, std::vector<int32_t>& ids, std::vector<uint8_t*>& data);
    // Adds a holder to a block that has one (a shared block: fork, prefix cache).
    void retain(int32_t id);
    // Drops one reference from each of n blocks; a block nobody holds is free again.
    void release(const int32_t* ids, int64_t n);
    int32_t ref_count(int32_t id) const;
    uint8_t* data(int32_t id) const;

    // The shared-prefix cache; each call does nothing while it is off.
    // tokens holds (first_block + n_blocks) full blocks: a session's tokens, which
    // fill its first first_block blocks, then the tokens it is about to append.
    // When the cache holds the whole prefix through block first_block + k - 1, the
    // blocks for blocks [first_block, first_block + k) of tokens are appended to ids
    // and data, each with one more reference (the caller's); returns k.
    int64_t share_cached(const int32_t* tokens, int64_t first_block, int64_t n_blocks, std::vector<int32_t>& ids,
                         std::vector<uint8_t*>& data);
    // Counts an append that kept n_tokens tokens of cached blocks (the usage counters).
    void count_reuse(int64_t n_tokens);
    // Records blocks[b] as the block holding block b of tokens, for b < n_blocks
    // (full blocks whose rows will not change while others hold them: writers copy
    // shared blocks first). Blocks the cache already has for those tokens stay.
    // Best effort: without memory for the index, the blocks stay unrecorded.
    void cache_blocks(const int32_t* tokens, const int32_t* blocks, int64_t n_blocks);
    // Forgets every cached prefix: blocks only the cache held are free again.
    void clear_cache();
    bool prefix_cache_enabled() const { return bool(prefix_); }

    Usage usage() const;

private:
    // With mutex_ held: the cache takes or drops its reference to a block.
    void cache_retain(int32_t id);
    void cache_release(int32_t id);

    Backend& backend_;
    const KvLayout layout_;
    const uint64_t budget_;
    const int64_t capacity_;

    mutable std::mutex mutex_;
    std::vector<uint8_t*> data_;  // per block id: its memory
    std::vector<int32_t> refs_;   // per block id: its holders
    std::vector<int32_t> free_;   // ids nobody holds, memory kept for reuse (LIFO)
    int64_t used_ = 0;            // blocks with a holder (sessions or the prefix cache)
    std::unique_ptr<PrefixCache> prefix_;  // null when off
    std::vector<uint8_t> cached_;          // per block id: the prefix cache holds it
    int64_t cached_only_ = 0;              // blocks whose one holder is the prefix cache
    int64_t evicted_ = 0, hits_ = 0, tokens_reused_ = 0;
};

}  // namespace mola
