"""A deterministic procedural image dataset with coarse and fine factors of variation.

Each image is a pure function of ``(seed, index)``:

* coarse factors (what the low-resolution layers of a generator should learn): the layout —
  a horizon height and tilt splitting "sky" from "ground" —, one main shape (disc, square or
  triangle: the class label) with its position, size and rotation (the "pose"), and a
  smaller companion shape placed relative to it;
* fine factors (what the high-resolution layers should learn): the colour palette of sky,
  ground and shapes, and a texture (stripes, checks, dots or grain) of random frequency and
  orientation painted on the main shape and the ground.

So style mixing between two generated images visibly swaps layout/pose (coarse ws) or
colours/texture (fine ws). Images are rendered with 4× supersampling and box-filtered down,
so edges are anti-aliased at every resolution. Below 64² the textures keep their 64² size in
pixels (a period of at least 64/14 ≈ 4.6 px; grain cells of 4 px), so that they never sit at the
Nyquist frequency: at 32² a texture of 14 cycles per image would have a period of 2.3 px, which
the box filter aliases and which an alias-free generator (StyleGAN3) cannot draw straight.
``textures="image"`` renders the data as it was before 2026-12-06 instead (the same cycles per
image at every resolution): the built-in demo models were trained on that, and their recipes in
``assets/README.md`` need it to be reproduced.

    img, label, factors = render_image(seed=0, index=5, resolution=64)   # [3, 64, 64] uint8
    write_procedural_zip("proc.zip", count=1000, resolution=64, labels=True)
"""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

SHAPES = ("disc", "square", "triangle")
TEXTURES = ("stripes", "checks", "dots", "grain")
# The resolution at and above which textures have their sampled frequency (cycles per image);
# below it they are scaled down with the resolution, keeping their size in pixels.
TEXTURE_FULL_RES = 64
GRAIN_CELLS = 16  # grain cells per image side at TEXTURE_FULL_RES and above
# How textures scale below TEXTURE_FULL_RES: "pixel" keeps their size in pixels (the default since
# 2026-12-06), "image" their cycles per image (the data before; finer than 2.3 px at 32²).
TEXTURE_MODES = ("pixel", "image")


def texture_scale(resolution: int, textures: str = "pixel") -> float:
    """The factor applied to a texture's frequency at ``resolution`` (1 at 64² and above, and
    always 1 for ``textures="image"``)."""
    check_texture_mode(textures)
    return 1.0 if textures == "image" else min(1.0, resolution / TEXTURE_FULL_RES)


def check_texture_mode(textures: str) -> None:
    if textures not in TEXTURE_MODES:
        raise ValueError(f"textures must be one of {', '.join(TEXTURE_MODES)}, got {textures!r}")


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], dtype=np.float64)


def sample_factors(seed: int, index: int) -> dict[str, Any]:
    """The factors of image ``index`` (deterministic in ``seed`` and ``index``)."""
    rng = np.random.RandomState((int(seed) * 1_000_003 + int(index)) % (2 ** 32))
    shape = int(rng.randint(len(SHAPES)))
    hue = rng.uniform()
    return {
        # coarse
        "horizon": float(rng.uniform(0.45, 0.8)),
        "tilt": float(rng.uniform(-0.25, 0.25)),
        "shape": shape,
        "cx": float(rng.uniform(0.3, 0.7)),
        "cy": float(rng.uniform(0.3, 0.6)),
        "size": float(rng.uniform(0.14, 0.26)),
        "angle": float(rng.uniform(0, 2 * np.pi)),
        "companion_dir": float(rng.uniform(0, 2 * np.pi)),
        # fine
        "sky": _hsv_to_rgb(hue, rng.uniform(0.2, 0.6), rng.uniform(0.7, 1.0)).tolist(),
        "ground": _hsv_to_rgb((hue + rng.uniform(0.3, 0.7)) % 1, rng.uniform(0.3, 0.8),
                              rng.uniform(0.25, 0.6)).tolist(),
        "shape_rgb": _hsv_to_rgb(rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)).tolist(),
        "companion_rgb": _hsv_to_rgb(rng.uniform(), rng.uniform(0.5, 1.0), rng.uniform(0.3, 0.9)).tolist(),
        "texture": int(rng.randint(len(TEXTURES))),
        "tex_freq": float(rng.uniform(6, 14)),
        "tex_angle": float(rng.uniform(0, np.pi)),
        "tex_strength": float(rng.uniform(0.15, 0.35)),
        "grain_seed": int(rng.randint(2 ** 31)),
    }


