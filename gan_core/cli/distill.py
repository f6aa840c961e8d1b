"""``ganscope distill``: train a MobileStyleGAN student from a StyleGAN2 teacher, writing a run
directory like ``ganscope train`` (see gan_core.train.distill)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from gan_core.cli.common import (CliError, check_resume_path, finite_float, parse_bool, refuse_built_in_change,
                                 resolve_device, saved_run_options)


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
    a("--teacher", default=None, help="the StyleGAN2 teacher checkpoint, or demo-sg2 (with --resume: the run's own)")
    a("--outdir", default="training-runs", help="parent folder of new run directories (default ./training-runs)")
    a("--run-dir", dest="run_dir", default=None, help="use exactly this run directory")
    a("--kimg", type=finite_float, default=None, help="train for this many thousand images (default 1000)")
    a("--batch", type=int, default=None, help="batch size (default 8)")
    a("--lr", type=finite_float, default=None, help="student learning rate (default 0.0005)")
    a("--dlr", type=finite_float, default=None, help="discriminator learning rate (default 0.0005)")
    a("--channels", type=_ints, default=None, help="student block widths from 4² up, comma-separated "
      "(default: the teacher's width at each resolution up to R/2)")
    a("--pixel-l1", type=finite_float, default=None, help="weight of the pixel L1 losses (default 1)")
    a("--pixel-l2", type=finite_float, default=None, help="weight of the pixel L2 losses (default 1)")
    a("--wavelet-l1", type=finite_float, default=None, help="weight of the wavelet-domain L1 losses (default 1)")
    a("--wavelet-l2", type=finite_float, default=None, help="weight of the wavelet-domain L2 losses (default 1)")
    a("--gan", type=finite_float, default=None, help="weight of the non-saturating GAN loss (default 0.1; 0: no D)")
    a("--r1-gamma", type=finite_float, default=None, help="R1 weight of the discriminator (default 0: off)")
    a("--perceptual", type=finite_float, default=None, help="weight of the perceptual loss (default 1)")
    a("--perceptual-net", default=None, help="local VGG-style weights file (torchvision layout, e.g. "
      "vgg16-397923af.pth) for the perceptual loss; without it the perceptual loss is off")
    a("--d-cbase", type=int, default=None, help="discriminator channel base (default: the teacher's)")
    a("--d-cmax", type=int, default=None, help="discriminator max channels (default: the teacher's)")
    a("--trunc", type=finite_float, default=None, help="teacher truncation psi for the targets (default 1)")
    a("--tick", type=finite_float, default=None, help="kimg per progress tick (default 1)")
    a("--tick-seconds", type=finite_float, default=None, help="end a tick after at most this many seconds (default 60)")
    a("--snap", type=int, default=None, help="snapshot every N ticks (default 10; 0: only at the end)")
    a("--preview-interval", type=finite_float, default=None, help="seconds between live previews (default 10)")
    a("--resume", default=None, help="continue from a distillation snapshot (or its run directory) with the "
      "run's own options; options given here change them")
    a("--fp32", default=None, type=parse_bool, nargs="?", const=True, metavar="BOOL",
      help="float32 only (default true); --fp32 false: the student, D and perceptual network under autocast "
           "float16 with loss scaling, on CUDA")
    a("--seed", type=int, default=None, help="random seed (default 0)")
    a("--device", default="auto", help="auto, cpu or cuda (default auto)")
    a("--gpus", type=int, default=None, help="number of processes/GPUs (default 1; >1 starts them, or use "
      "torchrun); --batch is split over them")
    a("--no-progress", action="store_true", help="no progress bar (log lines instead)")


# argparse dest -> DistillOptions field, where the names differ
_FIELD = {"dlr": "lr_D", "trunc": "truncation_psi"}
# Not options of the run (where it goes, what runs it, how it reports).
_NOT_OPTIONS = {"command", "outdir", "run_dir", "resume", "device", "no_progress", "gpus"}
# What the student and D are built with: a resume takes them from the snapshot.
_BUILT_IN = {"channels", "d_cbase", "d_cmax"}


def distill_options(args) -> dict:
    """DistillOptions fields: the defaults, then (resuming) the run's training_options.json, then
    the options given on the command line. Raises ValueError for what cannot be."""
    import dataclasses

    from gan_core.models.demo import NAMED_DEMOS
    from gan_core.train.distill import CFG_NAME, DistillOptions

    fields = {f.name for f in dataclasses.fields(DistillOptions)}
    base: dict = {}
    saved: dict = {}
    if args.resume:
        check_resume_path(args.resume)
        saved = saved_run_options(args.resume)
        if saved and saved.get("cfg") != CFG_NAME:
            raise ValueError(f"--resume {args.resume}: a {saved.get('cfg')} training run, not a distillation run "
                             f"(continue it with `ganscope train --resume`)")
        base = {k: v for k, v in saved.items() if k in fields and k not in ("run_dir", "resume", "device")}
    for name, value in vars(args).items():
        if name in _NOT_OPTIONS or value is None:
            continue
        field = _FIELD.get(name, name)
        if field in _BUILT_IN and field in saved:
            refuse_built_in_change("--" + name.replace("_", "-"), saved[field], value)
        base[field] = value
    if not base.get("teacher"):
        raise ValueError("--teacher is required (the StyleGAN2 checkpoint to distill, or demo-sg2)")
    if base["teacher"] == "demo":
        raise ValueError("--teacher demo is the built-in StyleGAN3-T; the teacher must be a StyleGAN2: "
                         "demo-sg2, or a checkpoint file")
    if base["teacher"] not in NAMED_DEMOS:      # else the built-in StyleGAN2, by name
        if not Path(base["teacher"]).exists():
            raise ValueError(f"--teacher {base['teacher']}: no such file"
                             + (" (the run's teacher moved? give its place with --teacher)" if "teacher" in saved
                                and args.teacher is None else ""))
        base["teacher"] = os.path.abspath(base["teacher"])
    if base.get("perceptual_net"):
        base["perceptual_net"] = os.path.abspath(base["perceptual_net"])
    for k in ("grid", "betas"):
        if isinstance(base.get(k), list):
            base[k] = tuple(base[k])
    return base


def _distill(opts, progress: bool) -> None:
    from gan_core.train.distill import distill

    distill(opts, progress=progress)


def run(args) -> int:
    from gan_core.cli.processes import USER_ERRORS, SpawnedProcessFailed, run_local_processes
    from gan_core.io import CheckpointError
    from gan_core.train.distill import DistillOptions, distill
    from gan_core.train.rundir import next_run_dir

    world_env = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        fields = distill_options(args)
        if args.gpus is not None and args.gpus < 1:
            raise ValueError(f"--gpus must be at least 1, got {args.gpus}")
        if world_env > 1 and args.gpus not in (None, world_env):
            raise ValueError(f"--gpus {args.gpus} does not match torchrun's {world_env} processes")
    except ValueError as e:
        raise CliError(str(e)) from None
    device = resolve_device(args.device)
    run_dir = args.run_dir
    if run_dir is None and args.resume and Path(args.resume).is_dir():
        run_dir = args.resume
    if run_dir is None:
        run_dir = str(next_run_dir(args.outdir, f"distill-{Path(fields['teacher']).stem}-b{fields.get('batch', 8)}"))
    progress = not args.no_progress
    try:
        opts = DistillOptions(**fields, run_dir=str(run_dir), device=str(device), resume=args.resume).check()
        if (args.gpus or 1) > 1 and world_env == 1:
            run_local_processes(_distill, args.gpus, opts, progress, user_errors=USER_ERRORS + ("ValueError",))
            state = "done"
        else:
            state = distill(opts, progress=progress)
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - one line here, the traceback is in log.txt
        if isinstance(e, CliError):
            raise
        what = str(e) if isinstance(e, SpawnedProcessFailed) else f"{type(e).__name__}: {e}"
        print(f"ganscope distill: failed: {what}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"ganscope distill: {state} ({run_dir})")
    return 0
