// dtype.cpp: element types of weight files and their exact conversions to float,
// and float -> e4m3 rounding for the KV cache.
#include "format/dtype.h"

#include <cmath>

namespace mola {

size_t dtype_size(DType t) {
    switch (t) {
        case DType::F32: return 4;
        case DType::F16: return 2;
        case DType::BF16: return 2;
        case DType::F8_E4M3: return 1;
        case DType::I32: return 4;
        case DType::I64: return 8;
    }
    return 0;
}

const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::F8_E4M3: return "F8_E4M3";
        case DType::I32: return "I32";
        case DType::I64: return "I64";
    }
    return "?";
}

bool dtype_from_name(const std::string& name, DType* out) {
    static const struct { const char* name; DType type; } kNames[] = {
        {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16},
        {"F8_E4M3", DType::F8_E4M3}, {"I32", DType::I32}, {"I64", DType::I64}};
    for (const auto& n : kNames)
        if (name == n.name) {
            *out = n.type;
            return true;
        }
    return false;
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float value;
    if (exponent == 0)
        value = std::ldexp(float(mantissa), -24);
    else if (exponent == 31)
        value = mantissa ? NAN : INFINITY;
    else
        value = std::ldexp(float(mantissa | 0x400), int(exponent) - 25);
    return sign ? -value : value;
}

float f8e4m3_to_f32(uint8_t v) {
    const uint32_t sign = v >> 7, exponent = (v >> 3) & 0xf, mantissa = v & 0x7;
    float value;
    if (exponent == 0xf && mantissa == 0x7)
        value = NAN;
    else if (exponent == 0)
        value = std::ldexp(float(mantissa), -9);  // subnormal: m/8 * 2^-6
    else
        value = std::ldexp(float(mantissa | 0x8), int(exponent) - 10);
    return sign ? -value : value;
}

uint8_t f32_to_f8e4m3(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    const uint8_t sign = uint8_t((u >> 24) & 0x80);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0;                // NaN
    if (a >= 0x43e00000u) return sign | 0x7e;     // >= 448 (and inf): saturate
    if (a < 0x3c800000u) {                        // below 2^-6: subnormal, steps of 2^-9
        float m;
        std::memcpy(&m, &a, 4);
        // m * 2^9 < 8 is exact; rint rounds half to even in the default mode. 8
        // lands on 0x08, the smallest normal, which is the right code too.
        return sign | uint8_t(std::nearbyint(m * 512.0f));
    }
    // Normal: keep 3 of the 23 mantissa bits, round to nearest even; a carry out of
    // the mantissa correctly bumps the exponent.
    const uint32_t exponent = (a >> 23) - 127 + 7, mantissa = a & 0x7fffffu;
    uint32_t code = (exponent << 3) | (mantissa >> 20);
    const uint32_t rest = mantissa & 0xfffffu;
    if (rest > 0x80000u || (rest == 0x80000u && (code & 1u))) ++code;
    if (code > 0x7eu) code = 0x7eu;  // 464 and up rounded past 448
    return sign | uint8_t(code);
}

const float* f8e4m3_table() {
    static const struct Table {
        float v[256];
        Table() {
            for (int i = 0; i < 256; ++i) v[i] = f8e4m3_to_f32(uint8_t(i));
        }
    } table;
    return table.v;
}

}  // namespace mola
