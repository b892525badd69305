// bench_kernels: throughput of the CPU linear kernel for every dtype and every
// kernel table this CPU can run (but the scalar one, unless --isa names it).
//
//   bench_kernels [--isa a,b] [--dtype F32,F16,BF16,F8_E4M3] [--threads 1,2]
//                 [--n 1,64,512] [--shape 10944x2048,2048x10944] [--hot] [--time SECONDS]
//                 [--accuracy] [--cputime]
//   bench_kernels --attention 1024,8192,32768 [--threads 1,2] [--time SECONDS]
//
// n == 1 (decode) is memory-bound: the matrices (10944x2048 and 2048x10944, the
// shapes of a DeepSeek-V2-Lite MLP) are cycled through a pool of copies several
// times the size of the L3, so every call streams its weights from DRAM; the figure
// is GB/s of weight bytes, to compare with `membw <threads>`. --hot reuses one copy
// instead (weights from cache when they fit: the kernel's compute ceiling).
// n > 1 (prefill) is compute-bound: one matrix, GFLOP/s = 2 * rows * cols * n / s.
// --cputime times with process CPU time instead of wall-clock time (for a busy
// machine; one thread only). --accuracy also prints each table's error on BF16 weights against a double
// reference (worst |err| / sum |x w| and relative L2), for realistic data.
//
// --attention DEPTHS times one decode step of the CPU backend's absorbed MLA attention
// (one layer, DeepSeek-V2-Lite's shape: 16 heads, latent 512, rope 64) over a BF16
// and an FP8 cache holding DEPTH tokens, with the instruction set the backend picks
// (MOLA_CPU_ISA overrides): ms per call, cache GB/s and GFLOP/s.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <time.h>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "format/dtype.h"
#include "kvcache/block_pool.h"
#include "kvcache/block_table.h"
#include "kvcache/layout.h"

using mola::DType;
using mola::Matrix;
using mola::cpu::Kernels;

namespace {

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}

// float -> IEEE half, round to nearest even (normal range and subnormals; no
// overflow handling needed for the small values used here).
uint16_t f32_to_f16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const float a = std::fabs(f);
    if (a < 6.103515625e-05f) {  // subnormal half: a / 2^-24, rounded
        return uint16_t(sign | uint32_t(std::nearbyint(a * 16777216.0f)));
    }
    uint32_t bits;
    std::memcpy(&bits, &a, 4);
    bits += 0xfffu + ((bits >> 13) & 1u);
    return uint16_t(sign | (((bits >> 23) - 112) << 10) | ((bits >> 13) & 0x3ffu));
}

// The nearest e4m3 byte of f (|f| <= 448), by search over the table.
uint8_t f32_to_f8(float f) {
    const float* t = mola::f8e4m3_table();
    int best = 0;
    for (int b = 0; b < 0x7f; ++b)
        if (std::fabs(t[b] - std::fabs(f)) < std::fabs(t[best] - std::fabs(f))) best = b;
    return uint8_t(best | (f < 0 ? 0x80 : 0));
}

// Fills `bytes` with dtype-encoded values drawn from N(0, sigma) (F8: N(0, 64), the
// range an FP8 checkpoint uses, with the scale taking the rest).
void fill(DType t, uint8_t* bytes, size_t count, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    const size_t pattern = std::min<size_t>(count, size_t(1) << 20);  // elements
    const size_t es = mola::dtype_size(t);
    for (size_t i = 0; i < pattern; ++i) {
        const float v = d(rng);
        switch (t) {
            case DType::F32: {
                const float w = 0.02f * v;
                std::memcpy(bytes + i * 4, &w, 4);
                break;
            }
            case DType::F16: {
                const uint16_t h = f32_to_f16(0.02f * v);
                std::memcpy(bytes + i * 2, &h, 2);
                break;
            }
            case DType::BF16: {
                const uint16_t h = f32_to_bf16(0.02f * v);
                std::memcpy(bytes + i * 2, &h, 2);
                break;
            }
            case DType::F8_E4M3:
                bytes[i] = f32_to_f8(std::max(-448.0f, std::min(448.0f, 64.0f * v)));
                break;
            default: break;
        }
    }
    for (size_t done = pattern; done < count;) {
        const size_t c = std::min(pattern, count - done);
        std::memcpy(bytes + done * es, bytes, c * es);
        done += c;
    }
}

