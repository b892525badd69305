// block_table.h: a session's block table: the pool blocks that hold its tokens in
// order (token t is row t % block_tokens of block t / block_tokens), grown as
// tokens are appended and shrunk on rewind.
#pragma once

#include <cstdint>
#include <vector>

#include "kvcache/block_pool.h"

namespace mola {

class BlockTable {
public:
    // pool must outlive the table.
    explicit BlockTable(BlockPool& pool) : pool_(pool) {}
    ~BlockTable() { clear(); }
    BlockTable(const BlockTable&) = delete;
    BlockTable& operator=(const BlockTable&) = delete;

    const KvLayout& layout() const { return pool_.layout(); }
    int64_t n_blocks() const { return int64_t(ids_.size()); }
    int64_t capacity_tokens() const { return n_blocks() << layout().block_shift; }
    const std::vector<int32_t>& ids() const { return ids_; }
    // The blocks' addresses, in token order.
    uint8_t* const* data() const { return data_.data(); }

    // Grows the table to hold n_tokens tokens: all the blocks it needs or none
    // (MOLA_ERR_CACHE_FULL from the pool, the table unchanged).
    void reserve(int64_t n_tokens);
    // Lets go of the blocks past the first n_tokens tokens.
    void truncate(int64_t n_tokens);
    void clear() { truncate(0); }
    // Makes this (empty) table share the blocks that hold other's first n_tokens
    // tokens: each gets one more reference in the pool, nothing is copied.
    void share(const BlockTable& other, int64_t n_tokens);
    // Puts blocks that already hold their rows (ids and data from the pool, each
    // with a reference taken for this table) at block indexes [first_block,
    // first_block + ids.size()), first_block <= n_blocks(). A block the table holds
    // at one of those indexes must be its own and unwritten (reserved ahead): it
    // goes back to the pool. The rest is appended.
    void place(int64_t first_block, const std::vector<int32_t>& ids, const std::vector<uint8_t*>& data);
    // Makes the rows [first_token, end_token) writable: grows the table to hold
    // end_token tokens and gives this table its own copy of every block in the
    // range that another holder shares (copy-on-write). All or none: the blocks
    // for the copies and the growth come from one allocation, MOLA_ERR_CACHE_FULL
    // leaves the table unchanged.
    void prepare_write(int64_t first_token, int64_t end_token);

private:
    BlockPool& pool_;
    std::vector<int32_t> ids_;
    std::vector<uint8_t*> data_;
};

}  // namespace mola
