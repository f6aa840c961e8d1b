"""The uniform generator interface every family implements (see DESIGN.md).

The app, the command line, the analysis tools and the trainers talk to generators only
through this surface, so they never branch on family names:

* attributes ``family``, ``z_dim``, ``c_dim``, ``w_dim``, ``num_ws``, ``img_resolution``,
  ``img_channels`` and capability flags (``has_noise``, ``has_input_transform``,
  ``is_conditional``);
* ``G.mapping(z, c, truncation_psi=1, truncation_cutoff=None) -> ws [N, num_ws, w_dim]``;
* ``G.synthesis(ws, noise_mode='const', noise_strength=1.0, **family_kwargs) -> [N, C, H, W]``
  float32, about [-1, 1];
* ``G.layer_names()``: the intermediate layers, in forward order, that ``capture_layers``
  can record;
* ``G.config()``: the constructor arguments, so a native checkpoint can rebuild it.
"""
from __future__ import annotations

import abc
import contextlib
from typing import Any, Iterator, Sequence

import torch
from torch import nn

NOISE_MODES = ("const", "random", "none")


def check_noise_mode(noise_mode: str) -> str:
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}; got {noise_mode!r}")
    return noise_mode


class GeneratorBase(nn.Module, abc.ABC):
    """Common surface of all generators. Subclasses set the attributes and submodules
    ``mapping`` and ``synthesis`` and implement ``config`` and ``layer_names``."""

    family: str = "unknown"
    has_noise: bool = False
    has_input_transform: bool = False

    z_dim: int
    c_dim: int
    w_dim: int
    num_ws: int
    img_resolution: int
    img_channels: int

    @property
    def is_conditional(self) -> bool:
        return self.c_dim > 0

    def capabilities(self) -> dict[str, Any]:
        """Plain-data description for info displays and the app."""
        return {
            "family": self.family,
            "z_dim": self.z_dim,
            "c_dim": self.c_dim,
            "w_dim": self.w_dim,
            "num_ws": self.num_ws,
            "img_resolution": self.img_resolution,
            "img_channels": self.img_channels,
            "is_conditional": self.is_conditional,
            "has_noise": self.has_noise,
            "has_input_transform": self.has_input_transform,
            "num_params": sum(p.numel() for p in self.parameters()),
        }

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-compatible) that rebuild this network."""

    @abc.abstractmethod
    def layer_names(self) -> list[str]:
        """Dotted module names of the intermediate layers, in forward order."""

    @abc.abstractmethod
    def ws_resolutions(self) -> list[int]:
        """For each w index, the output resolution of the layer it drives (for labelling)."""

    def make_c(self, class_idx: int | Sequence[int] | None, batch: int, device: torch.device | str = "cpu"
               ) -> torch.Tensor:
        """One-hot labels ``[batch, c_dim]`` (empty ``[batch, 0]`` for unconditional models)."""
        c = torch.zeros([batch, self.c_dim], device=device)
        if self.c_dim == 0:
            if class_idx is not None:
                raise ValueError("this model is not class-conditional; leave out the class index (--class)")
            return c
        if class_idx is None:
            raise ValueError(f"this model is class-conditional ({self.c_dim} classes); give a class index "
                             f"0..{self.c_dim - 1} (--class N on the command line)")
        idx = [class_idx] * batch if isinstance(class_idx, int) else list(class_idx)
        for i, k in enumerate(idx):
            if not 0 <= int(k) < self.c_dim:
                raise ValueError(f"class index {k} is out of range: this model has classes 0..{self.c_dim - 1}")
            c[i, int(k)] = 1
        return c

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False,
                **synthesis_kwargs: Any) -> torch.Tensor:
        """z [N, z_dim] (+ c [N, c_dim]) -> image [N, C, H, W]."""
        if c is None:
            c = torch.zeros([z.shape[0], self.c_dim], device=z.device)
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)


@contextlib.contextmanager
def capture_layers(G: nn.Module, names: Sequence[str], detach: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the named submodules while the block runs.

    ``with capture_layers(G, ['synthesis.L3_36_64']) as out: G(z)`` leaves
    ``out['synthesis.L3_36_64']`` holding that layer's output (the first tensor of a tuple).
    """
    modules = dict(G.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        known = [n for n in getattr(G, "layer_names", lambda: [])()]
        raise KeyError(f"no layer named {', '.join(missing)}; known layers: {', '.join(known)}")
    out: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            t = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(t, torch.Tensor):
                out[name] = t.detach() if detach else t
        return hook

    try:
        for n in names:
            handles.append(modules[n].register_forward_hook(make_hook(n)))
        yield out
    finally:
        for h in handles:
            h.remove()
