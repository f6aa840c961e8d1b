// PyTorch binding of the upfirdn2d kernel (one 2-D or 1-D pass; see upfirdn2d.h).
#include <torch/extension.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <limits>
#include "upfirdn2d.h"

namespace {

int dtype_code(const torch::Tensor& t) {
    switch (t.scalar_type()) {
        case torch::kFloat: return 0;
        case torch::kHalf: return 1;
        case torch::kDouble: return 2;
        default: TORCH_CHECK(false, "upfirdn2d (CUDA): dtype ", t.scalar_type(),
                             " is not supported; use float32, float16 or float64");
    }
    return -1;
}

int64_t out_len(int64_t n, int64_t k, int64_t up, int64_t down, int64_t p0, int64_t p1, const char* axis) {
    const int64_t full = n * up + p0 + p1;
    TORCH_CHECK(full >= k, "upfirdn2d (CUDA): along ", axis, " the padded input (", full,
                " samples) is shorter than the filter (", k, " taps); increase the padding");
    return (full - k + down) / down;
}

// x: [N, C, H, W] (any strides); f: [fh, fw] contiguous, true-convolution orientation, float32
// (float32/float16 x) or float64 (float64 x). Returns a new tensor, channels-last if asked.
torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int64_t upx, int64_t upy, int64_t downx, int64_t downy,
                        int64_t px0, int64_t px1, int64_t py0, int64_t py1, double gain, bool channels_last) {
    TORCH_CHECK(x.is_cuda(), "upfirdn2d (CUDA): x must be a CUDA tensor");
    TORCH_CHECK(x.dim() == 4, "upfirdn2d (CUDA): x must have shape [N, C, H, W], got ", x.sizes());
    const int dtype = dtype_code(x);
    TORCH_CHECK(f.is_cuda() && f.device() == x.device(), "upfirdn2d (CUDA): the filter must be on x's device");
    TORCH_CHECK(f.dim() == 2 && f.is_contiguous() && f.numel() > 0,
                "upfirdn2d (CUDA): the filter must be a non-empty contiguous [fh, fw] tensor, got ", f.sizes());
    const auto want = x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
    TORCH_CHECK(f.scalar_type() == want, "upfirdn2d (CUDA): the filter must be ", want, " for ", x.scalar_type(),
                " input, got ", f.scalar_type());
    TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1,
                "upfirdn2d (CUDA): up/down factors must be >= 1");
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const int64_t fh = f.size(0), fw = f.size(1);
    const int64_t ow = out_len(w, fw, upx, downx, px0, px1, "x");
    const int64_t oh = out_len(h, fh, upy, downy, py0, py1, "y");
    const int64_t imax = std::numeric_limits<int>::max() / 8;
    for (int64_t v : {w * upx + std::abs(px0) + std::abs(px1) + fw, h * upy + std::abs(py0) + std::abs(py1) + fh,
                      ow * downx + fw, oh * downy + fh}) {
        TORCH_CHECK(v < imax, "upfirdn2d (CUDA): spatial size too large for the kernel's 32-bit indexing");
    }
    c10::cuda::CUDAGuard guard(x.device());
    auto fmt = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    auto y = torch::empty({n, c, oh, ow}, x.options().memory_format(fmt));
    if (y.numel() == 0) return y;

    ganscope_upfirdn2d::Params p{};
    p.x = x.data_ptr();
    p.y = y.data_ptr();
    p.f = f.data_ptr();
    p.n = n;
    p.c = c;
    p.in_w = (int)w;
    p.in_h = (int)h;
    p.out_w = (int)ow;
    p.out_h = (int)oh;
    p.sxn = x.stride(0); p.sxc = x.stride(1); p.sxh = x.stride(2); p.sxw = x.stride(3);
    p.syn = y.stride(0); p.syc = y.stride(1); p.syh = y.stride(2); p.syw = y.stride(3);
    p.fw = (int)fw;
    p.fh = (int)fh;
    p.upx = (int)upx; p.upy = (int)upy; p.downx = (int)downx; p.downy = (int)downy;
    p.px0 = (int)px0; p.px1 = (int)px1; p.py0 = (int)py0; p.py1 = (int)py1;
    p.gain = gain;
    cudaError_t err = ganscope_upfirdn2d::launch(p, dtype, c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(err != cudaErrorInvalidValue || fw * fh < 1024,
                "upfirdn2d (CUDA): the ", fh, "x", fw, " filter is too large for the kernel's shared memory");
    TORCH_CHECK(err == cudaSuccess, "upfirdn2d (CUDA): kernel launch failed: ", cudaGetErrorString(err));
    return y;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("upfirdn2d", &upfirdn2d, "one upfirdn2d pass: zero-insert, pad, FIR filter, subsample (CUDA)");
}
