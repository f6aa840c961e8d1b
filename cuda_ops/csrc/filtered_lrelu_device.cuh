// Device helpers shared by filtered_lrelu's kernels (filtered_lrelu.cu, filtered_lrelu_fused.cu):
// the accumulation type, loads and stores across float/half/double, and integer division
// rounding toward minus infinity.
#pragma once
#include <cuda_runtime.h>
#include <cuda_fp16.h>

namespace ganscope_flrelu {
namespace dev {

template <typename T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };

template <typename A> __device__ __forceinline__ A load_as(const float* p) { return static_cast<A>(*p); }
template <typename A> __device__ __forceinline__ A load_as(const double* p) { return static_cast<A>(*p); }
template <typename A> __device__ __forceinline__ A load_as(const __half* p) { return static_cast<A>(__half2float(*p)); }

__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(float* p, double v) { *p = static_cast<float>(v); }
__device__ __forceinline__ void store(double* p, double v) { *p = v; }
__device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }

// Non-negative remainder (m > 0).
__host__ __device__ __forceinline__ int pmod(int a, int m) {
    int r = a % m;
    return r < 0 ? r + m : r;
}

// Division rounding toward minus infinity (m > 0).
__host__ __device__ __forceinline__ int floordiv(int a, int m) {
    return (a - pmod(a, m)) / m;
}

}  // namespace dev
}  // namespace ganscope_flrelu
