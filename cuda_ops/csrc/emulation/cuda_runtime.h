// Stand-in for <cuda_runtime.h> in the CPU emulation build of the kernels (see emulator.h).
#pragma once
#include "emulator.h"
