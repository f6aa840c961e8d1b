"""``ganscope swd``: sliced Wasserstein distance of generators to a dataset (no pretrained network)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from gan_core.cli.common import CliError, resolve_device, user_errors
from gan_core.cli.compare import add_compare_args, count_images, dataset_range, generator_images, load_networks
from gan_core.progress import progress_bar


def add_parser(sub) -> None:
    p = sub.add_parser("swd", help="sliced Wasserstein distance of generators to a dataset",
                       description="How close generated images are to a dataset, without any pretrained "
                                   "network: the sliced Wasserstein distance between random 7×7 patches of "
                                   "each Laplacian-pyramid level (Progressive GAN, Karras et al. 2018), ×10³, "
                                   "per level from the finest to 16² and their mean; lower is better. When the "
                                   "dataset holds twice --num images, two halves of it are compared too: the "
                                   "noise floor. Numbers compare runs measured with the same settings.")
    add_compare_args(p, 2000, "", 16, extra=(
        ("--patches", dict(type=int, default=64, help="random patches per image and level (default 64)")),
        ("--directions", dict(type=int, default=512, help="random projection directions (default 512)"))))


def _collect(stream, total: int, desc: str, per_image: int, progress: bool = True):
    from gan_core.analysis.swd import PatchSet

    patches = PatchSet(per_image=per_image, seed=0)
    with torch.no_grad(), progress_bar(total=total, desc=desc, unit="img", disable=not progress) as bar:
        for images in stream:
            patches.add(images)
            bar.update(images.shape[0])
    return patches


def run(args) -> int:
    from gan_core.analysis.swd import MIN_RESOLUTION, PatchSet, swd_many

    for name in ("num", "patches", "directions", "batch"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name} must be at least 1, got {getattr(args, name)}")
    device = resolve_device(args.device)
    nets, resolution = load_networks(args.network, device)
    if resolution < MIN_RESOLUTION:
        raise CliError(f"SWD needs images of at least {MIN_RESOLUTION}², the networks make {resolution}²")
    available = count_images(args.data)
    n_ref = min(args.num, available)
    if n_ref < args.num:
        print(f"note: {args.data} holds {available} images; using all of them as the reference")

    def dataset_set(start: int, count: int, desc: str) -> PatchSet:
        return _collect(dataset_range(args.data, start, count, resolution, args.batch), count, desc, args.patches)

    reference = dataset_set(0, n_ref, f"reals {Path(args.data).name}")
    sets: list[tuple[str, PatchSet]] = []
    if available >= 2 * n_ref:
        sets.append((f"reals (images {n_ref}-{2 * n_ref - 1})", dataset_set(n_ref, n_ref, "reals, second half")))
    for spec, G in nets:
        stream = generator_images(G, n_ref, args.batch, args.seed, args.trunc, device)
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
