// prefix_cache.h: the index of the shared-prefix cache: full KV-cache blocks keyed
// by the tokens they hold and every token before them, so that a session whose
// tokens start the same way takes the blocks instead of computing them again.
//
// Block b of a token sequence is keyed by a chained 64-bit hash: key(b) hashes
// key(b - 1) and block b's block_tokens tokens, so the key stands for the whole
// prefix up to the block's end (positions included). The hash only finds an
// entry; a match is then verified token by token: every entry keeps its block's
// tokens and the entry it continues, and a sequence matches only along a chain of
// such entries from its first block. A hash collision therefore ends a match
// early, never gives a block of other tokens.
//
// Least recently used entries go first. A match or a registration touches its
// chain from the last block back to the first, so an entry is always more
// recently used than any entry that continues it: evicting from the old end
// removes continuations before the blocks they continue. Where a continuation
// survives (a session holds its block), it is unreachable once its parent entry
// is gone: a later entry for the same prefix is a different entry. It is replaced
// when that prefix's next block is registered again, or evicted in its turn once
// no session holds it.
//
// Not synchronized: BlockPool owns the index and calls it under its mutex; the
// blocks' references are the pool's business (the callbacks below).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>
#include <vector>

namespace mola {

class PrefixCache {
public:
    explicit PrefixCache(int64_t block_tokens) : block_tokens_(block_tokens) {}

    // The keys of the first n_blocks full blocks of tokens. A pure function (call
    // it outside any lock).
    std::vector<uint64_t> keys(const int32_t* tokens, int64_t n_blocks) const;

    // How many of the first n_blocks blocks of tokens (keys from keys()) the index
    // holds, consecutively from block 0; the blocks of the matched blocks from
    // first_block on are appended to ids (the caller reserves room for them). The
    // matched entries become the most recently used.
    int64_t match(const int32_t* tokens, const uint64_t* keys, int64_t n_blocks, int64_t first_block,
                  std::vector<int32_t>& ids);

    // Records blocks[b] as holding block b of tokens for every b < n_blocks that
    // no entry holds yet along the chain; added(block) runs for each block recorded
    // (the index now holds it), removed(block) for the block of an entry that the
    // chain replaces (one under the same key that no longer verifies). Touches the
    // chain.
    void insert(const int32_t* tokens, const uint64_t* keys, const int32_t* blocks, int64_t n_blocks,
                const std::function<void(int32_t)>& added, const std::function<void(int32_t)>& removed);

    // Forgets the least recently used entry whose block evictable() accepts and
    // passes its block to removed(); false when no entry qualifies.
    bool evict(const std::function<bool(int32_t)>& evictable, const std::function<void(int32_t)>& removed);

    // Forgets every entry, passing each block to removed().
    void clear(const std::function<void(int32_t)>& removed);

    int64_t size() const { return int64_t(entries_.size()); }

private:
    struct Entry {
        uint64_t key = 0;
        uint64_t serial = 0, parent_serial = 0;  // which entry this one continues (0: the first block)
        int32_t block = -1;
        std::vector<int32_t> tokens;
        std::list<Entry*>::iterator lru;
    };

    // The entry for block b of tokens when it continues the entry parent_serial.
    Entry* find(uint64_t key, const int32_t* block_tokens, uint64_t parent_serial);
    // Makes chain[n-1], ..., chain[0] the most recently used, in that order.
    void touch(const std::vector<Entry*>& chain);

    const int64_t block_tokens_;
    std::unordered_map<uint64_t, Entry> entries_;
    std::list<Entry*> lru_;  // least recently used first
    uint64_t next_serial_ = 1;
};

}  // namespace mola