// Wall-clock seconds, or with --cputime this process's CPU seconds (a steadier figure
// on a busy machine, meaningful with one thread only).
bool g_cputime = false;
double now() {
    if (g_cputime) {
        timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Shape {
    int64_t rows, cols;
};

struct Options {
    std::vector<std::string> isas, dtypes = {"F32", "F16", "BF16", "F8_E4M3"};
    std::vector<int> threads = {1, 2};
    std::vector<int64_t> ns = {1, 64, 512};
    std::vector<Shape> shapes = {{10944, 2048}, {2048, 10944}};
    double min_time = 0.5;
    bool accuracy = false, hot = false;
    std::vector<int64_t> attention_depths;
};

// Matrices of one dtype: a pool of copies over one big buffer for cold (decode)
// runs; a scale grid shared by all (F8).
struct Pool {
    DType dtype;
    std::vector<uint8_t> buffer;
    std::vector<float> scales;
    size_t copies = 0, bytes_each = 0;
};

Pool make_pool(DType t, Shape s, size_t min_total) {
    Pool p;
    p.dtype = t;
    p.bytes_each = size_t(s.rows * s.cols) * mola::dtype_size(t);
    p.bytes_each = (p.bytes_each + 4095) & ~size_t(4095);
    p.copies = std::max<size_t>(1, (min_total + p.bytes_each - 1) / p.bytes_each);
    p.buffer.resize(p.copies * p.bytes_each);
    const size_t elems = p.buffer.size() / mola::dtype_size(t);
    fill(t, p.buffer.data(), elems, 42);
    const int64_t sr = (s.rows + 127) / 128, sc = (s.cols + 127) / 128;
    p.scales.resize(size_t(std::max<int64_t>(sr, 1) * std::max<int64_t>(sc, 1)));
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.5f, 1.5f);
    for (auto& v : p.scales) v = u(rng) * 3e-4f;
    return p;
}

Matrix view(const Pool& p, Shape s, size_t copy) {
    Matrix m;
    m.dtype = p.dtype;
    m.rows = s.rows;
    m.cols = s.cols;
    m.data = p.buffer.data() + (copy % p.copies) * p.bytes_each;
    if (p.dtype == DType::F8_E4M3) {
        m.scale = p.scales.data();
        m.scale_cols = (s.cols + 127) / 128;
    }
    return m;
}

// Runs linear on views of the pool (cycling copies) for at least min_time;
// returns seconds per call (best of three timing windows).
double time_linear(const Kernels& k, const Pool& p, Shape s, const float* x, int64_t n, float* y,
                   int threads, double min_time) {
    size_t copy = 0;
    for (int i = 0; i < 2; ++i) k.linear(view(p, s, copy++), x, n, y, threads);  // warm-up
    double best = 1e30;
    for (int window = 0; window < 3; ++window) {
        int calls = 0;
        const double t0 = now();
        double t1 = t0;
        do {
            k.linear(view(p, s, copy++), x, n, y, threads);
            ++calls;
            t1 = now();
        } while (t1 - t0 < min_time / 3);
        best = std::min(best, (t1 - t0) / calls);
    }
    return best;
}

void accuracy(const std::vector<const Kernels*>& tables) {
    const Shape s{2048, 2048};
    std::printf("\naccuracy, BF16 weights N(0, 0.02), x ~ N(0, 1) with 1%% outliers x20, %lldx%lld:\n",
                (long long)s.rows, (long long)s.cols);
    Pool p = make_pool(DType::BF16, s, 0);
    std::mt19937 rng(9);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int64_t n : {1, 64}) {
        std::vector<float> x(size_t(n * s.cols)), y(size_t(n * s.rows));
        for (auto& v : x) v = d(rng) * (u(rng) < 0.01f ? 20.0f : 1.0f);
        const Matrix m = view(p, s, 0);
        const uint16_t* w = static_cast<const uint16_t*>(m.data);
        std::vector<double> ref(y.size()), mag(y.size());
        for (int64_t t = 0; t < n; ++t)
            for (int64_t r = 0; r < s.rows; ++r) {
                double acc = 0, a = 0;
                for (int64_t c = 0; c < s.cols; ++c) {
                    const double q = double(x[size_t(t * s.cols + c)]) * mola::bf16_to_f32(w[r * s.cols + c]);
                    acc += q;
                    a += std::fabs(q);
                }
                ref[size_t(t * s.rows + r)] = acc;
                mag[size_t(t * s.rows + r)] = a;
            }
        for (const Kernels* k : tables) {
            k->linear(m, x.data(), n, y.data(), 2);
            double worst = 0, e2 = 0, r2 = 0;
            for (size_t i = 0; i < y.size(); ++i) {
                const double e = std::fabs(double(y[i]) - ref[i]);
                worst = std::max(worst, e / mag[i]);
                e2 += e * e;
                r2 += ref[i] * ref[i];
            }
            std::printf("  %-12s n=%-4lld worst |err|/sum|xw| %.2e   rel L2 %.2e\n", k->isa, (long long)n,
                        worst, std::sqrt(e2 / r2));
        }
    }
}

