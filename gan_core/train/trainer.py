"""The trainer's state and one training step; the loop around it is ``gan_core.train.loop``.

    trainer = Trainer(TrainOptions(data="data.zip", cfg="stylegan2", kimg=10, run_dir="run"))
    trainer.step()                      # one optimizer step of G and D (+ lazy regularizers)
    trainer.save_snapshot()             # network-snapshot-NNNNNN.pt in the run directory

A step: (1) G main phase [+ path-length phase every ``pl_interval`` steps], (2) D main phase
[+ R1 phase every ``r1_interval`` steps], each as ``batch / (batch_gpu · processes)``
accumulated chunks and one Adam step with gradients averaged over processes; (3) G EMA
update; (4) the ADA controller.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_core.data.dataset import ImageDataset
from gan_core.latents import zs_from_seeds
from gan_core.media import to_uint8
from gan_core.models.half import cpu_bfloat16, cpu_bfloat16_speedup_expected
from gan_core.train import distributed as ddp
from gan_core.train.augment import restore_augment_state
from gan_core.train.ema import ema_beta, ema_update
from gan_core.train.loss import StyleGANLoss, lazy_adam_params
from gan_core.train.protocol import TickStats
from gan_core.train.options import (STYLEGAN_CONFIGS, OptionError, TrainOptions, build_networks, resolve,
                                    augmentation, options_for_start, run_description, with_frozen_layers)
from gan_core.train.run_state import live_trainer
from gan_core.train.metrics import SnapshotQuality
from gan_core.train.rundir import RunDirectory, fakes_name, image_grid, next_run_dir, snapshot_name
from gan_core.train.sampler import StepBatchSampler, close_before_exit, step_loader
from gan_core.train.snapshot import load_optimizer_state, resolve_resume, rng_state, save_snapshot, set_rng_state
from gan_core.train.widen import widen_on_resume


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise OptionError(f"--device {name}: this machine has no usable CUDA device; use --device cpu")
        if name == "cuda":   # one GPU per process of this machine
            count = torch.cuda.device_count()
            if local_rank >= count:
                raise OptionError(f"process {local_rank} of this machine needs GPU {local_rank}, but there "
                                  f"{'is' if count == 1 else 'are'} only {count}: use at most --gpus {count} "
                                  f"(--nproc_per_node {count})")
            return torch.device("cuda", local_rank)
        return torch.device(name)
    if name != "cpu":
        raise OptionError(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device("cpu")


def _check_same_synthesis(G: Any, o: TrainOptions, name: str) -> None:
    """A resumed StyleGAN3 generator keeps its layer count and margin: options that say otherwise
    (e.g. --layers given on resume of a run saved before the option existed) are an error, not
    silently ignored."""
    from gan_core.train.options import generator_built_with

    built = generator_built_with(G) or {}
    for field in ("layers", "margin"):
        if field in built and getattr(o, field, None) is not None and built[field] != getattr(o, field):
            raise OptionError(f"--{field} {getattr(o, field)}: the generator in {name} was built with {built[field]} "
                              f"(it cannot change on resume; leave --{field} out, or start a new run)")


def _check_compatible(net: torch.nn.Module, ds: ImageDataset, what: str) -> None:
    res = getattr(net, "img_resolution", None)
    ch = getattr(net, "img_channels", None)
    c_dim = getattr(net, "c_dim", None)
    if (res, ch) != (ds.resolution, ds.num_channels) or c_dim != ds.label_dim:
        raise OptionError(f"{what} is for {res}×{res}×{ch} images with {c_dim} label dims, but the dataset has "
                          f"{ds.resolution}×{ds.resolution}×{ds.num_channels} images with {ds.label_dim} "
                          f"(use the matching dataset, or --cond to match the labels)")


# Options that differ on every resume or only name where things are.
_RESUME_BOOKKEEPING = frozenset({"resume", "run_dir", "outdir", "dataset"})


def changed_options(before: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """``"name old → new"`` for each option a resume changed (the log keeps a run's history)."""
    if not isinstance(before, dict):
        return []
    return [f"{k} {before[k]!r} → {now[k]!r}" for k in now
            if k in before and k not in _RESUME_BOOKKEEPING and before[k] != now[k]]


def choose_run_dir(o: TrainOptions, resume_path: Path | None, data_path: str, world_size: int) -> Path:
    """The run directory of a session: ``--run-dir``, the resumed run's own folder (``--resume DIR``
    without ``--outdir``), or a new ``OUTDIR/NNNNN-desc``; refuses a folder holding another run."""
    if o.run_dir:
        path = Path(o.run_dir)
    elif resume_path is not None and o.outdir is None and Path(o.resume).is_dir():
        path = Path(o.resume)
    else:
        name = Path(data_path).name
        name = name[:-4] if name.lower().endswith(".zip") else name
        path = next_run_dir(o.outdir or "training-runs", run_description(o, name, world_size))
    if path.exists() and not path.is_dir():
        raise OptionError(f"run directory {path} exists and is not a folder")
    has_run = path.is_dir() and ((path / "stats.jsonl").exists() or any(path.glob("network-snapshot-*.pt")))
    resuming_here = resume_path is not None and path.resolve() in (resume_path.resolve(),
                                                                   resume_path.resolve().parent)
    if has_run and not resuming_here:
        raise OptionError(f"run directory {path} already holds a run; continue it with --resume {path}, "
                          f"or choose another --run-dir")
    busy = live_trainer(path) if has_run else None
    if busy:  # two trainers in one folder would overwrite each other's snapshots and stats
        raise OptionError(f"run directory {path} is still being trained by {busy}; stop that run first "
                          f"(Stop in the app's Training panel, or control.json), then resume it")
    return path


class Trainer(TickStats):
    """Everything one training process holds. Rank 0 also owns the run directory."""

    def __init__(self, opts: TrainOptions, dist_info: ddp.DistInfo | None = None) -> None:
        # the --resume file, read once; a generator file also says what G is (its options)
        opts, self._resume_ck = options_for_start(opts)
        if opts.cfg not in STYLEGAN_CONFIGS:
            raise OptionError(f"Trainer trains {', '.join(STYLEGAN_CONFIGS)}; --cfg {opts.cfg} has its own trainer "
                              f"(gan_core.train.families.make_trainer, or gan_core.train.train)")
        self.start_time = time.time()
        device_hint = "cuda" if opts.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        self.dist = dist_info if dist_info is not None else ddp.init_from_env(device_hint)
        self.device = pick_device(opts.device, self.dist.local_rank)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = False
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        if not opts.data:
            raise OptionError("--data is required: a dataset zip, image folder or LMDB (see `ganscope dataset`)")
        self.dataset = ImageDataset(opts.data, xflip=opts.mirror, use_labels=opts.cond, strict=opts.strict_data)
        self.o = o = resolve(opts, self.dataset.resolution, self.dist.world_size)
        self.per_rank = o.batch // self.dist.world_size
        self.chunks = self.per_rank // o.batch_gpu

        # Resume source (read before choosing the run directory: --resume DIR continues in DIR).
        self.resume_path = resolve_resume(o.resume) if o.resume else None
        self.run: RunDirectory | None = None
        if self.dist.is_main:
            self.run = RunDirectory(self._choose_run_dir(), total_kimg=o.kimg)
            self.dataset.broken_log = str(self.run.file("broken_images.txt"))
            self.run.clean_temporaries()
            self.run.write_status(state="starting")
            self.run.write_options({**o.to_dict(), "run_dir": str(self.run.path), "world_size": self.dist.world_size,
                                    "dataset": {"path": self.dataset.path, "num_images": self.dataset.num_images,
                                                "resolution": self.dataset.resolution,
                                                "channels": self.dataset.num_channels,
                                                "label_dim": self.dataset.label_dim}})
        try:
            self._build(o)
        except BaseException as e:
            if self.run is not None:
                self.run.write_status(state="failed", error=f"{type(e).__name__}: {e}")
            raise

    # -- setup -----------------------------------------------------------------------------------

    def _choose_run_dir(self) -> Path:
        return choose_run_dir(self.o, self.resume_path, self.dataset.path, self.dist.world_size)

    def _build(self, o: TrainOptions) -> None:
        ds, dev = self.dataset, self.device
        torch.manual_seed(o.seed)  # identical initial networks on every process
        ck, self._resume_ck = self._resume_ck, None
        self.widened = None    # a resume with a larger --cbase / --cmax (StyleGAN3): what grew
        if ck is not None:
            ck, self.widened = widen_on_resume(ck, o.cfg, o.cbase, o.cmax, seed=o.seed)
        G, D = build_networks(o, ds.resolution, ds.num_channels, ds.label_dim)
        if ck is not None:
            src_G = ck.G if ck.G is not None else ck.G_ema
            if src_G is None:
                raise OptionError(f"--resume {self.resume_path}: the file holds no generator")
            _check_compatible(src_G, ds, f"--resume {self.resume_path.name}")
            _check_same_synthesis(src_G, o, self.resume_path.name)
            G = copy.deepcopy(src_G)
            if ck.D is not None:
                D = copy.deepcopy(ck.D)
                was = int((D.config().get("block_kwargs") or {}).get("freeze_layers", 0))
                if ck.training_state and was != o.freezed:   # its optimizer state holds those layers or not
                    raise OptionError(f"--freezed cannot change on resume (the run's D was trained with {was} "
                                      f"frozen layers, and its optimizer state with them)")
        D = with_frozen_layers(D, o.freezed)   # --freezed: also for a D taken from a trained model
        self.G = G.to(dev).train().requires_grad_(False)
        self.D = D.to(dev).train().requires_grad_(False)
        src_ema = ck.G_ema if ck is not None and ck.G_ema is not None else self.G
        self.G_ema = copy.deepcopy(src_ema).to(dev).eval().requires_grad_(False)
        for net in (self.G, self.D, self.G_ema):
            ddp.broadcast_module(net, self.dist)

        self.augment_pipe, self.ada = augmentation(o, dev)
        self.loss = StyleGANLoss(self.G, self.D, self.augment_pipe, r1_gamma=o.gamma, style_mixing_prob=o.style_mixing,
                                 pl_weight=o.pl_weight, blur_init_sigma=o.blur_sigma, blur_fade_kimg=o.blur_fade_kimg,
                                 on_real_logits=self.ada.accumulate if self.ada is not None else None)
        self.loss.pl_mean = self.loss.pl_mean.to(dev)
        betas = (0.0, 0.99)
        g_int = o.pl_interval if o.pl_weight > 0 else None
        d_int = o.r1_interval if o.gamma > 0 else None
        lr, b = lazy_adam_params(o.glr, betas, g_int)
        self.G_opt = torch.optim.Adam(self.G.parameters(), lr=lr, betas=b, eps=1e-8)
        lr, b = lazy_adam_params(o.dlr, betas, d_int)
        self.D_opt = torch.optim.Adam(self.D.parameters(), lr=lr, betas=b, eps=1e-8)

        self.cur_nimg = 0
        self.step_idx = 0
        self.tick = 0
        self.wall_offset = 0.0
        ts = ck.training_state if ck is not None else None
        if ts:
            self.cur_nimg = int(ts["cur_nimg"])
            self.step_idx = int(ts["step"])
            self.tick = int(ts.get("tick", 0))
            self.wall_offset = float(ts.get("wall_s", 0.0))
            load_optimizer_state(self.G_opt, ts["G_opt"])
            load_optimizer_state(self.D_opt, ts["D_opt"])
            restore_augment_state(self.augment_pipe, self.ada, ts.get("augment"))
            if ts.get("pl_mean") is not None:
                self.loss.pl_mean = torch.as_tensor(ts["pl_mean"]).to(dev).clone()
        # Starting from networks without their training state (a --generator-only file, an official
        # pickle): the EMA must not ramp up from scratch (it would follow G while a new D is still
        # random), and a new D gets D-only steps first. Both are kept in the snapshots, so resuming
        # such a run continues them exactly.
        # options of the snapshot's run, to say in the log what a resume changed (e.g. --glr)
        self._resumed_options = ts.get("options") if ts else None
        start = dict((ts or {}).get("start") or {})
        if ck is not None and not ts:
            start = {"from": str(self.resume_path), "fresh_D": ck.D is None, "ema_rampup": None,
                     "d_warmup_nimg": 2000 if ck.D is None else 0}
        if o.d_warmup is not None:
            start["d_warmup_nimg"] = int(round(o.d_warmup * 1000))
        self.start_info = start
        self.ema_rampup = start["ema_rampup"] if "ema_rampup" in start else o.ema_rampup
        self.d_warmup_nimg = int(start.get("d_warmup_nimg", 0))
        self._resume_rng = None
        # Same process count: every process continues exactly from its own state.
        mine = ddp.own_process_state(ts, self.dist)
        if mine is not None:
            self._resume_rng = mine.get("rng")
            if self.ada is not None and mine.get("augment") and "sign_sum" in mine["augment"]:
                self.ada.load_state_dict(mine["augment"])
            if mine.get("pl_mean") is not None:
                self.loss.pl_mean = torch.as_tensor(mine["pl_mean"]).to(dev).clone()
        rank_seed = o.seed * max(self.dist.world_size, 1) + self.dist.rank
        if self._resume_rng is not None:
            set_rng_state(self._resume_rng)
        else:
            torch.manual_seed(rank_seed + 7919 * self.step_idx)
            np.random.seed((rank_seed + 7919 * self.step_idx) % 2 ** 32)
        self.sampler = StepBatchSampler(len(ds), o.batch, seed=o.seed, rank=self.dist.rank,
                                        world_size=self.dist.world_size, start_step=self.step_idx)
        self.loader = step_loader(ds, self.sampler, workers=o.workers, pin_memory=dev.type == "cuda", seed=o.seed)
        self.data_iter = iter(self.loader)
        close_before_exit(self)
        cols, rows = o.grid
        n = cols * rows
        self.grid_z = zs_from_seeds(list(range(n)), self.G.z_dim).to(dev)
        self.grid_c = self._grid_labels(n, cols).to(dev)
        self.stats: dict[str, list[float]] = {}
        self._grid_cache: tuple[int, np.ndarray] | None = None
        self.last_snapshot_nimg: int | None = None
        self.quality = SnapshotQuality(o, ds, dev)    # --metrics and the pruning after each snapshot

    def _grid_labels(self, n: int, cols: int) -> torch.Tensor:
        ds = self.dataset
        if ds.label_dim == 0:
            return torch.zeros([n, 0])
        labels = ds.labels
        if np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(1) == 1):  # one-hot classes
            c = torch.zeros([n, ds.label_dim])
            for i in range(n):
                c[i, (i // cols) % ds.label_dim] = 1
            return c
        return torch.from_numpy(labels[np.arange(n) % len(labels)]).float()

    # -- one step --------------------------------------------------------------------------------

    def _sample_c(self, n: int) -> torch.Tensor:
        if self.dataset.label_dim == 0:
            return torch.zeros([n, 0], device=self.device)
        labels = self.__dict__.get("_labels_host")
        if labels is None:
            labels = self._labels_host = torch.from_numpy(np.array(self.dataset.labels))
        idx = torch.randint(len(labels), [n])  # host RNG, as before: the same labels are drawn
        return labels[idx].to(self.device)  # the one host→device copy of a conditional phase

    def step(self) -> None:
        """One training step over ``batch`` images (all processes together)."""
        o, dev = self.o, self.device
        real_img, real_c = next(self.data_iter)
        real_img = real_img.to(dev, non_blocking=True).to(torch.float32) / 127.5 - 1
        real_c = real_c.to(dev)
        real_imgs, real_cs = real_img.split(o.batch_gpu), real_c.split(o.batch_gpu)
        phases = []
        if self.cur_nimg >= self.d_warmup_nimg:
            phases.append(("G", "Gmain", 1))
            if o.pl_weight > 0 and self.step_idx % o.pl_interval == 0:
                phases.append(("G", "Greg", o.pl_interval))
        phases.append(("D", "Dmain", 1))
        if o.gamma > 0 and self.step_idx % o.r1_interval == 0:
            phases.append(("D", "Dreg", o.r1_interval))
        with cpu_bfloat16(o.bf16 and dev.type == "cpu"):   # --bf16: see gan_core.models.half
            self._run_phases(phases, real_imgs, real_cs)
        ddp.average_tracked_buffers(self.G, self.dist)
        ema_update(self.G_ema, self.G, ema_beta(o.batch, o.ema_kimg, self.cur_nimg, self.ema_rampup))
        self.cur_nimg += o.batch
        self.step_idx += 1
        if self.ada is not None:
            # (stats stay on the device; the controller reads them once per ADA interval)
            self.ada.update(self.step_idx, o.batch,
                            reduce=(lambda t: ddp.all_reduce_sum(t.to(dev), self.dist)) if self.dist.enabled else None)
        self._record({"augment_p": self.augment_p})

    def _run_phases(self, phases: list[tuple[str, str, int]], real_imgs, real_cs) -> None:
        o, dev = self.o, self.device
        for which, phase, gain in phases:
            net, opt = (self.G, self.G_opt) if which == "G" else (self.D, self.D_opt)
            gen_z = torch.randn([self.per_rank, self.G.z_dim], device=dev).split(o.batch_gpu)
            gen_c = self._sample_c(self.per_rank).split(o.batch_gpu)
            opt.zero_grad(set_to_none=True)
            net.requires_grad_(True)
            for i in range(self.chunks):
                vals = self.loss.accumulate(phase, real_imgs[i], real_cs[i], gen_z[i], gen_c[i],
                                            gain=gain / self.chunks, cur_nimg=self.cur_nimg)
                self._record(vals)
            ddp.average_gradients(list(net.parameters()), self.dist)
            net.requires_grad_(False)
            opt.step()

    # -- what the loop asks (the trainer protocol, gan_core.train.protocol) ------------------------

    def describe(self) -> str:
        o = self.o
        return (f"training {o.cfg} on {self.dataset.path} ({self.dataset.num_images} images, "
                f"{self.dataset.resolution}²) for {o.kimg:g} kimg, batch {o.batch} "
                f"({self.dist.world_size} process(es) × {self.chunks} × {o.batch_gpu}), device {self.device}; "
                f"starting at kimg {self.cur_nimg / 1000:.3f}" + self._start_note())

    def _start_note(self) -> str:
        info = self.start_info
        notes = []
        if "from" in info:
            notes.append(f"networks from {Path(info['from']).name} (no training state in it: new optimizers"
                         + (", a new D" if info.get("fresh_D") else "") + ", G EMA without ramp-up)")
        if self.o.freezed:
            notes.append(f"D's first {self.o.freezed} layers frozen")
        if self.o.bf16:
            if self.device.type != "cpu":
                notes.append(f"--bf16 does nothing on {self.device.type} (the same blocks run in float16 there)")
            else:
                notes.append("reduced-precision blocks in bfloat16 (--bf16)" + (
                    "" if cpu_bfloat16_speedup_expected() is not False else
                    "; this CPU has no bfloat16 arithmetic (AVX-512 BF16 / AMX), so expect it slower than float32"))
        if self.cur_nimg < self.d_warmup_nimg:
            notes.append(f"D alone until kimg {self.d_warmup_nimg / 1000:g}")
        changed = changed_options(self._resumed_options, self.o.to_dict())
        if changed:
            notes.append("options changed on resume: " + ", ".join(changed))
        if self.widened:
            notes.append(self.widened)
        return "; " + "; ".join(notes) if notes else ""

    def tick_stats(self) -> dict[str, Any]:
        """This tick's values for stats.jsonl (means since the last tick; None when not computed)."""
        stats = self.take_stats()
        return {"loss_G": stats.get("loss_G"), "loss_D": stats.get("loss_D"), "loss_r1": stats.get("loss_r1"),
                "loss_pl": stats.get("loss_pl"), "augment_p": self.augment_p,
                "loss_D_real": stats.get("loss_D_real"), "loss_D_gen": stats.get("loss_D_gen"),
                "ada_rt": self.ada.last_rt if self.ada is not None else None}

    @property
    def augment_p(self) -> float:
        # p's host copy (AugmentPipe.p_value reads the device only after p changed)
        return self.augment_pipe.p_value() if self.augment_pipe is not None else 0.0

    # -- outputs (rank 0) ----------------------------------------------------------------------

    @torch.no_grad()
    def render_grid(self) -> np.ndarray:
        """G_ema at the fixed grid seeds as one ``[rows·R, cols·R, C]`` uint8 image (rendered once
        per training step: the preview, the tick and the snapshot share it)."""
        if self._grid_cache is not None and self._grid_cache[0] == self.step_idx:
            return self._grid_cache[1]
        imgs = []
        chunk = max(self.o.batch_gpu, 16)
        for z, c in zip(self.grid_z.split(chunk), self.grid_c.split(chunk)):
            imgs.append(self.G_ema(z, c, noise_mode="const").cpu())
        grid = image_grid(to_uint8(torch.cat(imgs)), self.o.grid[0])
        self._grid_cache = (self.step_idx, grid)
        return grid

    def process_state(self) -> dict[str, Any]:
        """What differs between processes: RNG states, the ADA accumulators, the path-length mean."""
        return {"rng": rng_state(), "augment": self.ada.state_dict() if self.ada is not None else None,
                "pl_mean": self.loss.pl_mean.detach().cpu()}

    def training_state(self, ranks: list | None = None) -> dict[str, Any]:
        ada = self.ada.state_dict() if self.ada is not None else {"p": self.augment_p}
        state = {"options": self.o.to_dict(), "cur_nimg": self.cur_nimg, "step": self.step_idx, "tick": self.tick,
                 "wall_s": self.wall_s(), "G_opt": self.G_opt.state_dict(), "D_opt": self.D_opt.state_dict(),
                 "augment": ada, "pl_mean": self.loss.pl_mean.detach().cpu(), "rng": rng_state(),
                 "world_size": self.dist.world_size}
        if self.start_info:
            state["start"] = dict(self.start_info)
        if ranks is not None:
            state["ranks"] = ranks  # one process_state() per process (several processes only)
        return state

    def wall_s(self) -> float:
        return self.wall_offset + time.time() - self.start_time

    def save_snapshot(self) -> Path | None:
        """Write ``network-snapshot-NNNNNN.pt`` + ``fakesNNNNNN.png`` (rank 0) and keep the last K.
        With several processes every one must call it (their RNG states are gathered)."""
        ranks = ddp.gather_objects(self.process_state(), self.dist) if self.dist.enabled else None
        self.last_snapshot_nimg = self.cur_nimg
        if self.run is None:
            return None
        name = self.run.sparing_best(snapshot_name(self.cur_nimg), self.cur_nimg)
        path = save_snapshot(self.run.file(name), self.G, self.D, self.G_ema, self.training_state(ranks))
        self.run.write_png(fakes_name(name), self.render_grid())
        self.run.latest_snapshot_path = path
        self.run.log(f"snapshot {name} (kimg {self.cur_nimg / 1000:.3f})", echo=False)
        self.quality.after_snapshot(self.run, name, self.G_ema, self.cur_nimg)
        return path

    def ranks_in_sync(self) -> bool:
        """Whether every process holds the same G, D and G_ema."""
        return ddp.networks_in_sync([self.G, self.D, self.G_ema], self.dist, self.device)

    def close(self) -> None:
        self.data_iter = None
        self.loader = None
        self.dataset.close()


__all__ = ["Trainer", "choose_run_dir", "pick_device"]
