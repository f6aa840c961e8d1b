"""``ganscope fid``: Fréchet Inception distance of generators to a dataset, with a local Inception
weights file (pytorch-fid's; nothing is downloaded)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from gan_core.cli.common import CliError, resolve_device, user_errors
from gan_core.cli.compare import add_compare_args, count_images, dataset_range, generator_images, load_networks
from gan_core.progress import progress_bar


def add_parser(sub) -> None:
    p = sub.add_parser("fid", help="Fréchet / kernel Inception distance of generators to a dataset (local weights)",
                       description="FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018; unbiased, for few "
                                   "images) of each network's images to the dataset's, from the "
                                   "2048-d pool features of the FID Inception v3. Needs pytorch-fid's weights file "
                                   "pt_inception-2015-12-05-6726825d.pth (--inception, or GANSCOPE_INCEPTION); "
                                   "it is read as tensors, never run, and nothing is downloaded. The values are "
                                   "pytorch-fid's (the official StyleGAN metrics resize inside TensorFlow and "
                                   "differ slightly); FID falls with more images, so compare equal --num. When the "
                                   "dataset holds twice --num images, its two halves are compared too.")
    add_compare_args(p, 10000, "; the papers use 50000", 32, extra=(
        ("--inception", dict(default=None, help="pt_inception-2015-12-05-6726825d.pth (default "
                                                "$GANSCOPE_INCEPTION)")),))


def _stats(net, stream, total: int, desc: str):
    from gan_core.analysis.fid import FeatureStats, inception_features

    stats = FeatureStats()
    with torch.no_grad(), progress_bar(total=total, desc=desc, unit="img") as bar:
        for images in stream:
            stats.add(inception_features(net, images))
            bar.update(images.shape[0])
    return stats


def run(args) -> int:
    from gan_core.analysis.fid import fid_many, kid_many, load_inception

    for name in ("num", "batch"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.num < 2:
        raise CliError(f"--num must be at least 2 (a covariance), got {args.num}")
    device = resolve_device(args.device)
    with user_errors():
        net = load_inception(args.inception, device)
    nets, resolution = load_networks(args.network, device)
    available = count_images(args.data)
    n_ref = min(args.num, available)
    if n_ref < 2:
        raise CliError(f"--data {args.data}: FID needs at least 2 images, found {available}")
    if n_ref < args.num:
        print(f"note: {args.data} holds {available} images; using all of them as the reference")
    sets = []
    reference = _stats(net, dataset_range(args.data, 0, n_ref, resolution, args.batch), n_ref,
                       f"reals {Path(args.data).name}")
    if available >= 2 * n_ref:
        sets.append((f"reals (images {n_ref}-{2 * n_ref - 1})",
                     _stats(net, dataset_range(args.data, n_ref, n_ref, resolution, args.batch), n_ref,
                            "reals, second half")))
    for spec, G in nets:
        sets.append((spec, _stats(net, generator_images(G, n_ref, args.batch, args.seed, args.trunc, device),
                                  n_ref, f"fakes {Path(spec).name}")))
    with user_errors():
        fids = fid_many(reference, [s for _, s in sets])
        kids = kid_many(reference, [s for _, s in sets])
    rows = [(name, fid, kid) for (name, _), fid, kid in zip(sets, fids, kids)]
    if args.json:
        print(json.dumps({"data": str(args.data), "num": n_ref, "resolution": resolution,
                          "results": [{"source": name, "fid": fid, "kid": kid[0], "kid_std": kid[1]}
                                      for name, fid, kid in rows]}, indent=2))
        return 0
    print(format_table(rows, n_ref, args.data))
    return 0


def format_table(rows: list[tuple[str, float, tuple[float, float]]], num: int, data: str) -> str:
    """FID and KID×10³ (mean ± std over the subsets), a row per source."""
    width = max(len(name) for name, _, _ in rows)
    head = (f"against {num} images of {Path(data).name} (pytorch-fid's Inception); lower is better\n"
            f"{'':<{width}}  {'FID':>10}  {'KID×10³':>16}")
    return "\n".join([head] + [f"{name:<{width}}  {fid:10.3f}  {kid[0] * 1e3:8.3f} ± {kid[1] * 1e3:5.3f}"
                                for name, fid, kid in rows])
