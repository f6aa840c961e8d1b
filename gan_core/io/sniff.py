"""Which kind of file is this? Decided by content, never by extension.

* zip (``torch.save``) or a legacy ``torch.save`` stream: read with
  ``torch.load(weights_only=True)``; a zip file that holds an ``argparse.Namespace``
  (rosinality stylegan2-pytorch snapshots) is read by ``gan_core.io.torch_zip`` instead, which
  allow-lists only that. Our native format and rosinality's StyleGAN1/StyleGAN2 layouts are
  accepted, anything else is described (a Lightning checkpoint, a bare state dict, …) in the error.
* a pickle (protocol 2+ header ``0x80``): an official NVIDIA network pickle, read with the
  restricted unpickler.
* empty, text, HTML, Git LFS pointers, gzip, safetensors, unknown bytes, directories and
  missing paths: a CheckpointError that says what the file is.
"""
from __future__ import annotations

import os
import pickle
import re
import struct
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from gan_core.io.errors import CheckpointError, short_list
from gan_core.io.native import is_native

# legacy (pre-zip) torch.save files start with the pickled magic number 0x1950a86a20f9469cfc6c
_LEGACY_TORCH_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_CHECKPOINT_SUFFIXES = (".pkl", ".pt", ".pth", ".ckpt", ".model", ".bin")


@dataclass
class Sniffed:
    """``kind`` is 'ganscope' (``obj`` = the weights_only-loaded dict), 'nvidia-pickle', or
    'rosinality-stylegan1' / 'rosinality-stylegan2' (``obj`` = the loaded dict)."""

    kind: str
    obj: Any = None


def sniff(path: str | os.PathLike) -> Sniffed:
    """Identify the checkpoint at ``path`` or raise a CheckpointError that says what it is."""
    path = os.fspath(path)
    if os.path.isdir(path):
        from gan_core.io.biggan_import import sniff_directory
        found = sniff_directory(path)
        if found is not None:
            return found
        inside = sorted(n for n in os.listdir(path) if n.lower().endswith(_CHECKPOINT_SUFFIXES))
        hint = f" (it contains {short_list(inside, 5)})" if inside else ""
        raise CheckpointError(f"is a directory, not a checkpoint file{hint}; give the path of the "
                              f".pkl or .pt file itself", path)
    if not os.path.exists(path):
        raise CheckpointError("no such file; check the path (a network checkpoint .pkl or .pt file "
                              "was expected)", path)
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise CheckpointError(f"cannot be read ({e.strerror or e})", path) from None
    if not head:
        raise CheckpointError("is empty (0 bytes), not a network checkpoint; the download or copy "
                              "was probably interrupted: fetch the file again", path)
    if head.startswith(_ZIP_MAGICS):
        return _classify_torch_file(path, zip_archive=True)
    if head[0] == 0x80:
        if len(head) >= 2 + len(_LEGACY_TORCH_MAGIC) and head[2:2 + len(_LEGACY_TORCH_MAGIC)] == _LEGACY_TORCH_MAGIC:
            return _classify_torch_file(path, zip_archive=False)
        return Sniffed("nvidia-pickle")
    from gan_core.io.biggan_import import sniff_text_file
    found = sniff_text_file(path)
    if found is not None:
        return found
    raise CheckpointError(_describe_other(head), path)