def _shape_mask(kind: int, x: np.ndarray, y: np.ndarray, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    dx, dy = x - cx, y - cy
    ca, sa = np.cos(angle), np.sin(angle)
    u, v = ca * dx + sa * dy, -sa * dx + ca * dy
    if kind == 0:
        return (dx * dx + dy * dy) <= r * r
    if kind == 1:
        return (np.abs(u) <= r * 0.85) & (np.abs(v) <= r * 0.85)
    # equilateral triangle of circumradius r
    m = np.ones_like(u, dtype=bool)
    for k in range(3):
        a = 2 * np.pi * k / 3
        m &= (np.cos(a) * u + np.sin(a) * v) <= r * 0.5
    return m


def _texture(kind: int, x: np.ndarray, y: np.ndarray, f: dict[str, Any], scale: float = 1.0) -> np.ndarray:
    """A pattern in [-1, 1] of the given kind; ``scale`` multiplies its frequency."""
    ca, sa = np.cos(f["tex_angle"]), np.sin(f["tex_angle"])
    freq = f["tex_freq"] * scale
    u, v = (ca * x + sa * y) * freq, (-sa * x + ca * y) * freq
    if kind == 0:
        return np.sign(np.sin(2 * np.pi * u))
    if kind == 1:
        return np.sign(np.sin(2 * np.pi * u) * np.sin(2 * np.pi * v))
    if kind == 2:
        fu, fv = u - np.floor(u) - 0.5, v - np.floor(v) - 0.5
        return np.where(fu * fu + fv * fv < 0.09, 1.0, -0.4)
    n = max(1, round(GRAIN_CELLS * scale))
    grain = np.random.RandomState(f["grain_seed"]).uniform(-1, 1, size=[n, n])
    iu = (np.floor(x * n).astype(int)) % n
    iv = (np.floor(y * n).astype(int)) % n
    return grain[iv, iu]


def render_factors(f: dict[str, Any], resolution: int, supersample: int = 4, textures: str = "pixel") -> np.ndarray:
    """``[3, resolution, resolution]`` uint8 image of the factors ``f``."""
    n = resolution * supersample
    c = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(c, c)
    ground = y > f["horizon"] + f["tilt"] * (x - 0.5)
    tex = _texture(f["texture"], x, y, f, texture_scale(resolution, textures))
    img = np.empty([n, n, 3], dtype=np.float64)
    sky_shade = 1 - 0.35 * y[..., None]  # vertical gradient in the sky
    img[:] = np.asarray(f["sky"]) * sky_shade
    ground_rgb = np.asarray(f["ground"]) * (1 + 0.5 * f["tex_strength"] * tex[..., None])
    img = np.where(ground[..., None], ground_rgb, img)
    r = f["size"]
    # companion: a smaller disc beside the main shape (coarse: its position follows the pose)
    ox = f["cx"] + 1.6 * r * np.cos(f["companion_dir"])
    oy = f["cy"] + 1.6 * r * np.sin(f["companion_dir"])
    comp = _shape_mask(0, x, y, ox, oy, r * 0.45, 0.0)
    img = np.where(comp[..., None], np.asarray(f["companion_rgb"]), img)
    main = _shape_mask(f["shape"], x, y, f["cx"], f["cy"], r, f["angle"])
    shape_rgb = np.asarray(f["shape_rgb"]) * (1 + f["tex_strength"] * tex[..., None])
    img = np.where(main[..., None], shape_rgb, img)
    img = img.reshape(resolution, supersample, resolution, supersample, 3).mean(axis=(1, 3))
    return np.ascontiguousarray((img.clip(0, 1) * 255 + 0.5).astype(np.uint8).transpose(2, 0, 1))


def render_image(seed: int, index: int, resolution: int = 64, textures: str = "pixel"
                 ) -> tuple[np.ndarray, int, dict[str, Any]]:
    """(image ``[3, R, R]`` uint8, class label = the main shape's kind, factors)."""
    if resolution < 4:
        raise ValueError(f"procedural images need a resolution of at least 4, got {resolution}")
    f = sample_factors(seed, index)
    return render_factors(f, resolution, textures=textures), int(f["shape"]), f


class ProceduralDataset:
    """Indexable like :class:`gan_core.data.ImageDataset`: ``ds[i] -> ([3, R, R] uint8, label [c_dim])``."""

    def __init__(self, count: int, resolution: int = 64, seed: int = 0, labels: bool = False,
                 textures: str = "pixel") -> None:
        if count < 1:
            raise ValueError(f"a procedural dataset needs at least one image, got {count}")
        check_texture_mode(textures)
        self.count, self.res, self.seed, self.use_labels = int(count), int(resolution), int(seed), bool(labels)
        self.textures = textures

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        img, label, _ = render_image(self.seed, int(idx), self.res, self.textures)
        c = np.zeros([len(SHAPES) if self.use_labels else 0], dtype=np.float32)
        if self.use_labels:
            c[label] = 1
        return img, c


def parse_procedural_spec(spec: str) -> tuple[int, int | None]:
    """``'procedural:N[:RES]'`` -> (N, RES or None)."""
    parts = spec.split(":")
    try:
        if parts[0] != "procedural" or len(parts) not in (2, 3):
            raise ValueError
        count = int(parts[1])
        res = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise ValueError(f"cannot read {spec!r}: write procedural:COUNT or procedural:COUNT:RESOLUTION") from None
    if count < 1 or (res is not None and res < 4):
        raise ValueError(f"{spec!r}: the count must be >= 1 and the resolution >= 4")
    return count, res


# Images per task when several processes render: large enough that a task outweighs sending it,
# small enough that the progress bar moves.
RENDER_CHUNK = 256


def _render_encoded(job: tuple[int, int, int, int, str]) -> list[tuple[bytes, int]]:
    """(PNG bytes, label) of images ``start..stop-1``: one task of :func:`write_procedural_zip`."""
    from gan_core.data.images import encode_png

    seed, start, stop, resolution, textures = job
    out = []
    for i in range(start, stop):
        img, label, _ = render_image(seed, i, resolution, textures)
        out.append((encode_png(img.transpose(1, 2, 0)), label))
    return out


def default_render_workers(count: int) -> int:
    """Processes for rendering ``count`` images: the CPU cores (at most 8), one for small sets,
    where starting processes would cost more than it saves."""
    return 1 if count < 2000 else max(1, min(8, os.cpu_count() or 1))


def write_procedural_zip(dest: str | os.PathLike, count: int, resolution: int = 64, seed: int = 0,
                         labels: bool = True, progress: Callable[[int], None] | None = None,
                         workers: int = 1, textures: str = "pixel") -> str:
    """Render ``count`` images into a dataset zip (official layout: ``NNNNN/imgNNNNNNNN.png`` +
    ``dataset.json`` with the shape class labels when ``labels``), written atomically.
    ``workers`` > 1 renders in that many processes; the images and their order are the same.
    ``textures``: "pixel" (default) or "image", the data before 2026-12-06 (module docstring)."""
    from gan_core.data.writer import DatasetZipWriter

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    check_texture_mode(textures)
    jobs = [(seed, start, min(start + RENDER_CHUNK, count), resolution, textures)
            for start in range(0, count, RENDER_CHUNK)]
    with DatasetZipWriter(dest) as w:
        def add(batch: list[tuple[bytes, int]]) -> None:
            for png, label in batch:
                w.add(png, label if labels else None)
            if progress is not None:
                progress(len(batch))

        if workers > 1 and len(jobs) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: this may run inside the app, whose threads a fork would copy mid-state
            with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as ex:
                for batch in ex.map(_render_encoded, jobs):  # in order, so the zip does not depend on workers
                    add(batch)
        else:
            for job in jobs:
                add(_render_encoded(job))
        # texture_full_res tells this data from that of versions before 2026-12-06, whose
        # textures had the same frequency in cycles per image at every resolution (what
        # textures="image" renders; those zips had no "textures" entry).
        w.extra["procedural"] = {"seed": seed, "count": count, "resolution": resolution,
                                 "classes": list(SHAPES) if labels else None, "textures": textures}
        if textures == "pixel":
            w.extra["procedural"]["texture_full_res"] = TEXTURE_FULL_RES
    return os.fspath(dest)
