// test_kvcache.cpp: the paged KV cache's parts: the float -> BF16 / e4m3 rounding,
// the block layout (and its bytes per token at DeepSeek-V3's dimensions), the
// block pool's reference counts, free list, budget and thread safety, and the
// cache-row kernels of every instruction set against a double reference.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "common/error.h"
#include "format/dtype.h"
#include "kvcache/block_pool.h"
#include "kvcache/block_table.h"
#include "kvcache/layout.h"

using mola::DType;
using mola::KvDType;

namespace {

float bits_to_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

std::vector<const mola::cpu::Kernels*> tables() {
    const mola::cpu::Kernels* all[8] = {};
    const int n = mola::cpu::available_kernels(all, 8);
    return std::vector<const mola::cpu::Kernels*>(all, all + (n < 8 ? n : 8));
}

}  // namespace

TEST_CASE("e4m3 rounding: every finite code round-trips, halfway rounds to even, large values saturate",
          "[kvcache][dtype]") {
    for (int c = 0; c < 256; ++c) {
        if ((c & 0x7f) == 0x7f) continue;  // NaN
        const float v = mola::f8e4m3_to_f32(uint8_t(c));
        const uint8_t back = mola::f32_to_f8e4m3(v);
        INFO("code " << c << " value " << v);
        if (v == 0.0f)
            CHECK((back & 0x7f) == 0);
        else
            CHECK(back == c);
    }
    // Between two neighbours: nearest wins, the exact middle goes to the even code.
    for (int c = 0; c < 0x7e; ++c) {
        const float lo = mola::f8e4m3_to_f32(uint8_t(c)), hi = mola::f8e4m3_to_f32(uint8_t(c + 1));
        const float mid = 0.5f * (lo + hi);
        INFO("between codes " << c << " and " << c + 1);
        CHECK(mola::f32_to_f8e4m3(mid) == ((c & 1) ? c + 1 : c));
        CHECK(mola::f32_to_f8e4m3(std::nextafter(mid, lo)) == c);
        CHECK(mola::f32_to_f8e4m3(std::nextafter(mid, hi)) == c + 1);
        CHECK(mola::f32_to_f8e4m3(-std::nextafter(mid, hi)) == (0x80 | (c + 1)));
    }
    CHECK(mola::f32_to_f8e4m3(448.0f) == 0x7e);
    CHECK(mola::f32_to_f8e4m3(470.0f) == 0x7e);
    CHECK(mola::f32_to_f8e4m3(1e30f) == 0x7e);
    CHECK(mola::f32_to_f8e4m3(-INFINITY) == 0xfe);
    CHECK(mola::f32_to_f8e4m3(NAN) == 0);
    CHECK(mola::f32_to_f8e4m3(1e-30f) == 0);
}

TEST_CASE("bf16 rounding is to nearest even", "[kvcache][dtype]") {
    CHECK(mola::f32_to_bf16(1.0f) == 0x3f80);
    CHECK(mola::f32_to_bf16(bits_to_float(0x3f808000u)) == 0x3f80);  // halfway, even below
    CHECK(mola::f32_to_bf16(bits_to_float(0x3f818000u)) == 0x3f82);  // halfway, even above
    CHECK(mola::f32_to_bf16(bits_to_float(0x3f808001u)) == 0x3f81);
    CHECK(mola::f32_to_bf16(bits_to_float(0xbf80ffffu)) == 0xbf81);
    CHECK(std::isnan(mola::bf16_to_f32(mola::f32_to_bf16(NAN))));
    CHECK(mola::f32_to_bf16(INFINITY) == 0x7f80);
}

