"""Give a trained StyleGAN3 generator more channels without changing what it draws.

A run that has stopped improving at a small width can go on wider from where it is, keeping the
discriminator it grew up with (a new D swapped in late fails: docs/notes/training.md, the fifth
try). ``widen_stylegan3`` builds the wider generator (``channel_base`` / ``channel_max``) and
copies the trained weights into it so that its images are the narrower one's:

* each new channel of a layer starts as a copy of one of the layer's old channels (each old one
  copied at most once while there are enough, plus 1 % noise so copy and source part ways), so it
  computes something from the start and its size matches the old channels';
* the weights *from* new channels into old ones are zero, so they add nothing until training
  moves them (their gradients are not zero, because the new channels are not);
* demodulation normalizes each output channel over its inputs, and zero weights add nothing to
  that norm, so old channels are unchanged; where a weight gain depends on the fan-in (the
  Fourier features' mixing matrix, the toRGB styles) the old weights are rescaled to keep it.

A layer's input gain follows a slow running mean of its input's square over all channels
(``magnitude_ema``). It is kept at the narrower run's value, so the images are the same at the
start; because the new channels are copies, the mean moves little when it next updates (on the
247-kimg demo run widened from 64 to 96 channels, the mean square over all channels was within
15 % of the old channels' in every layer).

``widen_optimizer_state`` carries the optimizer's moments over (old entries rescaled with their
weights; new entries start with no momentum and the mean second moment of their tensor, so their
first Adam steps are not oversized), and ``widen_on_resume`` does both for a run's snapshot
when ``ganscope train --resume RUN`` is given a larger ``--cbase`` / ``--cmax``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["widen_stylegan3", "widen_optimizer_state", "widen_on_resume", "Grown"]


@dataclass(frozen=True)
class Grown:
    """How a parameter of the wider generator holds its narrower counterpart: the old tensor,
    times ``scale``, sits at ``[:old_shape[0], :old_shape[1], ...]``; the rest is new."""
    old_name: str
    old_shape: tuple[int, ...]
    scale: float


NOISE = 0.01


def _block(shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(0, n) for n in shape)


def widen_stylegan3(G: torch.nn.Module, channel_base: int, channel_max: int,
                    seed: int = 0) -> tuple[torch.nn.Module, dict[str, Grown]]:
    """``(wider G, {new parameter name: Grown})`` for a StyleGAN3 generator.

    No layer may get fewer channels than it has. The new entries are drawn with ``seed``: widen G
    and G_ema with the same seed and they start equal in the new channels.
    """
    if getattr(G, "family", None) != "stylegan3":
        raise ValueError(f"widening needs a StyleGAN3 generator, not {getattr(G, 'family', type(G).__name__)}")
    cfg = {**G.config(), "channel_base": int(channel_base), "channel_max": int(channel_max)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        W = type(G)(**cfg)
    old_layers = [G.synthesis.input, *G.synthesis.layers()]
    new_layers = [W.synthesis.input, *W.synthesis.layers()]
    for i, (a, b) in enumerate(zip(old_layers[1:], new_layers[1:])):
        if b.out_channels < a.out_channels:
            raise ValueError(f"channel_base {channel_base} / channel_max {channel_max} would give layer {i} "
                             f"{b.out_channels} channels, fewer than its {a.out_channels}")
    grown: dict[str, Grown] = {}
    old_names = {id(p): n for n, p in G.named_parameters()}
    new_names = {id(p): n for n, p in W.named_parameters()}
    rng = torch.Generator().manual_seed(seed)

    def sources(old: int, new: int) -> torch.Tensor:
        """Which old channel each new one starts as a copy of (distinct ones while they last)."""
        if new == old:
            return torch.zeros([0], dtype=torch.long)
        return torch.cat([torch.randperm(old, generator=rng) for _ in range(-(-(new - old) // old))])[:new - old]

    def noise_like(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        # breaks the tie between a copied channel and its source (1 % of the weights' RMS)
        return torch.randn(t.shape, generator=rng) * (NOISE * float(ref.detach().square().mean().sqrt()))

    def grow(new: torch.Tensor, old: torch.Tensor, scale: float, rows: torch.Tensor | None,
             new_inputs: bool = False) -> None:
        """new = [old; old[rows]] * scale, or with ``new_inputs`` (a weight whose inputs grew too)
        [[old, 0], [old[rows] + noise, noise]] * scale; ``rows``: the copied channels' sources."""
        o = old.detach().float() * scale
        r0 = o.shape[0]
        new.zero_()
        if new_inputs:                        # old rows take nothing from the new inputs
            c0 = o.shape[1]
            new[:r0, :c0] = o
            if rows is not None and len(rows):
                new[r0:, :c0] = o[rows] + noise_like(o[rows], o)
                new[r0:, c0:] = noise_like(new[r0:, c0:], o)
        else:
            new[:r0] = o
            if rows is not None and len(rows):
                new[r0:] = o[rows]
        grown[new_names[id(new)]] = Grown(old_names[id(old)], tuple(old.shape), float(scale))

    with torch.no_grad():
        W.mapping.load_state_dict(G.mapping.state_dict())
        for n, p in W.mapping.named_parameters():
            grown[f"mapping.{n}"] = Grown(f"mapping.{n}", tuple(p.shape), 1.0)
        for name in ("w_avg",):
            if hasattr(G, name) and hasattr(W, name):
                getattr(W, name).copy_(getattr(G, name))
        # Fourier features: more features, and more output channels (copies of old ones); the
        # mixing matrix's gain is 1/sqrt(channels), so the old block is rescaled to keep its effect.
        a, b = old_layers[0], new_layers[0]
        c0, c1 = a.channels, b.channels
        b.freqs[:c0] = a.freqs
        b.phases[:c0] = a.phases
        b.transform.copy_(a.transform)
        src = sources(c0, c1)
        grow(b.weight, a.weight, math.sqrt(c1 / c0), rows=src, new_inputs=True)
        grow(b.affine.weight, a.affine.weight, 1.0, rows=None)
        grow(b.affine.bias, a.affine.bias, 1.0, rows=None)
        for a, b in zip(old_layers[1:], new_layers[1:]):
            if b.is_torgb != a.is_torgb or b.in_size != a.in_size or b.out_size != a.out_size:
                raise ValueError("the wider generator's layer schedule differs beyond its channel counts")
            src_in, src_out = src, sources(a.out_channels, b.out_channels)
            grow(b.weight, a.weight, 1.0, rows=src_out, new_inputs=True)
            grow(b.bias, a.bias, 1.0, rows=src_out)
            # toRGB scales its styles by 1/sqrt(in_channels): rescale to keep them
            s = math.sqrt(b.in_channels / a.in_channels) if b.is_torgb else 1.0
            grow(b.affine.weight, a.affine.weight, s, rows=src_in)
            grow(b.affine.bias, a.affine.bias, s, rows=src_in)
            b.magnitude_ema.copy_(a.magnitude_ema)
            for f in ("up_filter", "down_filter"):     # designed from the schedule: equal already
                if getattr(a, f) is not None:
                    getattr(b, f).copy_(getattr(a, f))
            src = src_out
        missing = {n for n, _ in W.named_parameters()} - set(grown)
        if missing:
            raise ValueError(f"widening left parameters unset: {sorted(missing)}")
    W.train(G.training)
    W.requires_grad_(any(p.requires_grad for p in G.parameters()))
    return W, grown


