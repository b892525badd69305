// dtype.h: the element types of weight files (and of the KV cache), exact
// conversions to float, and the rounding conversions from float the cache uses.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace mola {

enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, I32, I64 };

// Bytes per element.
size_t dtype_size(DType t);
// The safetensors spelling: "F32", "BF16", "F8_E4M3", ...
const char* dtype_name(DType t);
// Parses a safetensors dtype string; returns false if mola does not support it.
bool dtype_from_name(const std::string& name, DType* out);

inline float bf16_to_f32(uint16_t h) {
    uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Exact IEEE half -> float (handles subnormals, inf, nan).
float f16_to_f32(uint16_t h);

// float8 e4m3fn -> float: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no
// infinities; 0x7F/0xFF are NaN; max finite 448.
float f8e4m3_to_f32(uint8_t v);

// A 256-entry table of f8e4m3_to_f32, built once.
const float* f8e4m3_table();

// float -> bfloat16 bits, rounding to nearest even (NaN stays NaN).
inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// float -> float8 e4m3fn bits, rounding to nearest even and saturating to +-448
// (never the NaN codes 0x7F/0xFF; a NaN input gives 0).
uint8_t f32_to_f8e4m3(float f);

}  // namespace mola