TEST_CASE("cache layout: sections, block bytes and bytes per token", "[kvcache][layout]") {
    // DeepSeek-V3: 61 layers of a 512-value latent and a 64-value rope key.
    CHECK(mola::kv_bytes_per_token(KvDType::F32, 61, 512, 64) == 140544);
    CHECK(mola::kv_bytes_per_token(KvDType::BF16, 61, 512, 64) == 70272);
    CHECK(mola::kv_bytes_per_token(KvDType::FP8_E4M3, 61, 512, 64) == 39284);  // 512 + 128 + 4 per layer

    const mola::KvLayout v3 = mola::make_kv_layout(KvDType::FP8_E4M3, 61, 512, 64, 64);
    CHECK(v3.block_shift == 6);
    CHECK(v3.latent_type == DType::F8_E4M3);
    CHECK(v3.rope_type == DType::BF16);
    CHECK(v3.rope_offset == 64 * 512);
    CHECK(v3.scale_offset == 64 * 512 + 64 * 128);
    CHECK(v3.layer_bytes == 64 * 644);
    CHECK(v3.block_bytes == 61 * 64 * 644);

    // Odd sizes: every section starts on 64 bytes.
    for (KvDType t : {KvDType::F32, KvDType::BF16, KvDType::FP8_E4M3})
        for (int64_t bt : {1, 2, 16, 64}) {
            const mola::KvLayout L = mola::make_kv_layout(t, 3, 48, 16, bt);
            INFO(mola::kv_dtype_name(t) << " block_tokens " << bt);
            CHECK(int64_t(1) << L.block_shift == bt);
            CHECK(L.rope_offset % 64 == 0);
            CHECK(L.scale_offset % 64 == 0);
            CHECK(L.layer_bytes % 64 == 0);
            CHECK(L.rope_offset >= size_t(bt) * L.latent_row_bytes);
            CHECK(L.scale_offset - L.rope_offset >= size_t(bt) * L.rope_row_bytes);
            CHECK(L.block_bytes == 3 * L.layer_bytes);
            CHECK(L.block_bytes >= size_t(bt) * L.bytes_per_token);
        }
    CHECK(std::string(mola::kv_dtype_name(KvDType::FP8_E4M3)) == "fp8_e4m3");
}

TEST_CASE("block pool: all-or-none allocation, reference counts, the free list and the budget",
          "[kvcache][pool]") {
    auto backend = mola::make_cpu_backend(1);
    const mola::KvLayout L = mola::make_kv_layout(KvDType::BF16, 2, 48, 16, 16);
    CHECK_THROWS_AS(mola::BlockPool(*backend, L, L.block_bytes - 1), mola::Error);

    mola::BlockPool pool(*backend, L, 5 * L.block_bytes + 7);
    CHECK(pool.capacity() == 5);
    std::vector<int32_t> ids;
    std::vector<uint8_t*> data;
    pool.allocate(3, ids, data);
    REQUIRE(ids.size() == 3);
    REQUIRE(data.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
        CHECK(pool.ref_count(ids[i]) == 1);
        CHECK(pool.data(ids[i]) == data[i]);
        CHECK(reinterpret_cast<uintptr_t>(data[i]) % 64 == 0);
    }
    // Three more do not fit in the two left: nothing is taken.
    try {
        pool.allocate(3, ids, data);
        FAIL("no CACHE_FULL");
    } catch (const mola::Error& e) {
        CHECK(e.status() == MOLA_ERR_CACHE_FULL);
        const std::string what = e.what();
        CHECK(what.find(std::to_string(5 * L.block_bytes + 7)) != std::string::npos);  // the budget
        CHECK(what.find(std::to_string(3 * L.block_bytes)) != std::string::npos);      // in use, and needed
        CHECK(what.find("3 blocks") != std::string::npos);
    }
    CHECK(ids.size() == 3);
    CHECK(pool.usage().blocks_used == 3);

    // A shared block stays taken until its last holder lets go.
    pool.retain(ids[1]);
    CHECK(pool.ref_count(ids[1]) == 2);
    pool.release(&ids[1], 1);
    CHECK(pool.ref_count(ids[1]) == 1);
    CHECK(pool.usage().blocks_used == 3);
    pool.release(ids.data(), 3);
    mola::BlockPool::Usage u = pool.usage();
    CHECK(u.blocks_used == 0);
    CHECK(u.blocks_allocated == 3);
    CHECK(u.bytes_allocated == 3 * L.block_bytes);
    CHECK_THROWS_AS(pool.retain(ids[0]), mola::Error);  // nobody holds it

    // Freed blocks are reused before new memory is taken; all five fit now.
    std::vector<int32_t> again;
    std::vector<uint8_t*> again_data;
    pool.allocate(5, again, again_data);
    u = pool.usage();
    CHECK(u.blocks_used == 5);
    CHECK(u.blocks_allocated == 5);
    CHECK(u.bytes_used == 5 * L.block_bytes);
    CHECK(u.bytes_budget == 5 * L.block_bytes + 7);
    pool.release(again.data(), 5);
    CHECK(pool.usage().blocks_used == 0);
}

TEST_CASE("block table: grows by whole blocks, all or none, and gives blocks back", "[kvcache][pool]") {
    auto backend = mola::make_cpu_backend(1);
    const mola::KvLayout L = mola::make_kv_layout(KvDType::F32, 1, 8, 4, 4);
    mola::BlockPool pool(*backend, L, 4 * L.block_bytes);
    {
        mola::BlockTable a(pool), b(pool);
        a.reserve(1);
        CHECK(a.n_blocks() == 1);
        a.reserve(4);
        CHECK(a.n_blocks() == 1);
        a.reserve(9);
        CHECK(a.n_blocks() == 3);
        CHECK(a.capacity_tokens() == 12);
        CHECK_THROWS_AS(b.reserve(5), mola::Error);  // two blocks, one free
        CHECK(b.n_blocks() == 0);
        CHECK(pool.usage().blocks_used == 3);
        a.truncate(5);
        CHECK(a.n_blocks() == 2);
        a.truncate(4);
        CHECK(a.n_blocks() == 1);
        b.reserve(5);
        CHECK(b.n_blocks() == 2);
        CHECK(pool.usage().blocks_used == 3);
    }
    CHECK(pool.usage().blocks_used == 0);  // destroyed tables release everything
}

