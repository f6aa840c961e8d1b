"""Loading any supported checkpoint into our networks: the public entry points."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from gan_core.io.errors import CheckpointError
from gan_core.io.native import NETWORK_KEYS, read_native
from gan_core.io.biggan_import import KINDS as BIGGAN_KINDS, read_biggan
from gan_core.io.mobile_import import KINDS as MOBILE_KINDS, read_mobilestylegan
from gan_core.io.official_pickle import read_official_pickle
from gan_core.io.rosinality import KINDS as ROSINALITY_KINDS, read_rosinality
from gan_core.io.sniff import sniff


@dataclass
class LoadedCheckpoint:
    """What a checkpoint file held. Networks absent from the file are None.

    ``source_format`` is 'ganscope' (our native .pt), 'nvidia-pickle' (an official pickle) or
    'rosinality-stylegan1' / 'rosinality-stylegan2' (``metadata['inferred']`` / ``['assumed']``
    say what the file did not record).
    All networks are in eval mode on the requested device; ``G_ema`` is frozen
    (``requires_grad`` False), ``G`` and ``D`` keep trainable parameters for resuming.
    """

    path: str
    source_format: str
    family: str | None
    G: nn.Module | None = None
    G_ema: nn.Module | None = None
    D: nn.Module | None = None
    training_state: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def generator(self) -> nn.Module | None:
        """G_ema if present, else G."""
        return self.G_ema if self.G_ema is not None else self.G


def _read(path: str, which: tuple[str, ...], device: str | torch.device, first_only: bool = False
          ) -> tuple[str, dict[str, Any]]:
    found = sniff(path)
    try:
        if found.kind == "ganscope":
            return found.kind, read_native(found.obj, which, device, first_only)
        if found.kind in ROSINALITY_KINDS:
            return found.kind, read_rosinality(found.obj, found.kind, which, device, first_only, path=path)
        if found.kind in BIGGAN_KINDS:
            return found.kind, read_biggan(found.kind, path, found.obj, which, device, first_only)
        if found.kind in MOBILE_KINDS:
            return found.kind, read_mobilestylegan(found.obj, which, device, first_only, path=path)
        return found.kind, read_official_pickle(path, which, device, first_only)
    except CheckpointError as e:
        raise e.with_path(path) from e.__cause__
    except RecursionError:
        raise CheckpointError("its contents are nested too deeply to be a network checkpoint", path) from None


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Read a native ganscope checkpoint, an official NVIDIA pickle or a rosinality checkpoint
    (format sniffed from content)."""
    path = os.fspath(path)
    kind, data = _read(path, NETWORK_KEYS, device)
    nets = data["networks"]
    for key, net in nets.items():
        net.eval()
        if key == "G_ema":
            net.requires_grad_(False)
    ts = data.get("training_state")
    return LoadedCheckpoint(path=path, source_format=kind,
                            family=data.get("family"), G=nets.get("G"), G_ema=nets.get("G_ema"),
                            D=nets.get("D"), training_state=ts if isinstance(ts, dict) else None,
                            metadata=dict(data.get("metadata") or {}))


def load_generator_from_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The generator of a checkpoint (G_ema if present, else G), in eval mode and frozen.

    Only that network is built (an official snapshot's G and D are skipped).
    """
    path = os.fspath(path)
    _, data = _read(path, ("G_ema", "G"), device, first_only=True)
    nets = data["networks"]
    G = nets.get("G_ema", nets.get("G"))
    if G is None:
        raise CheckpointError("holds no generator (only a discriminator); give a file with G_ema or G", path)
    return G.eval().requires_grad_(False)
