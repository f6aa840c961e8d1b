"""``ganscope train``: train StyleGAN2 / StyleGAN3-T / StyleGAN3-R, StyleGAN1 (progressive growing)
or BigGAN / BigGAN-deep, writing a run directory.

Multi-GPU / multi-node: ``torchrun --nproc_per_node N -m gan_core train ...`` (or ``--gpus N``,
which starts N local processes itself). ``--resume RUN_DIR`` alone continues a run in place with
its saved options; options given on the command line override them (e.g. a larger --kimg).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from gan_core.cli.common import (CliError, check_resume_path, finite_float, parse_bool, refuse_built_in_change,
                                 saved_run_options)
from gan_core.cli.processes import SpawnedProcessFailed, run_local_processes
from gan_core.train.options import AUGPIPES

# CLI flag -> TrainOptions field, for the flags whose names differ
_FIELD = {"batch_gpu": "batch_gpu", "keep_snapshots": "keep_snapshots", "preview_interval": "preview_interval",
          "zdim": "z_dim", "wdim": "w_dim", "mbstd_group": "mbstd_group", "style_mixing": "style_mixing",
          "pl_weight": "pl_weight", "blur_sigma": "blur_sigma", "tick_seconds": "tick_seconds",
          "strict": "strict_data", "phase_kimg": "phase_kimg", "start_res": "start_res", "d_steps": "d_steps",
          "ema_start": "ema_start", "d_warmup": "d_warmup"}
_NOT_OPTIONS = {"command"}
# Options baked into the networks when a run starts; a resume takes the networks from its snapshot.
_BUILT_IN = {"cfg", "cbase", "cmax", "d_cbase", "d_cmax", "map", "z_dim", "w_dim", "mbstd_group", "cond", "fp32",
             "freezed", "layers", "margin"}
# D's widths default to G's: a run saved before --d-cbase/--d-cmax existed was built with those.
_SAVED_FALLBACK = {"d_cbase": "cbase", "d_cmax": "cmax"}

# Flags (argparse dests) that mean nothing for a family: given on the command line they are an error.
_STYLEGAN_ONLY = ("batch_gpu", "pl_weight", "blur_sigma", "d_warmup", "freezed", "d_cbase", "d_cmax", "bf16", "layers",
                  "margin")
_NOT_FOR = {
    "stylegan1": _STYLEGAN_ONLY + ("dlr", "workers"),
    "biggan": _STYLEGAN_ONLY + ("gamma", "style_mixing", "mbstd_group", "ema_kimg"),
}
_NOT_FOR["biggan-deep"] = _NOT_FOR["biggan"]
_WHY = {"stylegan1": "progressive growing, one learning rate (--glr), data read in-process",
        "biggan": "hinge loss, projection discriminator",
        "biggan-deep": "hinge loss, projection discriminator"}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a StyleGAN2/StyleGAN3 model",
        description="Train StyleGAN2, StyleGAN3 (T/R), StyleGAN1 (progressive growing) or BigGAN / BigGAN-deep "
                    "(class-conditional: a labelled dataset) on a dataset (zip, folder or LMDB; see `ganscope dataset`). "
                    "Writes OUTDIR/NNNNN-desc (or --run-dir): training_options.json, stats.jsonl, live_preview.png, "
                    "live_status.json, snapshots (native .pt), fakes grids and log.txt; obeys control.json "
                    "(pause/resume/stop). Defaults follow the resolution (see docs/notes/training.md).")
    a = p.add_argument
    a("--outdir", default=None, help="parent folder of new run directories (default ./training-runs)")
    a("--run-dir", dest="run_dir", default=None, help="use exactly this run directory")
    a("--cfg", default=None, choices=["stylegan2", "stylegan3-t", "stylegan3-r", "stylegan1", "biggan", "biggan-deep"],
      help="config (default stylegan2)")
    a("--data", default=None, help="dataset: zip, image folder or LMDB")
    a("--gpus", type=int, default=None, help="number of processes/GPUs (default 1; >1 spawns them, or use torchrun)")
    a("--batch", type=int, default=None, help="total batch size (default by resolution)")
    a("--batch-gpu", type=int, default=None, help="images per process per pass (less than batch/gpus: accumulate)")
    a("--gamma", type=finite_float, default=None, help="R1 weight (default 0.0002·res²/batch)")
    a("--kimg", type=finite_float, default=None, help="train for this many thousand images (default 25000)")
    a("--tick", type=finite_float, default=None, help="kimg per progress tick (default ~1%% of --kimg, at most 4)")
    a("--tick-seconds", type=finite_float, default=None, help="end a tick after at most this many seconds (default 60)")
    a("--snap", type=int, default=None, help="snapshot every N ticks (default 50; 0: only at the end)")
    a("--resume", default=None, help="continue from a run directory (its newest snapshot) or a snapshot file")
    a("--mirror", default=None, type=parse_bool, nargs="?", const=True, metavar="BOOL", help="add x-flipped images (default false)")
    a("--aug", default=None, choices=["ada", "noaug", "fixed"], help="augmentation (default ada; stylegan1, biggan: noaug)")
    a("--augpipe", default=None, choices=AUGPIPES,
      help="which transforms --aug ada/fixed applies: blit (x-flip, 90° rotations, integer translation), geom "
           "(scaling, rotation, fractional translation), color (brightness, contrast, luma flip, hue, saturation), "
           "or the sums bg and bgc (default bgc)")
    a("--p", type=finite_float, default=None, help="augment probability for --aug fixed (default 0.2)")
    a("--target", type=finite_float, default=None, help="ADA target r_t (default 0.6)")
    a("--cond", default=None, type=parse_bool, nargs="?", const=True, metavar="BOOL", help="condition on dataset labels (default false)")
    a("--seed", type=int, default=None, help="random seed (default 0)")
    a("--workers", type=int, default=None, help="data loader worker processes (default 3)")
    a("--keep-snapshots", type=int, default=None, help="keep the newest K snapshots (default 5), and with --metrics also the best measured one")
    a("--preview-interval", type=finite_float, default=None, help="seconds between live previews (default 10)")
    a("--metrics", choices=("none", "swd", "fid"), default=None,
      help="quality measured at each snapshot into metrics.jsonl: swd, the sliced Wasserstein distance to the "
           "dataset (see `ganscope swd`), fid, the Fréchet Inception distance (see `ganscope fid`; needs "
           "--inception), or none (default)")
    a("--metrics-num", type=int, default=None, help="images per set for --metrics (default 1000)")
    a("--inception", default=None, help="for --metrics fid: pytorch-fid's pt_inception-2015-12-05-6726825d.pth "
                                        "(default $GANSCOPE_INCEPTION; read as tensors, nothing is downloaded)")
    a("--cbase", type=int, default=None, help="channel base (default 16384 up to 256², else 32768); larger on "
      "--resume of a StyleGAN3 run: G is widened, drawing the same images, and trains on (D stays)")
    a("--cmax", type=int, default=None, help="max channels per layer (default 512); larger on --resume of a "
      "StyleGAN3 run: as --cbase")
    a("--d-cbase", type=int, default=None, help="D's own channel base (default --cbase)")
    a("--d-cmax", type=int, default=None, help="D's own max channels (default --cmax)")
    a("--map", "--map-depth", dest="map", type=int, default=None,
      help="mapping layers (default 8 for stylegan2, 2 for stylegan3; --map-depth is the official trainer's name)")
    a("--layers", type=int, default=None, metavar="N",
      help="StyleGAN3: synthesis layers, the last two critically sampled (default 14, the paper's at every "
           "resolution; fewer make a cheaper G for small images)")
    a("--margin", type=int, default=None, metavar="N",
      help="StyleGAN3: samples of margin around the image in the synthesis layers (default 10; a small "
           "image needs less)")
    a("--zdim", type=int, default=None, help="z size (default 512)")
    a("--wdim", type=int, default=None, help="w size (default 512)")
    a("--mbstd-group", type=int, default=None, help="minibatch-stddev group size (default 4)")
    a("--glr", type=finite_float, default=None, help="G learning rate (default 0.0025)")
    a("--dlr", type=finite_float, default=None, help="D learning rate (default 0.0025 sg2, 0.002 sg3)")
    a("--d-warmup", type=finite_float, default=None, metavar="KIMG",
      help="train only D for the first KIMG (default 2 when --resume is a generator without its D, "
           "e.g. a --generator-only file, else 0)")
    a("--ema-kimg", type=finite_float, default=None, metavar="KIMG",
      help="half-life of G's moving average (G_ema, what snapshots render) in thousands of images: longer "
           "smooths out the swings of a run's late phase (default batch·10/32; stylegan1 10)")
    a("--style-mixing", type=finite_float, default=None, help="style mixing probability (default 0.9)")
    a("--pl-weight", type=finite_float, default=None, help="path-length weight (default 2 for stylegan2, 0 for stylegan3)")
    a("--blur-sigma", type=finite_float, default=None, help="initial D-input blur sigma (default 10 for stylegan3-r)")
    a("--freezed", type=int, default=None, metavar="N",
      help="freeze D's first N layers, counted from the image side (FreezeD, for fine-tuning a trained model on "
           "little data, e.g. with --resume an official pickle; default 0)")
    a("--fp32", default=None, type=parse_bool, nargs="?", const=True, metavar="BOOL", help="float32 only, no mixed precision on CUDA (default false for stylegan2/3; "
                                 "true for stylegan1 and biggan, where --fp32 false turns on autocast float16 with "
                                 "loss scaling)")
    a("--bf16", default=None, type=parse_bool, nargs="?", const=True, metavar="BOOL",
      help="CPU training: the blocks that run in float16 on CUDA (the highest resolutions) compute in bfloat16, "
           "1.2-1.5x the images per second on CPUs with AVX-512 BF16 or AMX (slower on others); the saved "
           "networks are float32 and render as always; may change on resume (default false; stylegan2/3)")
    a("--device", default=None, help="auto, cpu or cuda (default auto)")
    a("--strict", default=None, action="store_const", const=True,
      help="stop at the first broken image instead of skipping it")
    a("--desc", default=None, help="run directory description (default from cfg, data, batch, gamma)")
    a("--no-progress", action="store_true", help="no progress bar (log lines instead)")
    a("--dry-run", "-n", action="store_true", help="print the options the run would use (every default "
      "filled in for this dataset) as JSON and exit without training")
    g = p.add_argument_group("stylegan1 (progressive growing)")
    g.add_argument("--loss", default=None, choices=["wgan-gp", "r1"], help="objective (default wgan-gp)")
    g.add_argument("--phase-kimg", type=finite_float, default=None,
                   help="kimg of each fade-in and each stable phase (default 600)")
    g.add_argument("--start-res", type=int, default=None, help="first resolution (default 8)")
    g = p.add_argument_group("biggan / biggan-deep")
    g.add_argument("--d-steps", type=int, default=None, help="D steps per G step (default 2)")
    g.add_argument("--ortho", type=finite_float, default=None, help="orthogonal regularization weight on G (default 1e-4)")
    g.add_argument("--ema-start", type=int, default=None, help="G steps before the G EMA starts (default 20000)")




def options_from_args(args):
    from gan_core.train.options import TrainOptions

    base = TrainOptions().to_dict()
    saved = {}
    if args.resume:
        check_resume_path(args.resume)
        saved = saved_run_options(args.resume)
        from gan_core.train.distill import CFG_NAME as DISTILL_CFG
        if saved.get("cfg") == DISTILL_CFG:
            raise ValueError(f"--resume {args.resume}: a distillation run; continue it with "
                             f"`ganscope distill --resume {args.resume}`")
        for k in base:
            if k in saved and k not in ("resume", "run_dir", "outdir"):
                if saved[k] is None and base[k] is not None:
                    continue   # null: the option did not apply to the run then (e.g. --p of a StyleGAN1
                    #           run saved before StyleGAN1 took --aug); resolving fills it in again
                base[k] = saved[k]
    for name, value in vars(args).items():
        if name in _NOT_OPTIONS or name in ("no_progress", "dry_run") or value is None:
            continue
        if name in ("data", "resume") and Path(value).exists():
            value = os.path.abspath(value)  # the saved options must work from any folder
        field = _FIELD.get(name, name)
        if saved.get(field) is None and field in _SAVED_FALLBACK and saved.get("cfg") not in _NOT_FOR:
            saved_field = _SAVED_FALLBACK[field]
        else:
            saved_field = field
        if (field in _BUILT_IN and saved_field in saved
                and not (field == "fp32" and saved.get("cfg") in _NOT_FOR)):
            # (StyleGAN1 / BigGAN keep float32 weights either way: their --fp32 may change on resume)
            if field in ("cbase", "cmax") and str(saved.get("cfg")).startswith("stylegan3") and value != saved[field]:
                # a StyleGAN3 G can grow on resume (gan_core.train.widen); D stays as it is
                if value < saved[field]:
                    raise ValueError(f"--{field} {value}: a resume can widen the run's generator, not narrow it "
                                     f"(it was built with {saved[field]}); start a new run for fewer channels")
            else:
                refuse_built_in_change("--" + name.replace("_", "-"), saved[saved_field], value)
        base[field] = value
    if args.resume and args.data is None and base.get("data") and not Path(base["data"]).exists():
        raise ValueError(f"the dataset of the run being resumed, {base['data']}, is not there (moved, or the "
                         f"run was copied from another machine): give its place with --data")
    if args.resume and args.run_dir is None and args.outdir is None:
        base["run_dir"] = None
    if args.resume and args.cfg is None and "cfg" not in saved:
        base["cfg"] = None     # a generator file's own (gan_core.train.options.options_for_start)
    _check_family_flags(args, base.get("cfg") or "stylegan2")
    return TrainOptions.from_dict(base)


def _check_family_flags(args, cfg: str) -> None:
    """Refuse command-line flags that mean nothing for ``cfg`` (one line each)."""
    from gan_core.train.options import FAMILY_ONLY, FAMILY_ONLY_CFG

    given = {k for k, v in vars(args).items() if v is not None and k not in _NOT_OPTIONS}
    for name in _NOT_FOR.get(cfg, ()):
        if name in given:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} does not apply to --cfg {cfg} ({_WHY[cfg]})")
    for name, flag in FAMILY_ONLY.items():
        if name in given and cfg not in FAMILY_ONLY_CFG[name].split("/"):
            raise ValueError(f"{flag} is a {FAMILY_ONLY_CFG[name]} option; --cfg {cfg} does not use it")
    if cfg == "stylegan1" and args.cond:
        raise ValueError("--cfg stylegan1 is unconditional: drop --cond")
    if cfg in ("biggan", "biggan-deep") and args.cond is False:
        raise ValueError(f"--cfg {cfg} is always class-conditional: drop --cond false")


def _train(opts, progress: bool) -> None:
    from gan_core.train import train

    train(opts, progress=progress)


def _dry_run(opts, world_size: int) -> int:
    """Print the resolved options (what training_options.json would hold) and exit."""
    import json

    from gan_core.data import DatasetError
    from gan_core.data.dataset import ImageDataset
    from gan_core.train import OptionError
    from gan_core.io import CheckpointError
    from gan_core.train.options import STYLEGAN_CONFIGS, options_for_start, resolve

    try:
        if opts.cfg is None or opts.cfg in STYLEGAN_CONFIGS:
            opts, _ = options_for_start(opts)
        ds = ImageDataset(opts.data, use_labels=opts.cond and opts.cfg not in ("biggan", "biggan-deep"))
        try:
            o = resolve(opts, ds.resolution, world_size)
            info = {"path": ds.path, "num_images": ds.num_images, "resolution": ds.resolution,
                    "channels": ds.num_channels}
        finally:
            ds.close()
    except (OptionError, DatasetError, FileNotFoundError, CheckpointError) as e:
        raise CliError(str(e)) from None
    print(json.dumps({**o.to_dict(), "world_size": world_size, "dataset": info}, indent=1))
    return 0


def run(args) -> int:
    from gan_core.data import DatasetError
    from gan_core.io import CheckpointError
    from gan_core.train import OptionError, train

    try:
        opts = options_from_args(args)
    except (TypeError, ValueError) as e:
        raise CliError(str(e)) from None
    if not opts.data:
        raise CliError("--data is required (a dataset zip, image folder or LMDB; see `ganscope dataset`)")
    if not Path(opts.data).exists():
        raise CliError(f"--data {opts.data}: no such file or folder")
    world_env = int(os.environ.get("WORLD_SIZE", "1"))
    if args.dry_run:
        return _dry_run(opts, world_env if world_env > 1 else opts.gpus)
    progress = not args.no_progress
    try:
        if opts.gpus > 1 and world_env == 1:
            run_local_processes(_train, opts.gpus, opts, progress)
            print("ganscope train: done")
            return 0
        if world_env > 1 and args.gpus is not None and args.gpus != world_env:
            raise CliError(f"--gpus {args.gpus} does not match torchrun's {world_env} processes")
        if world_env > 1:
            opts.gpus = world_env
        state = train(opts, progress=progress)
    except (OptionError, DatasetError, CheckpointError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - a failure mid-run: one line here, the traceback is in log.txt
        if isinstance(e, CliError):
            raise
        what = str(e) if isinstance(e, SpawnedProcessFailed) else f"{type(e).__name__}: {e}"
        print(f"ganscope train: failed: {what}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"ganscope train: {state}")
    return 0
