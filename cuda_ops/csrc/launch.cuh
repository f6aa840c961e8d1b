// Kernel launches and dynamic shared memory, spelled so the same kernel source also builds for
// the CPU emulator (emulation/, GANSCOPE_CUDA_EMULATION): nvcc sees plain CUDA.
#pragma once
#ifdef GANSCOPE_CUDA_EMULATION
#include "emulation/emulator.h"
// GANSCOPE_LAUNCH(grid, block, smem, stream, kernel)(args...)
#define GANSCOPE_LAUNCH(grid, block, smem, stream, ...) ::ganscope_emu::launch((grid), (block), (smem), (stream), __VA_ARGS__)
#define GANSCOPE_DYNAMIC_SMEM(name) unsigned char* name = ::ganscope_emu::dynamic_smem()
#else
#define GANSCOPE_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<(grid), (block), (smem), (stream)>>>
#define GANSCOPE_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#endif
