// block_table.cpp: growing and shrinking a session's block table (see block_table.h).
#include "kvcache/block_table.h"

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

}  // namespace mola
