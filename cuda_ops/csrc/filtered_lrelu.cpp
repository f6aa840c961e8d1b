// PyTorch binding of the filtered_lrelu resample kernel (see filtered_lrelu.h).
#include <torch/extension.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <limits>
#include <vector>
#include "filtered_lrelu.h"

namespace {

int dtype_code(torch::ScalarType t, const char* what) {
    switch (t) {
        case torch::kFloat: return ganscope_flrelu::kF32;
        case torch::kHalf: return ganscope_flrelu::kF16;
        case torch::kDouble: return ganscope_flrelu::kF64;
        default: TORCH_CHECK(false, "filtered_lrelu (CUDA): ", what, " dtype ", t,
                             " is not supported; use float32, float16 or float64");
    }
    return -1;
}

torch::ScalarType from_code(int64_t code) {
    switch (code) {
        case ganscope_flrelu::kF32: return torch::kFloat;
        case ganscope_flrelu::kF16: return torch::kHalf;
        case ganscope_flrelu::kF64: return torch::kDouble;
        default: TORCH_CHECK(false, "filtered_lrelu (CUDA): unknown output dtype code ", code);
    }
    return torch::kFloat;
}

// One resample pass (see filtered_lrelu.h). x: [N, C, H, W] contiguous; w: [kh, kw] contiguous in
// correlation orientation, float32 (float32/float16 x) or float64 (float64 x); bias: [C] in w's
// dtype or None; signs: uint8 [N, C, out_h, out_w] for mode 2. Returns [y, signs] (signs is
// a new tensor for mode 1, the given one for mode 2, empty for mode 0).
std::vector<torch::Tensor> resample(torch::Tensor x, torch::Tensor w, c10::optional<torch::Tensor> bias,
                                    c10::optional<torch::Tensor> signs, int64_t out_h, int64_t out_w,
                                    int64_t up_x, int64_t up_y, int64_t down_x, int64_t down_y,
                                    int64_t pad_x0, int64_t pad_y0, int64_t mode, double gain, double slope,
                                    double clamp, int64_t out_dtype) {
    TORCH_CHECK(x.is_cuda(), "filtered_lrelu (CUDA): x must be a CUDA tensor");
    TORCH_CHECK(x.dim() == 4, "filtered_lrelu (CUDA): x must have shape [N, C, H, W], got ", x.sizes());
    TORCH_CHECK(x.is_contiguous(), "filtered_lrelu (CUDA): x must be NCHW-contiguous");
    const int in_code = dtype_code(x.scalar_type(), "input");
    const auto out_type = from_code(out_dtype);
    const bool ok_pair = (in_code == out_dtype) || (in_code == ganscope_flrelu::kF16 && out_dtype == ganscope_flrelu::kF32) ||
                         (in_code == ganscope_flrelu::kF32 && out_dtype == ganscope_flrelu::kF16);
    TORCH_CHECK(ok_pair, "filtered_lrelu (CUDA): unsupported input/output dtype pair ", x.scalar_type(), " -> ",
                out_type);
    const auto acc = (x.scalar_type() == torch::kDouble) ? torch::kDouble : torch::kFloat;
    TORCH_CHECK(w.is_cuda() && w.device() == x.device(), "filtered_lrelu (CUDA): the filter must be on x's device");
    TORCH_CHECK(w.dim() == 2 && w.is_contiguous() && w.numel() > 0,
                "filtered_lrelu (CUDA): the filter must be a non-empty contiguous [kh, kw] tensor, got ", w.sizes());
    TORCH_CHECK(w.scalar_type() == acc, "filtered_lrelu (CUDA): the filter must be ", acc, " for ", x.scalar_type(),
                " input, got ", w.scalar_type());
    TORCH_CHECK(up_x >= 1 && up_y >= 1 && down_x >= 1 && down_y >= 1,
                "filtered_lrelu (CUDA): up/down factors must be >= 1");
    TORCH_CHECK(out_h >= 0 && out_w >= 0, "filtered_lrelu (CUDA): negative output size");
    TORCH_CHECK(mode >= 0 && mode <= 2, "filtered_lrelu (CUDA): mode must be 0, 1 or 2");
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
    const int64_t imax = std::numeric_limits<int>::max() / 4;
    for (int64_t v : {h * up_y + std::abs(pad_y0) + w.size(0), wd * up_x + std::abs(pad_x0) + w.size(1),
                      out_h * down_y + w.size(0), out_w * down_x + w.size(1), out_h * out_w, h * wd}) {
        TORCH_CHECK(v < imax, "filtered_lrelu (CUDA): spatial size too large for the kernel's 32-bit indexing");
    }
    const void* bias_ptr = nullptr;
    if (bias.has_value() && bias->defined()) {
        TORCH_CHECK(bias->is_cuda() && bias->device() == x.device(), "filtered_lrelu (CUDA): bias must be on x's device");
        TORCH_CHECK(bias->dim() == 1 && bias->size(0) == c && bias->is_contiguous(),
                    "filtered_lrelu (CUDA): bias must be a contiguous [C] tensor with C = ", c, ", got ", bias->sizes());
        TORCH_CHECK(bias->scalar_type() == acc, "filtered_lrelu (CUDA): bias must be ", acc, ", got ",
                    bias->scalar_type());
        bias_ptr = bias->data_ptr();
    }
    c10::cuda::CUDAGuard guard(x.device());
    auto y = torch::empty({n, c, out_h, out_w}, x.options().dtype(out_type));
    torch::Tensor s;
    if (mode == ganscope_flrelu::kActivate) {
        s = torch::empty({n, c, out_h, out_w}, x.options().dtype(torch::kUInt8));
    } else if (mode == ganscope_flrelu::kFixed) {
        TORCH_CHECK(signs.has_value() && signs->defined(), "filtered_lrelu (CUDA): mode 2 needs the signs tensor");
        s = *signs;
        TORCH_CHECK(s.is_cuda() && s.device() == x.device() && s.scalar_type() == torch::kUInt8 && s.is_contiguous(),
                    "filtered_lrelu (CUDA): signs must be a contiguous uint8 CUDA tensor on x's device");
        TORCH_CHECK(s.dim() == 4 && s.size(0) == n && s.size(1) == c && s.size(2) == out_h && s.size(3) == out_w,
                    "filtered_lrelu (CUDA): signs of shape ", s.sizes(), " do not match the output [", n, ", ", c,
                    ", ", out_h, ", ", out_w, "]");
    } else {
        s = torch::empty({0}, x.options().dtype(torch::kUInt8));
    }
    if (y.numel() == 0) return {y, s};

    ganscope_flrelu::ResampleParams p{};
    p.x = x.data_ptr();
    p.y = y.data_ptr();
    p.w = w.data_ptr();
    p.bias = bias_ptr;
    p.signs = mode == 0 ? nullptr : s.data_ptr<uint8_t>();
    p.planes = n * c;
    p.channels = static_cast<int>(c);
    p.in_h = static_cast<int>(h);
    p.in_w = static_cast<int>(wd);
    p.out_h = static_cast<int>(out_h);
    p.out_w = static_cast<int>(out_w);
    p.kh = static_cast<int>(w.size(0));
    p.kw = static_cast<int>(w.size(1));
    p.up_x = static_cast<int>(up_x);
    p.up_y = static_cast<int>(up_y);
    p.down_x = static_cast<int>(down_x);
    p.down_y = static_cast<int>(down_y);
    p.pad_x0 = static_cast<int>(pad_x0);
    p.pad_y0 = static_cast<int>(pad_y0);
    p.mode = static_cast<int>(mode);
    p.gain = gain;
    p.slope = slope;
    p.clamp = clamp;
    p.in_dtype = in_code;
    p.out_dtype = static_cast<int>(out_dtype);
    const cudaError_t err = ganscope_flrelu::launch_resample(p, c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(err == cudaSuccess, "filtered_lrelu (CUDA): kernel launch failed: ", cudaGetErrorString(err));
    return {y, s};
}

// Shared memory one block may use on the current device (with the opt-in above 48 KB).
int max_smem_per_block() {
    int dev = 0, bytes = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    return bytes;
}

// Step A + epilogue + step B in one launch (see FusedParams in filtered_lrelu.h). x: [N, C, H, W]
// contiguous; step A's filter is wux [kux] + wuy [kuy] (separable) or wu2 [kuy, kux], step B's
// wdx [kdx] + wdy [kdy] or wd2 [kdy, kdx]; all in correlation orientation with their gains, in
// the accumulation dtype (float64 for float64 x, else float32), as is the bias [C]. mode 1
// (activate) returns new signs uint8 [N, C, mid_h, mid_w]; mode 2 (fixed) reads the given ones.
// Returns [y, signs] with y [N, C, out_h, out_w] in x's dtype.
std::vector<torch::Tensor> fused(torch::Tensor x, c10::optional<torch::Tensor> wux, c10::optional<torch::Tensor> wuy,
                                 c10::optional<torch::Tensor> wu2, c10::optional<torch::Tensor> wdx,
                                 c10::optional<torch::Tensor> wdy, c10::optional<torch::Tensor> wd2,
                                 c10::optional<torch::Tensor> bias, c10::optional<torch::Tensor> signs,
                                 int64_t mid_h, int64_t mid_w, int64_t out_h, int64_t out_w, int64_t up_x,
                                 int64_t up_y, int64_t down_x, int64_t down_y, int64_t pad_x0, int64_t pad_y0,
                                 int64_t pad_dx0, int64_t pad_dy0, int64_t tile_h, int64_t tile_w, int64_t mode,
                                 double gain, double slope, double clamp) {
    TORCH_CHECK(x.is_cuda() && x.dim() == 4 && x.is_contiguous(),
                "filtered_lrelu (CUDA, fused): x must be an NCHW-contiguous CUDA tensor [N, C, H, W]");
    const int code = dtype_code(x.scalar_type(), "input");
    const auto acc = (x.scalar_type() == torch::kDouble) ? torch::kDouble : torch::kFloat;
    auto given = [](const c10::optional<torch::Tensor>& t) { return t.has_value() && t->defined(); };
    auto check_filter = [&](const torch::Tensor& f, int64_t dims, const char* name) {
        TORCH_CHECK(f.is_cuda() && f.device() == x.device() && f.scalar_type() == acc && f.is_contiguous() &&
                        f.dim() == dims && f.numel() > 0,
                    "filtered_lrelu (CUDA, fused): ", name, " must be a non-empty contiguous ", dims, "-D ", acc,
                    " tensor on x's device");
    };
    // One step's filter: separable (fx, fy) or 2-D (f2); returns (kx, ky).
    auto step_filter = [&](const c10::optional<torch::Tensor>& fx, const c10::optional<torch::Tensor>& fy,
                           const c10::optional<torch::Tensor>& f2, const char* step) -> std::pair<int64_t, int64_t> {
        TORCH_CHECK(given(fx) == given(fy) && given(fx) != given(f2), "filtered_lrelu (CUDA, fused): step ", step,
                    " needs either a separable filter pair or one 2-D filter");
        if (given(f2)) {
            check_filter(*f2, 2, step);
            return {f2->size(1), f2->size(0)};
        }
        check_filter(*fx, 1, step);
        check_filter(*fy, 1, step);
        return {fx->size(0), fy->size(0)};
    };
    const auto [kux, kuy] = step_filter(wux, wuy, wu2, "A");
    const auto [kdx, kdy] = step_filter(wdx, wdy, wd2, "B");
    TORCH_CHECK(up_x >= 1 && up_y >= 1 && down_x >= 1 && down_y >= 1 && tile_h >= 1 && tile_w >= 1,
                "filtered_lrelu (CUDA, fused): up, down and the tile size must be >= 1");
    TORCH_CHECK(mode == ganscope_flrelu::kActivate || mode == ganscope_flrelu::kFixed,
                "filtered_lrelu (CUDA, fused): mode must be 1 (activate) or 2 (fixed)");
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
    TORCH_CHECK(mid_h >= 0 && mid_w >= 0 && out_h >= 0 && out_w >= 0, "filtered_lrelu (CUDA, fused): negative size");
    const int64_t imax = std::numeric_limits<int>::max() / 4;
    for (int64_t v : {h * up_y + std::abs(pad_y0) + kuy, wd * up_x + std::abs(pad_x0) + kux, mid_h * mid_w,
                      out_h * out_w, h * wd, out_h * down_y + std::abs(pad_dy0) + kdy,
                      out_w * down_x + std::abs(pad_dx0) + kdx}) {
        TORCH_CHECK(v < imax, "filtered_lrelu (CUDA, fused): spatial size too large for the kernel's 32-bit indexing");
    }
    const void* bias_ptr = nullptr;
    if (given(bias)) {
        TORCH_CHECK(bias->is_cuda() && bias->device() == x.device() && bias->dim() == 1 && bias->size(0) == c &&
                        bias->is_contiguous() && bias->scalar_type() == acc,
                    "filtered_lrelu (CUDA, fused): bias must be a contiguous [", c, "] ", acc, " tensor on x's device");
        bias_ptr = bias->data_ptr();
    }
    c10::cuda::CUDAGuard guard(x.device());
    auto y = torch::empty({n, c, out_h, out_w}, x.options());
    torch::Tensor s;
    if (mode == ganscope_flrelu::kActivate) {
        // Zeros: intermediate samples no output reads are not visited by any tile.
        s = torch::zeros({n, c, mid_h, mid_w}, x.options().dtype(torch::kUInt8));
    } else {
        TORCH_CHECK(given(signs), "filtered_lrelu (CUDA, fused): mode 2 needs the signs tensor");
        s = *signs;
        TORCH_CHECK(s.is_cuda() && s.device() == x.device() && s.scalar_type() == torch::kUInt8 && s.is_contiguous() &&
                        s.dim() == 4 && s.size(0) == n && s.size(1) == c && s.size(2) == mid_h && s.size(3) == mid_w,
                    "filtered_lrelu (CUDA, fused): signs must be a contiguous uint8 [", n, ", ", c, ", ", mid_h, ", ",
                    mid_w, "] tensor on x's device, got ", s.sizes());
    }
    if (y.numel() == 0) return {y, s};

    ganscope_flrelu::FusedParams p{};
    p.x = x.data_ptr();
    p.y = y.data_ptr();
    p.signs = s.data_ptr<uint8_t>();
    p.wux = given(wux) ? wux->data_ptr() : nullptr;
    p.wuy = given(wuy) ? wuy->data_ptr() : nullptr;
    p.wu2 = given(wu2) ? wu2->data_ptr() : nullptr;
    p.wdx = given(wdx) ? wdx->data_ptr() : nullptr;
    p.wdy = given(wdy) ? wdy->data_ptr() : nullptr;
    p.wd2 = given(wd2) ? wd2->data_ptr() : nullptr;
    p.bias = bias_ptr;
    p.planes = n * c;
    p.channels = static_cast<int>(c);
    p.in_h = static_cast<int>(h);
    p.in_w = static_cast<int>(wd);
    p.mid_h = static_cast<int>(mid_h);
    p.mid_w = static_cast<int>(mid_w);
    p.out_h = static_cast<int>(out_h);
    p.out_w = static_cast<int>(out_w);
    p.kux = static_cast<int>(kux);
    p.kuy = static_cast<int>(kuy);
    p.kdx = static_cast<int>(kdx);
    p.kdy = static_cast<int>(kdy);
    p.up_x = static_cast<int>(up_x);
    p.up_y = static_cast<int>(up_y);
    p.down_x = static_cast<int>(down_x);
    p.down_y = static_cast<int>(down_y);
    p.pad_x0 = static_cast<int>(pad_x0);
    p.pad_y0 = static_cast<int>(pad_y0);
    p.pad_dx0 = static_cast<int>(pad_dx0);
    p.pad_dy0 = static_cast<int>(pad_dy0);
    p.tile_h = static_cast<int>(tile_h);
    p.tile_w = static_cast<int>(tile_w);
    p.mode = static_cast<int>(mode);
    p.gain = gain;
    p.slope = slope;
    p.clamp = clamp;
    p.dtype = code;
    const size_t smem = ganscope_flrelu::fused_smem_bytes(p);
    const int max_smem = max_smem_per_block();
    TORCH_CHECK(smem > 0 && smem <= static_cast<size_t>(max_smem), "filtered_lrelu (CUDA, fused): tile ", tile_h, "x",
                tile_w, " needs ", smem, " bytes of shared memory, the device allows ", max_smem, "; use a smaller tile");
    const cudaError_t err = ganscope_flrelu::launch_fused(p, c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(err == cudaSuccess, "filtered_lrelu (CUDA, fused): kernel launch failed: ", cudaGetErrorString(err));
    return {y, s};
}

// Shared memory a fused launch needs (bytes), and what the current device allows per block, so
// the Python side can pick a tile that fits.
std::vector<int64_t> fused_smem(int64_t dtype, int64_t kux, int64_t kuy, bool separable_a, int64_t kdx, int64_t kdy,
                                bool separable_b, int64_t up_x, int64_t up_y, int64_t down_x, int64_t down_y,
                                int64_t tile_h, int64_t tile_w) {
    ganscope_flrelu::FusedParams p{};
    static const char present = 0;  // only whether the 2-D filters are given matters here
    p.dtype = static_cast<int>(dtype);
    p.kux = static_cast<int>(kux);
    p.kuy = static_cast<int>(kuy);
    p.kdx = static_cast<int>(kdx);
    p.kdy = static_cast<int>(kdy);
    p.wu2 = separable_a ? nullptr : &present;
    p.wd2 = separable_b ? nullptr : &present;
    p.up_x = static_cast<int>(up_x);
    p.up_y = static_cast<int>(up_y);
    p.down_x = static_cast<int>(down_x);
    p.down_y = static_cast<int>(down_y);
    p.tile_h = static_cast<int>(tile_h);
    p.tile_w = static_cast<int>(tile_w);
    return {static_cast<int64_t>(ganscope_flrelu::fused_smem_bytes(p)), static_cast<int64_t>(max_smem_per_block())};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("resample", &resample,
          "filtered_lrelu resample pass: bias, upsample, filter, downsample, pointwise epilogue (CUDA)",
          py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("signs"), py::arg("out_h"), py::arg("out_w"),
          py::arg("up_x"), py::arg("up_y"), py::arg("down_x"), py::arg("down_y"), py::arg("pad_x0"),
          py::arg("pad_y0"), py::arg("mode"), py::arg("gain"), py::arg("slope"), py::arg("clamp"),
          py::arg("out_dtype"));
    m.def("fused", &fused,
          "filtered_lrelu in one launch: resampling step A, activation or fixed derivative, resampling step B (CUDA)",
          py::arg("x"), py::arg("wux"), py::arg("wuy"), py::arg("wu2"), py::arg("wdx"), py::arg("wdy"), py::arg("wd2"),
          py::arg("bias"), py::arg("signs"), py::arg("mid_h"), py::arg("mid_w"), py::arg("out_h"), py::arg("out_w"),
          py::arg("up_x"), py::arg("up_y"), py::arg("down_x"), py::arg("down_y"), py::arg("pad_x0"),
          py::arg("pad_y0"), py::arg("pad_dx0"), py::arg("pad_dy0"), py::arg("tile_h"), py::arg("tile_w"),
          py::arg("mode"), py::arg("gain"), py::arg("slope"), py::arg("clamp"));
    m.def("fused_smem", &fused_smem, "shared memory of a fused launch and the device's per-block limit, in bytes");
}
