// A CPU emulator of the small part of CUDA our kernels use, so the very kernel sources in
// cuda_ops/csrc/ run (and are tested) on a machine without a GPU: built with
// GANSCOPE_CUDA_EMULATION by cuda_ops._build.load_emulated.
//
// Blocks run one after another. Inside a block every thread is a fiber (ucontext) on its own
// stack; the fibers run in turn up to __syncthreads(), where each waits until all have arrived.
// So the order of memory accesses between barriers is one valid CUDA schedule (thread 0's phase
// first), which exposes a missing barrier whenever a thread reads what a later one writes.
// The emulator also checks what CUDA enforces or leaves undefined:
//  * launch limits (block <= 1024 threads, grid.y/z <= 65535) and the dynamic shared memory
//    limit: 48 KB unless cudaFuncSetAttribute raised it, never above the opt-in maximum;
//  * shared memory starts filled with NaN bytes (0xff), so reading unwritten shared memory
//    shows up as NaN, and guard zones on both sides catch writes out of bounds;
//  * a __syncthreads() that not every thread of the block reaches.
// A violated check makes the launch fail: cudaGetLastError() returns the error and
// ganscope_emu::last_message() says what happened.
#pragma once
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

using std::exp;
using std::log1p;
using std::max;
using std::min;
using std::tanh;

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorLaunchFailure = 719,
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
struct CUstream_st;
using cudaStream_t = CUstream_st*;

// The built-in variables: one set for the thread that is running now.
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace ganscope_emu {

constexpr size_t kDefaultSmem = 48 * 1024;
constexpr size_t kOptinSmem = 227 * 1024;  // H100 / H200
constexpr size_t kGuard = 256;              // bytes checked on each side of shared memory
constexpr size_t kStack = 256 * 1024;       // per emulated thread

struct State {
    std::mutex mutex;                        // one launch at a time
    std::map<const void*, size_t> smem_attr; // cudaFuncSetAttribute(MaxDynamicSharedMemorySize)
    cudaError_t last_error = cudaSuccess;
    std::string message;
    // the block being run
    ucontext_t scheduler;
    std::vector<ucontext_t> contexts;
    std::vector<std::vector<char>> stacks;
    std::vector<int> phase;                  // 0 runnable, 1 waiting at a barrier, 2 finished
    std::vector<dim3> index;
    int current = 0;
    const std::function<void()>* body = nullptr;
    std::vector<unsigned char> smem;         // guard + dynamic shared memory + guard
    size_t smem_size = 0;
};

inline State& state() {
    static State s;
    return s;
}

inline std::string last_message() { return state().message; }

inline unsigned char* dynamic_smem() { return state().smem.data() + kGuard; }

inline void fail(cudaError_t err, const std::string& why) {
    State& s = state();
    if (s.last_error == cudaSuccess) {
        s.last_error = err;
        s.message = why;
    }
}

inline void fiber_entry() {
    State& s = state();
    (*s.body)();
    s.phase[s.current] = 2;  // returning resumes the scheduler (uc_link)
}

inline void syncthreads() {
    State& s = state();
    s.phase[s.current] = 1;
    swapcontext(&s.contexts[s.current], &s.scheduler);
}

// Runs one block: every thread until all wait at a barrier or have finished, then again.
inline bool run_block(const std::function<void()>& body, dim3 block) {
    State& s = state();
    const int n = static_cast<int>(block.x * block.y * block.z);
    if (static_cast<int>(s.stacks.size()) < n) s.stacks.resize(n);
    s.contexts.assign(n, ucontext_t{});
    s.phase.assign(n, 0);
    s.index.resize(n);
    s.body = &body;
    for (int t = 0; t < n; ++t) {
        if (s.stacks[t].empty()) s.stacks[t].resize(kStack);
        getcontext(&s.contexts[t]);
        s.contexts[t].uc_stack.ss_sp = s.stacks[t].data();
        s.contexts[t].uc_stack.ss_size = s.stacks[t].size();
        s.contexts[t].uc_link = &s.scheduler;
        makecontext(&s.contexts[t], fiber_entry, 0);
        s.index[t] = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
    }
    for (;;) {
        for (int t = 0; t < n; ++t) {
            if (s.phase[t] != 0) continue;
            s.current = t;
            threadIdx = s.index[t];
            swapcontext(&s.scheduler, &s.contexts[t]);
        }
        const int waiting = static_cast<int>(std::count(s.phase.begin(), s.phase.end(), 1));
        if (waiting == 0) return true;
        if (waiting != n) {
            // Some threads returned while others wait at __syncthreads(): undefined in CUDA.
            fail(cudaErrorLaunchFailure, "__syncthreads() not reached by every thread of block (" +
                                             std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) + ")");
            for (int t = 0; t < n; ++t) if (s.phase[t] == 1) s.phase[t] = 0;  // let them finish
            continue;
        }
        std::fill(s.phase.begin(), s.phase.end(), 0);
    }
}