// One decode step of absorbed MLA attention at each depth, per cache dtype and thread count.
void bench_attention(const Options& o) {
    const int64_t H = 16, d_nope = 128, d_rope = 64, d_v = 128, d_c = 512, bt = 64;
    std::printf("absorbed MLA attention, one decode step, one layer (H %lld, latent %lld, rope %lld), kernels %s\n",
                (long long)H, (long long)d_c, (long long)d_rope, mola::cpu::kernels().isa);
    std::printf("%-9s %7s %3s %10s %9s %10s\n", "cache", "depth", "thr", "ms/call", "GB/s", "GFLOP/s");
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> q(size_t(H * (d_nope + d_rope))), kv_b(size_t(H * (d_nope + d_v) * d_c)), out(size_t(H * d_v));
    for (float& v : q) v = normal(rng);
    for (float& v : kv_b) v = 0.05f * normal(rng);
    for (mola::KvDType dtype : {mola::KvDType::BF16, mola::KvDType::FP8_E4M3}) {
        for (int64_t T : o.attention_depths) {
            for (int th : o.threads) {
                auto backend = mola::make_cpu_backend(th);
                const mola::KvLayout L = mola::make_kv_layout(dtype, 1, d_c, d_rope, bt);
                mola::BlockPool pool(*backend, L, size_t((T + bt - 1) / bt + 1) * L.block_bytes);
                mola::BlockTable table(pool);
                table.reserve(T);
                const mola::KvCacheView view{&L, table.data(), 0};
                std::vector<float> rows(size_t(bt * (d_c + d_rope)));
                for (int64_t t0 = 0; t0 < T; t0 += bt) {
                    for (float& v : rows) v = normal(rng);
                    backend->kv_write(view, t0, std::min(bt, T - t0), rows.data(), d_c + d_rope);
                }
                mola::MlaAttention a;
                a.q = q.data();
                a.cache = view;
                a.kv_b.rows = H * (d_nope + d_v);
                a.kv_b.cols = d_c;
                a.kv_b.data = kv_b.data();
                a.n = 1;
                a.pos0 = T - 1;
                a.n_heads = H;
                a.d_nope = d_nope;
                a.d_rope = d_rope;
                a.d_v = d_v;
                a.d_c = d_c;
                a.scale = 0.1f;
                a.out = out.data();
                a.form = mola::MlaForm::Absorbed;
                backend->mla_attention(a);  // warm-up
                int calls = 0;
                const double t0 = now();
                double elapsed = 0;
                while (elapsed < o.min_time || calls < 3) {
                    backend->mla_attention(a);
                    ++calls;
                    elapsed = now() - t0;
                }
                const double sec = elapsed / calls;
                const double bytes = double(T) * double(L.latent_row_bytes + L.rope_row_bytes);
                const double flops = 2.0 * double(H) * double(T) * double(2 * d_c + d_rope);
                std::printf("%-9s %7lld %3d %10.3f %9.2f %10.1f\n", mola::kv_dtype_name(dtype), (long long)T, th,
                            sec * 1e3, bytes / sec / 1e9, flops / sec / 1e9);
                std::fflush(stdout);
            }
        }
    }
}

