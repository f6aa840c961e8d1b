"""The dtype of the reduced-precision blocks of the StyleGAN2/3 networks.

Blocks built with ``use_fp16`` (the ``num_fp16_res`` highest resolutions) compute in float16 on
CUDA, as the official networks do, and in float32 on the CPU. Training may ask for bfloat16 on
the CPU instead (``ganscope train --bf16``) by running its forward passes inside
``cpu_bfloat16()``: bfloat16 convolutions are about twice as fast as float32 ones on CPUs
with AVX-512 BF16 or AMX, and bfloat16 has float32's range, so nothing overflows and no loss
scale is needed. Rendering never enters the context, so a network renders the same whether
or not it was trained with it.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch

_CPU_HALF: contextvars.ContextVar[torch.dtype | None] = contextvars.ContextVar("ganscope_cpu_half", default=None)


@contextlib.contextmanager
def cpu_bfloat16(enabled: bool = True) -> Iterator[None]:
    """Within this context (this thread), reduced-precision blocks on the CPU run in bfloat16."""
    token = _CPU_HALF.set(torch.bfloat16 if enabled else None)
    try:
        yield
    finally:
        _CPU_HALF.reset(token)


def block_dtype(use_fp16: bool, force_fp32: bool, device: torch.device) -> torch.dtype:
    """What a block computes in: float32 unless it is a reduced-precision block (``use_fp16``
    and not ``force_fp32``); then float16 on CUDA, and on the CPU bfloat16 inside
    ``cpu_bfloat16()``, else float32."""
    if not use_fp16 or force_fp32:
        return torch.float32
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu":
        return _CPU_HALF.get() or torch.float32
    return torch.float32


def cpu_bfloat16_speedup_expected() -> bool | None:
    """Whether this CPU has bfloat16 arithmetic (AVX-512 BF16 or AMX), without which bfloat16
    convolutions are emulated and slower than float32; None where its flags cannot be read
    (no /proc/cpuinfo: not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        pass
    return None


__all__ = ["cpu_bfloat16", "block_dtype", "cpu_bfloat16_speedup_expected"]
