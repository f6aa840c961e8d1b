"""RenderArgs -> RenderResult: a pure function of the args, with bounded caches.

The renderer never touches the GUI, and never raises: every failure becomes
``RenderResult.error`` (with ``error_kind`` "model" when the checkpoint could not be opened, so
the app can fall back to the previous model) and the app keeps running.
"""
from __future__ import annotations

import collections
import os
import threading
import time
import traceback
from typing import Any, Callable

import numpy as np
import torch

from visualizer import views
from widgets.render_args import LayerInfo, ModelInfo, RenderArgs, RenderResult


class _LRU:
    """A small bounded mapping (least recently used entry dropped first)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._d: collections.OrderedDict = collections.OrderedDict()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self._d:
            self._d.move_to_end(key)
            return self._d[key]
        value = make()
        self._d[key] = value
        while len(self._d) > self.capacity:
            self._d.popitem(last=False)
        return value

    def clear(self) -> None:
        self._d.clear()

    def __len__(self) -> int:
        return len(self._d)


def _device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} was chosen but this machine has no usable CUDA device; pick cpu")
        return torch.device(name)
    raise RuntimeError(f"unknown device {name!r}: use cpu or cuda")


def available_devices() -> list[str]:
    devs = ["cpu"]
    if torch.cuda.is_available():
        devs += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devs


class ModelLoadError(Exception):
    pass


class Renderer:
    """Renders RenderArgs; caches networks (per path and device) and mapped ws (per seed)."""

    def __init__(self, model_cache: int = 3, ws_cache: int = 256) -> None:
        self._models = _LRU(model_cache)
        self._infos: dict[tuple[str, str], ModelInfo] = {}
        self._ws = _LRU(ws_cache)
        self._lock = threading.Lock()   # one render at a time (the worker is single-threaded anyway)

    # -- models --------------------------------------------------------------------------------

    def get_model(self, path: str, device: str) -> tuple[torch.nn.Module, ModelInfo]:
        key = (path, device)

        def load():
            import gan_core
            dev = _device(device)
            try:
                G = gan_core.load_generator(path, device=dev)
            except Exception as e:  # noqa: BLE001 - any failure to open is reported, never raised
                raise ModelLoadError(_one_line(e)) from None
            self._infos[key] = _model_info(G, path, device)
            return G

        G = self._models.get(key, load)
        return G, self._infos[key]

    # -- rendering -----------------------------------------------------------------------------

    def render(self, args: RenderArgs) -> RenderResult:
        t0 = time.perf_counter()
        with self._lock:
            try:
                G, info = self.get_model(args.model, args.device)
            except ModelLoadError as e:
                return RenderResult(args=args, error=f"cannot open {_display_path(args.model)}: {e}",
                                    error_kind="model")
            except Exception as e:  # noqa: BLE001
                return RenderResult(args=args, error=f"cannot open {_display_path(args.model)}: {_one_line(e)}",
                                    error_kind="model")
            t_load = time.perf_counter()
            try:
                with torch.no_grad():
                    return self._render(G, info, args, t0, t_load)
            except Exception as e:  # noqa: BLE001 - shown on screen; the app keeps running
                if os.environ.get("GANSCOPE_DEBUG"):
                    traceback.print_exc()
                return RenderResult(args=args, model=info, error=f"render failed: {_one_line(e)}",
                                    error_kind="render")

    def _mapped(self, G: torch.nn.Module, args: RenderArgs, seed: int) -> torch.Tensor:
        """ws [num_ws, w_dim] for one seed with the args' class and truncation (cached)."""
        key = (id(G), args.model, args.device, seed, args.class_idx, args.class_idx2, args.class_blend,
               args.trunc_psi, args.trunc_cutoff, args.z_threshold)

        def compute():
            dev = next(G.parameters()).device if any(True for _ in G.parameters()) else torch.device("cpu")
            z = seed_z(seed, G.z_dim, args.z_threshold, dev)
            c = G.make_c(args.class_idx, 1, dev)
            if args.class_idx2 is not None and args.class_blend > 0 and G.c_dim:
                c = (1 - args.class_blend) * c + args.class_blend * G.make_c(args.class_idx2, 1, dev)
            return G.mapping(z, c, truncation_psi=args.trunc_psi, truncation_cutoff=args.trunc_cutoff)[0]

        return self._ws.get(key, compute)

    def _blend(self, G, args: RenderArgs, blend: list[tuple[int, float]]) -> torch.Tensor:
        ws = None
        for seed, weight in blend:
            w = self._mapped(G, args, seed) * weight
            ws = w if ws is None else ws + w
        return ws

    def _render(self, G, info: ModelInfo, args: RenderArgs, t0: float, t_load: float) -> RenderResult:
        if (args.class_idx is not None or args.class_idx2 is not None) and not info.c_dim:
            raise ValueError("this model is not class-conditional; clear the class")
        if args.class_idx is None and info.c_dim:
            args_c = args.replace(class_idx=0)
        else:
            args_c = args
        ws = self._blend(G, args_c, args_c.latent_blend())
        if args.mix_layers:
            bad = [i for i in args.mix_layers if i >= info.num_ws]
            if bad:
                raise ValueError(f"style mixing layers {bad} do not exist: this model has ws 0..{info.num_ws - 1}")
            mix = self._blend(G, args_c, args_c.mix_blend())
            idx = torch.tensor(args.mix_layers, device=ws.device)
            ws = ws.clone()
            ws[idx] = mix[idx]
        t_map = time.perf_counter()

        kwargs: dict[str, Any] = {"noise_mode": args.noise_mode}
        used_noise_layers = len(info.noise_layers)
        if info.progressive_steps:
            step = info.progressive_step if args.progressive_step is None else args.progressive_step
            if step >= info.progressive_steps:
                raise ValueError(f"progressive step {step} does not exist: this model has steps "
                                 f"0..{info.progressive_steps - 1}")
            kwargs["step"], kwargs["alpha"] = int(step), float(args.progressive_alpha)
            used_noise_layers = min(used_noise_layers, 2 * (int(step) + 1))   # two noise inputs per stage
        if info.has_noise:
            strength: Any = args.noise_strength
            if args.noise_layer_strengths is not None:
                if len(args.noise_layer_strengths) != len(info.noise_layers):
                    raise ValueError(f"per-layer noise strengths: expected {len(info.noise_layers)} values, "
                                     f"got {len(args.noise_layer_strengths)}")
                strength = [args.noise_strength * s for s in args.noise_layer_strengths[:used_noise_layers]]
            kwargs["noise_strength"] = strength
            if args.noise_mode == "random":
                kwargs["noise_generator"] = torch.Generator(device=ws.device).manual_seed(int(args.noise_seed))
        if getattr(G, "has_truncation_stats", False):
            # models with batch-norm statistics per truncation (pytorch-pretrained-BigGAN) use the
            # statistics of the current psi, as their own truncation does
            kwargs["bn_truncation"] = min(1.0, max(0.02, abs(args.trunc_psi)))
        if info.has_input_transform:
            kwargs["input_transform"] = G.user_transform_matrix(translate=args.translate, rotate_deg=args.rotate)
        elif args.translate != (0.0, 0.0) or args.rotate != 0.0:
            raise ValueError(f"translate/rotate need a StyleGAN3 model; this is a {info.family} model")
        if args.fp16 and not info.fp16_available:
            raise ValueError("fp16 needs a CUDA device; switch fp16 off or pick a cuda device")
        kwargs["force_fp32"] = not args.fp16
        feat = None
        if args.layer is not None:
            if args.layer not in {layer.name for layer in info.layers}:
                raise ValueError(f"this model has no layer {args.layer!r}; pick one from the Layers panel")
            from gan_core.models import capture_layers
            with capture_layers(G, [args.layer]) as feats:
                img = G.synthesis(ws.unsqueeze(0), **kwargs)
            feat = feats[args.layer][0] if args.layer in feats else None
        else:
            img = G.synthesis(ws.unsqueeze(0), **kwargs)
        if not torch.isfinite(img).all():
            raise ValueError("the network produced NaN or infinite values (try fp32 or a smaller truncation)")
        raw = img
        if args.untransform and info.has_input_transform:
            img = views.untransformed(img, args)
        from gan_core.media import to_uint8
        pixels = to_uint8(img)[0]
        if pixels.shape[2] == 1:
            pixels = np.repeat(pixels, 3, axis=2)
        elif pixels.shape[2] > 3:
            pixels = pixels[:, :, :3]
        pixels = np.ascontiguousarray(pixels)
        t_syn = time.perf_counter()

        result = RenderResult(args=args, image=pixels, model=info, view=pixels)
        if feat is not None:
            layer_pixels, result.layer_stats = views.layer_view(feat, args)
            result.layer_shape = tuple(int(v) for v in feat.shape)
            spec_pixels, result.layer_radial = views.spectrum_view(feat, args)
            if args.canvas_view == "layer":
                result.view = layer_pixels
            elif args.canvas_view == "spectrum":
                result.view = spec_pixels
        elif args.canvas_view in ("layer", "spectrum"):
            result.view_note = ("pick a layer in the Layers panel to see it" if args.layer is None else
                                f"layer {args.layer} is not used at this progressive step")
        if args.eq_metric is not None:
            if not info.has_input_transform:
                result.view_note = f"equivariance needs a StyleGAN3 model; this is a {info.family} model"
            else:
                from gan_core.analysis.equivariance import equivariance_sample
                plain = args.translate == (0.0, 0.0) and args.rotate == 0.0
                s = equivariance_sample(G, ws.unsqueeze(0), args.eq_metric, translate=args.eq_translate,
                                        angle_deg=args.eq_angle, original=raw if plain else None)
                result.eq = {"metric": args.eq_metric, "psnr_db": s.psnr_db, "translate": s.translate,
                             "angle_deg": s.angle_deg}
                if args.canvas_view == "eq_error":
                    result.view = views.error_view(s.error, s.mask)
        elif args.canvas_view == "eq_error":
            result.view_note = "pick a metric in the Equivariance panel to see its error map"
        t_view = time.perf_counter()
        result.z_preview = seed_z(args.seed, info.z_dim, args.z_threshold, "cpu")[0, :8].numpy()
        result.w_preview = ws[0, :8].float().cpu().numpy()
        result.timings = {"load_ms": (t_load - t0) * 1e3, "mapping_ms": (t_map - t_load) * 1e3,
                          "synthesis_ms": (t_syn - t_map) * 1e3, "views_ms": (t_view - t_syn) * 1e3,
                          "render_ms": (t_view - t0) * 1e3}
        return result


