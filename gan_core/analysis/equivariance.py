"""Equivariance metrics of the Alias-Free GAN paper (Karras et al. 2021, Sec. 3 and Appendix E).

For a generator with an input transform (StyleGAN3), equivariance to a transform ``t`` is
measured by comparing ``g(t(z))`` — the image generated with the Fourier-feature input moved by
``t`` — with ``t(g(z))`` — the untransformed image moved by the band-limited image operator:

* ``eqt``      integer translation: ``t`` uniform in [−1/8, 1/8]² of the image, rounded to whole
  pixels, compared with a pixel shift;
* ``eqt_frac`` sub-pixel translation: ``t`` uniform in [−1/8, 1/8]², compared with a Lanczos-3
  shift;
* ``eqr``      rotation: angle uniform in [−180°, 180°), ``rotate(g(z))`` compared with
  ``pseudo_rotate(g(t(z)))`` (the same band limit applied to both sides).

Each is a PSNR in dB with a signal range of 2 (images in [−1, 1]) over the valid-pixel mask, the
squared error and the mask pooled over all samples and channels:
``20·log10(2) − 10·log10(Σ mask·(a − b)² / Σ mask)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch

from gan_core.analysis.transforms import pseudo_rotate, rotate, translate_fractional, translate_integer

METRICS = ("eqt", "eqt_frac", "eqr")
METRIC_LABELS = {"eqt": "EQ-T", "eqt_frac": "EQ-T_frac", "eqr": "EQ-R"}
TRANSLATE_MAX = 0.125        # image units: translations uniform in [-1/8, 1/8] per axis
ROTATE_MAX_DEG = 180.0       # angles uniform in [-180°, 180°)
PEAK = 2.0                   # signal range of [-1, 1] images


class NotEquivariantModelError(ValueError):
    """The generator has no input transform, so there is nothing to measure."""


def require_input_transform(G, what: str = "this generator") -> None:
    if not getattr(G, "has_input_transform", False):
        family = getattr(G, "family", type(G).__name__)
        raise NotEquivariantModelError(
            f"equivariance needs a generator with an input transform (StyleGAN3-T/R); "
            f"{what} is a {family} model")


def parse_metrics(spec: str | Sequence[str]) -> list[str]:
    """``"eqt,eqr"`` or ``["eqt", "eqr"]`` -> validated, de-duplicated list in the given order."""
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in names if n]
    bad = [n for n in names if n not in METRICS]
    if bad or not names:
        raise ValueError(f"unknown equivariance metric {', '.join(bad) or '(none given)'}: "
                         f"choose from {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def psnr_db(sum_sq_err: float, sum_mask: float, peak: float = PEAK) -> float:
    """PSNR from pooled sums; ``inf`` for zero error, ``nan`` for an empty mask."""
    if sum_mask <= 0:
        return float("nan")
    mse = sum_sq_err / sum_mask
    if mse <= 0:
        return float("inf")
    return 20 * math.log10(peak) - 10 * math.log10(mse)


def sample_transform(metric: str, resolution: int, generator: torch.Generator | None = None) -> dict:
    """A random transform from the metric's distribution: ``{'translate': (tx, ty),
    'angle_deg': a}`` (image units, degrees)."""
    if metric not in METRICS:
        raise ValueError(f"unknown equivariance metric {metric!r}: choose from {', '.join(METRICS)}")
    u = torch.rand(2, generator=generator, dtype=torch.float64) * 2 - 1
    if metric == "eqr":
        return {"translate": (0.0, 0.0), "angle_deg": float(u[0]) * ROTATE_MAX_DEG}
    t = u * TRANSLATE_MAX
    if metric == "eqt":
        t = torch.round(t * resolution) / resolution
    return {"translate": (float(t[0]), float(t[1])), "angle_deg": 0.0}


def compare(metric: str, original: torch.Tensor, transformed: torch.Tensor, translate: Sequence[float],
            angle_deg: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(reference, candidate, mask)`` for one metric: ``reference = t(g(z))`` from ``original``
    [N, C, H, W], ``candidate`` = ``transformed`` (``g(t(z))``; pseudo-rotated for EQ-R), mask the
    product of the valid regions."""
    tx, ty = (float(v) for v in translate)
    if metric == "eqt":
        ref, mask = translate_integer(original, tx, ty)
        return ref, transformed, mask
    if metric == "eqt_frac":
        ref, mask = translate_fractional(original, tx, ty)
        return ref, transformed, mask
    if metric == "eqr":
        angle = math.radians(angle_deg)
        ref, m1 = rotate(original, angle)
        cand, m2 = pseudo_rotate(transformed, angle)
        return ref, cand, m1 * m2
    raise ValueError(f"unknown equivariance metric {metric!r}: choose from {', '.join(METRICS)}")


@dataclass
class EquivarianceSample:
    """One comparison for the app. ``psnr_db`` (float, dB); ``error`` [H, W] float32: mean over
    channels of |g(t(z)) − t(g(z))| inside the mask, 0 outside (units of the [-1, 1] image);
    ``mask`` [H, W] bool; ``reference`` t(g(z)) and ``candidate`` g(t(z)) [C, H, W] float32;
    the transform used (``translate`` image units, ``angle_deg`` degrees)."""
    metric: str
    psnr_db: float
    error: torch.Tensor
    mask: torch.Tensor
    reference: torch.Tensor
    candidate: torch.Tensor
    translate: tuple[float, float]
    angle_deg: float


