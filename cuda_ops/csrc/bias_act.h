// bias_act: y = clamp(act(x + b) * gain, -clamp, clamp), and its first and second derivatives.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace ganscope_bias_act {

// Activations, in the order of cuda_ops.bias_act.ACTIVATIONS' codes (see _cuda_bias_act.py).
enum Act : int { LINEAR = 0, RELU, LRELU, TANH, SIGMOID, ELU, SELU, SOFTPLUS, SWISH };

// What the kernel writes:
//   MODE_FORWARD: out = clamp(act(z) * gain)                        with z = x + b
//   MODE_GRAD:    out = g1 * gain * act'(z) * inside                 (dL/dx given g1 = dL/dy)
//   MODE_GRAD2:   out = g1 * g2 * gain * act''(z) * inside           (d/dx of <MODE_GRAD, g2>)
// where inside = (-clamp <= act(z) * gain <= clamp), 1 when there is no clamp (clamp < 0).
enum Mode : int { MODE_FORWARD = 0, MODE_GRAD = 1, MODE_GRAD2 = 2 };

struct Params {
    const void* x;      // [numel], dense in its memory order
    const void* b;      // [channels] or nullptr
    const void* g1;     // MODE_GRAD / MODE_GRAD2, same layout as x
    const void* g2;     // MODE_GRAD2
    void* out;          // same layout as x
    int64_t numel;
    int64_t channels;   // size of the bias dimension
    int64_t inner;      // elements between consecutive channels (1 for channels-last)
    int act;
    int mode;
    double alpha;
    double gain;
    double clamp;       // < 0: no clamp
};

// dtype: 0 float32, 1 float16, 2 float64. Returns the launch's cudaError_t.
cudaError_t launch(const Params& p, int dtype, cudaStream_t stream);

}  // namespace ganscope_bias_act
