// Stand-in for <c10/cuda/CUDAStream.h> in the CPU emulation build. The bindings check that
// tensors are on the device; there the device is the CPU, so is_cuda() reads is_cpu() from here
// on (this header comes after <torch/extension.h> in every binding).
#pragma once
#include "../../cuda_runtime.h"
namespace c10 { namespace cuda {
inline cudaStream_t getCurrentCUDAStream(int = -1) { return nullptr; }
}}  // namespace c10::cuda
#define is_cuda is_cpu
