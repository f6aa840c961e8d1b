"""MobileStyleGAN checkpoints (bes-dev/MobileStyleGAN.pytorch) -> ``gan_core.models.mobile_stylegan``.

Layouts read (the keys of what ``torch.save`` wrote):

* PyTorch Lightning training checkpoints (``*.ckpt``): ``{'epoch', 'global_step',
  'pytorch-lightning_version', 'callbacks', 'optimizer_states', 'lr_schedulers', 'state_dict',
  …}``; ``state_dict`` is the whole distiller: ``style_mean`` [1, num_ws, D], ``device_info``,
  ``mapping_net.layers.{1..n}.weight/bias`` (StyleGAN2 mapping), ``student.*`` (the
  MobileStyleGAN synthesis network), ``synthesis_net.*`` (the teacher), ``loss.*`` and
  ``inception.*`` (training-only networks). Lightning keys its callback states by callback
  *class*, so such files name ``pytorch_lightning`` classes: ``torch.load(weights_only=True)``
  refuses them, and they are read by the allow-list unpickler of :mod:`gan_core.io.torch_restricted`
  with Lightning classes as inert placeholders (never imported) and tensors as lazy records, of
  which only the generator's are then read (:func:`read_lightning_file`); any other class is
  refused.
* the distiller's state dict alone (the same keys at the top level), and a bare student state
  dict (``input.input``, ``layers.0.up.modulation.weight``, …) — recognised, but it has no mapping
  network, which the error says (give the full checkpoint).

Nothing records the constructor arguments: block widths, style size, kernel size, colour
channels and mapping depth are inferred from tensor shapes; the mapping's learning-rate
multiplier (which scales stored weights) is not inferable and is assumed to be the project's
0.01 unless given. ``metadata['inferred']`` / ``['assumed']`` list both. Only the generator is
built (the teacher, discriminator and perceptual networks are skipped).
"""
from __future__ import annotations

import os
import re
from typing import Any

import torch

from gan_core.io.errors import CheckpointError, short_list

KIND = "mobilestylegan"
KINDS = (KIND,)
LIGHTNING_MODULES = ("pytorch_lightning", "lightning", "lightning_fabric")
DEFAULT_LR_MLP = 0.01
_HAAR = 0.5 ** 0.5
_SKIPPED_STUDENT = re.compile(r"(^|\.)idwt\.(g0_col|g1_col|g0_row|g1_row)$|^device_info$")


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj) \
        and any(isinstance(v, torch.Tensor) for v in obj.values())


def _looks_student(sd: dict) -> bool:
    return "input.input" in sd and "to_img1.conv.weight" in sd


