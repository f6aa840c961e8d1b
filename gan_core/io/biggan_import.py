"""BigGAN checkpoints from other projects: detection (used by ``gan_core.io.sniff``), reading
(used by ``gan_core.io.checkpoint``) and explicit loaders for arguments a file cannot carry.

* BigGAN-PyTorch: ``G.pth`` / ``G_ema.pth`` / ``D.pth`` (+ ``state_dict.pth``) files or their
  folder — :mod:`gan_core.io.biggan_pytorch`;
* pytorch-pretrained-BigGAN: a directory with ``config.json`` + ``pytorch_model.bin``, or either
  file — :mod:`gan_core.io.biggan_hf`.

``gan_core.load_generator(path)`` / ``load_checkpoint(path)`` use these automatically;
:func:`load_biggan_pytorch` and :func:`load_biggan_hf` take what a file does not record.
"""
from __future__ import annotations

import os
import pickle
import warnings
from typing import Any, Mapping

import torch
from torch import nn

from gan_core.io.errors import CheckpointError

KINDS = ("biggan-pytorch", "biggan-hf")


def load_torch_weights(path: str) -> Any:
    """``torch.load(path, weights_only=True)`` with every failure as a CheckpointError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError("no such file", path) from None
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"holds Python objects besides tensors, so it cannot be read safely "
                              f"({' '.join(str(e).split())[:200]})", path) from None
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"is not a readable PyTorch weights file ({type(e).__name__}: {e})", path) from None


def classify_object(obj: Any) -> str | None:
    """'biggan-pytorch' / 'biggan-hf' for a loaded state dict of those projects, else None."""
    from gan_core.io.biggan_hf import is_hf_state_dict
    from gan_core.io.biggan_pytorch import classify_state_dict

    if is_hf_state_dict(obj):
        return "biggan-hf"
    if classify_state_dict(obj) is not None:
        return "biggan-pytorch"
    return None


def sniff_directory(path: str):
    """A Sniffed for a pytorch-pretrained-BigGAN model folder or a BigGAN-PyTorch weights
    folder, else None."""
    from gan_core.io.biggan_hf import find_pair
    from gan_core.io.biggan_pytorch import experiment_files
    from gan_core.io.sniff import Sniffed

    if find_pair(path) is not None:
        return Sniffed("biggan-hf")
    if experiment_files(path):
        return Sniffed("biggan-pytorch")
    return None


def sniff_text_file(path: str):
    """A Sniffed for a pytorch-pretrained-BigGAN ``config.json`` with its weights beside it."""
    from gan_core.io.biggan_hf import CONFIG_NAME, find_pair
    from gan_core.io.sniff import Sniffed

    if os.path.basename(path) == CONFIG_NAME and find_pair(path) is not None:
        return Sniffed("biggan-hf")
    return None


def read_biggan(kind: str, path: str, obj: Any, which: tuple[str, ...], device: str | torch.device,
                first_only: bool = False) -> dict[str, Any]:
    """Networks / family / metadata of a sniffed BigGAN file or folder (see gan_core.io.checkpoint)."""
    if kind == "biggan-hf":
        from gan_core.io.biggan_hf import read_biggan_hf
        data = read_biggan_hf(path, device, obj=obj)
        data["networks"] = {k: v for k, v in data["networks"].items() if k in which}
        return data
    from gan_core.io.biggan_pytorch import read_biggan_pytorch
    return read_biggan_pytorch(path, which, device, first_only, obj=obj)


def load_biggan_pytorch(path: str | os.PathLike, device: str | torch.device = "cpu", which: str = "generator",
                        **config: Any) -> nn.Module:
    """A BigGAN-PyTorch network with config values given explicitly (they override the folder's
    ``state_dict.pth``): e.g. ``resolution=128, G_depth=2`` for a BigGAN-deep ``G_ema.pth`` that has
    no ``state_dict.pth`` beside it, or ``BN_eps`` / ``SN_eps``. ``which``: 'generator' (G_ema if
    present, else G) or 'D'."""
    from gan_core.io.biggan_pytorch import read_biggan_pytorch

    keys = ("G_ema", "G") if which == "generator" else (which,)
    data = read_biggan_pytorch(os.fspath(path), keys, device, first_only=True, **config)
    nets = data["networks"]
    if not nets:
        raise CheckpointError(f"holds no {which}", os.fspath(path))
    net = next(iter(nets.values())).eval()
    return net.requires_grad_(False) if which == "generator" else net


def load_biggan_hf(path: str | os.PathLike, device: str | torch.device = "cpu",
                   config: Mapping[str, Any] | None = None) -> nn.Module:
    """A pytorch-pretrained-BigGAN generator from its folder, ``pytorch_model.bin`` or
    ``config.json``; ``config`` (a BigGANConfig dict) replaces a missing or different config.json."""
    from gan_core.io.biggan_hf import read_biggan_hf

    G = read_biggan_hf(os.fspath(path), device, config=config)["networks"]["G_ema"]
    return G.eval().requires_grad_(False)
