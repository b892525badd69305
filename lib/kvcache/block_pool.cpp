// block_pool.cpp: allocation, reference counting and the free list of the model's
// KV-cache blocks, and the references and eviction of the prefix cache (see
// block_pool.h).
#include "kvcache/block_pool.h"

#include <algorithm>
#include <string>

#include "backend/backend.h"
#include "common/error.h"

namespace mola {

namespace {

std::string blocks(int64_t n) { return std::to_string(n) + (n == 1 ? " block" : " blocks"); }

}  // namespace

BlockPool::BlockPool(Backend& backend, const KvLayout& layout, uint64_t budget_bytes, bool prefix_cache)
    : backend_(backend),
      layout_(layout),
      budget_(budget_bytes),
      capacity_(int64_t(std::min<uint64_t>(budget_bytes / layout.block_bytes, uint64_t(INT32_MAX)))) {
    if (capacity_ < 1)
        fail(MOLA_ERR_INVALID_ARG, "kv_cache_budget_bytes " + std::to_string(budget_bytes) +
                                       " is less than one cache block (" + std::to_string(layout.block_tokens) +
                                       " tokens, " + std::to_string(layout.block_bytes) + " bytes)");
    if (prefix_cache) prefix_ = std::make_unique<PrefixCache>(layout.block_tokens);
}

BlockPool::~BlockPool() {
    for (uint8_t* p : data_) backend_.free(reinterpret_cast<float*>(p));
}

void BlockPool::allocate(int64_t n, std::vector<int32_t>& ids, std::vector<uint8_t*>& data) {
    if (n <= 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const int64_t in_use = used_ - cached_only_;  // by sessions
    if (n > capacity_ - in_use) {
        const uint64_t bb = layout_.block_bytes;
        fail(MOLA_ERR_CACHE_FULL,
             "the KV cache is full: " + std::to_string(n) + (n == 1 ? " more block" : " more blocks") + " of " +
                 std::to_string(layout_.block_tokens) + " tokens (" +
                 std::to_string(uint64_t(n) * bb) + " bytes) needed, but the budget of " + std::to_string(budget_) +
                 " bytes (" + blocks(capacity_) + " of " + std::to_string(bb) + " bytes) has " + blocks(in_use) +
                 " (" + std::to_string(uint64_t(in_use) * bb) + " bytes) in use and " +
                 std::to_string(capacity_ - in_use) +
                 " free; free a session or rewind one, or load the model with a larger kv_cache_budget_bytes");
    }
    // Each eviction frees at least one block: cached_only_ > 0 means the cache
    // holds a block nobody else does.
    while (n > capacity_ - used_)
        prefix_->evict([this](int32_t id) { return refs_[size_t(id)] == 1; },
                       [this](int32_t id) {
                           cache_release(id);
                           ++evicted_;
                       });
    const size_t ids0 = ids.size(), data0 = data.size();
    ids.reserve(ids0 + size_t(n));
    data.reserve(data0 + size_t(n));
    try {
        for (int64_t i = 0; i < n; ++i) {
            int32_t id;
            if (!free_.empty()) {
                id = free_.back();
                free_.pop_back();
            } else {
                data_.reserve(data_.size() + 1);
                refs_.reserve(refs_.size() + 1);
                cached_.reserve(cached_.size() + 1);
                uint8_t* p = reinterpret_cast<uint8_t*>(backend_.alloc(layout_.block_bytes / sizeof(float)));
                id = int32_t(data_.size());
                data_.push_back(p);
                refs_.push_back(0);
                cached_.push_back(0);
            }
            refs_[size_t(id)] = 1;
            ++used_;
            ids.push_back(id);
            data.push_back(data_[size_t(id)]);
        }
    } catch (...) {  // all or none: hand back what this call took
        for (size_t i = ids0; i < ids.size(); ++i) {
            refs_[size_t(ids[i])] = 0;
            free_.push_back(ids[i]);
            --used_;
        }
        ids.resize(ids0);
        data.resize(data0);
        throw;
    }
}

void BlockPool::retain(int32_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (id < 0 || size_t(id) >= refs_.size() || refs_[size_t(id)] <= 0)
        fail(MOLA_ERR_INTERNAL, "kv cache: retain of block " + std::to_string(id) + ", which nobody holds");
    if (refs_[size_t(id)] == 1 && cached_[size_t(id)]) --cached_only_;
    ++refs_[size_t(id)];
}

void BlockPool::release(const int32_t* ids, int64_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int64_t i = 0; i < n; ++i) {
        const int32_t id = ids[i];
        // (Never throws: this runs from destructors. A bad id is a bug; skip it.)
        if (id < 0 || size_t(id) >= refs_.size() || refs_[size_t(id)] <= 0) continue;
        if (--refs_[size_t(id)] == 0) {
            free_.push_back(id);
            --used_;
        } else if (refs_[size_t(id)] == 1 && cached_[size_t(id)]) {
            ++cached_only_;
        }
    }
}

void BlockPool::cache_retain(int32_t id) {
    cached_[size_t(id)] = 1;
    ++refs_[size_t(id)];  // the caller holds one: never the only holder
}

void BlockPool::cache_release(int32_t id) {
    cached_[size_t(id)] = 0;
    if (refs_[size_t(id)] == 1) --cached_only_;
    if (--refs_[size_t(id)] == 0) {
        free_.push_back(id);
        --used_;
    }
}

int64_t BlockPool::share_cached(const int32_t* tokens, int64_t first_block, int64_t n_blocks,
                                std::vector<int32_t>& ids, std::vector<uint8_t*>& data) {
    if (!prefix_ || n_blocks <= 0) return 0;
    const std::vector<uint64_t> keys = prefix_->keys(tokens, first_block + n_blocks);
    ids.reserve(ids.size() + size_t(n_blocks));
    data.reserve(data.size() + size_t(n_blocks));
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t ids0 = ids.size();
    prefix_->match(tokens, keys.data(), first_block + n_blocks, first_block, ids);
    for (size_t i = ids0; i < ids.size(); ++i) {
        const int32_t id = ids[i];
        if (refs_[size_t(id)] == 1) --cached_only_;
        ++refs_[size_t(id)];
        data.push_back(data_[size_t(id)]);
    }
    return int64_t(ids.size() - ids0);
}

void BlockPool::count_reuse(int64_t n_tokens) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++hits_;
    tokens_reused_ += n_tokens;
}

