"""The FID / KID parity fixture: pytorch-fid's own network and Fréchet distance on deterministic
weights, and torch-fidelity's KID on deterministic features (no real Inception weights are
needed, none are downloaded).

``deterministic_inception_weights`` makes a full FID Inception state dict (the layout of
pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``, classifier included) from a seed per
parameter name. Run this file once, where torchvision and pytorch-fid are installed, to write
``data/fid_reference.pt``: pytorch-fid's features of fixed images and its Fréchet distance of two
fixed sets of statistics, torch-fidelity's KID of two fixed feature sets. ``test_fid.py`` checks
ganscope's network and distances against them.

    pip install torchvision pytorch-fid torch-fidelity && python tests/gan_core/analysis/fid_reference.py
"""
from __future__ import annotations

import zlib
from pathlib import Path

import torch

FIXTURE = Path(__file__).parent / "data" / "fid_reference.pt"


def deterministic_inception_weights(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Weights for every name in ``shapes``, each from a generator seeded by the name: He-scaled
    convolutions, batch norms near identity (so 90-odd layers stay in range), a small classifier."""
    out = {}
    for name, shape in shapes.items():
        g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        if name.endswith("num_batches_tracked"):
            out[name] = torch.zeros((), dtype=torch.long)
        elif name.endswith("conv.weight"):
            fan_in = 1
            for d in shape[1:]:
                fan_in *= d
            out[name] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif name.endswith("bn.weight"):
            out[name] = 1 + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith(("bn.bias", "running_mean")):
            out[name] = 0.1 * torch.randn(shape, generator=g)
        elif name.endswith("running_var"):
            out[name] = 1 + 0.5 * torch.rand(shape, generator=g)
        elif name.startswith("fc."):
            out[name] = 0.01 * torch.randn(shape, generator=g)
        else:
            raise KeyError(f"unexpected parameter {name}")
    return out


def write_weights_file(path: Path) -> Path:
    """A file laid out as pt_inception-2015-12-05-6726825d.pth (classifier included), holding the
    deterministic weights (what a user's real file would be, for the tests)."""
    from gan_core.analysis.fid import InceptionFeatures

    shapes = {k: tuple(v.shape) for k, v in InceptionFeatures().state_dict().items()}
    shapes.update({"fc.weight": (1008, 2048), "fc.bias": (1008,)})
    torch.save(deterministic_inception_weights(shapes), path)
    return path


def fixed_images() -> list[torch.Tensor]:
    """uint8-valued float images [N, 3, R, R]: two 32² and one 64² (both are resized to 299²)."""
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, 256, (2, 3, 32, 32), generator=g).float(),
            torch.randint(0, 256, (1, 3, 64, 64), generator=g).float()]


def fixed_statistics():
    """Two (μ, Σ) pairs of dimension 64, Σ of rank 64 and 40 (a singular one, as with fewer
    images than features)."""
    g = torch.Generator().manual_seed(2)
    a = torch.randn(200, 64, generator=g, dtype=torch.float64)
    b = torch.randn(40, 64, generator=g, dtype=torch.float64) @ torch.randn(64, 64, generator=g, dtype=torch.float64)
    stats = []
    for x in (a, b + 0.3):
        mu = x.mean(0)
        stats.append((mu.numpy(), ((x - mu).T @ (x - mu) / (x.shape[0] - 1)).numpy()))
    return stats


def fixed_features():
    """Two feature sets (120 and 100 rows of dimension 64, float64) for KID."""
    g = torch.Generator().manual_seed(3)
    a = torch.randn(120, 64, generator=g, dtype=torch.float64)
    b = 0.9 * torch.randn(100, 64, generator=g, dtype=torch.float64) + 0.1
    return a.numpy(), b.numpy()


KID_ARGS = dict(subsets=10, subset_size=50, seed=123)


def main() -> None:
    import numpy as np

    torch.library.register_fake = lambda *a, **k: (lambda f: f)   # a torchvision wheel built for another torch
    import torchvision
    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import calculate_frechet_distance

    template = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    shapes = {k: tuple(v.shape) for k, v in template.state_dict().items()}
    weights = deterministic_inception_weights(shapes)
    pfi.load_state_dict_from_url = lambda *a, **k: weights     # instead of the download
    net = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    feats = []
    with torch.no_grad():
        for imgs in fixed_images():
            feats.append(net(imgs / 255)[0].squeeze(-1).squeeze(-1).double())
    (m1, s1), (m2, s2) = fixed_statistics()
    fid = float(calculate_frechet_distance(m1, s1, m2, s2))
    from torch_fidelity.metric_kid import kid_features_to_metric
    fa, fb = fixed_features()
    kid = kid_features_to_metric(torch.from_numpy(fa), torch.from_numpy(fb), kid_subsets=KID_ARGS["subsets"],
                                 kid_subset_size=KID_ARGS["subset_size"], rng_seed=KID_ARGS["seed"], verbose=False)
    FIXTURE.parent.mkdir(exist_ok=True)
    torch.save({"features": torch.cat(feats), "fid_fixed_statistics": fid,
                "kid_fixed_features": [kid["kernel_inception_distance_mean"], kid["kernel_inception_distance_std"]],
                "made_with": f"pytorch-fid 0.3.0, torch-fidelity 0.4.0, torchvision {torchvision.__version__}, "
                             f"torch {torch.__version__}",
                "feature_abs_mean": float(torch.cat(feats).abs().mean())}, FIXTURE)
    print(f"wrote {FIXTURE}: features {tuple(torch.cat(feats).shape)}, |f| mean "
          f"{float(torch.cat(feats).abs().mean()):.4g}, FID of the fixed statistics {fid:.6f}; numpy {np.__version__}")


if __name__ == "__main__":
    main()
