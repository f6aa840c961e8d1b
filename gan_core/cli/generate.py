"""``ganscope generate``: images for a list of seeds, as the official generator script makes them."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from gan_core.progress import progress_bar

from gan_core.cli.common import (CliError, add_device_arg, finite_float, load_generator_for_cli, resolve_device,
                                 user_errors)
from gan_core.latents import parse_float_pair, parse_int_list, z_from_seed
from gan_core.media import save_png, to_uint8
from gan_core.models.base import NOISE_MODES


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="render images for seeds",
                       description="Render one PNG per seed (seed -> z with numpy RandomState(seed).randn, "
                                   "official uint8 conversion), written as OUTDIR/seedNNNN.png.")
    p.add_argument("--network", default="demo", help="checkpoint file (official .pkl or ganscope .pt), or 'demo' (the built-in StyleGAN3-T, the default)")
    p.add_argument("--seeds", required=True, help="seeds, e.g. 0-3,7")
    p.add_argument("--trunc", type=finite_float, default=1.0, help="truncation psi (default 1 = none)")
    p.add_argument("--trunc-cutoff", type=int, default=None,
                   help="truncate only the first N ws (default: all)")
    p.add_argument("--noise-mode", default="const", choices=NOISE_MODES, help="noise inputs (default const)")
    p.add_argument("--translate", default="0,0", help="StyleGAN3 input translation X,Y in image units")
    p.add_argument("--rotate", type=finite_float, default=0.0, help="StyleGAN3 input rotation in degrees")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index (conditional models)")
    p.add_argument("--outdir", default="out", help="output folder (default ./out)")
    p.add_argument("--batch", type=int, default=1, help="images per forward pass (default 1)")
    add_device_arg(p)


def run(args) -> int:
    with user_errors():
        seeds = parse_int_list(args.seeds, "seeds")
        translate = parse_float_pair(args.translate, "--translate")
    if args.batch < 1:
        raise CliError(f"--batch must be at least 1, got {args.batch}")
    if args.trunc_cutoff is not None and args.trunc_cutoff < 0:
        raise CliError(f"--trunc-cutoff must be >= 0, got {args.trunc_cutoff}")
    device = resolve_device(args.device)
    G = load_generator_for_cli(args.network, device)
    transform = None
    if translate != (0.0, 0.0) or args.rotate != 0:
        if not G.has_input_transform:
            raise CliError(f"--translate/--rotate need a StyleGAN3 model; this is a {G.family} model")
        transform = G.user_transform_matrix(translate=translate, rotate_deg=args.rotate)
    outdir = Path(args.outdir)
    with user_errors():
        c_one = G.make_c(args.class_idx, 1, device)
    settings = {"network": args.network, "trunc": args.trunc, "trunc_cutoff": args.trunc_cutoff,
                "noise_mode": args.noise_mode, "translate": list(translate), "rotate": args.rotate,
                "class": args.class_idx}
    extra = {} if transform is None else {"input_transform": transform}
    with torch.no_grad(), user_errors():
        for start in progress_bar(range(0, len(seeds), args.batch), desc="generate", unit="batch",
                          disable=len(seeds) <= args.batch):
            batch = seeds[start:start + args.batch]
            z = torch.cat([z_from_seed(s, G.z_dim, device) for s in batch])
            ws = G.mapping(z, c_one.expand(len(batch), -1), truncation_psi=args.trunc,
                           truncation_cutoff=args.trunc_cutoff)
            img = G.synthesis(ws, noise_mode=args.noise_mode, **extra)
            for seed, pixels in zip(batch, to_uint8(img)):
                meta = json.dumps({**settings, "seed": seed})
                path = save_png(pixels, outdir / f"seed{seed:04d}.png", text={"ganscope": meta})
                print(path)
    return 0
