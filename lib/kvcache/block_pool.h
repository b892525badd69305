// block_pool.h: the model's pool of KV-cache blocks. Blocks of block_tokens tokens
// (every layer, see layout.h) are taken from memory lazily, up to a byte budget
// set at load, handed to sessions with a reference count, and recycled through a
// free list when the last holder lets go. The pool is the one mutable part of a
// loaded model: it is internally synchronized, so sessions on any threads
// allocate and release at once.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "kvcache/layout.h"

namespace mola {

class Backend;

class BlockPool {
public:
    struct Usage {
        int64_t block_tokens = 0;
        uint64_t block_bytes = 0;
        int64_t blocks_total = 0;      // blocks the budget holds
        int64_t blocks_used = 0;       // blocks with a holder
        int64_t blocks_allocated = 0;  // blocks whose memory exists (used + on the free list)
        uint64_t bytes_budget = 0, bytes_used = 0, bytes_allocated = 0;
    };

    // Blocks live in memory from backend.alloc; budget_bytes must hold at least one.
    BlockPool(Backend& backend, const KvLayout& layout, uint64_t budget_bytes);
    ~BlockPool();
    BlockPool(const BlockPool&) = delete;
    BlockPool& operator=(const BlockPool&) = delete;

    const KvLayout& layout() const { return layout_; }
    uint64_t budget_bytes() const { return budget_; }
    int64_t capacity() const { return capacity_; }  // blocks the budget holds

    // Takes n blocks, each with one reference, all or none: their ids are appended
    // to ids and their addresses to data. Throws MOLA_ERR_CACHE_FULL, saying the
    // budget, the bytes in use and what was asked for, when fewer than n are free
    // (and MOLA_ERR_OUT_OF_MEMORY if the system refuses the memory).
    void allocate(int64_t n, std::vector<int32_t>& ids, std::vector<uint8_t*>& data);
    // Adds a holder to a block that has one (a shared block: fork, prefix cache).
    void retain(int32_t id);
    // Drops one reference from each of n blocks; a block nobody holds is free again.
    void release(const int32_t* ids, int64_t n);
    int32_t ref_count(int32_t id) const;
    uint8_t* data(int32_t id) const;

    Usage usage() const;

private:
    Backend& backend_;
    const KvLayout layout_;
    const uint64_t budget_;
    const int64_t capacity_;

    mutable std::mutex mutex_;
    std::vector<uint8_t*> data_;  // per block id: its memory
    std::vector<int32_t> refs_;   // per block id: its holders
    std::vector<int32_t> free_;   // ids nobody holds, memory kept for reuse (LIFO)
    int64_t used_ = 0;
};

}  // namespace mola
