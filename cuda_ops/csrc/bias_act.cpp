// PyTorch binding of the bias_act kernel (see bias_act.h for what each mode computes).
#include <torch/extension.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include "bias_act.h"

namespace {

int dtype_code(const torch::Tensor& t) {
    switch (t.scalar_type()) {
        case torch::kFloat: return 0;
        case torch::kHalf: return 1;
        case torch::kDouble: return 2;
        default: TORCH_CHECK(false, "bias_act (CUDA): dtype ", t.scalar_type(), " is not supported; use float32, float16 or float64");
    }
    return -1;
}

// x must be dense in its own memory order; `inner` is then the element distance between
// consecutive entries of the bias dimension (1 for channels-last with dim=1).
torch::Tensor run(torch::Tensor x, torch::Tensor b, torch::Tensor g1, torch::Tensor g2, int64_t dim, int64_t inner,
                  int act, int mode, double alpha, double gain, double clamp) {
    TORCH_CHECK(x.is_cuda(), "bias_act (CUDA): x must be a CUDA tensor");
    TORCH_CHECK(x.is_non_overlapping_and_dense(), "bias_act (CUDA): x must be dense");
    c10::cuda::CUDAGuard guard(x.device());
    auto out = torch::empty_like(x);
    ganscope_bias_act::Params p{};
    p.x = x.data_ptr();
    p.numel = x.numel();
    p.channels = 1;
    p.inner = 1;
    if (b.defined() && b.numel() > 0) {
        TORCH_CHECK(b.is_cuda() && b.dim() == 1 && b.scalar_type() == x.scalar_type() && b.is_contiguous(),
                    "bias_act (CUDA): bias must be a contiguous 1-D CUDA tensor of x's dtype");
        TORCH_CHECK(dim >= 0 && dim < x.dim() && b.size(0) == x.size(dim), "bias_act (CUDA): bias does not match x");
        p.b = b.data_ptr();
        p.channels = b.size(0);
        p.inner = inner;
    }
    for (auto* g : {&g1, &g2}) {
        if (g->defined() && g->numel() > 0) {
            TORCH_CHECK(g->is_cuda() && g->scalar_type() == x.scalar_type() && g->sizes() == x.sizes() &&
                        g->strides() == x.strides(), "bias_act (CUDA): gradient must have x's shape, strides and dtype");
        }
    }
    if (mode >= ganscope_bias_act::MODE_GRAD) {
        TORCH_CHECK(g1.defined() && g1.numel() == x.numel(), "bias_act (CUDA): missing gradient");
        p.g1 = g1.data_ptr();
    }
    if (mode == ganscope_bias_act::MODE_GRAD2) {
        TORCH_CHECK(g2.defined() && g2.numel() == x.numel(), "bias_act (CUDA): missing second gradient");
        p.g2 = g2.data_ptr();
    }
    p.out = out.data_ptr();
    p.act = act;
    p.mode = mode;
    p.alpha = alpha;
    p.gain = gain;
    p.clamp = clamp;
    cudaError_t err = ganscope_bias_act::launch(p, dtype_code(x), c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(err == cudaSuccess, "bias_act (CUDA): kernel launch failed: ", cudaGetErrorString(err));
    return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("bias_act", &run, "bias + activation + gain + clamp, or a derivative of it (mode)");
}
