"""StyleGAN1 (progressive growing) and BigGAN / BigGAN-deep through the run-directory loop.

``ganscope train --cfg stylegan1|biggan|biggan-deep`` runs the library trainers of
``progressive.py`` and ``biggan.py`` inside ``gan_core.train.loop.TrainingLoop`` — the same loop,
run-directory files, control.json handling, signals and snapshot rotation as StyleGAN2/3 — by
wrapping them in trainers that follow ``gan_core.train.protocol.LoopTrainer``.

How the shared options map (resolved values are written to training_options.json; options that
do not apply to a family are null there):

=============== =============================================== =================================================
option          stylegan1                                       biggan / biggan-deep
=============== =============================================== =================================================
--cbase/--cmax  channels min(cbase/res, cmax) of G and D         widths min(cbase/res, cmax) of every G block
                (default 16384/512)                             output and D block (default: the paper's tables
                                                                for 32²–512² with ch 96 / 128, else cbase
                                                                128·ch, cmax 16·ch)
--map           mapping layers (default 8)                      none: no mapping network (accepted, recorded
                                                                as null)
--zdim          z size (default 512)                            z size (default 120 / 128); BigGAN's skip-z
                                                                rounds it up to a multiple of blocks + 1
--wdim          w size (default 512)                            class-embedding size ``shared_dim`` (default
                                                                128); w = embedding ⊕ z chunk
--batch         the same batch at every resolution, over all    batch per D step, over all processes (default
                processes (default: the paper's per-resolution  min(4096/res, 32) per process)
                schedule)
--glr/--dlr     --glr: one learning rate for G and D (default   G / D learning rate (default 1e-4 / 4e-4)
                the paper's per-resolution schedule); --dlr no
--gamma         R1 weight for --loss r1 (default 10)            no
--style-mixing  mixing probability (default 0.9)                no
--mbstd-group   D minibatch-stddev group (default 4)            no
--mirror        x-flipped copies                                x-flipped copies
=============== =============================================== =================================================

Family-only options: stylegan1 ``--loss wgan-gp|r1`` (default wgan-gp), ``--phase-kimg`` (each
fade-in and each stable phase; default 600, or ``kimg / (2·growth steps + 2)`` when that is
shorter, so a short run reaches the final resolution), ``--start-res`` (default 8); the final
resolution is the dataset's. BigGAN ``--d-steps`` (D steps per G step, default 2), ``--ortho`` (β of the
orthogonal regularization of G, default 1e-4), ``--ema-start`` (G steps before G_ema starts
averaging with decay 0.9999, default 20000). BigGAN needs a labelled dataset. Both train in one process
or several (``--gpus N`` or torchrun: each process takes ``batch / N`` of every batch, gradients
averaged), with optional augmentation (``--aug ada|fixed``, off by default as in both papers).
Both train in float32 unless ``--fp32 false`` asks for mixed precision on CUDA: forward passes
under autocast (float16) with a dynamic loss scale per network (``gan_core.train.amp``); weights,
optimizer states and the EMA stay float32, spectral norm too. It is not baked into the networks,
so a resume may switch it.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gan_core.data.dataset import ImageDataset
from gan_core.latents import zs_from_seeds
from gan_core.media import to_uint8
from gan_core.train import distributed as ddp
from gan_core.train.amp import trainer_precision
from gan_core.train.metrics import SnapshotQuality
from gan_core.train.protocol import TickStats
from gan_core.train.options import (AUG_MODES, FAMILY_CONFIGS, FAMILY_ONLY, FAMILY_ONLY_CFG, SG1_LOSSES, OptionError,
                                    TrainOptions, augmentation, check_metrics, resolve,
                                    resolve_augpipe)
from gan_core.train.rundir import RunDirectory, fakes_name, image_grid, snapshot_name
from gan_core.train.snapshot import resolve_resume, rng_state, save_snapshot, set_rng_state
from gan_core.train.trainer import Trainer, choose_run_dir, pick_device

SG1_KIND = "stylegan1-progressive"
BIGGAN_KIND = "biggan-run"
# Options that only StyleGAN2/3 use: null in a resolved stylegan1 / biggan options dict.
_STYLEGAN_ONLY = ("batch_gpu", "ema_rampup", "d_warmup", "pl_weight", "r1_interval", "pl_interval", "blur_sigma",
                  "blur_fade_kimg", "freezed", "d_cbase", "d_cmax", "layers", "margin")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise OptionError(msg)


def _width(res: int, cbase: int, cmax: int) -> int:
    return max(1, min(cbase // res, cmax))


def biggan_widths(cfg: str, resolution: int, img_channels: int, cbase: int, cmax: int) -> dict[str, Any]:
    """Explicit G and D block channels of a BigGAN / BigGAN-deep at ``resolution`` from the
    width rule ``min(cbase / r, cmax)`` (r: a block's output resolution)."""
    n = int(math.log2(resolution // 4))
    rs = [4 * 2 ** i for i in range(n + 1)]
    w = [_width(r, cbase, cmax) for r in rs]
    down = [resolution // 2 ** i for i in range(n + 1)]  # resolution … 4
    if cfg == "biggan":
        g = [[w[i], w[i + 1]] for i in range(n)]
        d = [[img_channels if i == 0 else _width(down[i], cbase, cmax), _width(down[i + 1], cbase, cmax), True]
             for i in range(n)] + [[w[0], w[0], False]]
        return {"G": {"channels": g}, "D": {"channels": d}}
    g = []
    for i in range(n):
        g += [[w[i], w[i], False], [w[i], w[i + 1], True]]  # depth 2: one block at the width, one that upsamples
    d = [[_width(down[i], cbase, cmax), _width(down[i + 1], cbase, cmax), True] for i in range(n)]
    return {"G": {"blocks": g}, "D": {"stages": d}}


def resolve_family(opts: TrainOptions, resolution: int, world_size: int) -> TrainOptions:
    """``options.resolve`` for stylegan1 / biggan / biggan-deep (called through it)."""
    o = opts
    cfg = o.cfg
    _check(o.gpus >= 1, f"--gpus must be at least 1, got {o.gpus}")
    _check(o.kimg > 0, f"--kimg must be positive, got {o.kimg}")
    _check(o.keep_snapshots >= 1, f"--keep-snapshots must be at least 1, got {o.keep_snapshots}")
    _check(o.preview_interval > 0, f"--preview-interval must be positive, got {o.preview_interval}")
    _check(o.snap >= 0, f"--snap must be >= 0, got {o.snap}")
    _check(o.workers is None or o.workers >= 0, f"--workers must be >= 0, got {o.workers}")
    check_metrics(o)
    _check(not o.bf16, f"--bf16 is for --cfg stylegan2 / stylegan3-t / stylegan3-r; --cfg {cfg} trains in float32 "
           f"(or float16 on CUDA with --fp32 false)")
    for name, flag in FAMILY_ONLY.items():
        if cfg not in FAMILY_ONLY_CFG[name].split("/"):
            _check(getattr(o, name) is None, f"{flag} is a {FAMILY_ONLY_CFG[name]} option; --cfg {cfg} does not use it")
    for name in _STYLEGAN_ONLY:
        setattr(o, name, None)
    o.fp32 = True if o.fp32 is None else bool(o.fp32)   # the papers' reference code trains in float32
    if cfg == "stylegan1":
        _resolve_stylegan1(o, resolution, world_size)
    else:
        _resolve_biggan(o, resolution, world_size)
    if o.tick is None:
        first_batch = o.batch if o.batch is not None else ProgressiveDefaults.batch_schedule.get(o.start_res or 0, 16)
        o.tick = min(max(o.kimg / 100, first_batch / 1000), 4.0)
    _check(o.tick > 0, f"--tick must be positive, got {o.tick}")
    if o.grid is None:
        o.grid = (min(max(512 // resolution, 4), 8), 4)
    return o


class ProgressiveDefaults:
    """The paper's per-resolution batch sizes and learning rates (those of ProgressiveOptions)."""
    from gan_core.train.progressive import ProgressiveOptions as _P

    batch_schedule = _P(data="", run_dir="").batch_schedule
    lr_schedule = _P(data="", run_dir="").lr_schedule
    del _P


def _resolve_augmentation(o: TrainOptions) -> None:
    o.aug = "noaug" if o.aug is None else o.aug      # both papers train without augmentation
    _check(o.aug in AUG_MODES, f"--aug must be one of {', '.join(AUG_MODES)}, got {o.aug!r}")
    resolve_augpipe(o)
    _check(0 <= o.p <= 1, f"--p must be in [0, 1], got {o.p}")


def _resolve_stylegan1(o: TrainOptions, resolution: int, world_size: int) -> None:
    _check(not o.cond, "--cfg stylegan1 is unconditional: drop --cond")
    o.cond = False
    o.workers = None  # images are read in the training process
    _resolve_augmentation(o)
    o.loss = o.loss or "wgan-gp"
    _check(o.loss in SG1_LOSSES, f"--loss must be one of {', '.join(SG1_LOSSES)}, got {o.loss!r}")
    o.start_res = min(8, resolution) if o.start_res is None else int(o.start_res)
    _check(o.start_res >= 4 and o.start_res & (o.start_res - 1) == 0 and o.start_res <= resolution,
           f"--start-res must be a power of two from 4 to the dataset's {resolution}, got {o.start_res}")
    if o.phase_kimg is None:
        # the paper's 600 kimg, shortened so that a short run still reaches the final resolution
        # (and trains there for one phase): 2 phases per growth step + the first + the last
        phases = 2 * int(math.log2(resolution // o.start_res)) + 2
        o.phase_kimg = round(min(600.0, o.kimg / phases), 6)
    o.phase_kimg = float(o.phase_kimg)
    _check(o.phase_kimg > 0, f"--phase-kimg must be positive, got {o.phase_kimg}")
    _check(o.batch is None or o.batch >= 1, f"--batch must be at least 1, got {o.batch}")
    _check(o.batch is None or o.batch % world_size == 0,
           f"--batch {o.batch} must be a multiple of the number of processes ({world_size})")
    if o.loss == "r1":
        o.gamma = 10.0 if o.gamma is None else o.gamma
        _check(o.gamma >= 0, f"--gamma must be >= 0, got {o.gamma}")
    else:
        _check(o.gamma is None, "--gamma is the R1 weight of --loss r1; --loss wgan-gp uses a gradient penalty")
    _check(o.dlr is None, "--cfg stylegan1 uses one learning rate for G and D: give --glr")
    o.cbase = 16384 if o.cbase is None else o.cbase
    o.cmax = 512 if o.cmax is None else o.cmax
    _check(o.cbase >= 1 and o.cmax >= 1, "--cbase and --cmax must be positive")
    o.map = 8 if o.map is None else o.map
    _check(o.map >= 1, f"--map must be at least 1, got {o.map}")
    o.z_dim = 512 if o.z_dim is None else o.z_dim
    o.w_dim = 512 if o.w_dim is None else o.w_dim
    _check(o.z_dim >= 1 and o.w_dim >= 1, "--zdim and --wdim must be positive")
    _check(0 <= o.style_mixing <= 1, f"--style-mixing must be in [0, 1], got {o.style_mixing}")
    # D's minibatch-stddev groups are taken within each process's share of the batch
    local = None if o.batch is None else o.batch // world_size
    if o.mbstd_group is None:
        o.mbstd_group = 4 if local is None else next(g for g in (4, 2, 1) if local % g == 0)
    _check(o.mbstd_group >= 1, f"--mbstd-group must be at least 1, got {o.mbstd_group}")
    _check(local is None or local % min(o.mbstd_group, local) == 0,
           f"--batch {o.batch} over {world_size} process(es) is {local} per process, which is not a multiple of "
           f"the minibatch-stddev group ({o.mbstd_group})")
    o.ema_kimg = 10.0 if o.ema_kimg is None else o.ema_kimg
    _check(o.ema_kimg >= 0, f"--ema-kimg must be 0 (no averaging) or more, got {o.ema_kimg}")


def _resolve_biggan(o: TrainOptions, resolution: int, world_size: int) -> None:
    cfg = o.cfg
    _check(resolution >= 8, f"--cfg {cfg} needs images of at least 8×8, the dataset's are {resolution}²")
    o.cond = True
    for name, flag in (("gamma", "--gamma"), ("mbstd_group", "--mbstd-group"), ("ema_kimg", "--ema-kimg")):
        _check(getattr(o, name) is None, f"{flag} does not apply to --cfg {cfg} (hinge loss, projection D)")
    o.style_mixing = None
    o.map = None  # no mapping network
    if o.batch is None:   # per process, as the StyleGAN defaults
        o.batch = min(4096 // resolution, 32) * world_size
    _check(o.batch >= 1, f"--batch must be at least 1, got {o.batch}")
    _check(o.batch % world_size == 0, f"--batch {o.batch} must be a multiple of the number of processes "
                                      f"({world_size})")
    o.glr = 1e-4 if o.glr is None else o.glr
    o.dlr = 4e-4 if o.dlr is None else o.dlr
    o.d_steps = 2 if o.d_steps is None else int(o.d_steps)
    _check(o.d_steps >= 1, f"--d-steps must be at least 1, got {o.d_steps}")
    o.ortho = 1e-4 if o.ortho is None else float(o.ortho)
    _check(o.ortho >= 0, f"--ortho must be >= 0, got {o.ortho}")
    o.ema_start = 20000 if o.ema_start is None else int(o.ema_start)
    _check(o.ema_start >= 0, f"--ema-start must be >= 0, got {o.ema_start}")
    _resolve_augmentation(o)
    ch = 96 if cfg == "biggan" else 128
    from gan_core.models.biggan import G_ARCH
    from gan_core.models.biggan_deep import DEEP_D_ARCH
    paper = resolution in G_ARCH and (cfg == "biggan" or resolution in DEEP_D_ARCH)
    if o.cbase is None and o.cmax is None and not paper:
        o.cbase, o.cmax = 128 * ch, 16 * ch
    elif o.cbase is not None or o.cmax is not None:
        o.cbase = 128 * ch if o.cbase is None else o.cbase
        o.cmax = 16 * ch if o.cmax is None else o.cmax
    if o.cbase is not None:
        _check(o.cbase >= 1 and o.cmax >= (4 if cfg == "biggan-deep" else 1),
               "--cbase must be positive and --cmax at least 4 (BigGAN-deep's bottleneck is a quarter of it)")
    o.z_dim = (120 if cfg == "biggan" else 128) if o.z_dim is None else o.z_dim
    o.w_dim = 128 if o.w_dim is None else o.w_dim
    _check(o.z_dim >= 1 and o.w_dim >= 1, "--zdim and --wdim must be positive")
    if cfg == "biggan":
        slots = int(math.log2(resolution // 4)) + 1
        o.z_dim = -(-o.z_dim // slots) * slots


def biggan_networks(o: TrainOptions, resolution: int, channels: int, c_dim: int):
    """(G, D) of a resolved biggan / biggan-deep options, freshly initialised."""
    widths = None if o.cbase is None else biggan_widths(o.cfg, resolution, channels, o.cbase, o.cmax)
    if o.cfg == "biggan":
        from gan_core.models.biggan import Discriminator, Generator
    else:
        from gan_core.models.biggan_deep import Discriminator, Generator
    gk = dict(z_dim=o.z_dim, c_dim=c_dim, img_resolution=resolution, shared_dim=o.w_dim, img_channels=channels)
    dk = dict(c_dim=c_dim, img_resolution=resolution, img_channels=channels)
    if widths is not None:
        gk.update(widths["G"])
        dk.update(widths["D"])
    return Generator(**gk), Discriminator(**dk)


def _grid_labels(ds: ImageDataset, n: int, cols: int) -> torch.Tensor:
    labels = ds.labels
    if np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(1) == 1):  # one class per row
        c = torch.zeros([n, ds.label_dim])
        for i in range(n):
            c[i, (i // cols) % ds.label_dim] = 1
        return c
    return torch.from_numpy(labels[np.arange(n) % len(labels)]).float()


def _count_accumulators_once(ada, dist: ddp.DistInfo) -> None:
    """After a resume with another process count every process holds process 0's ADA
    accumulators; only process 0 keeps them, so the sums over processes count them once."""
    if ada is not None and not dist.is_main:
        ada.sign_sum, ada.count = 0.0, 0.0


class FamilyRunTrainer(TickStats):
    """What the StyleGAN1 and BigGAN run trainers share: the process group, the run directory
    (process 0), the reals grid, means of logged values, snapshots with ``training_state`` + RNG
    states (one per process)."""

    kind = ""
    use_labels = False
    multi_process = False

    def __init__(self, opts: TrainOptions, dist_info: ddp.DistInfo | None = None) -> None:
        self.start_time = time.time()
        hint = "cuda" if opts.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        self.dist = dist_info if dist_info is not None else ddp.init_from_env(hint)
        world = self.dist.world_size
        self.device = pick_device(opts.device, self.dist.local_rank)
        if not opts.data:
            raise OptionError("--data is required: a dataset zip, image folder or LMDB (see `ganscope dataset`)")
        self.dataset = ImageDataset(opts.data, xflip=opts.mirror, strict=opts.strict_data)
        try:
            self._check_dataset(opts)
            self.o = o = resolve(opts, self.dataset.resolution, world)
            self.resume_path = resolve_resume(o.resume) if o.resume else None
        except BaseException:
            self.dataset.close()
            raise
        self.run: RunDirectory | None = None
        if self.dist.is_main:
            self.run = RunDirectory(choose_run_dir(o, self.resume_path, self.dataset.path, world), total_kimg=o.kimg)
            self.dataset.broken_log = str(self.run.file("broken_images.txt"))
            self.run.clean_temporaries()
            self.run.write_status(state="starting")
            self.run.write_options({**o.to_dict(), "run_dir": str(self.run.path), "world_size": world,
                                    "dataset": {"path": self.dataset.path, "num_images": self.dataset.num_images,
                                                "resolution": self.dataset.resolution,
                                                "channels": self.dataset.num_channels,
                                                "label_dim": self.dataset.label_dim if self.use_labels else 0}})
        self.tick = 0
        self.wall_offset = 0.0
        self.last_snapshot_nimg: int | None = None
        self.stats: dict[str, list[float]] = {}
        try:
            ck = None
            if self.resume_path is not None:
                from gan_core.io import load_checkpoint

                ck = load_checkpoint(self.resume_path, device=self.device)
                ts = ck.training_state or {}
                if ts.get("kind") != self.kind or ck.family != o.cfg:
                    raise OptionError(f"--resume {self.resume_path}: not a snapshot of a --cfg {o.cfg} run "
                                      f"(it holds a {ck.family} model)")
                net = ck.G if ck.G is not None else ck.G_ema
                if net is None or ck.D is None or (net.img_resolution, net.img_channels) != \
                        (self.dataset.resolution, self.dataset.num_channels):
                    raise OptionError(f"--resume {self.resume_path.name}: its networks do not match the dataset's "
                                      f"{self.dataset.resolution}×{self.dataset.resolution}×"
                                      f"{self.dataset.num_channels} images")
                self.tick = int(ts.get("tick", 0))
                self.wall_offset = float(ts.get("wall_s", 0.0))
            # This process's own state in the snapshot: present when the process count is the same.
            self.resumed_process = ddp.own_process_state(ck.training_state if ck is not None else None, self.dist)
            self._build(o, ck)
            rng = self.resumed_process.get("rng") if self.resumed_process else None
            if rng is not None:
                set_rng_state(rng)
            elif ck is None or world > 1:
                # a new run, or a resume with another process count: every process its own stream
                seed = o.seed + 1 + 7919 * self.dist.rank + 104729 * self.step_idx
                torch.manual_seed(seed)
                np.random.seed(seed % 2 ** 32)
            cols, rows = o.grid
            n = cols * rows
            self.grid_z = zs_from_seeds(list(range(n)), self.z_dim).to(self.device)
            self.grid_c = _grid_labels(self.dataset, n, cols).to(self.device) if self.use_labels else None
            self._grid_cache: tuple[int, np.ndarray] | None = None
            self.quality = SnapshotQuality(o, self.dataset, self.device)
        except BaseException as e:
            if self.run is not None:
                self.run.write_status(state="failed", error=f"{type(e).__name__}: {e}")
            self.dataset.close()
            raise

    # -- what a family provides ------------------------------------------------------------------
    def _check_dataset(self, opts: TrainOptions) -> None:
        pass

    def _build(self, o: TrainOptions, ck) -> None:
        raise NotImplementedError

    def _family_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _networks(self) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
        raise NotImplementedError

    def _render(self) -> torch.Tensor:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------
    def wall_s(self) -> float:
        return self.wall_offset + time.time() - self.start_time

    @torch.no_grad()
    def render_grid(self) -> np.ndarray:
        if self._grid_cache is not None and self._grid_cache[0] == self.step_idx:
            return self._grid_cache[1]
        img = self._render().cpu()
        res = self.dataset.resolution
        if img.shape[-1] != res:  # a lower progressive stage, shown at the final size
            img = F.interpolate(img, size=(res, res), mode="nearest")
        grid = image_grid(to_uint8(img), self.o.grid[0])
        self._grid_cache = (self.step_idx, grid)
        return grid

    def _process_state(self) -> dict[str, Any]:
        """What differs between processes (gathered into a snapshot's ``ranks``)."""
        return {"rng": rng_state()}

    def save_snapshot(self) -> Path | None:
        """With several processes every one must call it (their states are gathered)."""
        ranks = ddp.gather_objects(self._process_state(), self.dist) if self.dist.enabled else None
        self.last_snapshot_nimg = self.cur_nimg
        if self.run is None:
            return None
        name = self.run.sparing_best(snapshot_name(self.cur_nimg), self.cur_nimg)
        G, D, G_ema = self._networks()
        state = {**self._family_state(), "kind": self.kind, "train_options": self.o.to_dict(),
                 "cur_nimg": self.cur_nimg, "tick": self.tick, "wall_s": self.wall_s(), "rng": rng_state(),
                 "world_size": self.dist.world_size}
        if ranks is not None:
            state["ranks"] = ranks
        path = save_snapshot(self.run.file(name), G, D, G_ema, state)
        self.run.write_png(fakes_name(name), self.render_grid())
        self.run.latest_snapshot_path = path
        self.run.log(f"snapshot {name} (kimg {self.cur_nimg / 1000:.3f})", echo=False)
        self.quality.after_snapshot(self.run, name, G_ema, self.cur_nimg)
        return path

    def ranks_in_sync(self) -> bool:
        return ddp.networks_in_sync(list(self._networks()), self.dist, self.device)

    def close(self) -> None:
        self.dataset.close()


class ProgressiveRunTrainer(FamilyRunTrainer):
    """StyleGAN1 progressive growing (``progressive.ProgressiveTrainer``) in the run-directory loop."""

    kind = SG1_KIND

    def _build(self, o: TrainOptions, ck) -> None:
        from gan_core.train.progressive import ProgressiveOptions, ProgressiveTrainer

        res = self.dataset.resolution
        if o.batch is not None:
            batches = {4 * 2 ** i: int(o.batch) for i in range(int(math.log2(res)) - 1)}
        else:
            batches = dict(ProgressiveDefaults.batch_schedule)
        popts = ProgressiveOptions(
            data=self.dataset.path, run_dir=str(self.run.path) if self.run is not None else "", total_kimg=o.kimg, start_resolution=o.start_res,
            phase_kimg=o.phase_kimg, loss=o.loss, batch_schedule=batches,
            lr_schedule={} if o.glr is not None else dict(ProgressiveDefaults.lr_schedule),
            lr=0.001 if o.glr is None else float(o.glr), r1_gamma=o.gamma if o.gamma is not None else 10.0,
            style_mixing_prob=o.style_mixing, ema_kimg=o.ema_kimg, seed=o.seed, mirror=o.mirror,
            G_kwargs=dict(z_dim=o.z_dim, w_dim=o.w_dim, mapping_layers=o.map, channel_base=o.cbase,
                          channel_max=o.cmax),
            D_kwargs=dict(channel_base=o.cbase, channel_max=o.cmax, mbstd_group_size=o.mbstd_group),
            device=str(self.device))
        pipe, ada = augmentation(o, self.device)
        try:
            self.p = ProgressiveTrainer(popts, resume=self.resume_path if ck is not None else None,
                                        dataset=self.dataset, dist=self.dist, augment_pipe=pipe, ada=ada,
                                        precision=trainer_precision(self.device, o.fp32))
        except ValueError as e:
            raise OptionError(str(e)) from None
        if ck is not None:
            own = self.resumed_process
            if own is not None and "augment" in own:
                from gan_core.train.augment import restore_augment_state
                restore_augment_state(pipe, ada, own["augment"])
            elif self.dist.enabled:
                _count_accumulators_once(ada, self.dist)
        self.z_dim = self.p.G.z_dim

    @property
    def cur_nimg(self) -> int:
        return self.p.cur_nimg

    @property
    def step_idx(self) -> int:
        return self.p.iteration

    def step(self) -> None:
        s = self.p.step()
        vals = {"loss_G": s["g_loss"], "loss_D": s["d_loss"]}
        if "r1" in s:
            vals["loss_r1"] = s["r1"]
        if "gp" in s:
            vals["loss_gp"] = s["gp"]
        if not all(math.isfinite(v) for v in vals.values()):
            raise FloatingPointError(f"training diverged at step {self.p.iteration}: {vals}")
        self._record(vals)

    def tick_stats(self) -> dict[str, Any]:
        s = self.take_stats()
        pipe, ada = self.p.augment_pipe, self.p.ada
        return {"loss_G": s.get("loss_G"), "loss_D": s.get("loss_D"), "loss_r1": s.get("loss_r1"), "loss_pl": None,
                "augment_p": pipe.p_value() if pipe is not None else None,
                "ada_rt": ada.last_rt if ada is not None else None, "loss_gp": s.get("loss_gp"),
                "resolution": self.p.resolution,
                "alpha": self.p.alpha, "batch": self.p.batch, **self.p.mp.scales()}

    def describe(self) -> str:
        o, p = self.o, self.p
        return (f"training stylegan1 (progressive, {o.loss}) on {self.dataset.path} ({self.dataset.num_images} "
                f"images, {self.dataset.resolution}²) for {o.kimg:g} kimg, from {o.start_res}² with "
                f"{o.phase_kimg} kimg phases, batch {'by resolution' if o.batch is None else o.batch}"
                f"{f' over {self.dist.world_size} processes' if self.dist.enabled else ''}, augment {o.aug}"
                f"{f' p {o.p:g}' if o.aug == 'fixed' else ''}, "
                f"device {self.device}{' (mixed precision)' if p.mp.enabled else ''}; starting at kimg "
                f"{self.cur_nimg / 1000:.3f} "
                f"({p.resolution}², alpha {p.alpha:.3f})")

    def _render(self) -> torch.Tensor:
        G = self.p.G_ema
        return torch.cat([G(z, None, noise_mode="const") for z in self.grid_z.split(16)])

    def _networks(self):
        return self.p.G, self.p.D, self.p.G_ema

    def _family_state(self) -> dict[str, Any]:
        return self.p.training_state()  # kind, options (ProgressiveOptions), cur_nimg, iteration, step, alpha, opts

    def _process_state(self) -> dict[str, Any]:
        from gan_core.train.augment import augment_state
        return {**super()._process_state(), "augment": augment_state(self.p.augment_pipe, self.p.ada)}


class BigGANRunTrainer(FamilyRunTrainer):
    """BigGAN / BigGAN-deep (``biggan.BigGANTrainer``) in the run-directory loop."""

    kind = BIGGAN_KIND
    use_labels = True

    def _check_dataset(self, opts: TrainOptions) -> None:
        from gan_core.data.dataset import labels_to_array

        ds = self.dataset
        found = ds.source.labels_json()
        if found is not None:
            ds.labels = labels_to_array(ds.names, found, ds.path)
        if ds.label_dim == 0:
            raise OptionError(f"--cfg {opts.cfg} is class-conditional and needs a labelled dataset; "
                              f"{opts.data} has no labels (make one with `ganscope dataset` from a source with "
                              f"dataset.json labels, or procedural:N:RES without --no-labels)")

    def _build(self, o: TrainOptions, ck) -> None:
        from gan_core.train.biggan import BigGANTrainer, BigGANTrainOptions
        from gan_core.train.sampler import StepBatchSampler, close_before_exit, step_loader

        ds = self.dataset
        torch.manual_seed(o.seed)
        if ck is not None:
            G, D = ck.G, ck.D
            if G.c_dim != ds.label_dim:
                raise OptionError(f"--resume {self.resume_path.name}: the model has {G.c_dim} classes but the "
                                  f"dataset {ds.label_dim}")
        else:
            G, D = biggan_networks(o, ds.resolution, ds.num_channels, ds.label_dim)
        bo = BigGANTrainOptions(batch=o.batch, lr_G=o.glr, lr_D=o.dlr, num_D_steps=o.d_steps, G_ortho=o.ortho,
                                ema_start=o.ema_start, seed=o.seed)
        start = int(ck.training_state["trainer"]["d_steps"]) if ck is not None else 0
        self.sampler = StepBatchSampler(len(ds), o.batch, seed=o.seed, rank=self.dist.rank,
                                        world_size=self.dist.world_size, start_step=start)
        self.loader = step_loader(ds, self.sampler, workers=o.workers, pin_memory=self.device.type == "cuda",
                                  seed=o.seed)
        dev = self.device

        def reals():
            for img, c in self.loader:
                yield img.to(dev, torch.float32) / 127.5 - 1, c.to(dev, torch.float32)

        self._reals = reals()    # kept, so that close() ends the loader iterator inside it
        pipe, ada = augmentation(o, dev)
        self.b = BigGANTrainer(G, D, ds, bo, device=dev, reals=self._reals, augment_pipe=pipe, ada=ada,
                               dist=self.dist, precision=trainer_precision(dev, o.fp32))
        close_before_exit(self)
        if ck is not None:
            self.b.G_ema.load_state_dict(ck.G_ema.state_dict())
            self.b.load_state_dict(ck.training_state["trainer"])
            own = (self.resumed_process or {}).get("trainer")
            if own is not None:
                self.b.load_process_state(own)
            elif self.dist.enabled:
                # another process count than the snapshot's: new latent streams, and ADA's
                # accumulators (process 0's) counted once
                self.b.gen.manual_seed(ddp.latent_seed(o.seed, self.dist.rank, self.b.g_steps))
                _count_accumulators_once(ada, self.dist)
        self.z_dim = G.z_dim

    @property
    def cur_nimg(self) -> int:
        return self.b.nimg

    @property
    def step_idx(self) -> int:
        return self.b.g_steps

    def step(self) -> None:
        s = self.b.step()
        vals = {"loss_G": s["loss_G"], "loss_D": s["loss_D_real"] + s["loss_D_fake"],
                "loss_D_real": s["loss_D_real"], "loss_D_gen": s["loss_D_fake"]}
        if "ortho_G" in s:
            vals["loss_ortho_G"] = s["ortho_G"]
        self._record(vals)

    def tick_stats(self) -> dict[str, Any]:
        s = self.take_stats()
        pipe, ada = self.b.augment_pipe, self.b.ada
        return {"loss_G": s.get("loss_G"), "loss_D": s.get("loss_D"), "loss_r1": None, "loss_pl": None,
                "augment_p": pipe.p_value() if pipe is not None else None,
                "ada_rt": ada.last_rt if ada is not None else None, "loss_D_real": s.get("loss_D_real"),
                "loss_D_gen": s.get("loss_D_gen"),
                "loss_ortho_G": s.get("loss_ortho_G"), "d_steps": self.b.d_steps,
                "ema_active": self.b.g_steps > self.o.ema_start, **self.b.mp.scales()}

    def describe(self) -> str:
        o = self.o
        n_g = sum(p.numel() for p in self.b.G.parameters())
        return (f"training {o.cfg} on {self.dataset.path} ({self.dataset.num_images} images, "
                f"{self.dataset.resolution}², {self.dataset.label_dim} classes) for {o.kimg:g} kimg, batch {o.batch}"
                f"{f' ({self.dist.world_size} processes × {o.batch // self.dist.world_size})' if self.dist.enabled else ''}, "
                f"{o.d_steps} D step(s) per G step, augment {o.aug}"
                f"{f' p {o.p:g}' if o.aug == 'fixed' else ''}, G {n_g / 1e6:.2f}M parameters, device {self.device}"
                f"{' (mixed precision)' if self.b.mp.enabled else ''}; "
                f"starting at kimg {self.cur_nimg / 1000:.3f}")

    def _render(self) -> torch.Tensor:
        G = self.b.G_ema
        return torch.cat([G(z, c) for z, c in zip(self.grid_z.split(16), self.grid_c.split(16))])

    def _networks(self):
        return self.b.G, self.b.D, self.b.G_ema

    def _family_state(self) -> dict[str, Any]:
        return {"trainer": self.b.state_dict(), "step": self.b.g_steps}

    def _process_state(self) -> dict[str, Any]:
        return {**super()._process_state(), "trainer": self.b.process_state()}

    def close(self) -> None:
        self._reals.close()     # drops the loader iterator: its workers shut down now
        self.loader = None
        super().close()


def make_trainer(opts: TrainOptions, dist_info: ddp.DistInfo | None = None):
    """The trainer for ``opts.cfg`` (see gan_core.train.protocol)."""
    if opts.cfg == "stylegan1":
        return ProgressiveRunTrainer(opts, dist_info)
    if opts.cfg in ("biggan", "biggan-deep"):
        return BigGANRunTrainer(opts, dist_info)
    return Trainer(opts, dist_info=dist_info)


__all__ = ["BigGANRunTrainer", "FAMILY_CONFIGS", "ProgressiveRunTrainer", "biggan_networks", "biggan_widths",
           "make_trainer", "resolve_family"]
