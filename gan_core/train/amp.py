"""Mixed precision for the trainers whose networks have no float16 layers of their own
(StyleGAN1, BigGAN / BigGAN-deep): ``torch.autocast`` plus a dynamic loss scale per network.

StyleGAN2/3 follow the official recipe instead (float16 in the highest-resolution blocks, conv
clamping, NaN/Inf in gradients replaced); their networks carry that themselves.

Here the weights, the optimizer states and the EMA stay float32; the forward passes run under
autocast (float16 on CUDA). Each network's loss is multiplied by its scale before ``backward``;
the optimizer step unscales the gradients and is skipped, the scale halved, when any is
infinite or NaN; after 2000 good steps the scale doubles (``torch.amp.GradScaler``). Gradient
penalties (R1, WGAN-GP) take the gradient of the *scaled* output and divide it back, so float16
gradients of small logits do not underflow to zero.

With several processes the gradients are averaged while still scaled and *before* the step,
without replacing Inf/NaN: every process then sees the same gradients, skips the same steps and
keeps the same scale, so the networks stay identical.

    mp = MixedPrecision("cuda", enabled=True)
    with mp.autocast():
        loss = D_loss(...)
    mp.backward(loss, "D")
    average_gradients(D)            # optional, several processes
    mp.step(opt_D, "D")             # unscale, skip on overflow, update the scale
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch

NETWORKS = ("G", "D")


class MixedPrecision:
    """Autocast and loss scaling for one trainer (see the module docstring).

    ``enabled=False`` (float32) makes every method a plain pass-through, so a trainer writes its
    step once. ``dtype`` defaults to float16; ``scale_loss`` defaults to True for float16 and
    False for bfloat16 (which has float32's range). Tests run the float16 logic on the CPU with
    bfloat16 and ``scale_loss=True``."""

    def __init__(self, device: str | torch.device, enabled: bool, dtype: torch.dtype = torch.float16,
                 scale_loss: bool | None = None, init_scale: float = 2.0 ** 16) -> None:
        self.device_type = torch.device(device).type
        self.enabled = bool(enabled)
        self.dtype = dtype
        scaled = self.enabled and (dtype == torch.float16 if scale_loss is None else bool(scale_loss))
        self.scalers = {name: torch.amp.GradScaler(self.device_type, init_scale=init_scale, enabled=scaled)
                        for name in NETWORKS}

    @property
    def scaled(self) -> bool:
        return self.scalers["G"].is_enabled()

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, net: str) -> None:
        self.scalers[net].scale(loss).backward()

    def input_gradient(self, outputs: torch.Tensor, inputs: torch.Tensor, net: str = "D") -> torch.Tensor:
        """``d outputs / d inputs`` with a graph (for a gradient penalty), computed through the
        scaled ``outputs`` and divided back."""
        scaler = self.scalers[net]
        (grad,) = torch.autograd.grad(scaler.scale(outputs), inputs, create_graph=True, only_inputs=True)
        if scaler.is_enabled():
            grad = grad / scaler.get_scale()
        return grad.float()

    def step(self, opt: torch.optim.Optimizer, net: str) -> None:
        """The optimizer step from scaled gradients (skipped when they overflowed), then the
        scale's update."""
        scaler = self.scalers[net]
        scaler.step(opt)
        scaler.update()

    def scales(self) -> dict[str, float]:
        """The current loss scales, for the stats (empty when not scaling)."""
        return {f"loss_scale_{n}": s.get_scale() for n, s in self.scalers.items() if s.is_enabled()}

    def state_dict(self) -> dict[str, Any]:
        return {name: s.state_dict() for name, s in self.scalers.items()}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore the scales; a state saved without loss scaling (float32, or an older
        snapshot) leaves the initial scales."""
        for name, s in self.scalers.items():
            saved = (state or {}).get(name) or {}
            if s.is_enabled() and saved:
                s.load_state_dict(saved)


def trainer_precision(device: torch.device, fp32: bool | None) -> MixedPrecision:
    """What ``--fp32`` means for StyleGAN1 / BigGAN: mixed precision (float16 with loss scaling)
    only on CUDA and only when asked for (``--fp32 false``); float32 otherwise."""
    return MixedPrecision(device, enabled=device.type == "cuda" and fp32 is False)
