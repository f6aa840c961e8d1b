"""Fréchet and kernel Inception distances with a local Inception weights file.

FID (Heusel et al. 2017) compares the mean and covariance of 2048-d Inception-v3 pool features
of two image sets:

    FID = |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½)

It is biased: with few images it comes out high. KID (Bińkowski et al. 2018) is the unbiased
estimate of the squared maximum mean discrepancy of the same features under the kernel
k(x, y) = (x·y/d + 1)³, averaged over random subsets (100 of up to 1000 images, as the official
StyleGAN metrics and torch-fidelity take them) — the measure to use with a few hundred images.

Nothing is downloaded: the weights are the file ``pt_inception-2015-12-05-6726825d.pth`` of
pytorch-fid (the TensorFlow FID Inception graph of 2015-12-05 converted to a PyTorch state
dict), which the user points to (``--inception FILE`` or ``GANSCOPE_INCEPTION``). It is read as
plain tensors (``weights_only``), never run as code.

The network is Inception v3 (Szegedy et al. 2016) up to its final average pool, written here
from the architecture, with the four differences of the TensorFlow FID graph that pytorch-fid
documents: the average-pool branches of the 35², 17² and first 8² blocks leave the zero padding
out of their means, and the last block pools its branch with a max pool. Images go in as uint8
values (generated images converted as when they are saved as PNGs), are resized to
299² bilinearly (``align_corners=False``) and scaled to [-1, 1] — pytorch-fid's input path, so
the values are pytorch-fid's FIDs. The official StyleGAN metrics resize inside TensorFlow's graph
and give slightly different numbers; compare FIDs measured the same way.

    net = load_inception("pt_inception-2015-12-05-6726825d.pth")
    a, b = FeatureStats(), FeatureStats()
    a.add(inception_features(net, reals_uint8)); b.add(inception_features(net, fakes_uint8))
    fid = frechet_distance(*a.mean_cov(), *b.mean_cov())
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FEATURES = 2048
INPUT_SIZE = 299
WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
ENV = "GANSCOPE_INCEPTION"


class InceptionError(ValueError):
    """The Inception weights file is missing or not a FID Inception state dict."""


class _Conv(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU: Inception's basic unit."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's 'SAME' average pool: padded positions are not counted in the mean
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _Block35(nn.Module):
    """35² block (Mixed_5b–5d): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1."""

    def __init__(self, cin: int, pool: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = _Conv(cin, 48, 1), _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(_avg_pool_same(x))], 1)


class _Reduce35(nn.Module):
    """35² → 17² (Mixed_6a): 3×3/2 | 1×1→3×3→3×3/2 | max-pool/2."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, stride=2)], 1)


class _Block17(nn.Module):
    """17² block (Mixed_6b–6e) with factorized 7×7 convolutions."""

    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1 = _Conv(cin, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg_pool_same(x))], 1)


