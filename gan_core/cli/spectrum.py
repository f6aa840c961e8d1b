"""``ganscope spectrum``: average power spectra of generators and datasets (npz + PNG)."""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from gan_core.progress import progress_bar

from gan_core.cli.common import (CliError, add_device_arg, finite_float, load_generator_for_cli, resolve_device,
                                 user_errors)


def add_parser(sub) -> None:
    p = sub.add_parser("spectrum", help="average power spectrum of generators / datasets",
                       description="Average power spectrum (Alias-Free GAN paper): images whitened with one "
                                   "mean/std, 2-D Kaiser window, zero-padded, |FFT|^2 averaged. Writes an npz "
                                   "(DC at [0, 0]) and optionally a PNG with heatmaps and 0°/45° slices of all "
                                   "sources overlaid.")
    p.add_argument("--source", action="append", required=True,
                   help="a network (official .pkl, ganscope .pt, 'demo') or a dataset (folder or zip of "
                        "images); repeat to compare. Prefix with network: or dataset: to force the kind")
    p.add_argument("--num", type=int, default=100, help="images per source (default 100)")
    p.add_argument("--output", required=True, help="output .npz file")
    p.add_argument("--png", default=None, help="also draw the figure to this PNG file")
    p.add_argument("--beta", type=finite_float, default=8.0, help="Kaiser window beta (default 8)")
    p.add_argument("--interp", type=int, default=4, help="zero-padding factor (default 4)")
    p.add_argument("--resolution", type=int, default=None,
                   help="image size; datasets are resized to it (default: the first source's)")
    p.add_argument("--mean", type=finite_float, default=None, help="whitening mean in 0..255 units "
                   "(default: from the first dataset source, else the first source)")
    p.add_argument("--std", type=finite_float, default=None, help="whitening std (default: as --mean)")
    p.add_argument("--db-range", default=None, help="heatmap/plot range LO,HI in dB (default: 60 dB below the max)")
    p.add_argument("--trunc", type=finite_float, default=1.0, help="truncation psi for networks (default 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed for network samples (default 0)")
    p.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    add_device_arg(p)


def _is_torch_zip(path: Path) -> bool:
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("data.pkl") for n in z.namelist())


def classify_source(spec: str) -> tuple[str, str]:
    """``'network'|'dataset'`` and the path for one ``--source`` value."""
    for kind in ("network", "dataset"):
        if spec.startswith(kind + ":"):
            return kind, spec[len(kind) + 1:]
    from gan_core.models.demo import DEMO_NAME, NAMED_DEMOS, is_demo_name

    if is_demo_name(spec):     # a built-in model by name
        return "network", spec
    p = Path(spec)
    if not p.exists():
        names = ", ".join(repr(n) for n in (DEMO_NAME, *NAMED_DEMOS))
        raise CliError(f"source {spec} does not exist (give a network file, a built-in model ({names}), "
                       f"or a folder/zip of images)")
    if p.is_dir():
        return "dataset", spec
    if zipfile.is_zipfile(p) and not _is_torch_zip(p):
        return "dataset", spec
    return "network", spec


def _save_npz_atomic(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args) -> int:
    from gan_core.analysis.image_sources import first_image_resolution, iter_dataset_images, iter_generator_images
    from gan_core.analysis.spectrum import SpectrumAccumulator, slices

    if args.num < 1:
        raise CliError(f"--num must be at least 1, got {args.num}")
    if args.batch < 1:
        raise CliError(f"--batch must be at least 1, got {args.batch}")
    if args.interp < 1:
        raise CliError(f"--interp must be at least 1, got {args.interp}")
    if (args.std is not None) and not args.std > 0:
        raise CliError(f"--std must be positive, got {args.std}")
    db_range = None
    if args.db_range is not None:
        try:
            lo, hi = (float(v) for v in args.db_range.split(","))
        except ValueError:
            raise CliError(f"--db-range must be LO,HI in dB, e.g. -60,0; got {args.db_range!r}") from None
        if not hi > lo:
            raise CliError(f"--db-range needs LO < HI, got {args.db_range!r}")
        db_range = (lo, hi)
    output = Path(args.output)
    if output.suffix != ".npz":
        raise CliError(f"--output must end in .npz, got {output}")
    device = resolve_device(args.device)
    sources = [classify_source(s) for s in args.source]
    resolution = args.resolution
    accs: list[SpectrumAccumulator] = []
    for kind, spec in sources:
        with user_errors(f"{spec}: "):
            if kind == "network":
                G = load_generator_for_cli(spec, device)
                res = int(G.img_resolution)
                if resolution is None:
                    resolution = res
                if res != resolution:
                    raise CliError(f"network {spec} makes {res}² images but the spectrum is for {resolution}²; "
                                   f"compare sources of one resolution")
                stream = iter_generator_images(G, args.num, args.batch, args.seed, args.trunc, device)
                total = args.num
            else:
                if resolution is None:
                    resolution = first_image_resolution(spec)
                stream = iter_dataset_images(spec, args.num, resolution, args.batch,
                                             channels=3)
                from gan_core.analysis.image_sources import list_dataset_images
                total = min(args.num, len(list_dataset_images(spec)))
            acc = SpectrumAccumulator(resolution, beta=args.beta, interp=args.interp)
            with torch.no_grad(), progress_bar(total=total, desc=f"spectrum {Path(spec).name}", unit="img") as bar:
                for images in stream:
                    if images.shape[1] == 1:
                        images = images.expand(-1, 3, -1, -1)
                    acc.add(images)
                    bar.update(images.shape[0])
        accs.append(acc)
    ref = next((a for (k, _), a in zip(sources, accs) if k == "dataset"), accs[0])
    mean = ref.pixel_mean if args.mean is None else args.mean
    std = ref.pixel_std if args.std is None else args.std
    with user_errors():
        spectra = [a.spectrum(mean, std) for a in accs]
    names = [spec for _, spec in sources]
    cut = [slices(s) for s in spectra]
    _save_npz_atomic(output, spectra=np.stack(spectra), sources=np.array(names), kinds=np.array([k for k, _ in sources]),
                     counts=np.array([a.num_images for a in accs]), mean=np.float64(mean), std=np.float64(std),
                     beta=np.float64(args.beta), interp=np.int64(args.interp), resolution=np.int64(resolution),
                     slice0_freq=cut[0]["0"][0], slice0=np.stack([c["0"][1] for c in cut]),
                     slice45_freq=cut[0]["45"][0], slice45=np.stack([c["45"][1] for c in cut]))
    print(f"{output}: {len(spectra)} spectra of {resolution}² images, {spectra[0].shape[0]}² bins, "
          f"whitened with mean {mean:.2f}, std {std:.2f}")
    if args.png:
        from gan_core.analysis.plot import spectrum_figure
        png = Path(args.png)
        png.parent.mkdir(parents=True, exist_ok=True)
        fig = spectrum_figure([(Path(n).name if n != "demo" else n, s) for n, s in zip(names, spectra)], db_range)
        tmp = png.with_name(png.name + ".tmp")
        fig.save(tmp, format="PNG")
        tmp.replace(png)
        print(png)
    return 0
