"""The seed grids in README and assets/README.md: seeds 0-15 of a model, 8 x 2, nearest-neighbour upscaled.

    python docs/make_demo_grid.py demo docs/images/demo_seeds.png
    python docs/make_demo_grid.py demo-sg2 docs/images/demo_sg2_seeds.png
    python docs/make_demo_grid.py run/network-snapshot-000040.pt preview.png --trunc 0.7

Any network `ganscope generate` takes; seeds map to z as there (numpy RandomState(seed).randn),
constant noise. A conditional model draws each seed's class from the seed (`gan_core.cs_from_seeds`,
as the metrics do) unless `--class N` names one.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gan_core  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("network")
    p.add_argument("output")
    p.add_argument("--seeds", type=int, default=16)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--scale", type=int, default=3)
    p.add_argument("--trunc", type=float, default=1.0)
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class of a conditional model")
    args = p.parse_args(argv)
    G = gan_core.load_generator(args.network, device="cpu")
    with torch.no_grad():
        seeds = list(range(args.seeds))
        z = gan_core.zs_from_seeds(seeds, G.z_dim)
        c = (gan_core.cs_from_seeds(seeds, G.c_dim) if G.c_dim and args.class_idx is None
             else G.make_c(args.class_idx, args.seeds, "cpu"))
        ws = G.mapping(z, c, truncation_psi=args.trunc)
        imgs = gan_core.to_uint8(G.synthesis(ws, noise_mode="const"))  # [N, H, W, 3]
    n, h, w, _ = imgs.shape
    rows = -(-n // args.cols)
    grid = np.zeros([rows * h, args.cols * w, 3], np.uint8)
    for i, img in enumerate(imgs):
        r, c = divmod(i, args.cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    big = Image.fromarray(grid).resize((grid.shape[1] * args.scale, grid.shape[0] * args.scale), Image.NEAREST)
    big.save(args.output)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
