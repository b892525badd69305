// dtype.cpp: element types of weight files and their exact conversions to float.
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
