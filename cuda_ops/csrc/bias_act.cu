// Elementwise bias + activation + gain + clamp and its derivatives, in one pass.
// Half inputs are computed in float and rounded once; doubles stay double.
#include <cuda_fp16.h>
#include "bias_act.h"
#include "launch.cuh"

namespace ganscope_bias_act {
namespace {

template <typename T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

template <typename T> __device__ __forceinline__ typename Acc<T>::type load(const T* p, int64_t i) {
    return static_cast<typename Acc<T>::type>(p[i]);
}
template <> __device__ __forceinline__ float load<__half>(const __half* p, int64_t i) { return __half2float(p[i]); }
template <typename T, typename A> __device__ __forceinline__ void store(T* p, int64_t i, A v) { p[i] = static_cast<T>(v); }
template <> __device__ __forceinline__ void store<__half, float>(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

template <typename A> __device__ __forceinline__ A sigm(A z) { return A(1) / (A(1) + exp(-z)); }

// act(z), act'(z) and act''(z) (same conventions as PyTorch's autograd at the kinks).
template <typename A> __device__ __forceinline__ void activation(int act, A z, A alpha, A& f, A& d1, A& d2) {
    const A selu_scale = A(1.0507009873554804934193349852946);
    const A selu_alpha = A(1.6732632423543772848170429916717);
    switch (act) {
        case RELU: f = z > A(0) ? z : A(0); d1 = z > A(0) ? A(1) : A(0); d2 = A(0); break;
        case LRELU: f = z > A(0) ? z : z * alpha; d1 = z > A(0) ? A(1) : alpha; d2 = A(0); break;
        case TANH: { A t = tanh(z); f = t; d1 = A(1) - t * t; d2 = A(-2) * t * (A(1) - t * t); break; }
        case SIGMOID: { A s = sigm(z); f = s; d1 = s * (A(1) - s); d2 = s * (A(1) - s) * (A(1) - A(2) * s); break; }
        case ELU:
            if (z > A(0)) { f = z; d1 = A(1); d2 = A(0); }
            else { A e = exp(z); f = alpha * (e - A(1)); d1 = alpha * e; d2 = alpha * e; }
            break;
        case SELU:
            if (z > A(0)) { f = selu_scale * z; d1 = selu_scale; d2 = A(0); }
            else { A e = exp(z); f = selu_scale * selu_alpha * (e - A(1)); d1 = selu_scale * selu_alpha * e; d2 = d1; }
            break;
        case SOFTPLUS:  // beta 1, threshold 20, as F.softplus
            if (z > A(20)) { f = z; d1 = A(1); d2 = A(0); }
            else { A s = sigm(z); f = log1p(exp(z)); d1 = s; d2 = s * (A(1) - s); }
            break;
        case SWISH: {
            A s = sigm(z); f = s * z; d1 = s + z * s * (A(1) - s);
            d2 = s * (A(1) - s) * (A(2) + z * (A(1) - A(2) * s));
            break;
        }
        default: f = z; d1 = A(1); d2 = A(0); break;  // LINEAR
    }
}

template <typename T>
__global__ void bias_act_kernel(Params p) {
    using A = typename Acc<T>::type;
    const T* x = static_cast<const T*>(p.x);
    const T* b = static_cast<const T*>(p.b);
    const T* g1 = static_cast<const T*>(p.g1);
    const T* g2 = static_cast<const T*>(p.g2);
    T* out = static_cast<T*>(p.out);
    const A alpha = A(p.alpha), gain = A(p.gain), clamp = A(p.clamp);
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < p.numel;
         i += int64_t(blockDim.x) * gridDim.x) {
        A z = load(x, i);
        if (b) z += load(b, (i / p.inner) % p.channels);
        A f, d1, d2;
        activation<A>(p.act, z, alpha, f, d1, d2);
        A v = f * gain;
        if (p.mode == MODE_FORWARD) {
            if (p.clamp >= 0) v = v > clamp ? clamp : (v < -clamp ? -clamp : v);
            store(out, i, v);
            continue;
        }
        const bool inside = p.clamp < 0 || (v >= -clamp && v <= clamp);
        A r = A(0);
        if (inside) {
            r = load(g1, i) * gain * (p.mode == MODE_GRAD ? d1 : d2);
            if (p.mode == MODE_GRAD2) r *= load(g2, i);
        }
        store(out, i, r);
    }
}

template <typename T> cudaError_t launch_typed(const Params& p, cudaStream_t stream) {
    if (p.numel == 0) return cudaSuccess;
    const int threads = 256;
    int64_t blocks = (p.numel + threads - 1) / threads;
    if (blocks > 65535LL * 8) blocks = 65535LL * 8;  // grid-stride loop covers the rest
    GANSCOPE_LAUNCH(static_cast<unsigned>(blocks), threads, 0, stream, bias_act_kernel<T>)(p);
    return cudaGetLastError();
}

}  // namespace

cudaError_t launch(const Params& p, int dtype, cudaStream_t stream) {
    switch (dtype) {
        case 0: return launch_typed<float>(p, stream);
        case 1: return launch_typed<__half>(p, stream);
        case 2: return launch_typed<double>(p, stream);
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace ganscope_bias_act
