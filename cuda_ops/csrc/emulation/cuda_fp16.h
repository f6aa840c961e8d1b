// Stand-in for <cuda_fp16.h> in the CPU emulation build: __half with round-to-nearest-even
// conversions (the rounding of __float2half_rn).
#pragma once
#include <cstdint>
#include <cstring>
#include <cmath>

struct __half {
    uint16_t bits = 0;
    __half() = default;
    __half(float f);
    operator float() const;
};

inline float __half2float(__half h) {
    const uint32_t sign = static_cast<uint32_t>(h.bits & 0x8000u) << 16;
    uint32_t exp = (h.bits >> 10) & 0x1fu, man = h.bits & 0x3ffu, out;
    if (exp == 0x1f) {
        out = sign | 0x7f800000u | (man << 13);            // inf / nan
    } else if (exp != 0) {
        out = sign | ((exp + 112u) << 23) | (man << 13);   // normal
    } else if (man == 0) {
        out = sign;                                        // zero
    } else {                                               // subnormal: normalise
        int e = -1;
        do { man <<= 1; ++e; } while ((man & 0x400u) == 0);
        out = sign | (static_cast<uint32_t>(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &out, sizeof f);
    return f;
}

inline __half __float2half_rn(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    __half h;
    if (std::isnan(f)) { h.bits = sign | 0x7e00u; return h; }
    const float a = std::fabs(f);
    if (a >= 65520.0f) { h.bits = sign | 0x7c00u; return h; }  // rounds to inf
    if (a < 6.103515625e-05f) {                                // subnormal half: multiples of 2^-24
        const float q = std::nearbyint(a * 16777216.0f);       // ties to even (default rounding mode)
        h.bits = sign | static_cast<uint16_t>(q);
        return h;
    }
    uint32_t exp = ((u >> 23) & 0xffu) - 112u, man = u & 0x7fffffu;
    uint32_t half = (exp << 10) | (man >> 13);
    const uint32_t rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // carries into the exponent correctly
    h.bits = sign | static_cast<uint16_t>(half);
    return h;
}

inline __half::__half(float f) : bits(__float2half_rn(f).bits) {}
inline __half::operator float() const { return __half2float(*this); }