def _describe_other(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "is gzip-compressed, not a network checkpoint; decompress it first"
    if head.startswith(b"\xfd7zXZ") or head.startswith(b"BZh") or head.startswith(b"7z\xbc\xaf"):
        return "is a compressed archive, not a network checkpoint; extract it first"
    if len(head) >= 10:
        n = struct.unpack("<Q", head[:8])[0]
        if 0 < n < (1 << 30) and head[8:10] == b'{"':
            return ("is a safetensors file; ganscope reads official NVIDIA .pkl files and its own .pt "
                    "checkpoints (safetensors is not supported yet)")
    text = _as_text(head)
    if text is not None:
        stripped = text.lstrip().lower()
        if stripped.startswith("version https://git-lfs"):
            return ("is a Git LFS pointer, not the checkpoint itself; fetch the real file "
                    "(git lfs pull) or download it directly")
        if stripped.startswith(("<!doctype html", "<html", "<?xml", "<head")):
            return ("is an HTML/XML page, not a network checkpoint (a failed download or an error page?); "
                    "download the file again")
        if stripped.startswith(("{", "[")):
            return ("is a JSON text file, not a network checkpoint; give the .pkl or .pt file with the "
                    "network weights")
        return "is a text file, not a network checkpoint; give the .pkl or .pt file with the network weights"
    return (f"is not a recognised network checkpoint (it starts with bytes {head[:8].hex(' ')}); "
            f"ganscope reads official NVIDIA StyleGAN2-ADA/StyleGAN3 .pkl files and its own .pt checkpoints")


def _as_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a multi-byte character cut at the end
            return None
        text = head[: e.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return text if text and printable >= 0.95 * len(text) else None


def _classify_torch_file(path: str, zip_archive: bool) -> Sniffed:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        m = re.search(r"GLOBAL ([\w.]+)", msg) or re.search(r"Unsupported global: ([\w.]+)", msg)
        what = f" (such as {m.group(1)})" if m else ""
        if zip_archive and m and m.group(1) == "argparse.Namespace":
            from gan_core.io.torch_zip import load_zip_restricted
            return _classify_object(load_zip_restricted(path), path)
        from gan_core.io.mobile_import import is_lightning_global, read_lightning_file
        if zip_archive and m and is_lightning_global(m.group(1)):
            return _classify_object(read_lightning_file(path), path)
        if "weights only" in msg.lower() or "weights_only" in msg.lower() or m:
            raise CheckpointError(
                f"is a PyTorch file that stores Python objects{what} besides tensors, so it cannot be read "
                f"safely (ganscope never runs code from checkpoint files); it is not a ganscope checkpoint: "
                f"re-save its weights as plain tensors or use the official .pkl", path) from None
        raise CheckpointError(f"is a damaged PyTorch file ({msg}); fetch the file again", path) from None
    except Exception as e:  # noqa: BLE001 - zip or stream damage of any kind
        kind = "a zip archive" if zip_archive else "a PyTorch file"
        # torch's messages run on for several sentences of advice; the first one says what broke.
        reason = " ".join(str(e).split()).split(". ")[0][:200]
        raise CheckpointError(f"is {kind} but not a readable PyTorch checkpoint: it is damaged or incomplete "
                              f"({type(e).__name__}: {reason}); copy or download the file again", path) from None
    return _classify_object(obj, path)


def _classify_object(obj: Any, path: str) -> Sniffed:
    if is_native(obj):
        return Sniffed("ganscope", obj)
    from gan_core.io.mobile_import import classify_object as classify_mobile
    if classify_mobile(obj) is not None:  # before rosinality: a student state dict shares its key names
        return Sniffed("mobilestylegan", obj)
    from gan_core.io.rosinality import classify
    kind = classify(obj)
    if kind is not None:
        return Sniffed(kind, obj)
    from gan_core.io.biggan_import import classify_object as classify_biggan
    kind = classify_biggan(obj)
    if kind is not None:
        return Sniffed(kind, obj)
    raise CheckpointError(_describe_torch_object(obj), path)


def _describe_torch_object(obj: Any) -> str:
    supported = ("ganscope reads official NVIDIA StyleGAN2-ADA/StyleGAN3 .pkl files, rosinality "
                 "StyleGAN1/StyleGAN2 .model/.pt files, BigGAN-PyTorch G.pth/G_ema.pth/D.pth, "
                 "pytorch-pretrained-BigGAN folders (config.json + pytorch_model.bin), MobileStyleGAN Lightning "
                 ".ckpt files and its own checkpoints")
    if isinstance(obj, dict):
        keys = [str(k) for k in obj]
        if "param_groups" in obj and "state" in obj:
            return (f"is an optimizer state (like BigGAN-PyTorch's G_optim.pth / D_optim.pth), not a network; "
                    "give the weights file (G_ema.pth, G.pth or D.pth) instead")
        if "pytorch-lightning_version" in obj:
            return (f"is a PyTorch Lightning checkpoint without a MobileStyleGAN generator in its state_dict "
                    f"(no student.* tensors), so ganscope does not know its network; {supported}")
        if keys and all(isinstance(v, torch.Tensor) for v in obj.values()):
            kind = ("a StyleGAN" if any(k.startswith(("mapping.", "synthesis.")) for k in keys)
                    else "a")
            return (f"holds {kind} bare state dict ({len(keys)} tensors, e.g. {short_list(keys, 3)}) "
                    f"without the network's constructor arguments; {supported}, which record them")
        return f"is a PyTorch file holding a dict with keys {short_list(keys)}, not a checkpoint ganscope knows; {supported}"
    return f"is a PyTorch file holding a {type(obj).__name__}, not a network checkpoint; {supported}"
