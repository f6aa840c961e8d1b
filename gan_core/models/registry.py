"""Which of our network classes builds a given family or official class path.

Official NVIDIA pickles name their classes by module path (``training.networks_stylegan2.
Generator`` in StyleGAN3's code base, ``training.networks.Generator`` in StyleGAN2-ADA's).
Their constructor arguments are the ones our classes take, except that StyleGAN2-ADA
nests the synthesis arguments under ``synthesis_kwargs``; ``normalize_kwargs`` flattens that.
"""
from __future__ import annotations

import importlib
from typing import Any

from torch import nn

# family -> (module, generator class, discriminator class or None). A discriminator given as
# "module:Class" lives in another module: StyleGAN3 trains with the StyleGAN2 discriminator.
FAMILIES: dict[str, tuple[str, str, str | None]] = {
    "stylegan1": ("gan_core.models.stylegan1", "Generator", "Discriminator"),
    "stylegan2": ("gan_core.models.stylegan2", "Generator", "Discriminator"),
    "stylegan3": ("gan_core.models.stylegan3", "Generator", "gan_core.models.stylegan2:Discriminator"),
    "biggan": ("gan_core.models.biggan", "Generator", "Discriminator"),
    "biggan-deep": ("gan_core.models.biggan_deep", "Generator", "Discriminator"),
    "mobilestylegan": ("gan_core.models.mobile_stylegan", "Generator", "gan_core.models.stylegan2:Discriminator"),
}

# official class path -> (family, kind)
OFFICIAL_CLASSES: dict[str, tuple[str, str]] = {
    "training.networks_stylegan2.Generator": ("stylegan2", "G"),
    "training.networks_stylegan2.Discriminator": ("stylegan2", "D"),
    "training.networks.Generator": ("stylegan2", "G"),
    "training.networks.Discriminator": ("stylegan2", "D"),
    "training.networks_stylegan3.Generator": ("stylegan3", "G"),
}


class UnknownNetworkError(ValueError):
    pass


def normalize_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Plain dict copy with ``synthesis_kwargs`` merged into the top level."""
    out = {k: _plain(v) for k, v in dict(kwargs).items()}
    nested = out.pop("synthesis_kwargs", None) or {}
    for k, v in nested.items():
        out.setdefault(k, v)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and getattr(v, "ndim", None) == 0:  # numpy / torch scalars
        return v.item()
    return v


def network_class(family: str, kind: str = "G") -> type[nn.Module]:
    if family not in FAMILIES:
        raise UnknownNetworkError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    module_name, g_name, d_name = FAMILIES[family]
    name = g_name if kind == "G" else d_name
    if name is None:
        raise UnknownNetworkError(f"the {family} family has no discriminator of its own")
    if ":" in name:
        module_name, name = name.split(":", 1)
    return getattr(importlib.import_module(module_name), name)


def build_network(family: str, kind: str, kwargs: dict[str, Any]) -> nn.Module:
    """Construct our network for ``family`` (a key of FAMILIES), ``kind`` ('G'|'D')."""
    cls = network_class(family, kind)
    kwargs = normalize_kwargs(kwargs)
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise UnknownNetworkError(f"cannot build a {family} {kind} from the stored arguments "
                                  f"{sorted(kwargs)}: {e}") from None


def family_of_official_class(class_name: str) -> tuple[str, str]:
    """(family, kind) for an official class path, or a clear error."""
    try:
        return OFFICIAL_CLASSES[class_name]
    except KeyError:
        raise UnknownNetworkError(f"unsupported network class {class_name!r}; ganscope reads "
                                  f"{', '.join(sorted(OFFICIAL_CLASSES))}") from None
