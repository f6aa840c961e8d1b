"""MobileStyleGAN by knowledge distillation from a StyleGAN2 teacher (any generator the library
loads as ``stylegan2``: our own snapshots, official NVIDIA pickles, rosinality files).

Each step draws z, maps it with the teacher's (frozen) mapping network — the student uses a
copy of it, so both share the same w — and draws one set of per-pixel noise images that both
networks get (the teacher through a noise generator seeded identically, the student as explicit
``noise_inputs``; their noise layers have the same resolutions in the same order). Targets are
made on the fly from the teacher's image ``T``:

* at every student scale ``j`` (the wavelet image of ``to_img1`` and of each block, r×r) the
  target image is ``T`` area-resized to 2r×2r: pixel losses compare it with the inverse DWT of
  the student's wavelet image, wavelet losses compare its DWT with the wavelet image itself
  (each L1 and L2, averaged over the scales, weights ``pixel_l1/pixel_l2/wavelet_l1/wavelet_l2``);
* a non-saturating GAN loss against a StyleGAN2 discriminator that takes teacher images as real
  (``gan``; the discriminator has optional lazy R1, ``r1_gamma``);
* a perceptual loss (``perceptual``) on the final image when ``perceptual_net`` names a local
  VGG-style weights file (:mod:`gan_core.train.perceptual`); without one it is off.

``distill(opts)`` runs it through the training loop of ``ganscope train``
(:mod:`gan_core.train.loop`, with :class:`DistillRunTrainer` as its trainer) and writes the same
run directory (:mod:`gan_core.train.rundir`: training_options.json, stats.jsonl,
live_preview.png — teacher and student side by side —, live_status.json, control.json, native
snapshots with the student as G and G_ema and the discriminator as D, log.txt), so the app's
Training panel can follow it. ``ganscope distill`` is its command line.

Several processes (``torchrun``, or ``ganscope distill --gpus N``): each draws its own
``batch / N`` latents per step (its own latent generator, kept in the snapshot), and the student's
and D's gradients are averaged before every Adam step.
"""
from __future__ import annotations

import dataclasses
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_core.models.haar import image_to_wavelets, wavelets_to_image
from gan_core.train import distributed as ddp
from gan_core.train.amp import MixedPrecision, trainer_precision
from gan_core.train.protocol import TickStats
from gan_core.train.rundir import RunDirectory, fakes_name, image_grid, snapshot_name
from gan_core.train.snapshot import load_optimizer_state, rng_state, set_rng_state

CFG_NAME = "mobilestylegan-distill"


@dataclass
class DistillOptions:
    teacher: str
    run_dir: str | None = None
    kimg: float = 1000.0
    batch: int = 8
    lr: float = 5e-4
    lr_D: float = 5e-4
    betas: tuple[float, float] = (0.0, 0.99)
    channels: list[int] | None = None          # student block widths (default: the teacher's per resolution)
    pixel_l1: float = 1.0
    pixel_l2: float = 1.0
    wavelet_l1: float = 1.0
    wavelet_l2: float = 1.0
    gan: float = 0.1
    perceptual: float = 1.0
    perceptual_net: str | None = None          # local VGG-style weights file; None: perceptual loss off
    r1_gamma: float = 0.0
    r1_interval: int = 16
    d_cbase: int | None = None                 # discriminator channel base / max (default: the teacher's)
    d_cmax: int | None = None
    truncation_psi: float = 1.0                # of the teacher's samples
    tick: float = 1.0                          # kimg per tick
    tick_seconds: float = 60.0
    snap: int = 10                             # snapshot every N ticks (0: only at the end)
    keep_snapshots: int = 5
    preview_interval: float = 10.0
    grid: tuple[int, int] = (4, 2)             # preview: columns of (teacher, student) pairs × rows
    seed: int = 0
    device: str = "cpu"
    fp32: bool = True                          # False: the student, D and perceptual net under autocast
                                               # float16 with loss scaling, on CUDA (gan_core.train.amp)
    resume: str | None = None                  # a snapshot of an earlier distillation run

    def check(self) -> "DistillOptions":
        if self.batch < 1 or self.kimg <= 0:
            raise ValueError("batch must be >= 1 and kimg > 0")
        for k in ("pixel_l1", "pixel_l2", "wavelet_l1", "wavelet_l2", "gan", "perceptual", "r1_gamma"):
            if getattr(self, k) < 0:
                raise ValueError(f"{k} must be >= 0")
        return self


