// filtered_lrelu in one launch per direction: resampling step A + the pointwise epilogue +
// resampling step B with every intermediate in shared memory — the forward (bias, upsampling,
// lrelu/gain/clamp recording the signs, downsampling), the same with the recorded derivative
// (double backward), and the adjoint (backward). Written
// from scratch for ganscope; geometry in filtered_lrelu.h (FusedParams) and
// docs/notes/cuda_filtered_lrelu.md. The tap loops are those of resample_kernel (same order of
// accumulation), so the result equals the chain of resample passes it replaces.
// tests/cuda_ops/test_cuda_filtered_lrelu_cpu.py emulates this file's tile and halo math.
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include "filtered_lrelu.h"
#include "filtered_lrelu_device.cuh"
#include "launch.cuh"

namespace ganscope_flrelu {
namespace {

using dev::AccOf;
using dev::floordiv;
using dev::load_as;
using dev::pmod;
using dev::store;

// Per-axis tile sizes: intermediate tile (what step B reads for one output tile) and input
// tile (what step A reads for one intermediate tile).
struct TileGeom {
    int mw, mh, iw, ih;
};

__host__ __device__ __forceinline__ TileGeom tile_geom(const FusedParams& p) {
    TileGeom g;
    g.mw = (p.tile_w - 1) * p.down_x + p.kdx;
    g.mh = (p.tile_h - 1) * p.down_y + p.kdy;
    // An intermediate window of length m starting anywhere reads u over m + k - 1 samples,
    // which hold at most (m + k - 2) / up + 1 real (non-inserted) samples.
    g.iw = (g.mw + p.kux - 2) / p.up_x + 1;
    g.ih = (g.mh + p.kuy - 2) / p.up_y + 1;
    return g;
}

template <typename T, bool kSepA, bool kSepB>
__global__ void fused_kernel(FusedParams p) {
    using Acc = typename AccOf<T>::type;
    GANSCOPE_DYNAMIC_SMEM(smem_raw);  // 16-byte aligned: double tiles need 8
    Acc* smem = reinterpret_cast<Acc*>(smem_raw);
    const TileGeom g = tile_geom(p);
    Acc* xs = smem;                               // [ih, iw]  input tile + halo, bias added
    Acc* a = xs + g.ih * g.iw;                    // [ih, mw]  after step A's x pass (separable A)
    Acc* mid = a + (kSepA ? g.ih * g.mw : 0);     // [mh, mw]  after step A and the epilogue
    Acc* b = mid + g.mh * g.mw;                   // [mh, tile_w]  after step B's x pass (separable B)

    const T* __restrict__ x = static_cast<const T*>(p.x);
    T* __restrict__ y = static_cast<T*>(p.y);
    const Acc* __restrict__ wux = static_cast<const Acc*>(p.wux);
    const Acc* __restrict__ wuy = static_cast<const Acc*>(p.wuy);
    const Acc* __restrict__ wu2 = static_cast<const Acc*>(p.wu2);
    const Acc* __restrict__ wdx = static_cast<const Acc*>(p.wdx);
    const Acc* __restrict__ wdy = static_cast<const Acc*>(p.wdy);
    const Acc* __restrict__ wd2 = static_cast<const Acc*>(p.wd2);
    const Acc* __restrict__ bias = static_cast<const Acc*>(p.bias);
    const Acc gain = static_cast<Acc>(p.gain);
    const Acc slope = static_cast<Acc>(p.slope);
    const Acc clampv = static_cast<Acc>(p.clamp);
    const bool do_clamp = p.clamp >= 0;
    const bool activate = p.mode == kActivate;

    const int tiles_x = (p.out_w + p.tile_w - 1) / p.tile_w;
    const int tx = blockIdx.x % tiles_x;
    const int ty = blockIdx.x / tiles_x;
    const int ox0 = tx * p.tile_w, oy0 = ty * p.tile_h;
    const int j0x = ox0 * p.down_x - p.pad_dx0, j0y = oy0 * p.down_y - p.pad_dy0;  // first mid sample read
    const int i0x = floordiv(j0x - p.pad_x0 + p.up_x - 1, p.up_x);                 // first input sample read
    const int i0y = floordiv(j0y - p.pad_y0 + p.up_y - 1, p.up_y);
    const int64_t plane_in = static_cast<int64_t>(p.in_h) * p.in_w;
    const int64_t plane_mid = static_cast<int64_t>(p.mid_h) * p.mid_w;
    const int64_t plane_out = static_cast<int64_t>(p.out_h) * p.out_w;
    const int nt = blockDim.x;

    for (int64_t plane = blockIdx.y; plane < p.planes; plane += gridDim.y) {
        const T* __restrict__ xp = x + plane * plane_in;
        const Acc bv = bias ? bias[plane % p.channels] : Acc(0);
        // 1. Input tile; zeros outside the input (the bias is on real samples only).
        for (int i = threadIdx.x; i < g.ih * g.iw; i += nt) {
            const int iy = i0y + i / g.iw, ix = i0x + i % g.iw;
            Acc v = Acc(0);
            if (iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w)
                v = load_as<Acc>(xp + static_cast<int64_t>(iy) * p.in_w + ix) + bv;
            xs[i] = v;
        }
        __syncthreads();
        // 2. Step A's x pass (separable): every input row of the tile, the intermediate columns.
        if (kSepA) {
            for (int i = threadIdx.x; i < g.ih * g.mw; i += nt) {
                const int r = i / g.mw, jx = i % g.mw;
                const int bx = j0x + jx - p.pad_x0;
                const Acc* __restrict__ row = xs + r * g.iw;
                Acc acc = Acc(0);
                for (int kx = pmod(-bx, p.up_x); kx < p.kux; kx += p.up_x)
                    acc += wux[kx] * row[(bx + kx) / p.up_x - i0x];
                a[i] = acc;
            }
            __syncthreads();
        }
        // 3. Step A's y pass (or the whole 2-D step A), then the epilogue on the grid; zero off it.
        for (int i = threadIdx.x; i < g.mh * g.mw; i += nt) {
            const int jy = i / g.mw, jx = i % g.mw;
            const int by = j0y + jy - p.pad_y0;
            Acc acc = Acc(0);
            if (kSepA) {
                for (int ky = pmod(-by, p.up_y); ky < p.kuy; ky += p.up_y)
                    acc += wuy[ky] * a[((by + ky) / p.up_y - i0y) * g.mw + jx];
            } else {
                const int bx = j0x + jx - p.pad_x0;
                const int kx0 = pmod(-bx, p.up_x);
                for (int ky = pmod(-by, p.up_y); ky < p.kuy; ky += p.up_y) {
                    const Acc* __restrict__ row = xs + ((by + ky) / p.up_y - i0y) * g.iw;
                    const Acc* __restrict__ wrow = wu2 + ky * p.kux;
                    for (int kx = kx0; kx < p.kux; kx += p.up_x) acc += wrow[kx] * row[(bx + kx) / p.up_x - i0x];
                }
            }
            const int gy = j0y + jy, gx = j0x + jx;
            const bool on_grid = gy >= 0 && gy < p.mid_h && gx >= 0 && gx < p.mid_w;
            const int64_t si = plane * plane_mid + static_cast<int64_t>(gy) * p.mid_w + gx;
            if (!on_grid) {
                acc = Acc(0);
            } else if (activate) {
                uint8_t s;
                if (acc > Acc(0)) { acc = acc * gain; s = kPositive; }
                else { acc = acc * slope * gain; s = kNegative; }
                if (do_clamp) {
                    if (acc > clampv) { acc = clampv; s = kClamped; }
                    else if (acc < -clampv) { acc = -clampv; s = kClamped; }
                }
                // Neighbouring tiles overlap by kd - down samples and write the same codes there.
                p.signs[si] = s;
            } else {
                const uint8_t s = p.signs[si];
                acc *= (s == kPositive) ? gain : (s == kNegative ? slope * gain : Acc(0));
            }
            mid[i] = acc;
        }
        __syncthreads();
        // 4. Step B, written where the output tile lies inside the output.
        T* __restrict__ yp = y + plane * plane_out;
        if (kSepB) {
            for (int i = threadIdx.x; i < g.mh * p.tile_w; i += nt) {
                const int jy = i / p.tile_w, ox = i % p.tile_w;
                const Acc* __restrict__ row = mid + jy * g.mw + ox * p.down_x;
                Acc acc = Acc(0);
                for (int k = 0; k < p.kdx; ++k) acc += wdx[k] * row[k];
                b[i] = acc;
            }
            __syncthreads();
            for (int i = threadIdx.x; i < p.tile_h * p.tile_w; i += nt) {
                const int oy = i / p.tile_w, ox = i % p.tile_w;
                if (oy0 + oy >= p.out_h || ox0 + ox >= p.out_w) continue;
                Acc acc = Acc(0);
                for (int k = 0; k < p.kdy; ++k) acc += wdy[k] * b[(oy * p.down_y + k) * p.tile_w + ox];
                store(yp + static_cast<int64_t>(oy0 + oy) * p.out_w + ox0 + ox, acc);
            }
        } else {
            for (int i = threadIdx.x; i < p.tile_h * p.tile_w; i += nt) {
                const int oy = i / p.tile_w, ox = i % p.tile_w;
                if (oy0 + oy >= p.out_h || ox0 + ox >= p.out_w) continue;
                Acc acc = Acc(0);
                for (int ky = 0; ky < p.kdy; ++ky) {
                    const Acc* __restrict__ row = mid + (oy * p.down_y + ky) * g.mw + ox * p.down_x;
                    const Acc* __restrict__ wrow = wd2 + ky * p.kdx;
                    for (int kx = 0; kx < p.kdx; ++kx) acc += wrow[kx] * row[kx];
                }
                store(yp + static_cast<int64_t>(oy0 + oy) * p.out_w + ox0 + ox, acc);
            }
        }
        __syncthreads();  // the next plane reuses the shared tiles
    }
}

template <typename T>
size_t smem_of(const FusedParams& p) {
    using Acc = typename AccOf<T>::type;
    const TileGeom g = tile_geom(p);
    size_t n = static_cast<size_t>(g.ih) * g.iw + static_cast<size_t>(g.mh) * g.mw;
    if (p.wu2 == nullptr) n += static_cast<size_t>(g.ih) * g.mw;
    if (p.wd2 == nullptr) n += static_cast<size_t>(g.mh) * p.tile_w;
    return n * sizeof(Acc);
}

template <typename T, bool kSepA, bool kSepB>
cudaError_t launch_variant(const FusedParams& p, dim3 grid, size_t smem, cudaStream_t stream) {
    cudaError_t err = cudaFuncSetAttribute(fused_kernel<T, kSepA, kSepB>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem));
    if (err != cudaSuccess) return err;
    GANSCOPE_LAUNCH(grid, 256, smem, stream, fused_kernel<T, kSepA, kSepB>)(p);
    return cudaGetLastError();
}

template <typename T>
cudaError_t launch_typed(const FusedParams& p, cudaStream_t stream) {
    const int tiles = ((p.out_w + p.tile_w - 1) / p.tile_w) * ((p.out_h + p.tile_h - 1) / p.tile_h);
    if (tiles == 0 || p.planes == 0) return cudaSuccess;
    const size_t smem = smem_of<T>(p);
    const int64_t planes_per_launch = p.planes < 65535 ? p.planes : 65535;  // grid.y limit; the kernel strides
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(planes_per_launch));
    const bool sep_a = p.wu2 == nullptr, sep_b = p.wd2 == nullptr;
    if (sep_a && sep_b) return launch_variant<T, true, true>(p, grid, smem, stream);
    if (sep_a) return launch_variant<T, true, false>(p, grid, smem, stream);
    if (sep_b) return launch_variant<T, false, true>(p, grid, smem, stream);
    return launch_variant<T, false, false>(p, grid, smem, stream);
}

}  // namespace

size_t fused_smem_bytes(const FusedParams& p) {
    if (p.tile_w < 1 || p.tile_h < 1 || p.up_x < 1 || p.up_y < 1 || p.down_x < 1 || p.down_y < 1) return 0;
    switch (p.dtype) {
        case kF32: return smem_of<float>(p);
        case kF16: return smem_of<__half>(p);
        case kF64: return smem_of<double>(p);
        default: return 0;
    }
}

cudaError_t launch_fused(const FusedParams& p, cudaStream_t stream) {
    switch (p.dtype) {
        case kF32: return launch_typed<float>(p, stream);
        case kF16: return launch_typed<__half>(p, stream);
        case kF64: return launch_typed<double>(p, stream);
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace ganscope_flrelu
