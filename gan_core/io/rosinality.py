"""rosinality's PyTorch StyleGAN checkpoints: which layout a file has, and reading it.

Two projects, several container layouts (the keys of the dict ``torch.save`` wrote):

* rosinality/style-based-gan-pytorch (StyleGAN v1) -> our ``stylegan1`` family:
  ``train_step-N.model`` = ``{'generator', 'discriminator', 'g_optimizer', 'd_optimizer',
  'g_running'}`` (G, D, G_ema) and ``NNNNNN.model`` = the bare ``g_running`` state dict.
* rosinality/stylegan2-pytorch -> our ``stylegan2`` family (same computation as the official
  StyleGAN2; a rename table plus reshapes, see :mod:`gan_core.io.rosinality_sg2`):
  training snapshots ``{'g', 'd', 'g_ema', 'g_optim', 'd_optim', 'args' (argparse.Namespace),
  'ada_aug_p'}`` (the Namespace is read by :mod:`gan_core.io.torch_zip` as a plain dict),
  ``convert_weight.py`` output ``{'g_ema', 'latent_avg'[, 'g', 'd']}`` and bare ``g_ema``
  state dicts.

None of these files record the network's constructor arguments: sizes, channel tables and
mapping depth are inferred from tensor shapes, and what could not be inferred is assumed and
said so. ``metadata['inferred']`` / ``metadata['assumed']`` list both (``ganscope info`` shows
them). :func:`load_rosinality` takes the values a user may need to pass (the progressive
``step``/``alpha`` of a StyleGAN1 file, ``lr_mlp`` of a StyleGAN2 file trained with a
non-default one).
"""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from gan_core.io.errors import CheckpointError, short_list

SG1 = "rosinality-stylegan1"
SG2 = "rosinality-stylegan2"
KINDS = (SG1, SG2)
W_AVG_SAMPLES = 4096
W_AVG_SEED = 0


def strip_module_prefix(sd: dict[str, Any]) -> dict[str, Any]:
    """Drop a DataParallel/DDP ``module.`` prefix shared by every key."""
    if sd and all(isinstance(k, str) and k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in obj.items())


def _looks_sg1(sd: dict) -> bool:
    return any(k.startswith("generator.progression.") for k in strip_module_prefix(sd))


def _looks_sg2(sd: dict) -> bool:
    keys = strip_module_prefix(sd)
    return "input.input" in keys and "conv1.conv.weight" in keys


def classify(obj: Any) -> str | None:
    """SG1 / SG2 for a rosinality container (or bare generator state dict), else None."""
    if not isinstance(obj, dict):
        return None
    if "g_ema" in obj or ("g" in obj and "d" in obj and "args" in obj):
        return SG2
    if "g_running" in obj or ("generator" in obj and "discriminator" in obj):
        return SG1
    if _is_state_dict(obj):
        if _looks_sg1(obj):
            return SG1
        if _looks_sg2(obj):
            return SG2
    return None


def need(sd: dict[str, torch.Tensor], key: str, what: str, ndim: int | None = None) -> torch.Tensor:
    """``sd[key]`` as a float tensor, or a CheckpointError saying the layout is not the expected one."""
    t = sd.get(key)
    if not isinstance(t, torch.Tensor):
        raise CheckpointError(f"{what} lacks the tensor {key!r}, so it is not a complete network of that "
                              f"project (keys: {short_list(list(sd), 6)}); this variant is not supported yet")
    if ndim is not None and t.ndim != ndim:
        raise CheckpointError(f"{what}: tensor {key!r} has shape {list(t.shape)}, expected {ndim} dimensions "
                              f"(damaged, or a variant of that project's network that is not supported yet)")
    return t.detach().float()