class _Reduce17(nn.Module):
    """17² → 8² (Mixed_7a): 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool/2."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = _Conv(cin, 192, 1), _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class _Block8(nn.Module):
    """8² block (Mixed_7b, 7c) with split 1×3 / 3×1 outputs; ``max_pool``: the last block's pool
    branch (the TensorFlow graph max-pools there)."""

    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _Conv(cin, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool_same(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
                          self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d), self.branch_pool(pooled)], 1)


class InceptionFeatures(nn.Module):
    """FID Inception v3 up to the 2048-d pool features. Parameter names are those of the
    pytorch-fid weights file (torchvision's Inception3 names), so it loads as it is."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = _Block35(192, 32), _Block35(256, 64), _Block35(288, 64)
        self.Mixed_6a = _Reduce35(288)
        self.Mixed_6b, self.Mixed_6c = _Block17(768, 128), _Block17(768, 160)
        self.Mixed_6d, self.Mixed_6e = _Block17(768, 160), _Block17(768, 192)
        self.Mixed_7a = _Reduce17(768)
        self.Mixed_7b, self.Mixed_7c = _Block8(1280, max_pool=False), _Block8(2048, max_pool=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [N, 3, 299, 299] in [-1, 1] → [N, 2048]."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))


def resolve_weights_path(path: str | os.PathLike | None) -> Path:
    """``path``, else ``$GANSCOPE_INCEPTION``; an InceptionError saying where to get it if neither."""
    chosen = path if path else os.environ.get(ENV)
    if not chosen:
        raise InceptionError(f"FID needs the Inception weights file {WEIGHTS_NAME} (pytorch-fid's; nothing is "
                             f"downloaded): give it with --inception FILE or set {ENV}")
    p = Path(chosen).expanduser()
    if not p.is_file():
        raise InceptionError(f"Inception weights {p}: no such file")
    return p


def load_inception(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> InceptionFeatures:
    """The FID Inception with the weights of ``path`` (default ``$GANSCOPE_INCEPTION``), in eval
    mode on ``device``. The file is read as tensors only (``weights_only``); the classifier's
    weights (``fc.*``, 1008 classes) are not needed and are ignored."""
    p = resolve_weights_path(path)
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise InceptionError(f"Inception weights {p}: not a PyTorch state dict ({type(e).__name__}: {e})") from None
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise InceptionError(f"Inception weights {p}: expected a state dict, found {type(sd).__name__}")
    net = InceptionFeatures()
    want = net.state_dict()
    sd = {k: v for k, v in sd.items() if not str(k).startswith(("fc.", "AuxLogits."))}
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want]
    wrong = [k for k in want if k in sd and tuple(sd[k].shape) != tuple(want[k].shape)]
    if missing or extra or wrong:
        detail = (f"{len(missing)} missing (e.g. {missing[0]})" if missing else
                  f"{len(extra)} unexpected (e.g. {extra[0]})" if extra else
                  f"{wrong[0]} has shape {tuple(sd[wrong[0]].shape)}, expected {tuple(want[wrong[0]].shape)}")
        raise InceptionError(f"Inception weights {p}: not the FID Inception v3 ({WEIGHTS_NAME}) — {detail}")
    net.load_state_dict(sd)
    return net.eval().requires_grad_(False).to(device)


@torch.no_grad()
def inception_features(net: InceptionFeatures, images: torch.Tensor) -> torch.Tensor:
    """2048-d features (float64, CPU) of ``images`` [N, C, H, W] holding uint8 values 0…255 (any
    dtype; grey images count as RGB)."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images [N, 1 or 3, H, W], got {tuple(images.shape)}")
    device = next(net.parameters()).device
    x = images.to(device, torch.float32)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = x / 255
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return net(2 * x - 1).double().cpu()


class FeatureStats:
    """Running mean and covariance of features (float64 sums), and the first ``keep`` features
    themselves (float32) for KID: the images come in seed order, so they are a random sample."""

    def __init__(self, dim: int = FEATURES, keep: int = 10000) -> None:
        self.n = 0
        self.keep = int(keep)
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)
        self._kept: list[torch.Tensor] = []
        self._root: np.ndarray | None = None

    def add(self, features: torch.Tensor) -> None:
        self._root = None
        f = features.double().cpu()
        room = self.keep - min(self.n, self.keep)
        if room > 0:
            self._kept.append(f[:room].float())
        self.n += f.shape[0]
        self.sum += f.sum(0)
        self.outer += f.t() @ f

    def features(self) -> np.ndarray:
        """The kept features [min(n, keep), dim] (float32)."""
        if not self._kept:
            return np.zeros((0, self.sum.shape[0]), np.float32)
        return torch.cat(self._kept).numpy()

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """(μ, Σ) with the unbiased covariance (as numpy.cov)."""
        if self.n < 2:
            raise ValueError(f"FID needs at least 2 images per set, got {self.n}")
        mu = self.sum / self.n
        cov = (self.outer - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return mu.numpy(), cov.numpy()

    def cov_root(self) -> np.ndarray:
        """Σ^½, kept until more features come (a training run's reference set is compared with
        every snapshot: one eigendecomposition of 2048² for the whole run)."""
        if self._root is None:
            self._root = _psd_sqrt(self.mean_cov()[1])
        return self._root

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        return {"n": self.n, "sum": self.sum.clone(), "outer": self.outer.clone(), "keep": self.keep,
                "features": torch.from_numpy(self.features().copy())}

    @classmethod
    def from_state(cls, state: dict) -> "FeatureStats":
        s = cls(int(state["sum"].shape[0]), keep=int(state.get("keep", 10000)))
        s.n, s.sum, s.outer = int(state["n"]), state["sum"].double(), state["outer"].double()
        if state.get("features") is not None and len(state["features"]):
            s._kept = [state["features"].float()]
        return s


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½ for covariance matrices Σ (symmetric PSD).

    tr (Σ₁ Σ₂)^½ is the sum of the square roots of the eigenvalues of Σ₁^½ Σ₂ Σ₁^½ (similar to
    Σ₁ Σ₂, and symmetric PSD), which needs no general matrix square root and stays real."""
    mu1, s1 = np.asarray(mu1, np.float64), np.asarray(sigma1, np.float64)
    if s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: μ {mu1.shape}, Σ {s1.shape}")
    return _frechet(mu1, s1, _psd_sqrt(s1), mu2, sigma2)


def _frechet(mu1: np.ndarray, s1: np.ndarray, root1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    mu2, s2 = np.asarray(mu2, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ValueError(f"mismatched statistics: μ {mu1.shape} / {mu2.shape}, Σ {s1.shape} / {s2.shape}")
    m = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def fid_many(reference: FeatureStats, others: Sequence[FeatureStats]) -> list[float]:
    """FID of each of ``others`` to ``reference`` (the reference's Σ^½ is computed once)."""
    mu_r, cov_r = reference.mean_cov()
    root = reference.cov_root()
    return [_frechet(mu_r, cov_r, root, *o.mean_cov()) for o in others]


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """(mean, standard deviation) over ``subsets`` of the unbiased MMD² estimate between random
    subsets of ``min(subset_size, len(a), len(b))`` rows of ``a`` and of ``b`` (drawn without
    replacement, ``a``'s then ``b``'s, from ``numpy.random.RandomState(seed)``), with the cubic
    polynomial kernel (x·y/d + 1)³:

        MMD² = (Σ_{i≠j} k(aᵢ, aⱼ) + Σ_{i≠j} k(bᵢ, bⱼ)) / (m(m−1)) − 2 Σ_{i,j} k(aᵢ, bⱼ) / m²"""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"mismatched features: {a.shape} / {b.shape}")
    m = min(int(subset_size), len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 images per set, got {len(a)} and {len(b)}")
    d = a.shape[1]
    rng = np.random.RandomState(seed)
    values = np.empty(int(subsets))
    for i in range(int(subsets)):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        within = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)
        values[i] = within / (m * (m - 1)) - 2 * kxy.sum() / (m * m)
    return float(values.mean()), float(values.std())


def kid_many(reference: FeatureStats, others: Sequence[FeatureStats], **kwargs) -> list[tuple[float, float]]:
    """KID (mean, std) of each of ``others`` to ``reference`` from their kept features."""
    ref = reference.features()
    return [kernel_inception_distance(o.features(), ref, **kwargs) for o in others]


__all__ = ["ENV", "FeatureStats", "InceptionError", "InceptionFeatures", "WEIGHTS_NAME", "fid_many",
           "frechet_distance", "inception_features", "kernel_inception_distance", "kid_many", "load_inception",
           "resolve_weights_path"]