void BlockPool::cache_blocks(const int32_t* tokens, const int32_t* blocks, int64_t n_blocks) {
    if (!prefix_ || n_blocks <= 0) return;
    try {
        const std::vector<uint64_t> keys = prefix_->keys(tokens, n_blocks);
        std::lock_guard<std::mutex> lock(mutex_);
        prefix_->insert(
            tokens, keys.data(), blocks, n_blocks, [this](int32_t id) { cache_retain(id); },
            [this](int32_t id) { cache_release(id); });
    } catch (const std::bad_alloc&) {
        // The index is an optimisation: the blocks that did not get in stay uncached.
    }
}

void BlockPool::clear_cache() {
    if (!prefix_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    prefix_->clear([this](int32_t id) { cache_release(id); });
}

int32_t BlockPool::ref_count(int32_t id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return id >= 0 && size_t(id) < refs_.size() ? refs_[size_t(id)] : 0;
}

uint8_t* BlockPool::data(int32_t id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return id >= 0 && size_t(id) < data_.size() ? data_[size_t(id)] : nullptr;
}

BlockPool::Usage BlockPool::usage() const {
    std::lock_guard<std::mutex> lock(mutex_);
    Usage u;
    u.block_tokens = layout_.block_tokens;
    u.block_bytes = layout_.block_bytes;
    u.blocks_total = capacity_;
    u.blocks_used = used_ - cached_only_;
    u.blocks_cached = cached_only_;
    u.blocks_allocated = int64_t(data_.size());
    u.bytes_budget = budget_;
    u.bytes_used = uint64_t(u.blocks_used) * layout_.block_bytes;
    u.bytes_allocated = uint64_t(data_.size()) * layout_.block_bytes;
    u.prefix_cache = bool(prefix_);
    u.prefix_hits = hits_;
    u.prefix_tokens_reused = tokens_reused_;
    u.blocks_evicted = evicted_;
    return u;
}

}  // namespace mola