TEST_CASE("block table: shared blocks are copied before a write, all or none", "[kvcache][pool]") {
    auto backend = mola::make_cpu_backend(1);
    const mola::KvLayout L = mola::make_kv_layout(KvDType::F32, 1, 8, 4, 4);
    mola::BlockPool pool(*backend, L, 4 * L.block_bytes);
    mola::BlockTable a(pool), b(pool);
    a.reserve(6);  // 2 blocks
    for (int i = 0; i < 2; ++i) std::memset(a.data()[i], 0x40 + i, size_t(L.block_bytes));
    b.share(a, 6);
    CHECK(b.ids() == a.ids());
    CHECK(pool.ref_count(a.ids()[1]) == 2);
    CHECK(pool.usage().blocks_used == 2);
    b.prepare_write(6, 7);  // the shared second block is copied, the first stays shared
    CHECK(b.ids()[0] == a.ids()[0]);
    CHECK(b.ids()[1] != a.ids()[1]);
    CHECK(std::memcmp(b.data()[1], a.data()[1], size_t(L.block_bytes)) == 0);
    CHECK(pool.ref_count(a.ids()[1]) == 1);
    CHECK(pool.usage().blocks_used == 3);
    a.prepare_write(6, 7);  // a holds its block alone now: written in place
    CHECK(pool.usage().blocks_used == 3);
    // Copying the first block and growing by two needs 3 blocks; 1 is free.
    const std::vector<int32_t> before = b.ids();
    CHECK_THROWS_AS(b.prepare_write(0, 13), mola::Error);
    CHECK(b.ids() == before);
    CHECK(pool.usage().blocks_used == 3);
    a.clear();
    CHECK(pool.ref_count(b.ids()[0]) == 1);
    b.prepare_write(0, 13);  // no copies now, two more blocks
    CHECK(b.n_blocks() == 4);
}

TEST_CASE("block pool: concurrent allocation and release keep the counts exact", "[kvcache][pool][threads]") {
    auto backend = mola::make_cpu_backend(1);
    const mola::KvLayout L = mola::make_kv_layout(KvDType::BF16, 1, 16, 16, 1);
    mola::BlockPool pool(*backend, L, 64 * L.block_bytes);
    std::atomic<int> full{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<uint32_t>(t));
            mola::BlockTable table(pool);
            for (int i = 0; i < 2000; ++i) {
                const int64_t want = int64_t(rng() % 20);
                try {
                    table.reserve(want);
                    // Every block this table holds is its own: stamp and check it.
                    for (int64_t b = 0; b < table.n_blocks(); ++b) table.data()[b][0] = uint8_t(t);
                    for (int64_t b = 0; b < table.n_blocks(); ++b)
                        if (table.data()[b][0] != uint8_t(t)) full += 1000000;
                } catch (const mola::Error& e) {
                    if (e.status() == MOLA_ERR_CACHE_FULL) ++full;
                }
                table.truncate(int64_t(rng() % 20));
            }
        });
    for (std::thread& t : threads) t.join();
    CHECK(full.load() < 1000000);  // no block was handed to two tables
    const mola::BlockPool::Usage u = pool.usage();
    CHECK(u.blocks_used == 0);
    CHECK(u.blocks_allocated <= 64);
}

