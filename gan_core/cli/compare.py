"""What ``ganscope swd`` and ``ganscope fid`` share: the networks to compare (one resolution) and
the dataset images, whole or a range (the second half is the noise floor: reals against reals)."""
from __future__ import annotations

from typing import Iterator

import torch

from gan_core.cli.common import CliError, add_device_arg, finite_float, load_generator_for_cli, user_errors


def add_compare_args(p, num: int, num_note: str, batch: int, extra=()) -> None:
    """The options both commands take; ``extra``: (flag, kwargs) pairs placed after --data."""
    p.add_argument("--network", action="append", required=True,
                   help="a generator (official .pkl, ganscope .pt or snapshot, 'demo', 'demo-sg2'); repeat to compare")
    p.add_argument("--data", required=True, help="the reference dataset (zip or folder of images)")
    for flag, kwargs in extra:
        p.add_argument(flag, **kwargs)
    p.add_argument("--num", type=int, default=num, help=f"images per set (default {num}{num_note})")
    p.add_argument("--trunc", type=finite_float, default=1.0, help="truncation psi for the networks (default 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed of the generated images (default 0)")
    p.add_argument("--batch", type=int, default=batch, help=f"images per batch (default {batch})")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_device_arg(p)


def load_networks(specs: list[str], device: torch.device) -> tuple[list[tuple[str, torch.nn.Module]], int]:
    """``[(spec, G), …]`` and their common resolution; a CliError when they differ."""
    nets = []
    for spec in specs:
        with user_errors(f"{spec}: "):
            nets.append((spec, load_generator_for_cli(spec, device)))
    resolution = int(nets[0][1].img_resolution)
    for spec, G in nets:
        if int(G.img_resolution) != resolution:
            raise CliError(f"{spec} makes {G.img_resolution}² images, {nets[0][0]} {resolution}²: compare "
                           f"networks of one resolution")
    return nets, resolution


def count_images(data: str) -> int:
    from gan_core.analysis.image_sources import list_dataset_images

    with user_errors(f"--data {data}: "):
        return len(list_dataset_images(data))


def dataset_range(data: str, start: int, count: int, resolution: int, batch: int) -> Iterator[torch.Tensor]:
    """Images ``start … start+count-1`` of ``data`` (sorted names) at ``resolution``, as RGB
    batches of 0…255 floats (grey images as three equal channels, so grey and colour sets compare)."""
    from gan_core.analysis.image_sources import iter_dataset_images

    with user_errors(f"--data {data}: "):
        skipped = 0
        for images in iter_dataset_images(data, start + count, resolution, batch):
            keep = images[max(0, start - skipped):]     # the images before ``start`` belong to the other half
            skipped += images.shape[0]
            if keep.shape[0]:
                yield rgb(keep)


def generator_images(G: torch.nn.Module, num: int, batch: int, seed: int, truncation_psi: float,
                     device: torch.device) -> Iterator[torch.Tensor]:
    """G's images for seeds ``seed …`` (constant noise), RGB batches of 0…255 floats."""
    from gan_core.analysis.image_sources import iter_generator_images

    return (rgb(x) for x in iter_generator_images(G, num, batch, seed, truncation_psi, device))


def rgb(images: torch.Tensor) -> torch.Tensor:
    """Grey images as three equal channels."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
