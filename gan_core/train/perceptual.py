"""A perceptual (feature-matching) loss whose network the user supplies as a local weights file.

Nothing is downloaded. The file is a VGG-style ``features`` stack in torchvision's layout —
e.g. torchvision's own ``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth`` (the ``classifier.*``
tensors are ignored) or just its ``features.*`` tensors — read with
``torch.load(weights_only=True)``. The stack is inferred from the tensors: ``features.{i}.weight``
are 3×3 convolutions each followed by a ReLU; an index gap of 3 between two convolutions means a
2×2 max-pool after the ReLU (torchvision's numbering). The loss is the mean L1 distance of the
features after the last ReLU before each pool (and after the last one), on images mapped from
[-1, 1] to ImageNet-normalized RGB, after resizing them to at least ``min_size``.
"""
from __future__ import annotations

import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.io.errors import CheckpointError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FeatureNetwork(nn.Module):
    """VGG-style conv/ReLU/max-pool stack; ``forward(x)`` -> list of feature maps (one per stage)."""

    def __init__(self, convs: list[tuple[torch.Tensor, torch.Tensor, bool]], min_size: int = 64) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.pool_after: list[bool] = []
        for weight, bias, pool in convs:
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-1], padding=weight.shape[-1] // 2)
            with torch.no_grad():
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
            self.convs.append(conv)
            self.pool_after.append(pool)
        self.min_size = int(min_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        """img [N, 3, H, W] in about [-1, 1] -> feature maps after each stage."""
        x = ((img + 1) / 2 - self.mean) / self.std
        if x.shape[-1] < self.min_size:
            x = F.interpolate(x, size=(self.min_size, self.min_size), mode="bilinear", align_corners=False)
        feats = []
        for conv, pool in zip(self.convs, self.pool_after):
            x = F.relu(conv(x))
            if pool:
                feats.append(x)
                x = F.max_pool2d(x, 2)
        if not self.pool_after or not self.pool_after[-1]:
            feats.append(x)
        return feats


def load_feature_network(path: str | os.PathLike, max_stages: int = 4, min_size: int = 64) -> FeatureNetwork:
    """The feature network in ``path`` (see module doc), cut after ``max_stages`` pooling stages."""
    path = os.fspath(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError("no such file (the perceptual feature network's weights)", path) from None
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"is not a readable weights file for the perceptual loss ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:200]})", path) from None
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    idx = sorted(int(m.group(1)) for k in (sd if isinstance(sd, dict) else {})
                 for m in [re.match(r"^(?:module\.)?features\.(\d+)\.weight$", str(k))] if m)
    if not idx:
        raise CheckpointError("holds no VGG-style features.N.weight tensors; the perceptual loss needs a "
                              "torchvision VGG weights file (e.g. vgg16-397923af.pth)", path)
    prefix = "module.features." if f"module.features.{idx[0]}.weight" in sd else "features."
    convs = []
    stages = 0
    for n, i in enumerate(idx):
        w, b = sd.get(f"{prefix}{i}.weight"), sd.get(f"{prefix}{i}.bias")
        if not isinstance(w, torch.Tensor) or w.ndim != 4 or not isinstance(b, torch.Tensor) \
                or b.shape != w.shape[:1] or (convs and convs[-1][0].shape[0] != w.shape[1]):
            raise CheckpointError(f"tensor features.{i} is not a convolution that fits the previous layer "
                                  f"(shape {None if w is None else list(w.shape)})", path)
        if not convs and w.shape[1] != 3:
            raise CheckpointError(f"the first convolution takes {w.shape[1]} channels, not RGB", path)
        pool = n + 1 < len(idx) and idx[n + 1] - i == 3
        convs.append((w.float(), b.float(), pool))
        if pool:
            stages += 1
            if stages >= max_stages:
                break
    return FeatureNetwork(convs, min_size=min_size)


class PerceptualLoss(nn.Module):
    """``loss(a, b)`` = mean over stages of mean |f(a) - f(b)| (a, b: [N, 3, H, W] in [-1, 1])."""

    def __init__(self, net: FeatureNetwork) -> None:
        super().__init__()
        self.net = net

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa, fb = self.net(a), self.net(b.detach())
        return sum(F.l1_loss(x, y) for x, y in zip(fa, fb)) / len(fa)