def seed_z(seed: int, z_dim: int, threshold: float | None, device) -> torch.Tensor:
    """[1, z_dim]: the official seed -> z, or BigGAN's truncated normal when a threshold is set."""
    import gan_core
    if threshold is None:
        return gan_core.z_from_seed(seed, z_dim, device)
    from gan_core.models.biggan_layers import truncated_z_from_seed
    return truncated_z_from_seed(seed, z_dim, threshold, device)


def _model_info(G: torch.nn.Module, path: str, device: str) -> ModelInfo:
    """Plain-data description, including every inspectable layer's output shape (one probe pass)."""
    from gan_core.models import capture_layers

    names = list(G.layer_names())
    dev = next(G.parameters()).device
    layers: list[LayerInfo] = []
    with torch.no_grad(), capture_layers(G, names) as feats:
        ws = G.mapping(torch.zeros([1, G.z_dim], device=dev), G.make_c(0 if G.c_dim else None, 1, dev))
        G.synthesis(ws)
    for n in names:
        t = feats.get(n)
        if t is not None:
            layers.append(LayerInfo(name=n, shape=tuple(int(s) for s in t.shape[1:]), dtype=str(t.dtype).replace("torch.", "")))
    caps = G.capabilities()
    untrained = bool(getattr(G, "untrained", False))
    fam = {"stylegan3": "StyleGAN3", "stylegan2": "StyleGAN2", "stylegan1": "StyleGAN", "biggan": "BigGAN",
           "biggan-deep": "BigGAN-deep", "mobilestylegan": "MobileStyleGAN"}.get(G.family, G.family)
    if G.family == "stylegan3":
        fam += "-R" if G.config().get("conv_kernel", 3) == 1 else "-T"
    from gan_core.models.demo import is_demo_name
    name = path if is_demo_name(path) else os.path.basename(path)
    label = f"{name} ({'untrained ' if untrained else ''}{fam} {G.img_resolution}²)"
    noise_layers = list(G.noise_layer_names()) if G.has_noise and hasattr(G, "noise_layer_names") else []
    return ModelInfo(
        path=path, family=G.family, label=label, untrained=untrained, z_dim=G.z_dim, c_dim=G.c_dim, w_dim=G.w_dim,
        num_ws=G.num_ws, img_resolution=G.img_resolution, img_channels=G.img_channels, has_noise=G.has_noise,
        has_input_transform=G.has_input_transform, ws_resolutions=list(G.ws_resolutions()),
        noise_layers=noise_layers, layers=layers, num_params=int(caps["num_params"]), device=device,
        fp16_available=dev.type == "cuda",
        progressive_steps=int(getattr(G, "num_steps", 0)) if hasattr(G, "set_progressive") else 0,
        progressive_step=int(getattr(G, "step", 0) or 0), progressive_alpha=float(getattr(G, "alpha", 1.0) or 1.0))


def _one_line(e: BaseException) -> str:
    msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    msg = " ".join(msg.split())
    return msg or type(e).__name__


def _display_path(path: str) -> str:
    from gan_core.models.demo import is_demo_name
    return f"the built-in model {path}" if is_demo_name(path) else path