void usage() {
    std::fprintf(stderr,
                 "usage: bench_kernels [--isa a,b] [--dtype F32,F16,BF16,F8_E4M3] [--threads 1,2]\n"
                 "                     [--n 1,64,512] [--shape RxC,...] [--hot] [--time SECONDS]\n"
                 "                     [--accuracy] [--cputime]\n"
                 "       bench_kernels --attention DEPTHS [--threads 1,2] [--time SECONDS]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (a == "--isa")
            o.isas = split(next());
        else if (a == "--dtype")
            o.dtypes = split(next());
        else if (a == "--threads") {
            o.threads.clear();
            for (auto& s : split(next())) o.threads.push_back(std::atoi(s.c_str()));
        } else if (a == "--n") {
            o.ns.clear();
            for (auto& s : split(next())) o.ns.push_back(std::atoll(s.c_str()));
        } else if (a == "--time")
            o.min_time = std::atof(next().c_str());
        else if (a == "--shape") {
            o.shapes.clear();
            for (auto& sh : split(next())) {
                Shape s{0, 0};
                if (std::sscanf(sh.c_str(), "%lldx%lld", (long long*)&s.rows, (long long*)&s.cols) != 2 ||
                    s.rows < 1 || s.cols < 1)
                    usage();
                o.shapes.push_back(s);
            }
        } else if (a == "--hot")
            o.hot = true;
        else if (a == "--accuracy")
            o.accuracy = true;
        else if (a == "--cputime")
            g_cputime = true;
        else if (a == "--attention") {
            for (auto& d : split(next())) o.attention_depths.push_back(std::atoll(d.c_str()));
        } else
            usage();
    }
    if (!o.attention_depths.empty()) {
        bench_attention(o);
        return 0;
    }

    const Kernels* all[8] = {};
    const int count = std::min(8, mola::cpu::available_kernels(all, 8));
    std::vector<const Kernels*> tables;
    for (int i = 0; i < count; ++i) {
        const bool listed = std::find(o.isas.begin(), o.isas.end(), all[i]->isa) != o.isas.end();
        // by default every table but the (slow) scalar one
        if (o.isas.empty() ? std::string(all[i]->isa) != "scalar" : listed) tables.push_back(all[i]);
    }
    std::printf("tables:");
    for (const Kernels* k : tables) std::printf(" %s", k->isa);
    std::printf("   (OpenMP max threads %d)\n", omp_get_max_threads());

    const size_t cold_bytes = size_t(512) << 20;  // pool per dtype for decode: >> any L3

    std::printf("\n%-12s %-8s %-12s %5s %3s %12s %10s\n", "isa", "dtype", "shape", "n", "thr", "us/call",
                "rate");
    for (const std::string& dn : o.dtypes) {
        DType t;
        if (!mola::dtype_from_name(dn, &t)) {
            std::fprintf(stderr, "unknown dtype %s\n", dn.c_str());
            return 2;
        }
        for (const Shape& s : o.shapes) {
            const bool any_decode = std::find(o.ns.begin(), o.ns.end(), 1) != o.ns.end();
            const Pool pool = make_pool(t, s, any_decode && !o.hot ? cold_bytes : 0);
            const Pool hot = make_pool(t, s, 0);
            for (int64_t n : o.ns) {
                std::vector<float> x(size_t(n * s.cols)), y(size_t(n * s.rows));
                std::mt19937 rng(1);
                std::normal_distribution<float> d(0.0f, 1.0f);
                for (auto& v : x) v = d(rng);
                for (const Kernels* k : tables)
                    for (int th : o.threads) {
                        double sec;
                        if (n == 1 && !o.hot)
                            sec = time_linear(*k, pool, s, x.data(), n, y.data(), th, o.min_time);
                        else
                            sec = time_linear(*k, hot, s, x.data(), n, y.data(), th, o.min_time);
                        char shape[32], rate[32];
                        std::snprintf(shape, sizeof shape, "%lldx%lld", (long long)s.rows, (long long)s.cols);
                        const double weight_bytes = double(s.rows * s.cols) * double(mola::dtype_size(t));
                        if (n == 1)
                            std::snprintf(rate, sizeof rate, "%7.2f GB/s", weight_bytes / sec / 1e9);
                        else
                            std::snprintf(rate, sizeof rate, "%7.1f GFLOP/s",
                                          2.0 * double(s.rows * s.cols) * double(n) / sec / 1e9);
                        std::printf("%-12s %-8s %-12s %5lld %3d %12.1f %s\n", k->isa, dn.c_str(), shape,
                                    (long long)n, th, sec * 1e6, rate);
                        std::fflush(stdout);
                    }
            }
        }
    }
    if (o.accuracy) accuracy(tables);
    return 0;
}
