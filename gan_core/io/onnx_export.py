"""ONNX export of a MobileStyleGAN generator: ``mapping.onnx`` and ``synthesis.onnx``.

Needs the optional ``onnx`` package (``pip install ganscope[onnx]``); torch's TorchScript-based
exporter writes the files. Demodulation is fused first (:meth:`Generator.fuse_demodulation`),
so each layer is a per-channel scale, a convolution, noise, bias and a leaky ReLU.

* ``mapping.onnx``: inputs ``z`` [N, z_dim] float32 and ``psi`` [1] float32 (truncation toward
  ``style_mean``; 1 = none) -> ``ws`` [N, num_ws, w_dim];
* ``synthesis.onnx``: input ``ws`` [N, num_ws, w_dim] -> ``img`` [N, C, R, R] in about [-1, 1],
  with the stored ('const') noise images, or no noise (``noise_mode='none'``).

The batch axis is dynamic in both.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn


class _Mapping(nn.Module):
    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        ws = self.G.mapping(z, None)
        mean = self.G.mapping.style_mean.unsqueeze(0)
        return mean + psi.view(1, 1, 1) * (ws - mean)


class _Synthesis(nn.Module):
    def __init__(self, G: nn.Module, noise_mode: str) -> None:
        super().__init__()
        self.G, self.noise_mode = G, noise_mode

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return self.G.synthesis(ws, noise_mode=self.noise_mode)


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(G: nn.Module, out_dir: str | os.PathLike, noise_mode: str = "const", opset: int = 17
                ) -> dict[str, Path]:
    """Write ``mapping.onnx`` and ``synthesis.onnx`` for a MobileStyleGAN ``G`` into ``out_dir``."""
    if getattr(G, "family", None) != "mobilestylegan":
        raise ValueError(f"ONNX export is implemented for the mobilestylegan family only; this model is "
                         f"{getattr(G, 'family', type(G).__name__)}")
    if noise_mode not in ("const", "none"):
        raise ValueError("noise_mode for ONNX export must be 'const' or 'none'")
    if not onnx_available():
        raise RuntimeError("ONNX export needs the onnx package: pip install onnx (or ganscope[onnx])")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    F = G.fuse_demodulation().cpu().eval().requires_grad_(False)
    z = torch.randn(2, F.z_dim)
    psi = torch.ones(1)
    ws = F.mapping(z, None)
    paths = {"mapping": out / "mapping.onnx", "synthesis": out / "synthesis.onnx"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about the shape checks (constant for a given model)
        torch.onnx.export(_Mapping(F), (z, psi), str(paths["mapping"]), input_names=["z", "psi"],
                          output_names=["ws"], dynamic_axes={"z": {0: "batch"}, "ws": {0: "batch"}},
                          opset_version=opset, dynamo=False)
        torch.onnx.export(_Synthesis(F, noise_mode), (ws,), str(paths["synthesis"]), input_names=["ws"],
                          output_names=["img"], dynamic_axes={"ws": {0: "batch"}, "img": {0: "batch"}},
                          opset_version=opset, dynamo=False)
    import onnx

    for p in paths.values():
        onnx.checker.check_model(onnx.load(str(p)))
    return paths
