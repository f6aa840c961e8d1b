"""Seeds, latent vectors and seed lists, with the official tools' conventions."""
from __future__ import annotations

import math
import re

import numpy as np
import torch


def z_from_seed(seed: int, z_dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[1, z_dim]`` float32: ``numpy.random.RandomState(seed).randn(1, z_dim)`` — the same z the
    official generator scripts draw for a seed."""
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed {seed} is out of range: seeds are integers in 0..{2**32 - 1}")
    z = np.random.RandomState(int(seed)).randn(1, z_dim)
    return torch.from_numpy(z).to(torch.float32).to(device)


def zs_from_seeds(seeds: list[int], z_dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[len(seeds), z_dim]`` float32, one row per seed."""
    return torch.cat([z_from_seed(s, z_dim, device) for s in seeds]) if seeds else torch.zeros([0, z_dim])


def cs_from_seeds(seeds: list[int], c_dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[len(seeds), c_dim]`` one-hot labels, the class of seed ``s`` being
    ``numpy.random.RandomState(s).randint(c_dim)``: where a conditional model is sampled without a
    class (metrics, sample grids), each seed brings its own, uniformly over the classes.
    ``[len(seeds), 0]`` for an unconditional model."""
    c = torch.zeros([len(seeds), int(c_dim)])
    if c_dim:
        idx = torch.tensor([int(np.random.RandomState(int(s)).randint(int(c_dim))) for s in seeds], dtype=torch.long)
        c[torch.arange(len(seeds)), idx] = 1
    return c.to(device)


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


def parse_int_list(text: str, what: str = "seeds", limit: int = 100_000) -> list[int]:
    """``'0-3,7'`` -> ``[0, 1, 2, 3, 7]`` (inclusive ranges, order kept)."""
    out: list[int] = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        m = _RANGE.match(part)
        if not m:
            raise ValueError(f"cannot read {what} {text!r}: expected numbers and ranges like 0-3,7")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ValueError(f"cannot read {what} {text!r}: range {lo}-{hi} runs backwards")
        if len(out) + hi - lo + 1 > limit:
            raise ValueError(f"too many {what} in {text!r} (more than {limit})")
        out.extend(range(lo, hi + 1))
    if not out:
        raise ValueError(f"no {what} given in {text!r}")
    return out


def parse_float_pair(text: str, what: str) -> tuple[float, float]:
    """``'0.1,-0.05'`` -> ``(0.1, -0.05)``."""
    parts = [p for p in str(text).split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"cannot read {what} {text!r}: expected two numbers like 0.1,-0.05") from None


def mixing_groups(ws_resolutions: list[int]) -> dict[str, list[int]]:
    """w indices per group. Power-of-two pyramids (StyleGAN1/2) use the StyleGAN paper's split:
    coarse 4²-8², middle 16²-32², fine 64² and up; otherwise (StyleGAN3's non-power-of-two
    sizes, or a pyramid too small for the split) the ws are cut into thirds in order."""
    n = len(ws_resolutions)
    pow2 = all(r > 0 and r & (r - 1) == 0 for r in ws_resolutions)
    if pow2:
        groups = {"coarse": [i for i, r in enumerate(ws_resolutions) if r <= 8],
                  "middle": [i for i, r in enumerate(ws_resolutions) if 16 <= r <= 32],
                  "fine": [i for i, r in enumerate(ws_resolutions) if r >= 64]}
        if all(groups.values()):
            return groups
    a, b = math.ceil(n / 3), math.ceil(2 * n / 3)
    return {"coarse": list(range(0, a)), "middle": list(range(a, b)), "fine": list(range(b, n))}


def parse_style_layers(text: str, ws_resolutions: list[int]) -> list[int]:
    """``'coarse'``/``'middle'``/``'fine'``/``'all'`` (the groups of :func:`mixing_groups`) or w
    indices like ``'0-3,6'`` -> sorted w indices that exist in a model with these ws."""
    n = len(ws_resolutions)
    name = str(text).strip().lower()
    if name == "all":
        return list(range(n))
    groups = mixing_groups(ws_resolutions)
    if name in groups:
        return groups[name]
    if "+" in name and all(part in groups for part in name.split("+")):
        return sorted({i for part in name.split("+") for i in groups[part]})
    try:
        layers = parse_int_list(text, "style layers")
    except ValueError:
        raise ValueError(f"cannot read style layers {text!r}: give coarse, middle, fine, all "
                         f"(or joined like coarse+middle) or w indices like 0-3,6") from None
    bad = sorted({i for i in layers if i >= n})
    if bad:
        shown = ", ".join(map(str, bad[:6])) + (f", ... ({len(bad)} in all)" if len(bad) > 6 else "")
        raise ValueError(f"style layers {shown} do not exist: this model has ws 0..{n - 1}")
    return sorted(set(layers))


def mix_ws(ws_rows: torch.Tensor, ws_cols: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """``[R, C, num_ws, w_dim]``: row r's ws with ``layers`` replaced by column c's."""
    R, C = len(ws_rows), len(ws_cols)
    out = ws_rows[:, None].expand(R, C, *ws_rows.shape[1:]).clone()
    if layers:
        idx = torch.tensor(layers, device=ws_rows.device)
        out[:, :, idx] = ws_cols[None, :, idx].expand(R, C, len(layers), ws_cols.shape[-1])
    return out
