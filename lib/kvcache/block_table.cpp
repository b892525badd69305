// block_table.cpp: growing and shrinking a session's block table (see block_table.h).
#include "kvcache/block_table.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace mola {

namespace {

int64_t blocks_for(int64_t n_tokens, const KvLayout& L) { return (n_tokens + L.block_tokens - 1) >> L.block_shift; }

}  // namespace

void BlockTable::reserve(int64_t n_tokens) {
    const int64_t need = blocks_for(n_tokens, layout()) - n_blocks();
    if (need > 0) pool_.allocate(need, ids_, data_);
}

void BlockTable::truncate(int64_t n_tokens) {
    const int64_t keep = blocks_for(n_tokens, layout());
    if (keep >= n_blocks()) return;
    pool_.release(ids_.data() + keep, n_blocks() - keep);
    ids_.resize(size_t(keep));
    data_.resize(size_t(keep));
}

void BlockTable::share(const BlockTable& other, int64_t n_tokens) {
    if (&other.pool_ != &pool_ || n_blocks() != 0)
        fail(MOLA_ERR_INTERNAL, "kv cache: share into a table that is not empty or of another pool");
    const int64_t n = std::min(blocks_for(n_tokens, layout()), other.n_blocks());
    ids_.reserve(size_t(n));
    data_.reserve(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
        pool_.retain(other.ids_[size_t(i)]);
        ids_.push_back(other.ids_[size_t(i)]);
        data_.push_back(other.data_[size_t(i)]);
    }
}

void BlockTable::place(int64_t first_block, const std::vector<int32_t>& ids, const std::vector<uint8_t*>& data) {
    const size_t end = size_t(first_block) + ids.size();
    try {
        ids_.reserve(std::max(end, ids_.size()));
        data_.reserve(std::max(end, data_.size()));
    } catch (...) {
        pool_.release(ids.data(), int64_t(ids.size()));
        throw;
    }
    for (size_t i = 0; i < ids.size(); ++i) {
        const size_t b = size_t(first_block) + i;
        if (b < ids_.size()) {
            const int32_t reserved = ids_[b];
            ids_[b] = ids[i];
            data_[b] = data[i];
            pool_.release(&reserved, 1);
        } else {
            ids_.push_back(ids[i]);
            data_.push_back(data[i]);
        }
    }
}

void BlockTable::prepare_write(int64_t first_token, int64_t end_token) {
    const KvLayout& L = layout();
    const int64_t grow = std::max<int64_t>(blocks_for(end_token, L) - n_blocks(), 0);
    // Blocks already in the table that the write touches and someone else holds.
    // (A count of 1 read here cannot rise meanwhile: a block only this table holds
    // is in no prefix cache, and only this table's owner shares it. A copy of a
    // block that just became ours alone is merely wasted.)
    std::vector<int64_t> shared;
    const int64_t last = std::min(blocks_for(end_token, L), n_blocks());
    for (int64_t b = first_token >> L.block_shift; b < last; ++b)
        if (pool_.ref_count(ids_[size_t(b)]) > 1) shared.push_back(b);
    const int64_t n_new = int64_t(shared.size()) + grow;
    if (n_new == 0) return;
    std::vector<int32_t> ids;
    std::vector<uint8_t*> data;
    pool_.allocate(n_new, ids, data);  // MOLA_ERR_CACHE_FULL: nothing taken
    try {
        ids_.reserve(ids_.size() + size_t(grow));
        data_.reserve(data_.size() + size_t(grow));
    } catch (...) {
        pool_.release(ids.data(), int64_t(ids.size()));
        throw;
    }
    for (size_t i = 0; i < shared.size(); ++i) {
        const size_t b = size_t(shared[i]);
        std::memcpy(data[i], data_[b], size_t(L.block_bytes));
        const int32_t old = ids_[b];
        ids_[b] = ids[i];
        data_[b] = data[i];
        pool_.release(&old, 1);
    }
    for (size_t i = shared.size(); i < ids.size(); ++i) {
        ids_.push_back(ids[i]);
        data_.push_back(data[i]);
    }
}

}  // namespace mola