def load_converted(net: nn.Module, converted: dict[str, torch.Tensor], what: str,
                   may_keep: tuple[str, ...] = ()) -> list[str]:
    """Load ``converted`` into ``net``: every key of ``net`` must be provided except buffers
    whose name ends with one of ``may_keep`` (those keep the value ``net`` was built with);
    shapes must match. Returns the kept keys."""
    expected = net.state_dict()
    unexpected = [k for k in converted if k not in expected]
    if unexpected:
        raise CheckpointError(f"{what}: internal rename produced unknown tensors {short_list(unexpected, 4)}")
    missing = [k for k in expected if k not in converted and not k.endswith(may_keep)]
    if missing:
        raise CheckpointError(f"{what} lacks tensors for {short_list(missing, 4)}; the file is incomplete "
                              f"or from an unsupported variant")
    wrong = [f"{k} {list(v.shape)} (expected {list(expected[k].shape)})" for k, v in converted.items()
             if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise CheckpointError(f"{what}: tensor shapes do not fit the inferred network: {short_list(wrong, 4)}")
    kept = [k for k in expected if k not in converted]
    full = dict(expected)
    full.update(converted)
    with torch.no_grad():
        net.load_state_dict(full, strict=True)
    return kept


@torch.no_grad()
def estimate_w_avg(mapping: nn.Module, z_dim: int, samples: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED
                   ) -> torch.Tensor:
    """Mean of the mapping network's output over ``samples`` z ~ N(0, I) drawn with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn([samples, z_dim], generator=gen)
    ws = mapping(z.to(mapping.w_avg.device), None)
    return ws[:, 0].mean(dim=0)


def read_rosinality(obj: dict, kind: str, which: tuple[str, ...] = ("G_ema", "G", "D"),
                    device: str | torch.device = "cpu", first_only: bool = False, path: str | None = None,
                    options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Networks (ours), family and metadata of an already loaded rosinality object (the
    same result shape as ``gan_core.io.native.read_native``)."""
    options = dict(options or {})
    project = {SG1: "rosinality style-based-gan-pytorch (StyleGAN1)", SG2: "rosinality stylegan2-pytorch"}
    if kind not in project:
        raise ValueError(f"unknown rosinality kind {kind!r}")
    try:
        if kind == SG1:
            from gan_core.io.rosinality_sg1 import read_sg1
            out = read_sg1(obj, which, first_only, path, **options)
        else:
            from gan_core.io.rosinality_sg2 import read_sg2
            out = read_sg2(obj, which, first_only, path, **options)
    except CheckpointError as e:
        err = CheckpointError(f"is a {project[kind]} checkpoint, but {e.detail}", e.path)
        raise err from e.__cause__
    out["networks"] = {k: v.to(device) for k, v in out["networks"].items()}
    return out


def load_rosinality(path: str | os.PathLike, device: str | torch.device = "cpu", *, step: int | None = None,
                    alpha: float | None = None, lr_mlp: float | None = None, w_avg_samples: int = W_AVG_SAMPLES):
    """Read a rosinality checkpoint with the values its file cannot record.

    StyleGAN1: ``step`` (progressive step, 0 = 4×4 … 8 = 1024²; default: the last block whose
    noise weights were trained) and ``alpha`` (fade-in, default 1). StyleGAN2: ``lr_mlp``
    (the mapping's learning-rate multiplier; default: ``args.lr_mlp`` when the file has
    it, else the project's default 0.01). ``w_avg_samples``: how many z estimate the mean w
    used by truncation when the file does not store it. Returns a ``LoadedCheckpoint``.
    """
    from gan_core.io.checkpoint import LoadedCheckpoint
    from gan_core.io.sniff import sniff

    path = os.fspath(path)
    found = sniff(path)
    if found.kind not in KINDS:
        raise CheckpointError(f"is a {found.kind} checkpoint, not a rosinality one; use gan_core.load_checkpoint",
                              path)
    opts: dict[str, Any] = {"w_avg_samples": w_avg_samples}
    if found.kind == SG1:
        opts.update(step=step, alpha=alpha)
    else:
        if step is not None or alpha is not None:
            raise CheckpointError("is a StyleGAN2 checkpoint: step and alpha apply to StyleGAN1 only", path)
        opts.update(lr_mlp=lr_mlp)
    try:
        data = read_rosinality(found.obj, found.kind, device=device, path=path, options=opts)
    except CheckpointError as e:
        raise e.with_path(path) from e.__cause__
    return checkpoint_from_data(path, found.kind, data, LoadedCheckpoint)


def checkpoint_from_data(path: str, kind: str, data: dict[str, Any], cls: type) -> Any:
    nets = data["networks"]
    for key, net in nets.items():
        net.eval()
        if key == "G_ema":
            net.requires_grad_(False)
    return cls(path=path, source_format=kind, family=data.get("family"), G=nets.get("G"),
               G_ema=nets.get("G_ema"), D=nets.get("D"), training_state=None,
               metadata=dict(data.get("metadata") or {}))