@torch.no_grad()
def equivariance_sample(G, ws: torch.Tensor, metric: str = "eqt_frac", translate: Sequence[float] | None = None,
                        angle_deg: float | None = None, generator: torch.Generator | None = None,
                        original: torch.Tensor | None = None) -> EquivarianceSample:
    """Measure one latent: ``ws`` [1, num_ws, w_dim]. The transform is ``translate``/``angle_deg``
    when given (for ``eqt`` the translation is rounded to whole pixels), else drawn from the
    metric's distribution with ``generator``. ``original`` (optional, [1, C, H, W]) is g(z) if the
    caller has already rendered it with no input transform."""
    require_input_transform(G)
    if ws.ndim != 3 or ws.shape[0] != 1:
        raise ValueError(f"equivariance_sample takes ws of shape [1, num_ws, w_dim], got {tuple(ws.shape)}")
    res = int(G.img_resolution)
    drawn = sample_transform(metric, res, generator)
    if metric == "eqr":
        tr, ang = (0.0, 0.0), drawn["angle_deg"] if angle_deg is None else float(angle_deg)
    else:
        tr, ang = drawn["translate"] if translate is None else tuple(float(v) for v in translate), 0.0
        if metric == "eqt":
            tr = tuple(round(v * res) / res for v in tr)
    identity = G.user_transform_matrix((0.0, 0.0), 0.0)
    if original is None:
        original = G.synthesis(ws, input_transform=identity)
    transformed = G.synthesis(ws, input_transform=G.user_transform_matrix(tr, ang))
    ref, cand, mask = compare(metric, original.float(), transformed.float(), tr, ang)
    sq = (cand - ref).square() * mask
    err = ((cand - ref).abs() * mask).mean(dim=1)[0]
    return EquivarianceSample(metric=metric, psnr_db=psnr_db(float(sq.sum()), float(mask.sum())),
                              error=err.float().cpu(), mask=mask[0, 0].bool().cpu(), reference=ref[0].cpu(),
                              candidate=cand[0].cpu(), translate=(float(tr[0]), float(tr[1])),
                              angle_deg=float(ang))


@torch.no_grad()
def compute_equivariance(G, num: int, metrics: Iterable[str] = METRICS, seed: int = 0, batch: int = 4,
                         truncation_psi: float = 1.0, device: torch.device | str | None = None,
                         progress: Callable[[int], None] | None = None) -> dict[str, float]:
    """The pooled metrics over ``num`` random latents: ``{metric: PSNR dB}``.

    Latents z ~ N(0, I) (and a random class for conditional models) and the transforms come
    from one ``torch.Generator`` seeded with ``seed``, so a run is reproducible. ``progress`` is
    called with the number of samples finished after every batch."""
    require_input_transform(G)
    metrics = parse_metrics(list(metrics))
    if num < 1:
        raise ValueError(f"the number of samples must be at least 1, got {num}")
    if batch < 1:
        raise ValueError(f"the batch size must be at least 1, got {batch}")
    if device is None:
        tensors = list(G.parameters()) + list(G.buffers())
        device = tensors[0].device if tensors else torch.device("cpu")
    device = torch.device(device)
    gen = torch.Generator().manual_seed(int(seed))
    res = int(G.img_resolution)
    sums = {m: [0.0, 0.0] for m in metrics}
    identity = G.user_transform_matrix((0.0, 0.0), 0.0)
    done = 0
    while done < num:
        n = min(batch, num - done)
        # Draw per sample (z, class, one transform per metric), so the batch size does not change
        # which latents and transforms a seed gives.
        zs, classes, draws_by_metric = [], [], {m: [] for m in metrics}
        for _ in range(n):
            zs.append(torch.randn([G.z_dim], generator=gen))
            if getattr(G, "c_dim", 0):
                classes.append(int(torch.randint(G.c_dim, [1], generator=gen)))
            for m in metrics:
                draws_by_metric[m].append(sample_transform(m, res, gen))
        z = torch.stack(zs).to(device)
        c = None
        if classes:
            c = torch.nn.functional.one_hot(torch.tensor(classes), G.c_dim).to(device=device, dtype=torch.float32)
        ws = G.mapping(z, c, truncation_psi=truncation_psi)
        original = G.synthesis(ws, input_transform=identity).float()
        for m in metrics:
            draws = draws_by_metric[m]
            mats = torch.stack([G.user_transform_matrix(d["translate"], d["angle_deg"]) for d in draws])
            transformed = G.synthesis(ws, input_transform=mats).float()
            for i, d in enumerate(draws):
                ref, cand, mask = compare(m, original[i:i + 1], transformed[i:i + 1], d["translate"], d["angle_deg"])
                sums[m][0] += float(((cand - ref).square() * mask).sum(dtype=torch.float64))
                sums[m][1] += float(mask.sum(dtype=torch.float64))
        done += n
        if progress is not None:
            progress(n)
    return {m: psnr_db(*sums[m]) for m in metrics}