def _distiller_dict(obj: Any) -> dict | None:
    """The distiller state dict inside ``obj`` (a Lightning checkpoint or the dict itself)."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if _is_tensor_dict(obj) and any(k.startswith("student.") for k in obj):
        return obj
    return None


def classify_object(obj: Any) -> str | None:
    """'mobilestylegan' for a loaded MobileStyleGAN checkpoint / state dict, else None."""
    if _distiller_dict(obj) is not None:
        return KIND
    if _is_tensor_dict(obj) and _looks_student(obj) and any(".up.modulation.weight" in k for k in obj):
        return KIND
    return None


def is_lightning_global(name: str) -> bool:
    """Whether a global that ``torch.load(weights_only=True)`` refused belongs to Lightning."""
    return any(name == m or name.startswith(m + ".") for m in LIGHTNING_MODULES)


def _wanted(key: str) -> bool:
    return key.startswith(("student.", "mapping_net.")) or key == "style_mean"


def read_lightning_file(path: str) -> Any:
    """The object in a Lightning checkpoint, Lightning classes as inert placeholders.

    Only the tensors the generator needs (``student.*``, ``mapping_net.*``, ``style_mean`` of the
    state dict) are read from the archive; every other tensor (teacher, perceptual and Inception
    networks, optimizer states) stays a :class:`LazyTensor` record whose bytes are never loaded.
    A file that is not a zip-format torch file is read whole by ``restricted_torch_load``."""
    import zipfile

    from gan_core.io.torch_restricted import restricted_torch_load

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return restricted_torch_load(path, placeholder_modules=LIGHTNING_MODULES)
    try:
        with zf:
            pkl = [n for n in zf.namelist() if n.endswith("data.pkl")]
            if len(pkl) != 1:
                raise CheckpointError("is a zip archive but not a torch.save file (no single data.pkl)", path)
            prefix = pkl[0][: -len("data.pkl")]
            data = zf.read(pkl[0])
            obj = _unpickle_lazy(data, zf, prefix)
            sd = obj.get("state_dict") if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict) else obj
            if isinstance(sd, dict):
                cache: dict[str, torch.Tensor] = {}
                for k, v in list(sd.items()):
                    if isinstance(v, LazyTensor) and isinstance(k, str) and _wanted(k):
                        sd[k] = v.materialize(zf, prefix, cache)
            return obj
    except CheckpointError as e:
        raise e.with_path(path) from None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise CheckpointError(f"is a damaged zip archive ({type(e).__name__}: {e})", path) from None


class LazyTensor:
    """A tensor of the archive not read (yet): its storage record and layout."""

    __slots__ = ("key", "dtype", "numel", "offset", "size", "stride")

    def __init__(self, key: str, dtype: torch.dtype, numel: int, offset: int, size: tuple, stride: tuple) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel
        self.offset, self.size, self.stride = offset, size, stride

    def __repr__(self) -> str:
        return f"LazyTensor(data/{self.key}, {str(self.dtype).replace('torch.', '')}, {list(self.size)})"

    def materialize(self, archive, prefix: str, cache: dict) -> torch.Tensor:
        """Read the storage bytes (once per storage) and rebuild the tensor with the validated
        rebuild function of the allow-list reader."""
        from gan_core.io.official_pickle import _rebuild_tensor_v2

        if self.key not in cache:
            raw = archive.read(f"{prefix}data/{self.key}")
            itemsize = torch.empty((), dtype=self.dtype).element_size()
            if len(raw) != self.numel * itemsize:
                raise CheckpointError(f"tensor data record {self.key!r} has the wrong size; the file is damaged")
            t = torch.frombuffer(bytearray(raw), dtype=self.dtype) if raw else torch.empty(0, dtype=self.dtype)
            cache[self.key] = torch.storage.TypedStorage(wrap_storage=t.untyped_storage(), dtype=self.dtype,
                                                         _internal=True)
        return _rebuild_tensor_v2(cache[self.key], self.offset, self.size, self.stride)


class _LazyStorage:
    __slots__ = ("key", "dtype", "numel")

    def __init__(self, key: str, dtype: torch.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel


def _lazy_rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                         backward_hooks: Any = None, metadata: Any = None) -> LazyTensor:
    from gan_core.io.official_pickle import _int_tuple

    if not isinstance(storage, _LazyStorage):
        raise CheckpointError(f"a tensor's storage is a {type(storage).__name__}, not a tensor storage")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if type(storage_offset) is not int or storage_offset < 0 or len(size) != len(stride) \
            or any(v < 0 for v in size + stride):
        raise CheckpointError(f"a tensor has an invalid layout (offset {storage_offset!r}, size {size})")
    if all(size) and storage_offset + sum((a - 1) * b for a, b in zip(size, stride)) + 1 > storage.numel:
        raise CheckpointError(f"a tensor of size {list(size)} does not fit its storage; the file is damaged")
    return LazyTensor(storage.key, storage.dtype, storage.numel, storage_offset, size, stride)


def _lazy_rebuild_parameter(data: Any, requires_grad: Any = True, backward_hooks: Any = None, state: Any = None
                            ) -> LazyTensor:
    if not isinstance(data, LazyTensor):
        raise CheckpointError(f"a parameter holds a {type(data).__name__}, not a tensor")
    return data


_LAZY = {("torch._utils", "_rebuild_tensor_v2"): _lazy_rebuild_tensor,
         ("torch._utils", "_rebuild_parameter"): _lazy_rebuild_parameter,
         ("torch._utils", "_rebuild_parameter_with_state"): _lazy_rebuild_parameter}


def _unpickle_lazy(data: bytes, archive, prefix: str) -> Any:
    """The allow-list reader of gan_core.io.torch_restricted (Lightning classes as placeholders)
    with tensors as LazyTensor records; storages are checked against the archive but not read."""
    import io
    import pickle
    import warnings

    from gan_core.io.torch_restricted import _TorchFileUnpickler

    class _LazyUnpickler(_TorchFileUnpickler):
        dispatch = dict(_TorchFileUnpickler.dispatch)

        def find_class(self, module: str, name: str) -> Any:
            return _LAZY.get((module, name)) or super().find_class(module, name)

        def _check_callable(self, func: Any) -> None:
            if not any(func is f for f in _LAZY.values()):
                super()._check_callable(func)

        def persistent_load(self, pid: Any) -> Any:
            if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
                raise CheckpointError("it uses an unknown kind of persistent id")
            _, stype, key, _location, numel = pid
            dtype = getattr(stype, "dtype", None) if isinstance(stype, type) else None
            if not isinstance(dtype, torch.dtype) or not isinstance(key, str) or type(numel) is not int:
                raise CheckpointError("it has a damaged tensor record")
            try:
                info = archive.getinfo(f"{prefix}data/{key}")
            except KeyError:
                raise CheckpointError(f"its tensor data record {key!r} is missing; the file is damaged") from None
            if info.file_size != numel * torch.empty((), dtype=dtype).element_size():
                raise CheckpointError(f"its tensor data record {key!r} has the wrong size; the file is damaged")
            return _LazyStorage(key, dtype, numel)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _LazyUnpickler(io.BytesIO(data), len(data), archive, prefix, LIGHTNING_MODULES).load()
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError("it is nested too deeply to be a checkpoint") from None
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"it is a damaged torch file ({e})") from None
    except Exception as e:  # noqa: BLE001 - any failure of the stream is damage
        raise CheckpointError(f"it is a damaged torch file ({type(e).__name__}: {e})") from None


# --------------------------------------------------------------------------------------------
# Shape inference


def _need(sd: dict, key: str, ndim: int) -> torch.Tensor:
    t = sd.get(key)
    if not isinstance(t, torch.Tensor):
        raise CheckpointError(f"the MobileStyleGAN student lacks the tensor {key!r} (it has "
                              f"{short_list(sorted(sd), 6)}); the file is incomplete or a variant that is not "
                              f"supported")
    if t.ndim != ndim:
        raise CheckpointError(f"the student tensor {key!r} has shape {list(t.shape)}, expected {ndim} dimensions")
    return t


def infer_student_config(sd: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``w_dim``, ``channels``, ``img_channels``, ``kernel_size`` from a student state dict."""
    const = _need(sd, "input.input", 4)
    conv = _need(sd, "conv1.conv.weight", 4)
    mod = _need(sd, "conv1.conv.modulation.weight", 2)
    to_img = _need(sd, "to_img1.conv.weight", 4)
    channels = [int(const.shape[1])]
    n_layers = 0
    while f"layers.{n_layers}.up.modulation.weight" in sd:
        n_layers += 1
    extra = sorted({int(m.group(1)) for k in sd for m in [re.match(r"layers\.(\d+)\.", k)] if m} - set(range(n_layers)))
    if extra:
        raise CheckpointError(f"the student's blocks are not numbered 0..{n_layers - 1} (found block {extra[0]} "
                              f"without the blocks before it); the file is damaged")
    for i in range(n_layers):
        channels.append(int(_need(sd, f"layers.{i}.conv2.conv.weight_permute", 4).shape[0]))
    if to_img.shape[0] % 4:
        raise CheckpointError(f"to_img1 has {to_img.shape[0]} output channels, not 4 wavelet bands per colour")
    return {"w_dim": int(mod.shape[1]), "channels": channels, "img_channels": int(to_img.shape[0]) // 4,
            "kernel_size": int(conv.shape[-1])}