inline bool guards_intact() {
    const State& s = state();
    for (size_t i = 0; i < kGuard; ++i) {
        if (s.smem[i] != 0xff || s.smem[kGuard + s.smem_size + i] != 0xff) return false;
    }
    return true;
}

template <typename... P>
struct Launch {
    dim3 grid, block;
    size_t smem;
    void (*kernel)(P...);

    template <typename... A>
    void operator()(A&&... args) const {
        State& s = state();
        std::lock_guard<std::mutex> hold(s.mutex);
        const size_t threads = size_t(block.x) * block.y * block.z;
        if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
            grid.y > 65535 || grid.z > 65535 || grid.x > 0x7fffffffu) {
            fail(cudaErrorInvalidConfiguration, "invalid launch configuration");
            return;
        }
        auto raised = s.smem_attr.find(reinterpret_cast<const void*>(kernel));
        const size_t limit = raised == s.smem_attr.end() ? kDefaultSmem : std::max(kDefaultSmem, raised->second);
        if (smem > limit) {
            fail(cudaErrorInvalidValue, "dynamic shared memory of " + std::to_string(smem) + " bytes exceeds the " +
                                            std::to_string(limit) + " bytes allowed for this kernel");
            return;
        }
        const std::function<void()> body = [&] { kernel(P(args)...); };
        gridDim = grid;
        blockDim = block;
        s.smem_size = smem;
        for (unsigned bz = 0; bz < grid.z; ++bz)
            for (unsigned by = 0; by < grid.y; ++by)
                for (unsigned bx = 0; bx < grid.x; ++bx) {
                    blockIdx = dim3(bx, by, bz);
                    s.smem.assign(smem + 2 * kGuard, 0xff);
                    run_block(body, block);
                    if (!guards_intact()) {
                        fail(cudaErrorLaunchFailure, "shared memory written out of bounds in block (" +
                                                         std::to_string(bx) + ", " + std::to_string(by) + ")");
                        return;
                    }
                    if (s.last_error != cudaSuccess) return;
                }
    }
};

template <typename... P>
Launch<P...> launch(dim3 grid, dim3 block, size_t smem, cudaStream_t, void (*kernel)(P...)) {
    return Launch<P...>{grid, block, smem, kernel};
}

}  // namespace ganscope_emu

inline void __syncthreads() { ::ganscope_emu::syncthreads(); }

inline cudaError_t cudaGetLastError() {
    auto& s = ::ganscope_emu::state();
    const cudaError_t e = s.last_error;
    s.last_error = cudaSuccess;
    return e;
}

inline const char* cudaGetErrorString(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument (emulator)";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument (emulator)";
        default: return "unspecified launch failure (emulator)";
    }
}

inline cudaError_t cudaGetDevice(int* dev) {
    *dev = 0;
    return cudaSuccess;
}

inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int) {
    if (attr != cudaDevAttrMaxSharedMemoryPerBlockOptin) return cudaErrorInvalidValue;
    *value = static_cast<int>(::ganscope_emu::kOptinSmem);
    return cudaSuccess;
}

template <typename... P>
cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
        static_cast<size_t>(value) > ::ganscope_emu::kOptinSmem)
        return cudaErrorInvalidValue;
    auto& s = ::ganscope_emu::state();
    std::lock_guard<std::mutex> hold(s.mutex);
    s.smem_attr[reinterpret_cast<const void*>(kernel)] = static_cast<size_t>(value);
    return cudaSuccess;
}
