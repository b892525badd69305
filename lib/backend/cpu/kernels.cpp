// kernels.cpp: picks the CPU kernel table at run time from what the processor (and
// the OS, via XSAVE state) supports, capped by MOLA_CPU_ISA.
#include "backend/cpu/kernels.h"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"

namespace mola::cpu {

namespace detail {
// Called by the per-ISA tables (declared there) on a dtype they cannot multiply, or
// when their scratch buffers cannot grow.
// Lives here so that the ISA-specific translation units instantiate no library
// templates of their own (see the note at the top of kernels_avx512.cpp).
[[noreturn]] void fail_unsupported_dtype(const char* op, DType t) {
    fail(MOLA_ERR_UNSUPPORTED,
         std::string("cpu kernels: ") + op + " does not support weights of dtype " + dtype_name(t));
}
[[noreturn]] void fail_out_of_memory(size_t bytes) {
    fail(MOLA_ERR_OUT_OF_MEMORY, "cpu kernels: cannot allocate " + std::to_string(bytes) + " bytes of scratch");
}
}  // namespace detail

namespace {

enum Level { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Bf16 = 3 };

bool cpu_has_f16c() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

// (__builtin_cpu_supports also checks that the OS saves the YMM / ZMM state.)
bool cpu_has_avx2() {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}

bool cpu_has_avx512() {
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
}

bool cpu_has_avx512_bf16() { return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16"); }

// The highest level MOLA_CPU_ISA allows (everything when unset or unrecognized).
Level isa_cap() {
    const char* env = std::getenv("MOLA_CPU_ISA");
    if (!env || !*env) return kAvx512Bf16;
    if (!std::strcmp(env, "scalar")) return kScalar;
    if (!std::strcmp(env, "avx2")) return kAvx2;
    if (!std::strcmp(env, "avx512")) return kAvx512;
    return kAvx512Bf16;  // "avx512-bf16", or anything else: no cap
}

// Tables this CPU can run, best last.
int runnable(const Kernels** out, int capacity, Level cap) {
    const Kernels* found[4];
    int n = 0;
    if (const Kernels* k = kernels_scalar()) found[n++] = k;
    if (cap >= kAvx2 && cpu_has_avx2())
        if (const Kernels* k = kernels_avx2()) found[n++] = k;
    if (cap >= kAvx512 && cpu_has_avx512())
        if (const Kernels* k = kernels_avx512()) found[n++] = k;
    if (cap >= kAvx512Bf16 && cpu_has_avx512_bf16())
        if (const Kernels* k = kernels_avx512_bf16()) found[n++] = k;
    int i = 0;
    for (; i < n && i < capacity; ++i) out[i] = found[i];
    return n;
}

}  // namespace

const Kernels& kernels() {
    static const Kernels* const chosen = [] {
        const Kernels* all[4] = {};
        const int n = runnable(all, 4, isa_cap());
        return all[n - 1];
    }();
    return *chosen;
}

int available_kernels(const Kernels** out, int capacity) {
    return runnable(out, capacity, kAvx512Bf16);
}

}  // namespace mola::cpu
