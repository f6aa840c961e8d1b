// filtered_lrelu (StyleGAN3's alias-suppressing nonlinearity): one generic "resample" kernel
// with a pointwise epilogue, shared by the forward, the backward and the double backward.
// See docs/notes/cuda_filtered_lrelu.md for the geometry.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace ganscope_flrelu {

// y[n, c, oy, ox] = epilogue( sum_{ky, kx} w[ky, kx] * u[oy*down_y + ky, ox*down_x + kx] )
// where u is the input (plus bias[c] on real samples) zero-inserted by up and shifted by the
// leading padding: u[j] = x[(j - pad0) / up] when (j - pad0) % up == 0 and in range, else 0.
// w is in correlation orientation (the caller flips a true-convolution filter).
enum Mode : int {
    kPlain = 0,      // epilogue: identity
    kActivate = 1,   // v = lrelu(acc, slope) * gain, clamped to +-clamp; writes signs[idx]
    kFixed = 2,      // v = acc * d(signs[idx]) with d = gain | slope * gain | 0
};

// Sign codes (one byte per intermediate sample).
enum Sign : uint8_t { kPositive = 0, kNegative = 1, kClamped = 2 };

// dtype codes
enum DType : int { kF32 = 0, kF16 = 1, kF64 = 2 };

struct ResampleParams {
    const void* x;       // [planes, in_h, in_w] contiguous, dtype in_dtype
    void* y;             // [planes, out_h, out_w] contiguous, dtype out_dtype
    const void* w;       // [kh, kw] contiguous, accumulation dtype (float, or double for f64)
    const void* bias;    // [channels] accumulation dtype, or nullptr
    uint8_t* signs;      // [planes, out_h, out_w] (kActivate: written; kFixed: read), else unused
    int64_t planes;      // N * C
    int channels;
    int in_h, in_w, out_h, out_w;
    int kh, kw;
    int up_x, up_y, down_x, down_y;
    int pad_x0, pad_y0;
    int mode;
    double gain, slope;
    double clamp;        // < 0: no clamp
    int in_dtype, out_dtype;
};

// Launches the kernel on `stream`; returns the launch error (cudaSuccess if none).
cudaError_t launch_resample(const ResampleParams& p, cudaStream_t stream);

}  // namespace ganscope_flrelu