def default_student_channels(teacher: nn.Module) -> list[int]:
    """The teacher's channel count at each student resolution 4 … img_resolution/2."""
    syn = teacher.synthesis
    return [getattr(syn, f"b{4 * 2 ** i}").out_channels for i in range(int(math.log2(teacher.img_resolution)) - 2)]


def build_student(teacher: nn.Module, channels: list[int] | None = None) -> nn.Module:
    """A MobileStyleGAN generator for ``teacher``'s resolution, with a frozen copy of its mapping
    network and its mean w as ``style_mean``."""
    from gan_core.models.mobile_stylegan import Generator

    tm = teacher.mapping
    G = Generator(z_dim=teacher.z_dim, w_dim=teacher.w_dim, channels=channels or default_student_channels(teacher),
                  img_channels=teacher.img_channels,
                  mapping_kwargs={"num_layers": tm.num_layers, "lr_multiplier": float(tm.fc0.bias_gain)})
    if G.img_resolution != teacher.img_resolution:
        raise ValueError(f"student channels {channels} give {G.img_resolution}² images but the teacher makes "
                         f"{teacher.img_resolution}²: give img_resolution/8 … widths (log2(R) - 2 of them)")
    with torch.no_grad():
        for i in range(tm.num_layers):
            getattr(G.mapping, f"fc{i}").weight.copy_(getattr(tm, f"fc{i}").weight)
            getattr(G.mapping, f"fc{i}").bias.copy_(getattr(tm, f"fc{i}").bias)
        G.mapping.style_mean.copy_(tm.w_avg.expand_as(G.mapping.style_mean))
    G.mapping.requires_grad_(False)
    return G