TEST_CASE("cache-row kernels of every instruction set match a double reference", "[kvcache][kernels]") {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const mola::cpu::Kernels* k : tables()) {
        for (DType t : {DType::F32, DType::BF16, DType::F8_E4M3}) {
            for (int64_t n : {1, 5, 8, 15, 16, 17, 48, 64, 65, 100, 512}) {
                INFO(k->isa << " " << mola::dtype_name(t) << " n " << n);
                std::vector<float> x(static_cast<size_t>(n)), y0(static_cast<size_t>(n));
                for (float& v : x) v = normal(rng);
                for (float& v : y0) v = normal(rng);
                std::vector<uint8_t> row(size_t(n) * 4);
                std::vector<double> value(static_cast<size_t>(n));
                for (int64_t i = 0; i < n; ++i) {
                    const float v = normal(rng) * 50.0f;
                    if (t == DType::F32) {
                        std::memcpy(&row[size_t(i) * 4], &v, 4);
                        value[size_t(i)] = v;
                    } else if (t == DType::BF16) {
                        const uint16_t h = mola::f32_to_bf16(v);
                        std::memcpy(&row[size_t(i) * 2], &h, 2);
                        value[size_t(i)] = mola::bf16_to_f32(h);
                    } else {
                        row[size_t(i)] = mola::f32_to_f8e4m3(v);
                        value[size_t(i)] = mola::f8e4m3_to_f32(row[size_t(i)]);
                    }
                }
                double dot = 0, norm = 0;
                for (int64_t i = 0; i < n; ++i) {
                    dot += double(x[size_t(i)]) * value[size_t(i)];
                    norm += std::fabs(double(x[size_t(i)]) * value[size_t(i)]);
                }
                CHECK(std::fabs(double(k->dot_row(x.data(), row.data(), t, n)) - dot) <= 1e-5 * norm + 1e-6);

                std::vector<float> y = y0;
                k->axpy_row(0.75f, row.data(), t, y.data(), n);
                std::vector<float> loaded(size_t(n) + 1, -123.0f);
                k->load_row(row.data(), t, loaded.data(), n);
                for (int64_t i = 0; i < n; ++i) {
                    const double want = double(y0[size_t(i)]) + 0.75 * value[size_t(i)];
                    CHECK(std::fabs(double(y[size_t(i)]) - want) <= 1e-5 * (std::fabs(want) + 1.0));
                    CHECK(double(loaded[size_t(i)]) == value[size_t(i)]);  // exact
                }
                CHECK(loaded[size_t(n)] == -123.0f);  // nothing written past the row
            }
        }
    }
}

TEST_CASE("kv_write stores rows in every cache dtype and attention reads them back", "[kvcache][backend]") {
    auto backend = mola::make_cpu_backend(1);
    const int64_t d_c = 40, d_r = 8, T = 37;
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> kv(size_t(T * (d_c + d_r)));
    for (float& v : kv) v = normal(rng);
    for (KvDType t : {KvDType::F32, KvDType::BF16, KvDType::FP8_E4M3}) {
        for (int64_t bt : {1, 8, 64}) {
            INFO(mola::kv_dtype_name(t) << " block_tokens " << bt);
            const mola::KvLayout L = mola::make_kv_layout(t, 2, d_c, d_r, bt);
            mola::BlockPool pool(*backend, L, 64 * L.block_bytes);
            mola::BlockTable table(pool);
            table.reserve(T);
            mola::KvCacheView view{&L, table.data(), 1};
            backend->kv_write(view, 0, 10, kv.data(), d_c + d_r);  // two writes, as two appends
            backend->kv_write(view, 10, T - 10, kv.data() + 10 * (d_c + d_r), d_c + d_r);
            // Read every row back through the layout.
            const float tol = t == KvDType::F32 ? 0.0f : t == KvDType::BF16 ? 1.0f / 256 : 1.0f / 16;
            for (int64_t i = 0; i < T; ++i) {
                const uint8_t* layer = L.layer_data(table.data()[i >> L.block_shift], 1);
                const int64_t r = i & (bt - 1);
                std::vector<float> c(static_cast<size_t>(d_c)), pe(static_cast<size_t>(d_r));
                mola::cpu::kernels().load_row(layer + size_t(r) * L.latent_row_bytes, L.latent_type, c.data(), d_c);
                mola::cpu::kernels().load_row(layer + L.rope_offset + size_t(r) * L.rope_row_bytes, L.rope_type,
                                             pe.data(), d_r);
                const float scale =
                    L.has_scales() ? reinterpret_cast<const float*>(layer + L.scale_offset)[r] : 1.0f;
                float absmax = 0;
                for (int64_t j = 0; j < d_c; ++j) absmax = std::max(absmax, std::fabs(kv[size_t(i * (d_c + d_r) + j)]));
                if (L.has_scales()) CHECK(scale == Approx(absmax / 448.0f));
                for (int64_t j = 0; j < d_c; ++j) {
                    const float want = kv[size_t(i * (d_c + d_r) + j)];
                    // e4m3's step is relative to the value, or to the scale near zero.
                    CHECK(std::fabs(c[size_t(j)] * scale - want) <= tol * std::fabs(want) + 1e-6f + (L.has_scales() ? scale / 512 : 0.0f));
                }
                for (int64_t j = 0; j < d_r; ++j) {
                    const float want = kv[size_t(i * (d_c + d_r) + d_c + j)];
                    CHECK(std::fabs(pe[size_t(j)] - want) <= (t == KvDType::F32 ? 0.0f : 1.0f / 256) * std::fabs(want));
                }
            }
        }
    }
}
