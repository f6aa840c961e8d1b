"""``ganscope swd``: sliced Wasserstein distance of generators to a dataset (no pretrained network)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from gan_core.cli.common import (CliError, add_device_arg, finite_float, load_generator_for_cli, resolve_device,
                                 user_errors)
from gan_core.progress import progress_bar


def add_parser(sub) -> None:
    p = sub.add_parser("swd", help="sliced Wasserstein distance of generators to a dataset",
                       description="How close generated images are to a dataset, without any pretrained "
                                   "network: the sliced Wasserstein distance between random 7×7 patches of "
                                   "each Laplacian-pyramid level (Progressive GAN, Karras et al. 2018), ×10³, "
                                   "per level from the finest to 16² and their mean; lower is better. When the "
                                   "dataset holds twice --num images, two halves of it are compared too: the "
                                   "noise floor. Numbers compare runs measured with the same settings.")
    p.add_argument("--network", action="append", required=True,
                   help="a generator (official .pkl, ganscope .pt or snapshot, 'demo', 'demo-sg2'); repeat to compare")
    p.add_argument("--data", required=True, help="the reference dataset (zip or folder of images)")
    p.add_argument("--num", type=int, default=2000, help="images per set (default 2000)")
    p.add_argument("--patches", type=int, default=64, help="random patches per image and level (default 64)")
    p.add_argument("--directions", type=int, default=512, help="random projection directions (default 512)")
    p.add_argument("--trunc", type=finite_float, default=1.0, help="truncation psi for the networks (default 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed of the generated images (default 0)")
    p.add_argument("--batch", type=int, default=16, help="images per batch (default 16)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_device_arg(p)


def _collect(stream, total: int, desc: str, per_image: int, progress: bool = True):
    from gan_core.analysis.swd import PatchSet

    patches = PatchSet(per_image=per_image, seed=0)
    with torch.no_grad(), progress_bar(total=total, desc=desc, unit="img", disable=not progress) as bar:
        for images in stream:
            patches.add(images)
            bar.update(images.shape[0])
    return patches


def run(args) -> int:
    from gan_core.analysis.image_sources import iter_dataset_images, iter_generator_images, list_dataset_images
    from gan_core.analysis.swd import MIN_RESOLUTION, PatchSet, swd_many

    for name in ("num", "patches", "directions", "batch"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name} must be at least 1, got {getattr(args, name)}")
    device = resolve_device(args.device)
    nets = []
    for spec in args.network:
        with user_errors(f"{spec}: "):
            nets.append((spec, load_generator_for_cli(spec, device)))
    resolution = int(nets[0][1].img_resolution)
    for spec, G in nets:
        if int(G.img_resolution) != resolution:
            raise CliError(f"{spec} makes {G.img_resolution}² images, {nets[0][0]} {resolution}²: compare "
                           f"networks of one resolution")
    if resolution < MIN_RESOLUTION:
        raise CliError(f"SWD needs images of at least {MIN_RESOLUTION}², the networks make {resolution}²")
    with user_errors(f"--data {args.data}: "):
        available = len(list_dataset_images(args.data))
    n_ref = min(args.num, available)
    if n_ref < args.num:
        print(f"note: {args.data} holds {available} images; using all of them as the reference")

    def dataset_set(start: int, count: int, desc: str) -> PatchSet:
        with user_errors(f"--data {args.data}: "):
            stream = iter_dataset_images(args.data, start + count, resolution, args.batch)
            skipped = 0

            def tail():
                nonlocal skipped
                for images in stream:     # the images before ``start`` belong to the other half
                    keep = images[max(0, start - skipped):]
                    skipped += images.shape[0]
                    if keep.shape[0]:
                        yield _rgb(keep)
            return _collect(tail(), count, desc, args.patches)

    reference = dataset_set(0, n_ref, f"reals {Path(args.data).name}")
    sets: list[tuple[str, PatchSet]] = []
    if available >= 2 * n_ref:
        sets.append((f"reals (images {n_ref}-{2 * n_ref - 1})", dataset_set(n_ref, n_ref, "reals, second half")))
    for spec, G in nets:
        stream = (_rgb(x) for x in iter_generator_images(G, n_ref, args.batch, args.seed, args.trunc, device))
        sets.append((spec, _collect(stream, n_ref, f"fakes {Path(spec).name}", args.patches)))
    with user_errors():
        rows = list(zip([name for name, _ in sets], swd_many(reference, [p for _, p in sets], args.directions)))
    if args.json:
        print(json.dumps({"data": str(args.data), "num": n_ref, "patches": args.patches,
                          "directions": args.directions, "resolution": resolution,
                          "results": [{"source": name, **vals} for name, vals in rows]}, indent=2))
        return 0
    keys = list(rows[0][1])
    width = max(len(name) for name, _ in rows)
    print(f"SWD ×10³ against {n_ref} images of {Path(args.data).name} ({args.patches} patches per image and "
          f"level, {args.directions} directions); lower is better")
    print(" " * width + "".join(f"{(k + '²') if k.isdigit() else k:>9}" for k in keys))
    for name, vals in rows:
        print(f"{name:<{width}}" + "".join(f"{vals[k]:9.2f}" for k in keys))
    return 0


def _rgb(images: torch.Tensor) -> torch.Tensor:
    """Grey images as three equal channels, so grey and colour sets compare."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
