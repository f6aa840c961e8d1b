"""Building blocks shared by the StyleGAN families: equalized-lr dense layer and mapping network.

Parameter names and initial scales follow the official checkpoints (``weight``, ``bias``,
``fc{i}``, ``embed``, ``w_avg``) so official state dicts load without renaming.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cuda_ops import bias_act


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit mean square along ``dim``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Dense layer with equalized learning rate: weights are stored unit-variance and scaled
    by ``lr_multiplier / sqrt(in_features)`` at run time; the bias by ``lr_multiplier``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, weight_init: float = 1.0, bias_init=0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        if bias:
            init = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features])
            self.bias = nn.Parameter(torch.from_numpy(init / lr_multiplier))
        else:
            self.bias = None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [N, in_features] -> [N, out_features]."""
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class MappingNetwork(nn.Module):
    """z (+ class label) -> w, broadcast to ``num_ws`` and optionally truncated.

    Serves StyleGAN2 (8 layers by default), StyleGAN3 (2 layers) and the conditioning
    branch of the StyleGAN2 discriminator (``z_dim=0``, ``num_ws=None``, no ``w_avg``).
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.998) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                                         lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        """z [N, z_dim], c [N, c_dim] -> w [N, w_dim], or ws [N, num_ws, w_dim] when num_ws is set.

        Truncation pulls the first ``truncation_cutoff`` ws (all when None) toward ``w_avg``:
        ``w_avg + psi * (w - w_avg)``.
        """
        x = None
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"mapping: expected z of shape [N, {self.z_dim}], got "
                                 f"{None if z is None else tuple(z.shape)}")
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"mapping: this model is conditional: expected c of shape [N, {self.c_dim}], "
                                 f"got {None if c is None else tuple(c.shape)}")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas and self.num_ws is not None and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.w_avg_beta is None:
                raise ValueError("mapping: truncation needs w_avg, which this network does not track")
            cut = self.num_ws if truncation_cutoff is None else int(truncation_cutoff)
            x = torch.cat([self.w_avg.lerp(x[:, :cut], truncation_psi), x[:, cut:]], dim=1)
        return x
