"""``ganscope video``: looping latent walks and StyleGAN3 translate/rotate sweeps to MP4 or GIF."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from gan_core.progress import progress_bar

from gan_core.cli.common import (CliError, add_device_arg, describe_network, finite_float, load_generator_for_cli,
                                 resolve_device, user_errors)

KINDS = ("interp", "translate", "rotate")


def add_parser(sub) -> None:
    p = sub.add_parser("video", help="looping latent walks and translate/rotate sweeps (MP4/GIF)",
                       description="Render a seamless loop to MP4 (H.264, bundled ffmpeg) or GIF. "
                                   "interp: a smooth closed path in W (Catmull-Rom) through the seeds' ws; with a "
                                   "CxR grid the seeds are keyframes x cells (cell i gets seeds i, i+C*R, ...). "
                                   "translate: StyleGAN3 input moved around a circle; rotate: one full turn "
                                   "(one seed per cell).")
    p.add_argument("--network", default="demo", help="checkpoint file (official .pkl or ganscope .pt), or 'demo' (the built-in StyleGAN3-T, the default)")
    p.add_argument("--seeds", required=True, help="seeds, e.g. 0-7")
    p.add_argument("--grid", default="1x1", help="columns x rows of the video, e.g. 2x2 (default 1x1)")
    p.add_argument("--kind", default="interp", choices=KINDS, help="animation (default interp)")
    p.add_argument("--frames", type=int, default=120, help="frames in the loop (default 120)")
    p.add_argument("--output", required=True, help="output file, .mp4 or .gif")
    p.add_argument("--fps", type=finite_float, default=30.0, help="frames per second (default 30)")
    p.add_argument("--trunc", type=finite_float, default=1.0, help="truncation psi (default 1 = none)")
    p.add_argument("--radius", type=finite_float, default=0.1,
                   help="translate: radius of the circle in image units (default 0.1)")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index (conditional models)")
    p.add_argument("--crf", type=int, default=18, help="MP4 quality, 0 (lossless) .. 51 (default 18)")
    add_device_arg(p)


def parse_grid(text: str) -> tuple[int, int]:
    try:
        c, r = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--grid must be COLUMNSxROWS, e.g. 2x2; got {text!r}") from None
    if c < 1 or r < 1:
        raise CliError(f"--grid needs at least 1 column and 1 row, got {text!r}")
    return c, r


def tile_grid(pixels: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """``[cols·rows, H, W, C]`` -> one ``[rows·H, cols·W, C]`` image, row-major."""
    n, h, w, c = pixels.shape
    return pixels.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def run(args) -> int:
    from gan_core.latents import parse_int_list, z_from_seed
    from gan_core.media import to_uint8
    from gan_core.video import VIDEO_FORMATS, VideoError, VideoWriter, catmull_rom_loop

    with user_errors():
        seeds = parse_int_list(args.seeds, "seeds")
    cols, rows = parse_grid(args.grid)
    cells = cols * rows
    if args.frames < 1:
        raise CliError(f"--frames must be at least 1, got {args.frames}")
    if not args.fps > 0:
        raise CliError(f"--fps must be positive, got {args.fps}")
    if Path(args.output).suffix.lower() not in VIDEO_FORMATS:
        raise CliError(f"--output must end in .mp4 or .gif, got {args.output}")
    if args.kind == "interp":
        if len(seeds) % cells or len(seeds) // cells < 2:
            raise CliError(f"--kind interp with a {cols}x{rows} grid needs a multiple of {cells} seeds, at least "
                           f"{2 * cells} (keyframes x cells); got {len(seeds)}")
    elif len(seeds) != cells:
        raise CliError(f"--kind {args.kind} with a {cols}x{rows} grid needs exactly {cells} seeds (one per cell); "
                       f"got {len(seeds)}")
    device = resolve_device(args.device)
    G = load_generator_for_cli(args.network, device)
    if args.kind != "interp" and not G.has_input_transform:
        raise CliError(f"--kind {args.kind} needs a StyleGAN3 model (input transform); "
                       f"{describe_network(args.network)} is a {G.family} model")
    with torch.no_grad(), user_errors():
        c = G.make_c(args.class_idx, len(seeds), device)
        z = torch.cat([z_from_seed(s, G.z_dim, device) for s in seeds])
        ws = G.mapping(z, c, truncation_psi=args.trunc)                        # [len(seeds), num_ws, w_dim]
        if args.kind == "interp":
            keys = ws.reshape(len(seeds) // cells, cells, *ws.shape[1:])        # [K, cells, num_ws, w_dim]
            path = catmull_rom_loop(keys, args.frames)
    try:
        with VideoWriter(args.output, fps=args.fps, crf=args.crf) as vw, torch.no_grad(), user_errors():
            for f in progress_bar(range(args.frames), desc="video", unit="frame"):
                if args.kind == "interp":
                    img = G.synthesis(path[f], noise_mode="const")
                else:
                    phase = 2 * math.pi * f / args.frames
                    if args.kind == "translate":
                        m = G.user_transform_matrix((args.radius * math.cos(phase), args.radius * math.sin(phase)), 0)
                    else:
                        m = G.user_transform_matrix((0.0, 0.0), 360.0 * f / args.frames)
                    img = G.synthesis(ws, noise_mode="const", input_transform=m)
                vw.write(tile_grid(to_uint8(img), cols, rows))
    except VideoError as e:
        raise CliError(str(e)) from None
    print(f"{args.output}: {args.frames} frames, {cols}x{rows} grid of {G.img_resolution}² images, {args.fps:g} fps")
    return 0
