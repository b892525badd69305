// test_prefix_cache.cpp: the shared-prefix index and the pool around it: a forced
// hash collision never matches another prefix's block (and a new chain replaces
// the stale entry), eviction goes least recently used first with a chain's tail
// before its head, and the pool counts cached blocks apart, evicts only those no
// table holds, and refuses an allocation without evicting anything.
#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "common/error.h"
#include "kvcache/block_pool.h"
#include "kvcache/block_table.h"
#include "kvcache/layout.h"
#include "kvcache/prefix_cache.h"

namespace {

struct Log {
    std::vector<int32_t> added, removed;
    std::function<void(int32_t)> on_added() {
        return [this](int32_t id) { added.push_back(id); };
    }
    std::function<void(int32_t)> on_removed() {
        return [this](int32_t id) { removed.push_back(id); };
    }
};

}  // namespace

TEST_CASE("prefix cache: a key collision never matches another prefix's block", "[kvcache][prefix]") {
    mola::PrefixCache cache(2);
    // Every sequence gets the same keys: only the verification tells them apart.
    const uint64_t keys[2] = {10, 20};
    const int32_t a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 5, 6}, c[4] = {9, 9, 3, 4};
    const int32_t a_blocks[2] = {100, 101}, c_blocks[2] = {200, 201};
    Log log;
    cache.insert(a, keys, a_blocks, 2, log.on_added(), log.on_removed());
    CHECK(log.added == std::vector<int32_t>{100, 101});
    CHECK(cache.size() == 2);

    std::vector<int32_t> ids;
    CHECK(cache.match(a, keys, 2, 0, ids) == 2);
    CHECK(ids == std::vector<int32_t>{100, 101});
    ids.clear();
    CHECK(cache.match(b, keys, 2, 0, ids) == 1);  // the second block holds other tokens
    CHECK(ids == std::vector<int32_t>{100});
    ids.clear();
    CHECK(cache.match(c, keys, 2, 0, ids) == 0);  // so does the first
    CHECK(ids.empty());
    ids.clear();
    CHECK(cache.match(a, keys, 2, 1, ids) == 2);  // the first block is the caller's own
    CHECK(ids == std::vector<int32_t>{101});

    // c's chain replaces the entries under its keys; a matches nothing then.
    cache.insert(c, keys, c_blocks, 2, log.on_added(), log.on_removed());
    CHECK(log.removed == std::vector<int32_t>{100, 101});
    CHECK(log.added == std::vector<int32_t>{100, 101, 200, 201});
    CHECK(cache.size() == 2);
    ids.clear();
    CHECK(cache.match(a, keys, 2, 0, ids) == 0);
    ids.clear();
    CHECK(cache.match(c, keys, 2, 0, ids) == 2);
    CHECK(ids == std::vector<int32_t>{200, 201});

    // Real keys differ for each of these sequences and chain the blocks.
    const std::vector<uint64_t> ka = cache.keys(a, 2), kb = cache.keys(b, 2), kc = cache.keys(c, 2);
    CHECK(ka[0] == kb[0]);
    CHECK(ka[1] != kb[1]);
    CHECK(ka[0] != kc[0]);
    CHECK(ka[1] != kc[1]);  // the same tokens after another first block
}

TEST_CASE("prefix cache: least recently used first, a chain's tail before its head", "[kvcache][prefix]") {
    mola::PrefixCache cache(1);
    const int32_t x[3] = {1, 2, 3}, y[2] = {4, 5};
    const int32_t x_blocks[3] = {10, 11, 12}, y_blocks[2] = {20, 21};
    const std::vector<uint64_t> kx = cache.keys(x, 3), ky = cache.keys(y, 2);
    Log log;
    cache.insert(x, kx.data(), x_blocks, 3, log.on_added(), log.on_removed());
    cache.insert(y, ky.data(), y_blocks, 2, log.on_added(), log.on_removed());
    std::vector<int32_t> ids;
    CHECK(cache.match(x, kx.data(), 1, 0, ids) == 1);  // x's first block is the most recent now

    // Block 20 is held elsewhere: it is skipped, and evicted last.
    auto not_20 = [](int32_t id) { return id != 20; };
    while (cache.evict(not_20, log.on_removed())) {
    }
    CHECK(log.removed == std::vector<int32_t>{12, 11, 21, 10});
    CHECK(cache.size() == 1);
    CHECK(cache.evict([](int32_t) { return true; }, log.on_removed()));
    CHECK(log.removed.back() == 20);
    CHECK(cache.size() == 0);
    CHECK_FALSE(cache.evict([](int32_t) { return true; }, log.on_removed()));
}

TEST_CASE("block pool with a prefix cache: cached blocks count apart and are evicted only when free of tables",
          "[kvcache][prefix][pool]") {
    auto backend = mola::make_cpu_backend(1);
    const mola::KvLayout L = mola::make_kv_layout(mola::KvDType::F32, 1, 8, 4, 4);
    mola::BlockPool pool(*backend, L, 4 * L.block_bytes, true);
    REQUIRE(pool.prefix_cache_enabled());
    const std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8};
    mola::BlockTable a(pool), b(pool);
    a.reserve(8);
    pool.cache_blocks(tokens.data(), a.ids().data(), 2);
    CHECK(pool.ref_count(a.ids()[0]) == 2);
    mola::BlockPool::Usage u = pool.usage();
    CHECK(u.blocks_used == 2);
    CHECK(u.blocks_cached == 0);
    a.clear();
    u = pool.usage();
    CHECK(u.blocks_used == 0);
    CHECK(u.blocks_cached == 2);

    // Three blocks: two free, and the cached second block (the older) goes.
    b.reserve(12);
    u = pool.usage();
    CHECK(u.blocks_used == 3);
    CHECK(u.blocks_cached == 1);
    CHECK(u.blocks_evicted == 1);
    CHECK(u.blocks_allocated == 4);
    // Two more: evicting the cached block would give one, not enough, so nothing
    // is evicted and nothing taken.
    mola::BlockTable c(pool);
    try {
        c.reserve(8);
        FAIL("no CACHE_FULL");
    } catch (const mola::Error& e) {
        CHECK(e.status() == MOLA_ERR_CACHE_FULL);
        CHECK(std::string(e.what()).find("3 blocks") != std::string::npos);  // in use
    }
    CHECK(pool.usage().blocks_cached == 1);
    CHECK(pool.usage().blocks_evicted == 1);

    // The first block is still there for a table that starts with those tokens.
    std::vector<int32_t> ids;
    std::vector<uint8_t*> data;
    CHECK(pool.share_cached(tokens.data(), 0, 2, ids, data) == 1);
    c.place(0, ids, data);
    CHECK(pool.usage().blocks_cached == 0);
    CHECK(pool.usage().blocks_used == 4);
    // A held cached block is not evicted: the pool is full.
    CHECK_THROWS_AS(c.reserve(8), mola::Error);
    c.clear();
    pool.clear_cache();
    u = pool.usage();
    CHECK(u.blocks_cached == 0);
    CHECK(u.blocks_used == 3);
    ids.clear();
    data.clear();
    CHECK(pool.share_cached(tokens.data(), 0, 2, ids, data) == 0);
}
