// block_pool.cpp: allocation, reference counting and the free list of the model's
// KV-cache blocks (see block_pool.h).
#include "kvcache/block_pool.h"

#include <algorithm>
#include <string>

#include "backend/backend.h"
#include "common/error.h"

namespace mola {

namespace {

std::string blocks(int64_t n) { return std::to_string(n) + (n == 1 ? " block" : " blocks"); }

}  // namespace

BlockPool::BlockPool(Backend& backend, const KvLayout& layout, uint64_t budget_bytes)
    : backend_(backend),
      layout_(layout),
      budget_(budget_bytes),
      capacity_(int64_t(std::min<uint64_t>(budget_bytes / layout.block_bytes, uint64_t(INT32_MAX)))) {
    if (capacity_ < 1)
        fail(MOLA_ERR_INVALID_ARG, "kv_cache_budget_bytes " + std::to_string(budget_bytes) +
                                       " is less than one cache block (" + std::to_string(layout.block_tokens) +
                                       " tokens, " + std::to_string(layout.block_bytes) + " bytes)");
}

BlockPool::~BlockPool() {
    for (uint8_t* p : data_) backend_.free(reinterpret_cast<float*>(p));
}

void BlockPool::allocate(int64_t n, std::vector<int32_t>& ids, std::vector<uint8_t*>& data) {
    if (n <= 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (n > capacity_ - used_) {
        const uint64_t bb = layout_.block_bytes;
        fail(MOLA_ERR_CACHE_FULL,
             "the KV cache is full: " + std::to_string(n) + (n == 1 ? " more block" : " more blocks") + " of " +
                 std::to_string(layout_.block_tokens) + " tokens (" +
                 std::to_string(uint64_t(n) * bb) + " bytes) needed, but the budget of " + std::to_string(budget_) +
                 " bytes (" + blocks(capacity_) + " of " + std::to_string(bb) + " bytes) has " + blocks(used_) +
                 " (" + std::to_string(uint64_t(used_) * bb) + " bytes) in use and " +
                 std::to_string(capacity_ - used_) +
                 " free; free a session or rewind one, or load the model with a larger kv_cache_budget_bytes");
    }
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
                uint8_t* p = reinterpret_cast<uint8_t*>(backend_.alloc(layout_.block_bytes / sizeof(float)));
                id = int32_t(data_.size());
                data_.push_back(p);
                refs_.push_back(0);
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
        }
    }
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
    u.blocks_used = used_;
    u.blocks_allocated = int64_t(data_.size());
    u.bytes_budget = budget_;
    u.bytes_used = uint64_t(used_) * layout_.block_bytes;
    u.bytes_allocated = uint64_t(data_.size()) * layout_.block_bytes;
    return u;
}

}  // namespace mola
