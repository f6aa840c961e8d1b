"""Sliced Wasserstein distance (SWD) between two sets of images, a quality measure that needs no
pretrained network (so it works offline, on any resolution and on any dataset).

After Karras et al., "Progressive Growing of GANs" (ICLR 2018), section 5: each image is split
into a Laplacian pyramid (the finest level is the image minus a blurred, half-size copy brought
back up; the coarsest, 16², is the blurred image itself); from every level random 7×7
neighbourhoods are taken as descriptors (7·7·C numbers); the two sets of descriptors of a level
are compared with the sliced Wasserstein distance: projected on many random unit directions,
sorted, and the mean absolute difference of the sorted projections averaged over directions.
A small value at a fine level means the local detail (edges, texture) is distributed as in
the reference; at the coarse level, the layout and colours.

Our choices, stated because numbers are only comparable between runs of the same definition:
descriptors are normalized per level and channel with the mean and std of the *reference* set
(ProGAN normalized each set by its own statistics, which hides colour shifts), the pyramid
filter is the 5-tap binomial with mirrored borders going down and bilinear interpolation coming
up, and results are reported ×10³ as in the paper. Two halves of the same dataset give the
noise floor (``ganscope swd`` prints it when the dataset is large enough).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

PATCH = 7
MIN_RESOLUTION = 16
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def _blur_down(x: torch.Tensor) -> torch.Tensor:
    """Binomial blur (mirrored borders) and every second sample: [N, C, H, W] → [N, C, H/2, W/2]."""
    c = x.shape[1]
    k = _BINOMIAL.to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c, stride=2)   # both axes halved


def laplacian_pyramid(x: torch.Tensor, min_resolution: int = MIN_RESOLUTION) -> list[torch.Tensor]:
    """Levels of ``x`` [N, C, R, R] (R a power of two ≥ min_resolution), finest first: band-pass
    images ``x - up(down(x))`` down to ``min_resolution``, whose level is the blurred image itself.
    Adding the levels back up from the coarsest (``up`` = bilinear ×2) gives ``x`` again."""
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"laplacian_pyramid: expected square images [N, C, R, R], got {tuple(x.shape)}")
    res = x.shape[-1]
    if res < min_resolution or res & (res - 1):
        raise ValueError(f"laplacian_pyramid: the resolution must be a power of two ≥ {min_resolution}, got {res}")
    levels = []
    while x.shape[-1] > min_resolution:
        small = _blur_down(x)
        levels.append(x - _up(small))
        x = small
    levels.append(x)
    return levels


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def random_patches(level: torch.Tensor, per_image: int, generator: torch.Generator) -> torch.Tensor:
    """``per_image`` random 7×7 neighbourhoods of every image of ``level`` [N, C, h, w] as rows
    [N·per_image, C·49] (float32, channel-major)."""
    n, c, h, w = level.shape
    ys = torch.randint(0, h - PATCH + 1, (n, per_image), generator=generator)
    xs = torch.randint(0, w - PATCH + 1, (n, per_image), generator=generator)
    offs = torch.arange(PATCH)
    rows = (ys[..., None] + offs).view(n, per_image, PATCH, 1).expand(n, per_image, PATCH, PATCH)
    cols = (xs[..., None] + offs).view(n, per_image, 1, PATCH).expand(n, per_image, PATCH, PATCH)
    idx = torch.arange(n).view(n, 1, 1, 1).expand_as(rows)
    patches = level.float().permute(0, 2, 3, 1)[idx, rows, cols]           # [n, per_image, 7, 7, C]
    return patches.permute(0, 1, 4, 2, 3).reshape(n * per_image, c * PATCH * PATCH)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: int = 512, seed: int = 0) -> float:
    """Sliced Wasserstein distance between the point sets ``a`` [M, D] and ``b`` [M', D]: the mean,
    over ``directions`` random unit vectors, of the mean |difference| of the sorted projections
    (sets of different sizes are compared through the common quantiles of the smaller one)."""
    return sliced_wasserstein_many(a, [b], directions, seed)[0]


def sliced_wasserstein_many(a: torch.Tensor, others: list[torch.Tensor], directions: int = 512,
                            seed: int = 0, chunk: int = 64) -> list[float]:
    """``sliced_wasserstein(a, b)`` for every ``b`` of ``others``, projecting and sorting ``a``
    once per direction (the sort is most of the work)."""
    for b in [a, *others]:
        if b.ndim != 2 or b.shape[1] != a.shape[1] or b.shape[0] == 0:
            raise ValueError(f"sliced_wasserstein: expected non-empty point sets [M, {a.shape[1]}], got {tuple(b.shape)}")
    gen = torch.Generator().manual_seed(seed)
    totals = [0.0] * len(others)
    for start in range(0, directions, chunk):
        k = min(chunk, directions - start)
        d = torch.randn(k, a.shape[1], generator=gen, dtype=torch.float32)
        d = d / d.norm(dim=1, keepdim=True)
        pa = _sorted_projections(a, d)
        for i, b in enumerate(others):
            pb = _sorted_projections(b, d)
            m = min(pa.shape[1], pb.shape[1])
            totals[i] += float(np.abs(_quantiles(pa, m) - _quantiles(pb, m)).mean(axis=1).sum())
    return [t / directions for t in totals]


def _sorted_projections(x: torch.Tensor, d: torch.Tensor) -> np.ndarray:
    """[k, M]: the points projected on each of the k directions, each row sorted (NumPy's sort
    of contiguous float32 rows is about twice as fast as torch's here)."""
    return np.sort((d @ x.float().t()).contiguous().numpy(), axis=1)


def _quantiles(sorted_proj: np.ndarray, m: int) -> np.ndarray:
    """``m`` evenly spaced columns of row-sorted projections [k, M] (all of them when M == m)."""
    if sorted_proj.shape[1] == m:
        return sorted_proj
    idx = ((np.arange(m, dtype=np.float64) + 0.5) * sorted_proj.shape[1] / m).astype(np.int64)
    return sorted_proj[:, idx]


@dataclass
class PatchSet:
    """Descriptors of one image set, collected level by level as batches stream in."""

    per_image: int = 64
    seed: int = 0
    levels: list[list[torch.Tensor]] = field(default_factory=list)
    resolutions: list[int] = field(default_factory=list)
    count: int = 0

    def __post_init__(self) -> None:
        self._gen = torch.Generator().manual_seed(self.seed)

    def add(self, images: torch.Tensor) -> None:
        """A batch [B, C, R, R] (any value range, the same for every set compared)."""
        pyramid = laplacian_pyramid(images.float())
        if not self.levels:
            self.levels = [[] for _ in pyramid]
            self.resolutions = [lvl.shape[-1] for lvl in pyramid]
        elif [lvl.shape[-1] for lvl in pyramid] != self.resolutions:
            raise ValueError(f"all images of a set must have one size: {images.shape[-1]}² after "
                             f"{self.resolutions[0]}²")
        for store, lvl in zip(self.levels, pyramid):
            store.append(random_patches(lvl, self.per_image, self._gen))
        self.count += images.shape[0]

    def descriptors(self) -> list[torch.Tensor]:
        return [torch.cat(store) for store in self.levels]


def swd(reference: PatchSet, other: PatchSet, directions: int = 512, seed: int = 0) -> dict[str, float]:
    """SWD ×10³ per pyramid level (keys like ``"32"``, finest first) and their mean (``"mean"``)
    between ``other`` and ``reference``; both are normalized with the reference's statistics."""
    return swd_many(reference, [other], directions, seed)[0]


def swd_many(reference: PatchSet, others: list[PatchSet], directions: int = 512, seed: int = 0) -> list[dict[str, float]]:
    """``swd(reference, other)`` for each of ``others`` (the reference is sorted once)."""
    for other in [reference, *others]:
        if not other.count:
            raise ValueError("swd: every image set needs at least one image")
        if other.resolutions != reference.resolutions:
            raise ValueError(f"swd: the sets have different sizes ({reference.resolutions[0]}² and "
                             f"{other.resolutions[0]}²); resize one (--resolution)")
    out: list[dict[str, float]] = [{} for _ in others]
    per_level = [o.descriptors() for o in others]
    for li, (res, ref) in enumerate(zip(reference.resolutions, reference.descriptors())):
        c = ref.shape[1] // (PATCH * PATCH)
        per_channel = ref.view(ref.shape[0], c, PATCH * PATCH)
        mean = per_channel.mean(dim=(0, 2)).repeat_interleave(PATCH * PATCH)
        std = per_channel.std(dim=(0, 2)).clamp_min(1e-8).repeat_interleave(PATCH * PATCH)
        values = sliced_wasserstein_many((ref - mean) / std, [(d[li] - mean) / std for d in per_level],
                                         directions, seed)
        for o, v in zip(out, values):
            o[str(res)] = 1e3 * v
    for o in out:
        o["mean"] = float(np.mean([o[str(r)] for r in reference.resolutions]))
    return out