def _mapping_layers(sd: dict[str, torch.Tensor], prefix: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    idx = sorted({int(m.group(1)) for k in sd for m in [re.match(re.escape(prefix) + r"layers\.(\d+)\.weight$", k)]
                  if m})
    if not idx:
        return []
    if idx != list(range(idx[0], idx[0] + len(idx))):
        raise CheckpointError(f"the mapping network's layers {idx} are not consecutive; the file is damaged")
    out = []
    for i in idx:
        w, b = sd.get(f"{prefix}layers.{i}.weight"), sd.get(f"{prefix}layers.{i}.bias")
        if not isinstance(b, torch.Tensor) or w.ndim != 2 or b.shape != w.shape[:1]:
            raise CheckpointError(f"mapping layer {i} has no bias or mismatched shapes; the file is damaged")
        out.append((w, b))
    return out


def _check_haar(sd: dict[str, torch.Tensor]) -> None:
    """The stored IDWT filters must be db1 (Haar): the only wavelet this family implements."""
    for k, v in sd.items():
        m = _SKIPPED_STUDENT.search(k)
        if not m or k == "device_info":
            continue
        expected = torch.tensor([_HAAR, -_HAAR if m.group(2).startswith("g1") else _HAAR])
        if v.numel() != 2 or not torch.allclose(v.detach().float().flatten(), expected, atol=1e-4):
            raise CheckpointError(f"the student's inverse-DWT filter {k} is {v.flatten().tolist()}, not the Haar "
                                  f"(db1) filter; only Haar MobileStyleGAN models are supported")


# --------------------------------------------------------------------------------------------
# Building


def build_generator(student: dict[str, torch.Tensor], mapping: list[tuple[torch.Tensor, torch.Tensor]],
                    style_mean: torch.Tensor | None, lr_mlp: float = DEFAULT_LR_MLP,
                    style_mean_samples: int = 4096) -> tuple[Any, dict[str, Any]]:
    """Our Generator from the student state dict, mapping layers [(weight, bias)] and the
    stored mean style. Returns (G, notes) where notes has 'inferred' and 'assumed' lists."""
    from gan_core.io.rosinality import load_converted
    from gan_core.models.mobile_stylegan import Generator

    cfg = infer_student_config(student)
    _check_haar(student)
    inferred = [f"channels={cfg['channels']}", f"w_dim={cfg['w_dim']}", f"kernel_size={cfg['kernel_size']}",
                f"img_channels={cfg['img_channels']}"]
    assumed = []
    if not mapping:
        raise CheckpointError("has a MobileStyleGAN student but no mapping network (mapping_net.layers.*), so "
                              "it cannot map z to styles; give the full Lightning checkpoint (.ckpt) instead")
    z_dim = int(mapping[0][0].shape[1])
    for i, (w, _) in enumerate(mapping):
        if int(w.shape[0]) != cfg["w_dim"] or (i > 0 and int(w.shape[1]) != cfg["w_dim"]):
            raise CheckpointError(f"mapping layer {i} has shape {list(w.shape)}, which does not fit the student's "
                                  f"style size {cfg['w_dim']}")
    inferred += [f"z_dim={z_dim}", f"mapping layers={len(mapping)}"]
    assumed.append(f"mapping lr multiplier={lr_mlp} (not stored in the file)")
    G = Generator(z_dim=z_dim, w_dim=cfg["w_dim"], channels=cfg["channels"], img_channels=cfg["img_channels"],
                  kernel_size=cfg["kernel_size"], mapping_kwargs={"num_layers": len(mapping),
                                                                  "lr_multiplier": float(lr_mlp)})
    converted = {f"synthesis.{k}": v.detach().float() for k, v in student.items() if not _SKIPPED_STUDENT.search(k)}
    for i, (w, b) in enumerate(mapping):
        converted[f"mapping.fc{i}.weight"] = w.detach().float()
        converted[f"mapping.fc{i}.bias"] = b.detach().float()
    if style_mean is not None:
        sm = style_mean.detach().float()
        if sm.ndim == 3 and sm.shape[0] == 1:
            sm = sm[0]
        if sm.ndim == 1:
            sm = sm.unsqueeze(0).expand(G.num_ws, -1)
        if tuple(sm.shape) != (G.num_ws, G.w_dim):
            raise CheckpointError(f"style_mean has shape {list(style_mean.shape)}, expected [1, {G.num_ws}, "
                                  f"{G.w_dim}] for this student")
        converted["mapping.style_mean"] = sm.contiguous()
    load_converted(G, converted, "the MobileStyleGAN generator", may_keep=("noise_const", "style_mean"))
    if style_mean is None:
        G.mapping.update_style_mean(style_mean_samples)
        inferred.append(f"style_mean (mean w of {style_mean_samples} random z; the file stores none)")
    return G, {"inferred": inferred, "assumed": assumed}


def read_mobilestylegan(obj: Any, which: tuple[str, ...] = ("G_ema", "G", "D"), device: str | torch.device = "cpu",
                        first_only: bool = False, path: str | None = None, lr_mlp: float = DEFAULT_LR_MLP
                        ) -> dict[str, Any]:
    """Networks / family / metadata of a loaded MobileStyleGAN object (see gan_core.io.checkpoint).
    The generator is returned as ``G_ema`` (the file has no separate EMA copy)."""
    try:
        sd = _distiller_dict(obj)
        if sd is not None:
            student = {k[len("student."):]: v for k, v in sd.items() if k.startswith("student.")}
            mapping = _mapping_layers(sd, "mapping_net.")
            style_mean = sd.get("style_mean")
            layout = "lightning checkpoint" if isinstance(obj, dict) and "state_dict" in obj else "distiller state dict"
        else:
            student, mapping, style_mean, layout = dict(obj), [], None, "student state dict"
        nets = {}
        meta: dict[str, Any] = {"source_project": "bes-dev/MobileStyleGAN.pytorch", "source_layout": layout}
        if "G_ema" in which or "G" in which:
            G, notes = build_generator(student, mapping, style_mean if isinstance(style_mean, torch.Tensor) else None,
                                       lr_mlp)
            nets["G_ema" if "G_ema" in which else "G"] = G.to(device)
            meta.update(notes)
        if isinstance(obj, dict):
            for key in ("epoch", "global_step", "pytorch-lightning_version"):
                if isinstance(obj.get(key), (int, str)):
                    meta[key.replace("-", "_")] = obj[key]
        if sd is not None and any(k.startswith("synthesis_net.") for k in sd):
            meta["skipped"] = "teacher (synthesis_net.*), loss.* and inception.* networks"
        if path is not None:
            meta["source_file"] = path
    except CheckpointError as e:
        raise CheckpointError(f"is a MobileStyleGAN checkpoint, but {e.detail}", e.path) from e.__cause__
    return {"networks": nets, "family": "mobilestylegan", "metadata": meta}


def load_mobile_stylegan(path: str | os.PathLike, device: str | torch.device = "cpu", *, lr_mlp: float = DEFAULT_LR_MLP
                         ) -> Any:
    """A MobileStyleGAN generator from a Lightning checkpoint (or distiller state dict) with the
    mapping learning-rate multiplier given explicitly (default: the project's 0.01)."""
    from gan_core.io.sniff import sniff

    path = os.fspath(path)
    found = sniff(path)
    if found.kind != KIND:
        raise CheckpointError(f"is a {found.kind} checkpoint, not a MobileStyleGAN one; use gan_core.load_generator",
                              path)
    try:
        data = read_mobilestylegan(found.obj, ("G_ema",), device, path=path, lr_mlp=lr_mlp)
    except CheckpointError as e:
        raise e.with_path(path) from e.__cause__
    return data["networks"]["G_ema"].eval().requires_grad_(False)