def widen_optimizer_state(state: dict[str, Any], old: torch.nn.Module, new: torch.nn.Module,
                          grown: dict[str, Grown]) -> dict[str, Any]:
    """An Adam ``state_dict`` of ``old``'s parameters, for ``new``'s (same parameter order)."""
    old_index = {n: i for i, (n, _) in enumerate(old.named_parameters())}
    new_params = list(new.named_parameters())
    if len(new_params) != len(old_index):
        raise ValueError("the wider generator has a different set of parameters")
    out = {"param_groups": copy.deepcopy(state["param_groups"]), "state": {}}
    for j, (name, p) in enumerate(new_params):
        g = grown[name]
        st = state["state"].get(old_index[g.old_name])
        if st is None:
            continue
        blk = _block(g.old_shape)
        ns = {}
        for key, v in st.items():
            if not torch.is_tensor(v) or v.ndim == 0:
                ns[key] = copy.deepcopy(v)
                continue
            if key == "exp_avg":
                t = torch.zeros(p.shape, dtype=v.dtype)
                t[blk] = v * g.scale
            elif key == "exp_avg_sq":
                old_v = v * g.scale ** 2
                t = torch.full(p.shape, float(old_v.mean()), dtype=v.dtype)
                t[blk] = old_v
            else:
                raise ValueError(f"optimizer state {key!r} of {name}: not an Adam state")
            ns[key] = t
        out["state"][j] = ns
    return out


def widen_on_resume(ck: Any, cfg: str, cbase: int, cmax: int, seed: int = 0) -> tuple[Any, str | None]:
    """``(checkpoint, note)``: a full StyleGAN3 training snapshot whose generator is narrower than
    ``cbase`` / ``cmax`` (option units: config R doubles them) comes back with G, G_ema and G's
    optimizer state widened, and a line for the run's log; anything else comes back as it is."""
    import dataclasses

    from gan_core.train.options import generator_built_with

    if not cfg.startswith("stylegan3") or ck.G is None or not ck.training_state:
        return ck, None
    built = generator_built_with(ck.G)
    if built is None or built["cfg"] != cfg or (built["cbase"], built["cmax"]) == (cbase, cmax):
        return ck, None
    k = 2 if cfg == "stylegan3-r" else 1
    G, grown = widen_stylegan3(ck.G, cbase * k, cmax * k, seed=seed)
    E, _ = widen_stylegan3(ck.G_ema if ck.G_ema is not None else ck.G, cbase * k, cmax * k, seed=seed)
    ts = dict(ck.training_state)
    ts["G_opt"] = widen_optimizer_state(ts["G_opt"], ck.G, G, grown)
    before = [l.out_channels for l in ck.G.synthesis.layers()][:-1]
    after = [l.out_channels for l in G.synthesis.layers()][:-1]
    # (the option change itself is in the log's "options changed on resume" list)
    note = (f"G widened: channels {min(before)}–{max(before)} → {min(after)}–{max(after)}, parameters "
            f"{sum(p.numel() for p in ck.G.parameters()):,} → {sum(p.numel() for p in G.parameters()):,}; "
            f"D as it was")
    return dataclasses.replace(ck, G=G, G_ema=E, training_state=ts), note
