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

// Two resampling steps with the pointwise epilogue between them, in one launch
// (filtered_lrelu_fused.cu): one block per output tile of one plane stages the input tile +
// halo in shared memory, runs step A (upsampling: separable x then y passes, or one 2-D pass)
// onto the intermediate grid, applies the epilogue there (kActivate: lrelu * gain + clamp,
// signs written; kFixed: times the derivative the signs record), then step B (downsampling:
// separable or 2-D) and writes the output. The forward is A = the up filter, B = the down
// filter; the adjoint (backward) is A = the down filter's transpose, B = the up filter's.
// Per axis, as in the chain of resample passes:
//   mid[j] = sum_k wu[k] u[j + k]       u = x (+ b) zero-inserted by up, shifted by pad0
//   y[o]   = sum_k wd[k] m[o*down + k]  m = mid shifted by pad_d0, zero outside the grid
struct FusedParams {
    const void* x;        // [planes, in_h, in_w] contiguous, dtype `dtype`
    void* y;              // [planes, out_h, out_w] contiguous, dtype `dtype`
    uint8_t* signs;       // [planes, mid_h, mid_w]; kActivate: zero-initialised, the tiles' samples
                          // written; kFixed: read
    const void* wux;      // step A, separable: [kux] along x and [kuy] along y; or nullptr
    const void* wuy;
    const void* wu2;      // step A, 2-D: [kuy, kux]; or nullptr
    const void* wdx;      // step B, separable: [kdx] and [kdy]; or nullptr
    const void* wdy;
    const void* wd2;      // step B, 2-D: [kdy, kdx]; or nullptr
    const void* bias;     // [channels] acc dtype, or nullptr (added to real input samples)
    int64_t planes;
    int channels;
    int in_h, in_w, mid_h, mid_w, out_h, out_w;
    int kux, kuy, kdx, kdy;
    int up_x, up_y, down_x, down_y;
    int pad_x0, pad_y0;   // leading padding of step A
    int pad_dx0, pad_dy0; // leading padding of step B (0 in the forward)
    int tile_h, tile_w;   // output tile; the shared-memory tiles follow from it
    int mode;             // kActivate | kFixed
    double gain, slope;
    double clamp;         // < 0: no clamp
    int dtype;            // kF32 | kF16 | kF64
};

size_t fused_smem_bytes(const FusedParams& p);
cudaError_t launch_fused(const FusedParams& p, cudaStream_t stream);

}  // namespace ganscope_flrelu
