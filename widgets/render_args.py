"""What the app asks the renderer for (RenderArgs) and what it gets back (RenderResult).

Plain data only — no torch — so widgets can build and read them. ``RenderArgs`` is frozen and
hashable (equal args are never rendered twice) and round-trips through JSON (presets, the
settings chunk of saved PNGs).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ARGS_FORMAT = "ganscope-render-args"
ARGS_VERSION = 1
# The seed grid: the integer point (ix, iy) holds seed ix + iy * SEED_ROW (mod 2**32).
SEED_ROW = 1000
NOISE_MODES = ("const", "random", "none")
CANVAS_VIEWS = ("image", "layer", "spectrum", "eq_error")
EQ_METRICS = ("eqt", "eqt_frac", "eqr")


class ArgsError(ValueError):
    """Settings that cannot be used, with the field and the reason."""


@dataclass(frozen=True)
class RenderArgs:
    """Everything that determines one rendered frame (a pure function of these values).

    Latent position: ``latent_x``/``latent_y`` are a continuous point on the seed grid; the
    rendered w is the bilinear blend, in W, of the four neighbouring seeds' ws.
    """

    model: str = "demo"                    # checkpoint path, or "demo"
    device: str = "cpu"                    # "cpu" or "cuda[:N]"
    fp16: bool = False                     # let the network use its fp16 layers (CUDA only)
    latent_x: float = 0.0
    latent_y: float = 0.0
    class_idx: int | None = None           # conditional models
    class_idx2: int | None = None          # class interpolation: blend toward this class ...
    class_blend: float = 0.0               # ... by this much (0: class_idx only, 1: class_idx2 only)
    z_threshold: float | None = None       # sample z from a normal truncated at +-threshold (BigGAN's trick)
    progressive_step: int | None = None    # StyleGAN1: render this progressive stage (None: the model's own)
    progressive_alpha: float = 1.0         # StyleGAN1: fade-in of that stage
    trunc_psi: float = 1.0
    trunc_cutoff: int | None = None        # truncate only the first N ws (None: all)
    mix_seed: float = 1.0                  # continuous, like latent_x (blend of floor/ceil seeds)
    mix_layers: tuple[int, ...] = ()       # w indices taken from the mixing seed
    noise_mode: str = "const"
    noise_seed: int = 0                    # for noise_mode "random"
    noise_strength: float = 1.0
    noise_layer_strengths: tuple[float, ...] | None = None  # per noise layer (multiplied by the global)
    translate: tuple[float, float] = (0.0, 0.0)   # StyleGAN3 input transform, image units
    rotate: float = 0.0                           # degrees
    untransform: bool = False                     # warp the output back (band-limited)
    # what the canvas shows: the image, the inspected layer, its spectrum, or the EQ error map
    canvas_view: str = "image"
    layer: str | None = None                      # inspected layer (a name from the model's layer list)
    layer_channel: int = 0                        # base channel
    layer_rgb: bool = False                       # channels base..base+2 as RGB, else one channel as grey
    layer_normalize: bool = True                  # per-channel normalisation (else one scale for all)
    layer_gain_db: float = 0.0
    spectrum_beta: float = 8.0                    # Kaiser window beta (0: no window)
    spectrum_db_range: float = 60.0               # dB shown below the peak
    eq_metric: str | None = None                  # equivariance inspector: eqt, eqt_frac, eqr (None: off)
    eq_translate: tuple[float, float] = (0.0625, 0.0)   # image units
    eq_angle: float = 30.0                        # degrees

    def __post_init__(self) -> None:
        # Normalise containers so equal settings hash equal, and reject nonsense early.
        object.__setattr__(self, "mix_layers", tuple(sorted({int(i) for i in self.mix_layers})))
        object.__setattr__(self, "translate", (float(self.translate[0]), float(self.translate[1])))
        object.__setattr__(self, "eq_translate", (float(self.eq_translate[0]), float(self.eq_translate[1])))
        if self.noise_layer_strengths is not None:
            object.__setattr__(self, "noise_layer_strengths", tuple(float(v) for v in self.noise_layer_strengths))
        for name in ("latent_x", "latent_y", "trunc_psi", "mix_seed", "noise_strength", "rotate", "layer_gain_db",
                     "spectrum_beta", "spectrum_db_range", "eq_angle", "class_blend",
                     "progressive_alpha"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise ArgsError(f"{name} must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        for name in ("translate", "eq_translate", "noise_layer_strengths"):
            values = getattr(self, name) or ()
            if not all(math.isfinite(v) for v in values):
                raise ArgsError(f"{name} must hold finite numbers, got {list(values)}")
        if self.noise_mode not in NOISE_MODES:
            raise ArgsError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {self.noise_mode!r}")
        if self.trunc_cutoff is not None and int(self.trunc_cutoff) < 0:
            raise ArgsError(f"trunc_cutoff must be >= 0 or None, got {self.trunc_cutoff}")
        if any(i < 0 for i in self.mix_layers):
            raise ArgsError(f"mix_layers must be w indices >= 0, got {self.mix_layers}")
        if not 0.0 <= self.progressive_alpha <= 1.0:
            raise ArgsError(f"progressive_alpha must be in [0, 1], got {self.progressive_alpha}")
        if self.progressive_step is not None and int(self.progressive_step) < 0:
            raise ArgsError(f"progressive_step must be >= 0 or None, got {self.progressive_step}")
        if not 0.0 <= self.class_blend <= 1.0:
            raise ArgsError(f"class_blend must be in [0, 1], got {self.class_blend}")
        if self.z_threshold is not None:
            if isinstance(self.z_threshold, bool) or not isinstance(self.z_threshold, (int, float)) \
                    or not math.isfinite(self.z_threshold) or self.z_threshold <= 0:
                raise ArgsError(f"z_threshold must be a positive number or None, got {self.z_threshold!r}")
            object.__setattr__(self, "z_threshold", float(self.z_threshold))
        if self.canvas_view not in CANVAS_VIEWS:
            raise ArgsError(f"canvas_view must be one of {', '.join(CANVAS_VIEWS)}, got {self.canvas_view!r}")
        if self.eq_metric is not None and self.eq_metric not in EQ_METRICS:
            raise ArgsError(f"eq_metric must be one of {', '.join(EQ_METRICS)} or None, got {self.eq_metric!r}")
        if int(self.layer_channel) < 0:
            raise ArgsError(f"layer_channel must be >= 0, got {self.layer_channel}")
        if self.spectrum_beta < 0 or self.spectrum_db_range <= 0:
            raise ArgsError("spectrum_beta must be >= 0 and spectrum_db_range > 0")
        if not 0 <= int(self.noise_seed) < 2**32:
            raise ArgsError(f"noise_seed must be in 0..{2**32 - 1}, got {self.noise_seed}")

    def replace(self, **changes: Any) -> "RenderArgs":
        return dataclasses.replace(self, **changes)

    # -- seeds ---------------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The seed at the grid point at or below the latent position."""
        return grid_seed(math.floor(self.latent_x), math.floor(self.latent_y))

    def latent_blend(self) -> list[tuple[int, float]]:
        """``[(seed, weight), ...]``: the grid seeds around the latent position with non-zero
        bilinear weights (weights sum to 1)."""
        return _bilinear(self.latent_x, self.latent_y)

    def mix_blend(self) -> list[tuple[int, float]]:
        return _bilinear(self.mix_seed, 0.0)

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mix_layers"] = list(self.mix_layers)
        d["translate"] = list(self.translate)
        d["eq_translate"] = list(self.eq_translate)
        if self.noise_layer_strengths is not None:
            d["noise_layer_strengths"] = list(self.noise_layer_strengths)
        return {"format": ARGS_FORMAT, "version": ARGS_VERSION, **d}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Any, where: str = "settings") -> "RenderArgs":
        """Build from ``to_dict`` output; unknown keys are ignored (newer files), wrong types
        raise ArgsError naming the field."""
        if not isinstance(d, dict):
            raise ArgsError(f"{where}: expected a JSON object of render settings, got {type(d).__name__}")
        if d.get("format", ARGS_FORMAT) != ARGS_FORMAT:
            raise ArgsError(f"{where}: not ganscope render settings (format {d.get('format')!r})")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            try:
                kwargs[f.name] = _coerce(f.name, v)
            except (TypeError, ValueError) as e:
                raise ArgsError(f"{where}: field {f.name!r} has an unusable value {v!r} ({e})") from None
        try:
            return cls(**kwargs)
        except ArgsError as e:
            raise ArgsError(f"{where}: {e}") from None

    @classmethod
    def from_json(cls, text: str, where: str = "settings") -> "RenderArgs":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ArgsError(f"{where}: not valid JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_dict(d, where)


_INT_OR_NONE = {"class_idx", "class_idx2", "trunc_cutoff", "progressive_step"}
_BOOL = {"fp16", "untransform", "layer_rgb", "layer_normalize"}
_STR = {"model", "device", "noise_mode", "canvas_view"}
_STR_OR_NONE = {"layer", "eq_metric"}


def _coerce(name: str, v: Any) -> Any:
    if name in _STR:
        if not isinstance(v, str):
            raise TypeError("expected text")
        return v
    if name in _STR_OR_NONE:
        if v is not None and not isinstance(v, str):
            raise TypeError("expected text or null")
        return v
    if name in _BOOL:
        if not isinstance(v, bool):
            raise TypeError("expected true or false")
        return v
    if name in _INT_OR_NONE:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError("expected an integer or null")
        return v
    if name in ("noise_seed", "layer_channel"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError("expected an integer")
        return v
    if name == "mix_layers":
        if not isinstance(v, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
            raise TypeError("expected a list of integers")
        return tuple(v)
    if name in ("translate", "eq_translate"):
        if not isinstance(v, list) or len(v) != 2 or not all(_is_num(x) for x in v):
            raise TypeError("expected two numbers")
        return (float(v[0]), float(v[1]))
    if name == "z_threshold":
        if v is None:
            return None
        if not _is_num(v):
            raise TypeError("expected a number or null")
        return float(v)
    if name == "noise_layer_strengths":
        if v is None:
            return None
        if not isinstance(v, list) or not all(_is_num(x) for x in v):
            raise TypeError("expected a list of numbers or null")
        return tuple(float(x) for x in v)
    if not _is_num(v):
        raise TypeError("expected a number")
    return float(v)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def grid_seed(ix: int, iy: int) -> int:
    return (int(ix) + int(iy) * SEED_ROW) % 2**32


def _bilinear(x: float, y: float) -> list[tuple[int, float]]:
    x0, y0 = math.floor(x), math.floor(y)
    fx, fy = x - x0, y - y0
    out: dict[int, float] = {}
    for dx, wx in ((0, 1 - fx), (1, fx)):
        for dy, wy in ((0, 1 - fy), (1, fy)):
            w = wx * wy
            if w > 0:
                s = grid_seed(x0 + dx, y0 + dy)
                out[s] = out.get(s, 0.0) + w
    return list(out.items())


@dataclass
class LayerInfo:
    name: str
    shape: tuple[int, ...]   # one sample: (C, H, W)
    dtype: str


@dataclass
class ModelInfo:
    """What the widgets need to know about the open model (plain data)."""

    path: str
    family: str
    label: str                       # what to show, e.g. "demo (untrained StyleGAN3-T 64²)"
    untrained: bool
    z_dim: int
    c_dim: int
    w_dim: int
    num_ws: int
    img_resolution: int
    img_channels: int
    has_noise: bool
    has_input_transform: bool
    ws_resolutions: list[int]
    noise_layers: list[str]
    layers: list[LayerInfo]
    num_params: int
    device: str
    fp16_available: bool
    progressive_steps: int = 0               # StyleGAN1: number of progressive stages (0: not progressive)
    progressive_step: int = 0                # the stage the checkpoint is at
    progressive_alpha: float = 1.0


@dataclass
class RenderResult:
    """The renderer's answer to one RenderArgs. ``error`` set means nothing else may be."""

    args: RenderArgs
    image: np.ndarray | None = None          # [H, W, 3] uint8, official rounding
    model: ModelInfo | None = None
    z_preview: np.ndarray | None = None      # first values of z for the base seed
    w_preview: np.ndarray | None = None      # first values of w (layer 0) after blending/truncation
    timings: dict[str, float] = field(default_factory=dict)   # milliseconds
    error: str | None = None
    error_kind: str | None = None            # "model" (could not open it) or "render"
    view: np.ndarray | None = None           # [h, w, 3] uint8: what the canvas shows (args.canvas_view)
    view_note: str = ""                      # why the view is not what was asked for, if it is not
    layer_stats: dict[str, dict[str, float]] | None = None   # {"all": {mean,std,max}, "selected": {...}}
    layer_shape: tuple[int, ...] | None = None               # (C, H, W) of the inspected layer
    layer_radial: tuple[np.ndarray, np.ndarray] | None = None  # radially averaged spectrum (cycles/px, dB)
    eq: dict[str, Any] | None = None         # {"metric", "psnr_db", "translate", "angle_deg"}
    texture: Any = None                      # display-ready buffer of ``view``, filled by the app's worker