class Distiller:
    """One distillation session's networks, optimizers and step (no files; see :func:`distill`)."""

    def __init__(self, opts: DistillOptions, teacher: nn.Module | None = None,
                 dist: ddp.DistInfo | None = None, precision: MixedPrecision | None = None) -> None:
        """``precision``: mixed precision (default: from ``opts.fp32`` and the device)."""
        import gan_core
        from gan_core.models.stylegan2 import Discriminator

        self.o = opts.check()
        self.dist = dist if dist is not None else ddp.DistInfo()
        if opts.batch % self.dist.world_size:
            raise ValueError(f"--batch {opts.batch} must be a multiple of the number of processes "
                             f"({self.dist.world_size})")
        self.device = torch.device(opts.device)
        self.mp = precision if precision is not None else trainer_precision(self.device, opts.fp32)
        torch.manual_seed(opts.seed)
        T = teacher if teacher is not None else gan_core.load_generator(opts.teacher, device=self.device)
        if getattr(T, "family", None) != "stylegan2":
            raise ValueError(f"the teacher must be a StyleGAN2 generator; {opts.teacher} is "
                             f"{getattr(T, 'family', type(T).__name__)}")
        if T.c_dim != 0:
            raise ValueError("the teacher is class-conditional; MobileStyleGAN distillation needs an unconditional one")
        self.T = T.to(self.device).eval().requires_grad_(False)
        self.G = build_student(self.T, opts.channels).to(self.device).train()
        tcfg = self.T.config()
        # D's minibatch-stddev groups: the largest of 4, 2, 1 that divides each process's batch
        local = opts.batch // self.dist.world_size
        group = next(g for g in (4, 2, 1) if local % g == 0)
        self.D = Discriminator(c_dim=0, img_resolution=self.T.img_resolution, img_channels=self.T.img_channels,
                               channel_base=opts.d_cbase or tcfg.get("channel_base", 32768),
                               channel_max=opts.d_cmax or tcfg.get("channel_max", 512), num_fp16_res=0,
                               conv_clamp=None, epilogue_kwargs={"mbstd_group_size": group}).to(self.device).train()
        self.opt_G = torch.optim.Adam([p for p in self.G.synthesis.parameters()], lr=opts.lr, betas=opts.betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=opts.lr_D, betas=opts.betas)
        self.perceptual = None
        if opts.perceptual_net and opts.perceptual > 0:
            from gan_core.train.perceptual import PerceptualLoss, load_feature_network
            self.perceptual = PerceptualLoss(load_feature_network(opts.perceptual_net)).to(self.device)
        # noise layers: the teacher draws [N, 1, R, R] per layer in this order from its generator
        mods = dict(self.T.named_modules())
        self.teacher_noise_res = [int(mods[n].resolution) for n in self.T.noise_layer_names()]
        student_res = [4] + [b.resolution for b in self.G.synthesis.layers for _ in range(2)]
        self.share_noise = self.teacher_noise_res[:len(student_res)] == student_res
        self.scales = [4] + [b.resolution for b in self.G.synthesis.layers]
        self.cur_nimg = 0
        self.step_idx = 0
        # each process its own latents (process 0 those of a one-process run)
        self._gen = torch.Generator().manual_seed(ddp.latent_seed(opts.seed, self.dist.rank))
        self._stats: dict[str, list[float]] = {}

    # -- targets ---------------------------------------------------------------------------------

    def teacher_and_student_inputs(self, z: torch.Tensor, noise_seed: int, psi: float | None = None
                                   ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
        """(teacher image [N, C, R, R], student ws [N, num_ws, w_dim], student noise list)."""
        psi = self.o.truncation_psi if psi is None else psi
        with torch.no_grad():
            ws_t = self.T.mapping(z, None, truncation_psi=psi)
            if self.share_noise:
                gen = torch.Generator(device=self.device).manual_seed(noise_seed)
                img_t = self.T.synthesis(ws_t, noise_mode="random", noise_generator=gen)
                gen = torch.Generator(device=self.device).manual_seed(noise_seed)
                draws = [torch.randn([z.shape[0], 1, r, r], generator=gen, device=self.device)
                         for r in self.teacher_noise_res]
                noises = draws[:len(self.G.noise_layer_names())]
            else:
                img_t = self.T.synthesis(ws_t, noise_mode="none")
                noises = None
        ws_s = ws_t[:, :1].expand(-1, self.G.num_ws, -1)
        return img_t, ws_s, noises

    def _student(self, ws: torch.Tensor, noises: list | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        mode = "const" if noises is not None else "none"
        return self.G.synthesis(ws, noise_mode=mode, noise_inputs=noises, return_wavelets=True)

    def distillation_losses(self, img_t: torch.Tensor, freq: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        o = self.o
        out = {k: img_t.new_zeros(()) for k in ("pix_l1", "pix_l2", "wav_l1", "wav_l2")}
        for f, r in zip(freq, self.scales):
            target = img_t if 2 * r == img_t.shape[-1] else F.interpolate(img_t, size=(2 * r, 2 * r), mode="area")
            if o.pixel_l1 or o.pixel_l2:
                img_s = wavelets_to_image(f, self.G.img_channels)
                out["pix_l1"] = out["pix_l1"] + F.l1_loss(img_s, target)
                out["pix_l2"] = out["pix_l2"] + F.mse_loss(img_s, target)
            if o.wavelet_l1 or o.wavelet_l2:
                wt = image_to_wavelets(target)
                out["wav_l1"] = out["wav_l1"] + F.l1_loss(f, wt)
                out["wav_l2"] = out["wav_l2"] + F.mse_loss(f, wt)
        return {k: v / len(freq) for k, v in out.items()}

    # -- one step --------------------------------------------------------------------------------

    def step(self) -> dict[str, float]:
        o, n = self.o, self.o.batch // self.dist.world_size
        z = torch.randn([n, self.G.z_dim], generator=self._gen).to(self.device)
        seed = int(torch.randint(0, 2 ** 62, [1], generator=self._gen))
        img_t, ws, noises = self.teacher_and_student_inputs(z, seed)
        mp = self.mp
        # student (its losses in float32)
        with mp.autocast():
            img_s, freq = self._student(ws, noises)
        img_s, freq = img_s.float(), [f.float() for f in freq]
        parts = self.distillation_losses(img_t, freq)
        loss = (o.pixel_l1 * parts["pix_l1"] + o.pixel_l2 * parts["pix_l2"] + o.wavelet_l1 * parts["wav_l1"]
                + o.wavelet_l2 * parts["wav_l2"])
        stats = {f"loss_{k}": float(v.detach()) for k, v in parts.items()}
        if self.perceptual is not None:
            with mp.autocast():
                lp = self.perceptual(img_s, img_t).float()
            loss = loss + o.perceptual * lp
            stats["loss_perceptual"] = float(lp.detach())
        if o.gan > 0:
            self.D.requires_grad_(False)
            lg = F.softplus(-self._D(img_s)).mean()
            self.D.requires_grad_(True)
            loss = loss + o.gan * lg
            stats["loss_G_gan"] = float(lg.detach())
        self.opt_G.zero_grad(set_to_none=True)
        mp.backward(loss, "G")
        if self.dist.enabled:   # scaled gradients keep their Inf/NaN: every process then skips the same step
            ddp.average_gradients(list(self.G.synthesis.parameters()), self.dist, replace_nonfinite=not mp.scaled)
        mp.step(self.opt_G, "G")
        stats["loss_G"] = float(loss.detach())
        stats["distance"] = float(F.l1_loss(img_s.detach(), img_t))
        # discriminator: teacher images are real
        if o.gan > 0:
            ld = F.softplus(self._D(img_s.detach())).mean() + F.softplus(-self._D(img_t)).mean()
            if o.r1_gamma > 0 and self.step_idx % max(o.r1_interval, 1) == 0:
                from gan_core.train.loss import r1_penalty
                pen, _ = r1_penalty(self._D, img_t, precision=mp)
                ld = ld + pen.mean() * (o.r1_gamma / 2) * max(o.r1_interval, 1)
                stats["loss_r1"] = float(pen.mean().detach())
            self.opt_D.zero_grad(set_to_none=True)
            mp.backward(ld, "D")
            if self.dist.enabled:
                ddp.average_gradients(list(self.D.parameters()), self.dist, replace_nonfinite=not mp.scaled)
            mp.step(self.opt_D, "D")
            stats["loss_D"] = float(ld.detach())
        self.cur_nimg += o.batch
        self.step_idx += 1
        stats.update(mp.scales())
        for k, v in stats.items():
            self._stats.setdefault(k, []).append(v)
        return stats

    def _D(self, images: torch.Tensor) -> torch.Tensor:
        """D's logits in float32, its forward under autocast when training in mixed precision."""
        with self.mp.autocast():
            return self.D(images).float()

    def take_stats(self) -> dict[str, float]:
        out = {k: float(np.mean(v)) for k, v in self._stats.items() if v}
        self._stats = {}
        return out

    # -- evaluation and previews -------------------------------------------------------------------

    @torch.no_grad()
    def distance(self, n: int = 16, seed: int = 1234) -> float:
        """Mean absolute pixel difference between student and teacher images for ``n`` fixed z and
        the same (fixed) noise; teacher truncation as in training."""
        z = torch.randn([n, self.G.z_dim], generator=torch.Generator().manual_seed(seed)).to(self.device)
        img_t, ws, noises = self.teacher_and_student_inputs(z, seed)
        was = self.G.training
        self.G.eval()
        img_s, _ = self._student(ws, noises)
        self.G.train(was)
        return float((img_s - img_t).abs().mean())

    @torch.no_grad()
    def render_grid(self) -> np.ndarray:
        """uint8 [H, W, C]: (teacher, student) pairs for the preview seeds."""
        from gan_core.media import to_uint8

        cols, rows = self.o.grid
        n = cols * rows
        z = torch.randn([n, self.G.z_dim], generator=torch.Generator().manual_seed(self.o.seed + 777)).to(self.device)
        img_t, ws, noises = self.teacher_and_student_inputs(z, 777, psi=min(self.o.truncation_psi, 0.7))
        was = self.G.training
        self.G.eval()
        img_s, _ = self._student(ws, noises)
        self.G.train(was)
        pairs = torch.stack([img_t, img_s], dim=1).flatten(0, 1)
        return image_grid(np.asarray(to_uint8(pairs)), 2 * cols)

    # -- snapshots ---------------------------------------------------------------------------------

    def training_state(self) -> dict[str, Any]:
        return {"kind": CFG_NAME, "options": _plain_options(self.o), "cur_nimg": self.cur_nimg,
                "step": self.step_idx, "G_opt": self.opt_G.state_dict(), "D_opt": self.opt_D.state_dict(),
                "gen": self._gen.get_state(), "loss_scale": self.mp.state_dict()}

    def save_snapshot(self, path: Path, extra_state: dict[str, Any] | None = None) -> Path:
        """The student as G and G_ema, D, and the training state (plus ``extra_state``)."""
        from gan_core.train.snapshot import save_snapshot

        G = self.G.eval()
        try:
            return save_snapshot(path, G=G, D=self.D, G_ema=G,
                                 training_state={**self.training_state(), **(extra_state or {})})
        finally:
            self.G.train()

    def load_snapshot(self, path: str | Path) -> dict[str, Any]:
        """Continue from a snapshot of a distillation run; returns its training state."""
        import gan_core

        ck = gan_core.load_checkpoint(path, device=self.device)
        ts = ck.training_state or {}
        if ck.family != "mobilestylegan" or ts.get("kind") != CFG_NAME or ck.G is None or ck.D is None:
            raise ValueError(f"--resume {path}: not a snapshot of a MobileStyleGAN distillation run")
        self.G.load_state_dict(ck.G.state_dict())
        self.D.load_state_dict(ck.D.state_dict())
        load_optimizer_state(self.opt_G, ts["G_opt"])   # moments from the run, lr from the options
        load_optimizer_state(self.opt_D, ts["D_opt"])
        self.cur_nimg, self.step_idx = int(ts["cur_nimg"]), int(ts["step"])
        self._gen.set_state(ts["gen"].to(torch.uint8))
        self.mp.load_state_dict(ts.get("loss_scale"))
        self.resumed_options = ts.get("options")   # to log what this resume changed
        return ts


class DistillRunTrainer(TickStats):
    """A :class:`Distiller` in the run-directory loop of ``ganscope train``
    (``gan_core.train.protocol.LoopTrainer``): ticks, previews, control.json, signals and
    snapshots as every training run, in one process or several."""

    dataset = None     # no training images: the teacher makes the targets (no reals.png)

    def __init__(self, opts: DistillOptions, teacher: nn.Module | None = None,
                 dist_info: ddp.DistInfo | None = None) -> None:
        from gan_core.train.trainer import pick_device

        self.start_time = time.time()
        hint = "cuda" if opts.device.startswith("cuda") or (opts.device == "auto" and torch.cuda.is_available()) \
            else "cpu"
        self.dist = dist_info if dist_info is not None else ddp.init_from_env(hint)
        self.device = pick_device(opts.device, self.dist.local_rank)
        opts = dataclasses.replace(opts, device=str(self.device))
        self.run: RunDirectory | None = None
        if self.dist.is_main:
            if not opts.run_dir:
                raise ValueError("distill: give a run directory (run_dir)")
            self.run = RunDirectory(opts.run_dir, opts.kimg)
            self.run.clean_temporaries()
            self.run.write_status(state="starting")
        self.stats: dict[str, list[Any]] = {}
        self.tick = 0
        self.wall_offset = 0.0
        self.last_snapshot_nimg: int | None = None
        try:
            self.d = Distiller(opts, teacher=teacher, dist=self.dist)
            for net in (self.d.G, self.d.D):
                ddp.broadcast_module(net, self.dist)
            if opts.resume:
                from gan_core.train.snapshot import resolve_resume
                self._resume(self.d.load_snapshot(resolve_resume(opts.resume)))
            if self.run is not None:
                self.run.write_options({**_plain_options(opts), "world_size": self.dist.world_size})
        except BaseException as e:
            if self.run is not None:
                self.run.log(traceback.format_exc().rstrip(), echo=False)
                self.run.write_status(state="failed", error=f"{type(e).__name__}: {e}")
            raise
        self.o = self.d.o

    def _resume(self, ts: dict[str, Any]) -> None:
        self.tick = int(ts.get("tick", 0))
        self.wall_offset = float(ts.get("wall_s", 0.0))
        own = ddp.own_process_state(ts, self.dist)
        if own is not None and "gen" in own:      # this process's own state (several processes)
            self.d._gen.set_state(own["gen"].to(torch.uint8))
        if own is not None and own.get("rng") is not None:
            set_rng_state(own["rng"])
        elif self.dist.enabled:   # another process count than the snapshot's: new latent streams
            self.d._gen.manual_seed(ddp.latent_seed(self.d.o.seed, self.dist.rank, self.d.step_idx))

    # -- the trainer protocol ----------------------------------------------------------------------
    @property
    def cur_nimg(self) -> int:
        return self.d.cur_nimg

    @property
    def step_idx(self) -> int:
        return self.d.step_idx

    def step(self) -> None:
        self.d.step()

    def tick_stats(self) -> dict[str, Any]:
        s = self.d.take_stats()
        s["distance_eval"] = self.d.distance()
        return {"loss_G": s.pop("loss_G", None), "loss_D": s.pop("loss_D", None), "loss_r1": s.pop("loss_r1", None),
                "loss_pl": None, "augment_p": None, **s}

    def describe(self) -> str:
        d, o = self.d, self.d.o
        procs = f" ({self.dist.world_size} processes × {o.batch // self.dist.world_size})" if self.dist.enabled else ""
        return (f"distilling {o.teacher} ({d.T.img_resolution}², "
                f"{sum(p.numel() for p in d.T.synthesis.parameters())} synthesis parameters) into MobileStyleGAN "
                f"channels {d.G.config()['channels']} ({sum(p.numel() for p in d.G.synthesis.parameters())} "
                f"parameters) for {o.kimg:g} kimg, batch {o.batch}{procs}; perceptual loss "
                f"{'on' if d.perceptual is not None else 'off'}; shared noise "
                f"{'yes' if d.share_noise else 'no (teacher noise layers do not match)'}; device {self.device}"
                + (f"; starting at kimg {d.cur_nimg / 1000:.3f}" if d.cur_nimg else "") + _changed_note(d))

    def render_grid(self) -> np.ndarray:
        return self.d.render_grid()

    def save_snapshot(self) -> Path | None:
        """With several processes every one must call it (their latent generators are gathered)."""
        mine = {"gen": self.d._gen.get_state(), "rng": rng_state()}
        ranks = ddp.gather_objects(mine, self.dist) if self.dist.enabled else None
        self.last_snapshot_nimg = self.cur_nimg
        if self.run is None:
            return None
        name = self.run.sparing_best(snapshot_name(self.cur_nimg), self.cur_nimg)
        extra = {"tick": self.tick, "wall_s": self.wall_s(), "world_size": self.dist.world_size, "rng": rng_state()}
        if ranks is not None:
            extra["ranks"] = ranks
        path = self.d.save_snapshot(self.run.file(name), extra)
        self.run.write_png(fakes_name(name), self.render_grid())
        self.run.latest_snapshot_path = path
        self.run.log(f"snapshot {name} (kimg {self.cur_nimg / 1000:.3f})", echo=False)
        self.run.prune_snapshots(self.o.keep_snapshots)
        return path

    def wall_s(self) -> float:
        return self.wall_offset + time.time() - self.start_time

    def ranks_in_sync(self) -> bool:
        return ddp.networks_in_sync([self.d.G, self.d.D], self.dist, self.device)

    def close(self) -> None:
        pass


def _plain_options(o: DistillOptions) -> dict[str, Any]:
    d = dataclasses.asdict(o)
    d["grid"], d["betas"] = list(o.grid), list(o.betas)
    d["cfg"] = CFG_NAME
    return d


def distill(opts: DistillOptions, progress: bool = True, teacher: nn.Module | None = None,
            dist_info: ddp.DistInfo | None = None) -> str:
    """Run (or continue) a distillation session into ``opts.run_dir`` in the training loop of
    ``ganscope train``; returns 'finished' or 'stopped'. On an error the run's live_status says
    'failed' with the message, log.txt gets the traceback, and it re-raises."""
    from gan_core.train.loop import run_session

    return run_session(DistillRunTrainer(opts, teacher=teacher, dist_info=dist_info), progress,
                       own_process_group=dist_info is None)


def _changed_note(d: Distiller) -> str:
    from gan_core.train.trainer import changed_options

    changed = changed_options(getattr(d, "resumed_options", None), _plain_options(d.o))
    return "; options changed on resume: " + ", ".join(changed) if changed else ""
