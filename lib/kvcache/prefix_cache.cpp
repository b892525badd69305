// prefix_cache.cpp: the shared-prefix index: chained block keys, verified matches,
// registration and least-recently-used eviction (see prefix_cache.h).
#include "kvcache/prefix_cache.h"

#include <algorithm>

namespace mola {

namespace {

// splitmix64's finalizer: a bijection of 64-bit values with full avalanche.
uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

}  // namespace

std::vector<uint64_t> PrefixCache::keys(const int32_t* tokens, int64_t n_blocks) const {
    std::vector<uint64_t> out(size_t(std::max<int64_t>(n_blocks, 0)));
    // Each token enters through its own mix, so two different tokens change the
    // state by unrelated 64-bit values (a plain XOR of the ids would not).
    uint64_t h = 0x6d6f6c61u;
    for (size_t b = 0; b < out.size(); ++b) {
        const int32_t* t = tokens + int64_t(b) * block_tokens_;
        for (int64_t i = 0; i < block_tokens_; ++i) h = mix(h ^ mix(uint64_t(uint32_t(t[i])) + 0x9e3779b97f4a7c15ull));
        out[b] = h;
    }
    return out;
}

PrefixCache::Entry* PrefixCache::find(uint64_t key, const int32_t* block_tokens, uint64_t parent_serial) {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    Entry& e = it->second;
    if (e.parent_serial != parent_serial || !std::equal(e.tokens.begin(), e.tokens.end(), block_tokens))
        return nullptr;  // another prefix with the same key
    return &e;
}

void PrefixCache::touch(const std::vector<Entry*>& chain) {
    for (size_t i = chain.size(); i-- > 0;) lru_.splice(lru_.end(), lru_, chain[i]->lru);
}

int64_t PrefixCache::match(const int32_t* tokens, const uint64_t* keys, int64_t n_blocks, int64_t first_block,
                           std::vector<int32_t>& ids) {
    std::vector<Entry*> chain;
    chain.reserve(size_t(n_blocks));
    uint64_t parent = 0;
    for (int64_t b = 0; b < n_blocks; ++b) {
        Entry* e = find(keys[b], tokens + b * block_tokens_, parent);
        if (!e) break;
        chain.push_back(e);
        parent = e->serial;
    }
    for (size_t b = size_t(first_block); b < chain.size(); ++b) ids.push_back(chain[b]->block);
    touch(chain);
    return int64_t(chain.size());
}

void PrefixCache::insert(const int32_t* tokens, const uint64_t* keys, const int32_t* blocks, int64_t n_blocks,
                         const std::function<void(int32_t)>& added, const std::function<void(int32_t)>& removed) {
    std::vector<Entry*> chain;
    chain.reserve(size_t(n_blocks));
    uint64_t parent = 0;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const int32_t* t = tokens + b * block_tokens_;
        Entry* e = find(keys[b], t, parent);
        if (!e) {
            // An entry under this key that does not verify continues a parent that
            // is gone (or is another prefix whose hash collides): this chain, just
            // computed, replaces it.
            const auto stale = entries_.find(keys[b]);
            if (stale != entries_.end()) {
                const int32_t block = stale->second.block;
                lru_.erase(stale->second.lru);
                entries_.erase(stale);
                removed(block);
            }
            Entry fresh;
            fresh.key = keys[b];
            fresh.serial = next_serial_++;
            fresh.parent_serial = parent;
            fresh.block = blocks[b];
            fresh.tokens.assign(t, t + block_tokens_);
            e = &entries_.emplace(keys[b], std::move(fresh)).first->second;
            try {
                e->lru = lru_.insert(lru_.end(), e);
            } catch (...) {
                entries_.erase(keys[b]);
                throw;
            }
            added(e->block);
        }
        chain.push_back(e);
        parent = e->serial;
    }
    touch(chain);
}

bool PrefixCache::evict(const std::function<bool(int32_t)>& evictable, const std::function<void(int32_t)>& removed) {
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
        Entry* e = *it;
        if (!evictable(e->block)) continue;
        const int32_t block = e->block;
        lru_.erase(it);
        entries_.erase(e->key);
        removed(block);
        return true;
    }
    return false;
}

void PrefixCache::clear(const std::function<void(int32_t)>& removed) {
    for (Entry* e : lru_) removed(e->block);
    lru_.clear();
    entries_.clear();
}

}  // namespace mola
