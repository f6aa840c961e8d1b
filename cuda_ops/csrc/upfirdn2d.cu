// upfirdn2d kernels (our own design; see docs/notes/cuda_upfirdn2d.md).
//
// One thread block computes a tile of tile_w x tile_h output samples of one (n, c) plane at a
// time (and loops over planes with a grid-stride over blockIdx.y). It first stages the input
// samples the tile needs (its footprint plus the filter halo, zeros outside the image) and the
// filter (times gain) in shared memory, in the accumulation type. Each output sample then sums
// only the taps that meet real, non-inserted samples (polyphase): along x, with
//     b = jx * downx + fw - 1 - px0,   kx0 = b mod upx (non-negative),  i = (b - kx0) / upx,
// the taps kx0, kx0 + upx, ... (< fw) meet input columns i, i - 1, ... respectively.
// Template parameters fix the factors (and for the StyleGAN2 case the 4x4 filter) at compile
// time for the common cases; 0 means "read it from Params".
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include "upfirdn2d.h"
#include "launch.cuh"

namespace ganscope_upfirdn2d {
namespace {

template <typename T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ void from_acc(float v, float* out) { *out = v; }
__device__ __forceinline__ void from_acc(double v, double* out) { *out = v; }
__device__ __forceinline__ void from_acc(float v, __half* out) { *out = __float2half_rn(v); }

__host__ __device__ __forceinline__ int floor_div(int a, int b) {  // b > 0
    int q = a / b;
    return (q * b > a) ? q - 1 : q;
}

constexpr int kThreads = 256;

template <typename T, int UPX, int UPY, int DOWNX, int DOWNY, int FW, int FH>
__global__ void __launch_bounds__(kThreads) upfirdn2d_tiled(Params p, int tile_w, int tile_h, int tiles_x) {
    using A = typename Acc<T>::type;
    GANSCOPE_DYNAMIC_SMEM(smem_raw);
    A* sf = reinterpret_cast<A*>(smem_raw);
    const int upx = UPX ? UPX : p.upx, upy = UPY ? UPY : p.upy;
    const int downx = DOWNX ? DOWNX : p.downx, downy = DOWNY ? DOWNY : p.downy;
    const int fw = FW ? FW : p.fw, fh = FH ? FH : p.fh;
    A* sx = sf + fw * fh;

    const int tid = threadIdx.x + threadIdx.y * blockDim.x;
    const int nthreads = blockDim.x * blockDim.y;
    const A* f = static_cast<const A*>(p.f);
    const A gain = static_cast<A>(p.gain);
    for (int i = tid; i < fw * fh; i += nthreads) sf[i] = f[i] * gain;

    // This block's output tile and the input footprint it reads.
    const int tx0 = (blockIdx.x % tiles_x) * tile_w;
    const int ty0 = (blockIdx.x / tiles_x) * tile_h;
    const int tw = min(tile_w, p.out_w - tx0);
    const int th = min(tile_h, p.out_h - ty0);
    const int ix0 = floor_div(tx0 * downx - p.px0, upx);
    const int ix1 = floor_div((tx0 + tw - 1) * downx + fw - 1 - p.px0, upx);
    const int iy0 = floor_div(ty0 * downy - p.py0, upy);
    const int iy1 = floor_div((ty0 + th - 1) * downy + fh - 1 - p.py0, upy);
    const int sw = ix1 - ix0 + 1, sh = iy1 - iy0 + 1;

    const T* __restrict__ xg = static_cast<const T*>(p.x);
    T* __restrict__ yg = static_cast<T*>(p.y);
    const int64_t planes = p.n * p.c;
    for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y) {
        const int64_t pn = plane / p.c, pc = plane - pn * p.c;
        const T* xp = xg + pn * p.sxn + pc * p.sxc;
        T* yp = yg + pn * p.syn + pc * p.syc;
        __syncthreads();  // the filter is staged / the previous plane's tile is no longer read
        for (int i = tid; i < sw * sh; i += nthreads) {
            const int ly = i / sw, lx = i - ly * sw;
            const int gx = ix0 + lx, gy = iy0 + ly;
            A v = A(0);
            if (gx >= 0 && gx < p.in_w && gy >= 0 && gy < p.in_h) v = to_acc(xp[gy * p.sxh + gx * p.sxw]);
            sx[i] = v;
        }
        __syncthreads();
        for (int oy = threadIdx.y; oy < th; oy += blockDim.y) {
            const int by = (ty0 + oy) * downy + fh - 1 - p.py0;
            int ky0 = by % upy;
            if (ky0 < 0) ky0 += upy;
            const int ly = (by - ky0) / upy - iy0;  // exact division
            for (int ox = threadIdx.x; ox < tw; ox += blockDim.x) {
                const int bx = (tx0 + ox) * downx + fw - 1 - p.px0;
                int kx0 = bx % upx;
                if (kx0 < 0) kx0 += upx;
                const int lx = (bx - kx0) / upx - ix0;
                A acc = A(0);
                const A* srow = sx + ly * sw + lx;
#pragma unroll
                for (int ky = ky0; ky < fh; ky += upy, srow -= sw) {
                    const A* frow = sf + ky * fw;
#pragma unroll
                    for (int kx = kx0, d = 0; kx < fw; kx += upx, --d) acc += frow[kx] * srow[d];
                }
                from_acc(acc, yp + (int64_t)(ty0 + oy) * p.syh + (int64_t)(tx0 + ox) * p.syw);
            }
        }
    }
}

int pow2ceil(int v) {
    int r = 1;
    while (r < v && r < (1 << 30)) r <<= 1;
    return r;
}

// Shared memory for a tile (filter + input footprint, upper bound), in bytes.
size_t smem_bytes(const Params& p, int tw, int th, size_t esize) {
    const int64_t sw = ((int64_t)(tw - 1) * p.downx + p.fw - 1) / p.upx + 2;
    const int64_t sh = ((int64_t)(th - 1) * p.downy + p.fh - 1) / p.upy + 2;
    return (size_t)(p.fw * (int64_t)p.fh + sw * sh) * esize;
}

template <typename T, int UPX, int UPY, int DOWNX, int DOWNY, int FW, int FH>
cudaError_t run(const Params& p, cudaStream_t stream) {
    using A = typename Acc<T>::type;
    const size_t esize = sizeof(A);
    // Thread block: up to 32 threads along x (a warp reads a row), 256 in all.
    const int bx = pow2ceil(p.out_w) < 32 ? pow2ceil(p.out_w) : 32;
    const int by_max = kThreads / bx;
    const int by = pow2ceil(p.out_h) < by_max ? pow2ceil(p.out_h) : by_max;
    int tw = pow2ceil(p.out_w) < 64 ? pow2ceil(p.out_w) : 64;
    int th = pow2ceil(p.out_h) < 32 ? pow2ceil(p.out_h) : 32;
    if (tw < bx) tw = bx;
    if (th < by) th = by;
    const size_t default_limit = 48 * 1024;
    while (smem_bytes(p, tw, th, esize) > default_limit && (tw > 1 || th > 1)) {
        if (th >= tw) th = (th + 1) / 2; else tw = (tw + 1) / 2;
    }
    const size_t smem = smem_bytes(p, tw, th, esize);
    auto kernel = upfirdn2d_tiled<T, UPX, UPY, DOWNX, DOWNY, FW, FH>;
    if (smem > default_limit) {
        int dev = 0, optin = 0;
        cudaError_t e = cudaGetDevice(&dev);
        if (e == cudaSuccess) e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
        if (e != cudaSuccess) return e;
        if (smem > (size_t)optin) return cudaErrorInvalidValue;  // filter too large
        e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
    }
    const int64_t tiles_x = (p.out_w + tw - 1) / tw, tiles_y = (p.out_h + th - 1) / th;
    const int64_t tiles = tiles_x * tiles_y;
    const int64_t planes = p.n * p.c;
    if (tiles > 0x7fffffffLL) return cudaErrorInvalidValue;
    dim3 block(bx, by);
    dim3 grid((unsigned)tiles, (unsigned)(planes < 65535 ? planes : 65535));
    GANSCOPE_LAUNCH(grid, block, smem, stream, kernel)(p, tw, th, (int)tiles_x);
    return cudaGetLastError();
}

template <typename T>
cudaError_t dispatch(const Params& p, cudaStream_t stream) {
    const int ux = p.upx, uy = p.upy, dx = p.downx, dy = p.downy;
    const bool f44 = p.fw == 4 && p.fh == 4;
    // StyleGAN2: 4x4 filters with up 2 / down 2 / neither.
    if (f44 && ux == 2 && uy == 2 && dx == 1 && dy == 1) return run<T, 2, 2, 1, 1, 4, 4>(p, stream);
    if (f44 && ux == 1 && uy == 1 && dx == 2 && dy == 2) return run<T, 1, 1, 2, 2, 4, 4>(p, stream);
    if (f44 && ux == 1 && uy == 1 && dx == 1 && dy == 1) return run<T, 1, 1, 1, 1, 4, 4>(p, stream);
    // Separable passes (StyleGAN3: 1-D filters along x (fh == 1) or y (fw == 1)).
    if (p.fh == 1 && uy == 1 && dy == 1) {
        if (ux == 1 && dx == 1) return run<T, 1, 1, 1, 1, 0, 1>(p, stream);
        if (ux == 2 && dx == 1) return run<T, 2, 1, 1, 1, 0, 1>(p, stream);
        if (ux == 4 && dx == 1) return run<T, 4, 1, 1, 1, 0, 1>(p, stream);
        if (ux == 1 && dx == 2) return run<T, 1, 1, 2, 1, 0, 1>(p, stream);
        return run<T, 0, 1, 0, 1, 0, 1>(p, stream);
    }
    if (p.fw == 1 && ux == 1 && dx == 1) {
        if (uy == 1 && dy == 1) return run<T, 1, 1, 1, 1, 1, 0>(p, stream);
        if (uy == 2 && dy == 1) return run<T, 1, 2, 1, 1, 1, 0>(p, stream);
        if (uy == 4 && dy == 1) return run<T, 1, 4, 1, 1, 1, 0>(p, stream);
        if (uy == 1 && dy == 2) return run<T, 1, 1, 1, 2, 1, 0>(p, stream);
        return run<T, 1, 0, 1, 0, 1, 0>(p, stream);
    }
    // Other 2-D filters: fixed factors for the common cases, else fully generic.
    if (ux == 1 && uy == 1 && dx == 1 && dy == 1) return run<T, 1, 1, 1, 1, 0, 0>(p, stream);
    if (ux == 2 && uy == 2 && dx == 1 && dy == 1) return run<T, 2, 2, 1, 1, 0, 0>(p, stream);
    if (ux == 1 && uy == 1 && dx == 2 && dy == 2) return run<T, 1, 1, 2, 2, 0, 0>(p, stream);
    return run<T, 0, 0, 0, 0, 0, 0>(p, stream);
}

}  // namespace

cudaError_t launch(const Params& p, int dtype, cudaStream_t stream) {
    if (p.n * p.c == 0 || p.out_w <= 0 || p.out_h <= 0) return cudaSuccess;
    if (p.fw < 1 || p.fh < 1 || p.upx < 1 || p.upy < 1 || p.downx < 1 || p.downy < 1) return cudaErrorInvalidValue;
    switch (dtype) {
        case 0: return dispatch<float>(p, stream);
        case 1: return dispatch<__half>(p, stream);
        case 2: return dispatch<double>(p, stream);
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace ganscope_upfirdn2d
