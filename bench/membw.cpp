// membw: the machine's memory read bandwidth, the ceiling that decode speed (one
// token at a time, every weight streamed once) is quoted against.
//
//   membw [threads] [--mib N] [--runs N] [--json]
//
// Sums a large buffer (1 GiB by default, far beyond any L3) with the widest vector
// loads the CPU has, on `threads` OpenMP threads (default 1), each thread reading the
// contiguous slice it first touched; prints the best of several runs.
#include <omp.h>

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// Each returns a sum of the floats in [p, p + n) (n a multiple of 64), so the loads
// cannot be optimized away.
__attribute__((target("avx512f"))) float sum_avx512(const float* p, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    alignas(64) float t[16];
    _mm512_store_ps(t, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    float s = 0;
    for (float v : t) s += v;
    return s;
}

__attribute__((target("avx2"))) float sum_avx2(const float* p, size_t n) {
    __m256 a[8];
    for (auto& v : a) v = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i += 64)
        for (int j = 0; j < 8; ++j) a[j] = _mm256_add_ps(a[j], _mm256_load_ps(p + i + 8 * j));
    for (int j = 1; j < 8; ++j) a[0] = _mm256_add_ps(a[0], a[j]);
    alignas(32) float t[8];
    _mm256_store_ps(t, a[0]);
    float s = 0;
    for (float v : t) s += v;
    return s;
}

float sum_sse(const float* p, size_t n) {
    __m128 a0 = _mm_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 16) {
        a0 = _mm_add_ps(a0, _mm_load_ps(p + i));
        a1 = _mm_add_ps(a1, _mm_load_ps(p + i + 4));
        a2 = _mm_add_ps(a2, _mm_load_ps(p + i + 8));
        a3 = _mm_add_ps(a3, _mm_load_ps(p + i + 12));
    }
    alignas(16) float t[4];
    _mm_store_ps(t, _mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)));
    return t[0] + t[1] + t[2] + t[3];
}

void usage() {
    std::fprintf(stderr, "usage: membw [threads] [--mib N] [--runs N] [--json]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 1, runs = 7;
    size_t mib = 1024;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--json")
            json = true;
        else if (a == "--mib" && i + 1 < argc)
            mib = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--runs" && i + 1 < argc)
            runs = std::atoi(argv[++i]);
        else if (!a.empty() && a[0] != '-')
            threads = std::atoi(a.c_str());
        else
            usage();
    }
    if (threads < 1 || runs < 1 || mib < 1) usage();

    const char* isa = "sse2";
    float (*sum)(const float*, size_t) = sum_sse;
    if (__builtin_cpu_supports("avx512f")) {
        isa = "avx512";
        sum = sum_avx512;
    } else if (__builtin_cpu_supports("avx2")) {
        isa = "avx2";
        sum = sum_avx2;
    }

    const size_t bytes = mib << 20, n = bytes / sizeof(float);
    float* buf = static_cast<float*>(std::aligned_alloc(4096, bytes));
    if (!buf) {
        std::fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    // Thread t owns elements [lo, hi): it first-touches them (NUMA placement) and
    // later reads them. Slices are multiples of 64 floats.
    auto slice = [&](int t, size_t* lo, size_t* hi) {
        const size_t blocks = n / 64;
        *lo = blocks * size_t(t) / size_t(threads) * 64;
        *hi = blocks * size_t(t + 1) / size_t(threads) * 64;
    };
#pragma omp parallel num_threads(threads)
    {
        size_t lo, hi;
        slice(omp_get_thread_num(), &lo, &hi);
        for (size_t i = lo; i < hi; ++i) buf[i] = float(i & 1023) * 1e-3f;
    }

    double best = 0, sink = 0;
    for (int r = 0; r < runs; ++r) {
        double total = 0;
        const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            size_t lo, hi;
            slice(omp_get_thread_num(), &lo, &hi);
            total += sum(buf + lo, hi - lo);
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, double(n / 64 * 64) * sizeof(float) / s / 1e9);
        sink += total;
    }
    std::free(buf);
    asm volatile("" : : "g"(sink));  // keeps the sums alive
    if (json)
        std::printf("{\"threads\": %d, \"mib\": %zu, \"isa\": \"%s\", \"read_gbps\": %.2f}\n", threads,
                    mib, isa, best);
    else
        std::printf("memory read bandwidth: %.2f GB/s (%d thread%s, %zu MiB, %s loads, best of %d)\n",
                    best, threads, threads == 1 ? "" : "s", mib, isa, runs);
    return 0;
}
