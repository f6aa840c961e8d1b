"""``ganscope style-mix``: a style-mixing grid, the command-line twin of the app's Style mixing panel.

Each cell is a row seed's picture with the chosen ws taken from a column seed: mixing the coarse
ws moves the column seed's layout into the row, mixing the fine ones its colours and textures.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from gan_core.cli.common import (CliError, add_device_arg, finite_float, load_generator_for_cli, resolve_device,
                                 user_errors)
from gan_core.latents import mix_ws, parse_int_list, parse_style_layers, zs_from_seeds
from gan_core.media import enlarge, save_png, to_uint8
from gan_core.models.base import NOISE_MODES

MAX_GRID_SIDE = 64   # seeds per row/column; a bigger grid is a typo more often than a wish


def add_parser(sub) -> None:
    p = sub.add_parser("style-mix", help="style-mixing grid: row seeds with ws from column seeds",
                       description="Render a grid whose top row holds the column seeds, whose left column "
                                   "holds the row seeds, and whose cell (r, c) is row seed r with the ws "
                                   "chosen by --styles taken from column seed c.")
    p.add_argument("--network", default="demo",
                   help="checkpoint file (official .pkl or ganscope .pt), or 'demo' (the default)")
    p.add_argument("--rows", required=True, help="row seeds (the pictures that receive styles), e.g. 0-3")
    p.add_argument("--cols", required=True, help="column seeds (where the mixed ws come from), e.g. 10-13")
    p.add_argument("--styles", default="coarse",
                   help="ws to take from the column seed: coarse, middle, fine, all, joined like "
                        "coarse+middle, or w indices like 0-3 (default coarse)")
    p.add_argument("--trunc", type=finite_float, default=1.0, help="truncation psi (default 1 = none)")
    p.add_argument("--noise-mode", default="const", choices=NOISE_MODES, help="noise inputs (default const)")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index (conditional models)")
    p.add_argument("--scale", type=int, default=1, help="enlarge each cell N times, nearest neighbour (default 1)")
    p.add_argument("--out", default="style_mix.png", help="grid PNG to write (default ./style_mix.png)")
    p.add_argument("--outdir", default=None, help="also write every cell as OUTDIR/ROW-COL.png")
    p.add_argument("--batch", type=int, default=8, help="images per forward pass (default 8)")
    add_device_arg(p)


def assemble_grid(row_imgs: np.ndarray, col_imgs: np.ndarray, cells: np.ndarray, scale: int = 1) -> np.ndarray:
    """uint8 ``[(R+1)·H, (C+1)·W, ch]``: column seeds on top, row seeds on the left, an empty corner."""
    R, C, H, W, ch = cells.shape
    grid = np.full(((R + 1) * H, (C + 1) * W, ch), 0, dtype=np.uint8)
    grid[:H, W:] = col_imgs.transpose(1, 0, 2, 3).reshape(H, C * W, ch)
    grid[H:, :W] = row_imgs.reshape(R * H, W, ch)
    grid[H:, W:] = cells.transpose(0, 2, 1, 3, 4).reshape(R * H, C * W, ch)
    return enlarge(grid, scale)


def run(args) -> int:
    with user_errors():
        rows = parse_int_list(args.rows, "row seeds", limit=MAX_GRID_SIDE)
        cols = parse_int_list(args.cols, "column seeds", limit=MAX_GRID_SIDE)
    if args.batch < 1:
        raise CliError(f"--batch must be at least 1, got {args.batch}")
    if not 1 <= args.scale <= 16:
        raise CliError(f"--scale must be between 1 and 16, got {args.scale}")
    device = resolve_device(args.device)
    G = load_generator_for_cli(args.network, device)
    with user_errors():
        layers = parse_style_layers(args.styles, list(G.ws_resolutions()))
        c = G.make_c(args.class_idx, 1, device)

    def render(ws: torch.Tensor) -> np.ndarray:
        parts = [to_uint8(G.synthesis(ws[i:i + args.batch], noise_mode=args.noise_mode))
                 for i in range(0, len(ws), args.batch)]
        return np.concatenate(parts)

    with torch.no_grad(), user_errors():
        def ws_of(seeds: list[int]) -> torch.Tensor:
            z = zs_from_seeds(seeds, G.z_dim, device)
            return G.mapping(z, c.expand(len(seeds), -1), truncation_psi=args.trunc)
        ws_rows, ws_cols = ws_of(rows), ws_of(cols)
        row_imgs, col_imgs = render(ws_rows), render(ws_cols)
        mixed = mix_ws(ws_rows, ws_cols, layers)
        cells = render(mixed.flatten(0, 1)).reshape(len(rows), len(cols), *row_imgs.shape[1:])
    resolutions = list(G.ws_resolutions())
    meta = json.dumps({"network": args.network, "rows": rows, "cols": cols, "styles": args.styles,
                       "layers": layers, "trunc": args.trunc, "noise_mode": args.noise_mode,
                       "class": args.class_idx})
    with user_errors():
        path = save_png(assemble_grid(row_imgs, col_imgs, cells, args.scale), Path(args.out),
                        text={"ganscope": meta})
        if args.outdir is not None:
            for r, row_seed in enumerate(rows):
                for k, col_seed in enumerate(cols):
                    save_png(cells[r, k], Path(args.outdir) / f"{row_seed:04d}-{col_seed:04d}.png",
                             text={"ganscope": meta})
    used = ", ".join(f"w{i} ({resolutions[i]}²)" for i in layers) or "none"
    print(f"mixed ws from the column seeds: {used}")
    print(path)
    return 0
