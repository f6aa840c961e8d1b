// Stand-in for <c10/cuda/CUDAGuard.h> in the CPU emulation build: the "device" is the CPU.
#pragma once
#include <c10/core/Device.h>
namespace c10 { namespace cuda {
struct CUDAGuard {
    explicit CUDAGuard(c10::Device) {}
};
}}  // namespace c10::cuda
