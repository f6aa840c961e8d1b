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

// The whole forward in one launch (filtered_lrelu_fused.cu): one block per output tile of one
// plane stages the input tile + halo in shared memory, upsamples it with the separable filter
// (an x pass, then a y pass), applies lrelu * gain + clamp and records the signs of the
// intermediate tile, then downsamples with a separable or a 2-D filter and writes the output.
// Same geometry as the chain of resample passes: intermediate z[j] = sum_k wu[k] u[j + k] per
// axis (u = x + b zero-inserted by up and shifted by pad0), y[o] = sum_k wd[k] z[o*down + k].
struct FusedParams {
    const void* x;        // [planes, in_h, in_w] contiguous, dtype `dtype`
    void* y;              // [planes, out_h, out_w] contiguous, dtype `dtype`
    uint8_t* signs;       // [planes, mid_h, mid_w], zero-initialised; samples of this tile written
    const void* wux;      // [kux] up filter along x, correlation orientation, gain included (acc dtype)
    const void* wuy;      // [kuy] up filter along y
    const void* wdx;      // [kdx] separable down filter along x, or nullptr when wd2 is given
    const void* wdy;      // [kdy]
    const void* wd2;      // [kdy, kdx] 2-D down filter, or nullptr when separable
    const void* bias;     // [channels] acc dtype, or nullptr
    int64_t planes;
    int channels;
    int in_h, in_w, mid_h, mid_w, out_h, out_w;
    int kux, kuy, kdx, kdy;
    int up, down_x, down_y;
    int pad_x0, pad_y0;
    int tile_h, tile_w;   // output tile; the launcher derives the shared-memory tiles from it
    double gain, slope;
    double clamp;         // < 0: no clamp
    int dtype;            // kF32 | kF16 | kF64
};

// Shared memory (bytes) a launch with these params needs; 0 if the tile geometry is invalid.
size_t fused_smem_bytes(const FusedParams& p);
cudaError_t launch_fused(const FusedParams& p, cudaStream_t stream);

}  // namespace ganscope_flrelu
