// Kernels of filtered_lrelu: a polyphase upfirdn2d "resample" pass with a fused bias
// prologue and a pointwise epilogue (activation + sign recording, or multiplication by the
// recorded derivative). Written from scratch for ganscope; see filtered_lrelu.h.
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include "filtered_lrelu.h"
#include "filtered_lrelu_device.cuh"
#include "launch.cuh"

namespace ganscope_flrelu {
namespace {

using dev::AccOf;
using dev::load_as;
using dev::pmod;
using dev::store;

template <typename Tin, typename Tout, typename Acc>
__global__ void resample_kernel(ResampleParams p) {
    const Tin* __restrict__ x = static_cast<const Tin*>(p.x);
    Tout* __restrict__ y = static_cast<Tout*>(p.y);
    const Acc* __restrict__ w = static_cast<const Acc*>(p.w);
    const Acc* __restrict__ bias = static_cast<const Acc*>(p.bias);
    const int64_t plane_out = static_cast<int64_t>(p.out_h) * p.out_w;
    const int64_t plane_in = static_cast<int64_t>(p.in_h) * p.in_w;
    const int64_t total = p.planes * plane_out;
    const Acc gain = static_cast<Acc>(p.gain);
    const Acc slope = static_cast<Acc>(p.slope);
    const Acc clampv = static_cast<Acc>(p.clamp);
    const bool do_clamp = p.clamp >= 0;
    for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t plane = idx / plane_out;
        const int rem = static_cast<int>(idx - plane * plane_out);
        const int oy = rem / p.out_w;
        const int ox = rem - oy * p.out_w;
        const Tin* __restrict__ xp = x + plane * plane_in;
        const Acc b = bias ? bias[plane % p.channels] : Acc(0);
        // Position of tap 0 in the zero-inserted input's coordinates (before division by up).
        const int by = oy * p.down_y - p.pad_y0;
        const int bx = ox * p.down_x - p.pad_x0;
        // First taps that land on real (non-inserted) samples; then every up-th tap.
        const int ky0 = pmod(-by, p.up_y);
        const int kx0 = pmod(-bx, p.up_x);
        Acc acc = Acc(0);
        for (int ky = ky0; ky < p.kh; ky += p.up_y) {
            const int iy = (by + ky) / p.up_y;  // exact: by + ky is a multiple of up_y
            if (iy < 0) continue;
            if (iy >= p.in_h) break;
            const Tin* __restrict__ row = xp + static_cast<int64_t>(iy) * p.in_w;
            const Acc* __restrict__ wrow = w + ky * p.kw;
            for (int kx = kx0; kx < p.kw; kx += p.up_x) {
                const int ix = (bx + kx) / p.up_x;
                if (ix < 0) continue;
                if (ix >= p.in_w) break;
                acc += wrow[kx] * (load_as<Acc>(row + ix) + b);
            }
        }
        if (p.mode == kActivate) {
            uint8_t s;
            Acc v;
            if (acc > Acc(0)) { v = acc * gain; s = kPositive; }
            else { v = acc * slope * gain; s = kNegative; }
            if (do_clamp) {
                if (v > clampv) { v = clampv; s = kClamped; }
                else if (v < -clampv) { v = -clampv; s = kClamped; }
            }
            acc = v;
            p.signs[idx] = s;
        } else if (p.mode == kFixed) {
            const uint8_t s = p.signs[idx];
            acc *= (s == kPositive) ? gain : (s == kNegative ? slope * gain : Acc(0));
        }
        store(y + idx, acc);
    }
}

template <typename Tin, typename Tout>
cudaError_t launch_typed(const ResampleParams& p, cudaStream_t stream) {
    using Acc = typename AccOf<Tin>::type;
    const int64_t total = p.planes * static_cast<int64_t>(p.out_h) * p.out_w;
    if (total == 0) return cudaSuccess;
    const int threads = 256;
    int64_t blocks = (total + threads - 1) / threads;
    if (blocks > (int64_t(1) << 20)) blocks = int64_t(1) << 20;
    GANSCOPE_LAUNCH(static_cast<unsigned>(blocks), threads, 0, stream, resample_kernel<Tin, Tout, Acc>)(p);
    return cudaGetLastError();
}

}  // namespace

cudaError_t launch_resample(const ResampleParams& p, cudaStream_t stream) {
    if (p.in_dtype == kF32 && p.out_dtype == kF32) return launch_typed<float, float>(p, stream);
    if (p.in_dtype == kF64 && p.out_dtype == kF64) return launch_typed<double, double>(p, stream);
    if (p.in_dtype == kF16 && p.out_dtype == kF32) return launch_typed<__half, float>(p, stream);
    if (p.in_dtype == kF32 && p.out_dtype == kF16) return launch_typed<float, __half>(p, stream);
    if (p.in_dtype == kF16 && p.out_dtype == kF16) return launch_typed<__half, __half>(p, stream);
    return cudaErrorInvalidValue;
}

}  // namespace ganscope_flrelu
