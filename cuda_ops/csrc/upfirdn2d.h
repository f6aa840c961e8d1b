// upfirdn2d: zero-insert by up, pad (negative crops), FIR-filter, keep every down-th sample.
// Shared by upfirdn2d.cu (kernels + launcher) and upfirdn2d.cpp (PyTorch binding).
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace ganscope_upfirdn2d {

// One 2-D pass over every (n, c) plane. A 1-D pass is a 2-D pass with fh == 1 (along x) or
// fw == 1 (along y) and unit factors / zero padding on the other axis.
//
// Per axis (x shown), with m the index into the zero-inserted, padded signal z
// (z[m] = x[(m - px0) / upx] when (m - px0) is a multiple of upx and inside, else 0):
//     y[jx] = gain * sum_{kx} f[kx] * z[jx * downx + fw - 1 - kx]      (true convolution)
// out_w = (in_w * upx + px0 + px1 - fw + downx) / downx (the caller computes and checks it).
struct Params {
    const void* x;      // [N, C, in_h, in_w] with the strides below (any strides, 0 allowed)
    void* y;            // [N, C, out_h, out_w] with the strides below
    const void* f;      // [fh, fw] contiguous, true-convolution orientation; float (float/half x) or double
    int64_t n, c;
    int in_w, in_h, out_w, out_h;
    int64_t sxn, sxc, sxh, sxw;   // strides of x in elements
    int64_t syn, syc, syh, syw;   // strides of y in elements
    int fw, fh;
    int upx, upy, downx, downy;
    int px0, px1, py0, py1;
    double gain;
};

// dtype: 0 float32, 1 float16, 2 float64. Returns the first CUDA error (cudaSuccess if none);
// cudaErrorInvalidValue when the filter is too large for shared memory or sizes overflow.
cudaError_t launch(const Params& p, int dtype, cudaStream_t stream);

}  // namespace ganscope_upfirdn2d
