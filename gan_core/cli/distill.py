"""``ganscope distill``: train a MobileStyleGAN student from a StyleGAN2 teacher, writing a run
directory like ``ganscope train`` (see gan_core.train.distill)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from gan_core.cli.common import CliError, finite_float, resolve_device


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None


_ints.__name__ = "list of integers"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "distill", help="distill a MobileStyleGAN student from a StyleGAN2 teacher",
        description="Knowledge distillation of MobileStyleGAN from a StyleGAN2 generator (a ganscope .pt, an "
                    "official NVIDIA .pkl or a rosinality file): pixel and wavelet L1/L2 losses at every scale, a "
                    "non-saturating GAN loss with a StyleGAN2 discriminator and, with --perceptual-net, a perceptual "
                    "loss. No dataset is needed: the teacher makes the targets. Writes OUTDIR/NNNNN-distill-… "
                    "(or --run-dir) with the same files as `ganscope train`, so the app can follow it.")
    a = p.add_argument
    a("--teacher", required=True, help="the StyleGAN2 teacher checkpoint")
    a("--outdir", default="training-runs", help="parent folder of new run directories (default ./training-runs)")
    a("--run-dir", dest="run_dir", default=None, help="use exactly this run directory")
    a("--kimg", type=finite_float, default=1000.0, help="train for this many thousand images (default 1000)")
    a("--batch", type=int, default=8, help="batch size (default 8)")
    a("--lr", type=finite_float, default=5e-4, help="student learning rate (default 0.0005)")
    a("--dlr", type=finite_float, default=5e-4, help="discriminator learning rate (default 0.0005)")
    a("--channels", type=_ints, default=None, help="student block widths from 4² up, comma-separated "
      "(default: the teacher's width at each resolution up to R/2)")
    a("--pixel-l1", type=finite_float, default=1.0, help="weight of the pixel L1 losses (default 1)")
    a("--pixel-l2", type=finite_float, default=1.0, help="weight of the pixel L2 losses (default 1)")
    a("--wavelet-l1", type=finite_float, default=1.0, help="weight of the wavelet-domain L1 losses (default 1)")
    a("--wavelet-l2", type=finite_float, default=1.0, help="weight of the wavelet-domain L2 losses (default 1)")
    a("--gan", type=finite_float, default=0.1, help="weight of the non-saturating GAN loss (default 0.1; 0: no D)")
    a("--r1-gamma", type=finite_float, default=0.0, help="R1 weight of the discriminator (default 0: off)")
    a("--perceptual", type=finite_float, default=1.0, help="weight of the perceptual loss (default 1)")
    a("--perceptual-net", default=None, help="local VGG-style weights file (torchvision layout, e.g. "
      "vgg16-397923af.pth) for the perceptual loss; without it the perceptual loss is off")
    a("--d-cbase", type=int, default=None, help="discriminator channel base (default: the teacher's)")
    a("--d-cmax", type=int, default=None, help="discriminator max channels (default: the teacher's)")
    a("--trunc", type=finite_float, default=1.0, help="teacher truncation psi for the targets (default 1)")
    a("--tick", type=finite_float, default=1.0, help="kimg per progress tick (default 1)")
    a("--tick-seconds", type=finite_float, default=60.0, help="end a tick after at most this many seconds (default 60)")
    a("--snap", type=int, default=10, help="snapshot every N ticks (default 10; 0: only at the end)")
    a("--preview-interval", type=finite_float, default=10.0, help="seconds between live previews (default 10)")
    a("--resume", default=None, help="continue from a distillation snapshot (or its run directory)")
    a("--seed", type=int, default=0, help="random seed (default 0)")
    a("--device", default="auto", help="auto, cpu or cuda (default auto)")
    a("--no-progress", action="store_true", help="no progress bar (log lines instead)")


def run(args) -> int:
    from gan_core.io import CheckpointError
    from gan_core.train.distill import DistillOptions, distill
    from gan_core.train.rundir import next_run_dir

    if not Path(args.teacher).exists():
        raise CliError(f"--teacher {args.teacher}: no such file")
    device = resolve_device(args.device)
    run_dir = args.run_dir
    if run_dir is None and args.resume and Path(args.resume).is_dir():
        run_dir = args.resume
    if run_dir is None:
        run_dir = str(next_run_dir(args.outdir, f"distill-{Path(args.teacher).stem}-b{args.batch}"))
    try:
        opts = DistillOptions(
            teacher=os.path.abspath(args.teacher), run_dir=str(run_dir), kimg=args.kimg, batch=args.batch,
            lr=args.lr, lr_D=args.dlr, channels=args.channels, pixel_l1=args.pixel_l1, pixel_l2=args.pixel_l2,
            wavelet_l1=args.wavelet_l1, wavelet_l2=args.wavelet_l2, gan=args.gan, r1_gamma=args.r1_gamma,
            perceptual=args.perceptual,
            perceptual_net=os.path.abspath(args.perceptual_net) if args.perceptual_net else None,
            d_cbase=args.d_cbase, d_cmax=args.d_cmax, truncation_psi=args.trunc, tick=args.tick,
            tick_seconds=args.tick_seconds, snap=args.snap, preview_interval=args.preview_interval,
            seed=args.seed, device=str(device), resume=args.resume).check()
        state = distill(opts, progress=not args.no_progress)
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - one line here, the traceback is in log.txt
        print(f"ganscope distill: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ganscope distill: {state} ({run_dir})")
    return 0
