"""``ganscope equivariance``: EQ-T, EQ-T_frac and EQ-R of a StyleGAN3 generator (PSNR, dB)."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from gan_core.progress import progress_bar

from gan_core.cli.common import (CliError, add_device_arg, describe_network, finite_float, load_generator_for_cli,
                                 resolve_device, user_errors)


def add_parser(sub) -> None:
    p = sub.add_parser("equivariance", help="EQ-T / EQ-T_frac / EQ-R of a StyleGAN3 generator",
                       description="Equivariance metrics of the Alias-Free GAN paper: PSNR (dB, signal range 2) "
                                   "between g(t(z)) and t(g(z)) over the valid region, pooled over --num random "
                                   "latents. eqt: whole-pixel translations, eqt_frac: sub-pixel translations "
                                   "(both uniform in ±1/8 of the image), eqr: rotations (uniform angle).")
    p.add_argument("--network", default="demo", help="StyleGAN3 checkpoint (official .pkl or ganscope .pt), or 'demo' (the built-in StyleGAN3-T, the default)")
    p.add_argument("--num", type=int, default=100, help="number of latents (default 100; the paper uses 50000)")
    p.add_argument("--metrics", default="eqt,eqt_frac,eqr", help="comma list of eqt, eqt_frac, eqr (default all)")
    p.add_argument("--json", default=None, help="write {metric: dB} to this JSON file (null where the PSNR is "
                   "infinite, i.e. zero error, or undefined)")
    p.add_argument("--seed", type=int, default=0, help="random seed for latents and transforms (default 0)")
    p.add_argument("--batch", type=int, default=4, help="latents per forward pass (default 4)")
    p.add_argument("--trunc", type=finite_float, default=1.0, help="truncation psi (default 1 = none, as the paper)")
    add_device_arg(p)


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args) -> int:
    from gan_core.analysis.equivariance import METRIC_LABELS, compute_equivariance, parse_metrics, require_input_transform
    with user_errors():
        metrics = parse_metrics(args.metrics)
    if args.num < 1:
        raise CliError(f"--num must be at least 1, got {args.num}")
    if args.batch < 1:
        raise CliError(f"--batch must be at least 1, got {args.batch}")
    device = resolve_device(args.device)
    G = load_generator_for_cli(args.network, device)
    with user_errors():
        require_input_transform(G, describe_network(args.network))
    with progress_bar(total=args.num, desc="equivariance", unit="latent") as bar, user_errors():
        result = compute_equivariance(G, args.num, metrics, seed=args.seed, batch=args.batch,
                                      truncation_psi=args.trunc, device=device, progress=bar.update)
    for m in metrics:
        print(f"{METRIC_LABELS[m]:<10} {result[m]:8.3f} dB")
    if args.json:
        clean = {m: (v if math.isfinite(v) else None) for m, v in result.items()}   # strict JSON
        _write_json_atomic(Path(args.json), clean)
        print(args.json)
    return 0
