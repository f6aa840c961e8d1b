"""The built-in demo model, used when no checkpoint is given (``--network demo``).

``assets/demo_generator.pt`` is a small StyleGAN3-T trained by ganscope on its procedural
dataset (how: assets/README.md, ``ganscope info demo``). Should an installation lack the file,
a small StyleGAN3-T is built deterministically at start-up instead: its weights are random, so
it is labelled "untrained", but its running statistics (w_avg and each layer's magnitude EMA)
are measured on a few batches, as training would, and its output colours are balanced, so it
uses the full colour range and every control of the app visibly does something.
"""
from __future__ import annotations

from pathlib import Path

import torch

DEMO_NAME = "demo"


def _assets_folder() -> Path:
    """``assets/`` of the checkout (an editable install), else the copy a wheel installs under
    ``<prefix>/share/ganscope/assets`` (pyproject's data-files)."""
    import sys
    checkout = Path(__file__).resolve().parents[2] / "assets"
    installed = Path(sys.prefix) / "share" / "ganscope" / "assets"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


ASSETS = _assets_folder()
DEMO_CHECKPOINT = ASSETS / "demo_generator.pt"
# Further built-in models, by name (trained ones shipped in assets/; see assets/README.md).
NAMED_DEMOS = {"demo-sg2": ASSETS / "demo_stylegan2.pt"}

DEMO_CONFIG = dict(z_dim=64, c_dim=0, w_dim=64, img_resolution=64, img_channels=3,
                   mapping_kwargs=dict(num_layers=2), channel_base=4096, channel_max=128,
                   num_fp16_res=0, magnitude_ema_beta=0.5)


def is_demo_name(name: str | Path) -> bool:
    return str(name) == DEMO_NAME or str(name) in NAMED_DEMOS


def demo_file(name: str) -> Path | None:
    """The shipped file behind the built-in model ``name``, or None while none is shipped."""
    path = NAMED_DEMOS.get(str(name), DEMO_CHECKPOINT if str(name) == DEMO_NAME else None)
    return path if path is not None and path.exists() else None


@torch.no_grad()
def build_untrained_demo(seed: int = 0, calibration_batches: int = 4) -> torch.nn.Module:
    """A deterministic, calibrated, untrained 64² StyleGAN3-T (``G.untrained`` is True)."""
    from gan_core.models.stylegan3 import Generator

    rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        G = Generator(**DEMO_CONFIG)
        gen = torch.Generator().manual_seed(seed)
        G.mapping.w_avg.copy_(G.mapping(torch.randn([2048, G.z_dim], generator=gen), None)[:, 0].mean(0))
        for _ in range(calibration_batches):
            ws = G.mapping(torch.randn([4, G.z_dim], generator=gen), None)
            G.synthesis(ws, update_emas=True)
        _balance_colours(G, torch.randn([16, G.z_dim], generator=gen))
    finally:
        torch.random.set_rng_state(rng_state)
    G.untrained = True
    return G.eval().requires_grad_(False)


def _balance_colours(G: torch.nn.Module, z: torch.Tensor, target_std: float = 0.5) -> None:
    """Give each output channel zero mean and ``target_std`` spread over ``z``.

    Random toRGB weights leave one colour dominating; the last layer is a linear 1×1
    conv (no demodulation), so scaling its per-channel weights and shifting its bias
    sets the mean and spread exactly, without touching what the earlier layers draw.
    """
    torgb = dict(G.named_modules())[G.layer_names()[-1]]
    img = G.synthesis(G.mapping(z, None))
    mean, std = img.mean(dim=[0, 2, 3]), img.std(dim=[0, 2, 3]).clamp_min(1e-6)
    scale = G.synthesis.output_scale
    k = target_std / std
    pre_bias_mean = mean / scale - torgb.bias
    torgb.weight.mul_(k.view(-1, 1, 1, 1))
    torgb.bias.copy_(-k * pre_bias_mean)


def load_demo_generator(device: torch.device | str = "cpu", name: str = DEMO_NAME) -> torch.nn.Module:
    """The built-in model ``name``: "demo" is the shipped trained StyleGAN3-T demo model if present,
    else the untrained built one; "demo-sg2" the shipped StyleGAN2 trained on the procedural data."""
    if name in NAMED_DEMOS:
        from gan_core.io import load_generator_from_file
        path = NAMED_DEMOS[name]
        if not path.exists():
            raise FileNotFoundError(f"the built-in model {name!r} is not in this installation ({path} is missing)")
        G = load_generator_from_file(path, device=device)
        G.untrained = False
        return G
    if DEMO_CHECKPOINT.exists():
        from gan_core.io import load_generator_from_file
        G = load_generator_from_file(DEMO_CHECKPOINT, device=device)
        G.untrained = False
        return G
    return build_untrained_demo().to(device)
