"""StyleGAN (v1) progressive-growing training (Karras et al. 2018 §3, 2019 §C).

Schedule, by images seen (a pure function of ``cur_nimg``, so a resumed run continues it
exactly): training starts at ``start_resolution`` for ``phase_kimg`` thousand images; every
higher resolution first fades in over ``phase_kimg`` (alpha 0 -> 1, linear in images), then
trains stable for ``phase_kimg``; the final resolution (the dataset's) stays until
``total_kimg``. Batch size and learning rate are per resolution (``batch_schedule``,
``lr_schedule``). During a fade-in the real images are faded the same way as the generator's
output: ``lerp(nearest_up2(avg_pool2(x)), x, alpha)``.

Objective: ``loss='wgan-gp'`` (WGAN loss, gradient penalty lambda ``gp_lambda`` toward norm 1 on
random interpolates, drift ``drift`` · D(x)²) or ``loss='r1'`` (non-saturating logistic + R1 with
weight gamma/2 on reals, every step). Optional augmentation (``augment_pipe``, with ``ada`` its
controller), as StyleGAN2-ADA: every image D sees is augmented — the penalty of WGAN-GP is
taken between augmented reals and fakes, R1 is the gradient of D(augment(x)) with respect to the
reals x. Style-mixing regularization with probability
``style_mixing_prob`` (0.9): those images take the ws of a second z from a random crossover layer
among the layers in use. G EMA with half-life ``ema_kimg``. Adam (0, 0.99) as the paper.
Optional mixed precision (``precision``, a ``gan_core.train.amp.MixedPrecision``): G's and D's
forward passes under autocast, one loss scale per network, penalties from scaled gradients.

Randomness (z, noise, real-image indices, mixing) is drawn from generators seeded with
``(seed, iteration, rank)``, so resuming from a snapshot repeats exactly what an uninterrupted run
does. With several processes (``dist``) each takes ``batch / processes`` images of every
iteration, gradients are averaged before each Adam step and G's ``w_avg`` after each iteration.
Snapshots are native checkpoints (``gan_core.save``) with G, D, G_ema — whose configs carry the
current step and alpha — and a ``training_state`` (options, cur_nimg, iteration, step, alpha,
optimizer states).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gan_core.data.dataset import ImageDataset
from gan_core.models.stylegan1 import Discriminator, Generator
from gan_core.train import distributed as ddp
from gan_core.train.amp import MixedPrecision
from gan_core.train.augment import augment_state, restore_augment_state
from gan_core.train.ema import ema_beta, ema_update
from gan_core.train.loss import r1_penalty
from gan_core.train.snapshot import load_optimizer_state, save_snapshot

LOSSES = ("wgan-gp", "r1")


@dataclass
class ProgressiveOptions:
    data: str
    run_dir: str
    total_kimg: float = 10_000
    start_resolution: int = 8
    phase_kimg: float = 600
    loss: str = "wgan-gp"
    batch_schedule: dict[int, int] = field(default_factory=lambda: {4: 128, 8: 128, 16: 128, 32: 64, 64: 32,
                                                                    128: 16, 256: 8, 512: 4, 1024: 4})
    lr_schedule: dict[int, float] = field(default_factory=lambda: {128: 0.0015, 256: 0.002, 512: 0.003,
                                                                   1024: 0.003})
    lr: float = 0.001
    betas: tuple[float, float] = (0.0, 0.99)
    gp_lambda: float = 10.0
    drift: float = 0.001
    r1_gamma: float = 10.0
    style_mixing_prob: float = 0.9
    ema_kimg: float = 10.0
    snapshot_kimg: float | None = None
    seed: int = 0
    mirror: bool = False   # add x-flipped images (the dataset's second half)
    G_kwargs: dict[str, Any] = field(default_factory=dict)
    D_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["batch_schedule"] = {str(k): v for k, v in self.batch_schedule.items()}
        d["lr_schedule"] = {str(k): v for k, v in self.lr_schedule.items()}
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ProgressiveOptions":
        d = dict(d)
        d["batch_schedule"] = {int(k): int(v) for k, v in d["batch_schedule"].items()}
        d["lr_schedule"] = {int(k): float(v) for k, v in d["lr_schedule"].items()}
        d["betas"] = tuple(d["betas"])
        return cls(**d)


def schedule(cur_nimg: int, start_step: int, final_step: int, phase_nimg: int) -> tuple[int, float]:
    """(step, alpha) after ``cur_nimg`` images: start_step stable for one phase, then for each
    higher step a fade-in phase (alpha 0 -> 1) and a stable phase; the final step stays."""
    if cur_nimg < phase_nimg or start_step >= final_step:
        return start_step, 1.0
    k, rem = divmod(cur_nimg - phase_nimg, 2 * phase_nimg)
    step = start_step + 1 + k
    if step > final_step:
        return final_step, 1.0
    return step, min(rem / phase_nimg, 1.0)


def fade_reals(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Real images at the current resolution, faded like the generator's output."""
    if alpha >= 1:
        return x
    low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
    return low + alpha * (x - low)


class ProgressiveTrainer:
    """Holds G, D, G_ema, optimizers and the schedule; ``step()`` runs one iteration."""

    def __init__(self, opts: ProgressiveOptions, resume: str | Path | None = None,
                 dataset: ImageDataset | None = None, dist: ddp.DistInfo | None = None,
                 augment_pipe: torch.nn.Module | None = None, ada: Any = None,
                 precision: MixedPrecision | None = None) -> None:
        """``dataset``: an already opened dataset of ``opts.data`` (default: open it here);
        ``dist``: the process group this trainer is one process of (default: alone);
        ``augment_pipe``: augments every image D sees; ``ada``: an ``AdaController`` of that pipe
        (its p and accumulators are part of ``training_state`` and restored on resume);
        ``precision``: mixed precision (default: float32; its loss scales are part of
        ``training_state``)."""
        if opts.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {opts.loss!r}")
        self.o = opts
        self.dist = dist if dist is not None else ddp.DistInfo()
        self.augment_pipe = augment_pipe.to(opts.device) if augment_pipe is not None else None
        self.ada = ada
        self.device = torch.device(opts.device)
        self.mp = precision if precision is not None else MixedPrecision(self.device, enabled=False)
        self.dataset = dataset if dataset is not None else ImageDataset(opts.data, xflip=opts.mirror)
        res = self.dataset.resolution
        self.final_step = Generator.step_for_resolution(res)
        self.start_step = Generator.step_for_resolution(opts.start_resolution)
        if not 0 <= self.start_step <= self.final_step:
            raise ValueError(f"start_resolution {opts.start_resolution} must be between 4 and the dataset's {res}")
        self.phase_nimg = max(1, int(round(opts.phase_kimg * 1000)))
        world = self.dist.world_size
        for step in range(self.start_step, self.final_step + 1):
            b = int(opts.batch_schedule.get(4 * 2 ** step, 16))
            if b % world:
                raise ValueError(f"the batch at {4 * 2 ** step}² ({b}) is not a multiple of the {world} processes; "
                                 f"give a batch that is (--batch)")
        self.cur_nimg = 0
        self.iteration = 0
        if resume is not None:
            self._resume(resume)
        else:
            torch.manual_seed(opts.seed)
            gk = dict(z_dim=512, w_dim=512, mapping_layers=8)
            gk.update(opts.G_kwargs)
            self.G = Generator(img_resolution=res, img_channels=self.dataset.num_channels, **gk).to(self.device)
            self.D = Discriminator(img_resolution=res, img_channels=self.dataset.num_channels,
                                   **opts.D_kwargs).to(self.device)
            self.G_ema = Generator(**self.G.config()).to(self.device).eval().requires_grad_(False)
            self.G_ema.load_state_dict(self.G.state_dict())
            self.G_opt = torch.optim.Adam(self.G.parameters(), lr=opts.lr, betas=opts.betas)
            self.D_opt = torch.optim.Adam(self.D.parameters(), lr=opts.lr, betas=opts.betas)
        for net in (self.G, self.D, self.G_ema):
            ddp.broadcast_module(net, self.dist)
        self._apply_schedule()

    # ------------------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return 4 * 2 ** self.step_idx

    def _apply_schedule(self) -> None:
        self.step_idx, self.alpha = schedule(self.cur_nimg, self.start_step, self.final_step, self.phase_nimg)
        for net in (self.G, self.G_ema, self.D):
            net.set_progressive(self.step_idx, self.alpha)
        lr = self.o.lr_schedule.get(self.resolution, self.o.lr)
        for opt in (self.G_opt, self.D_opt):
            for g in opt.param_groups:
                g["lr"] = lr

    @property
    def batch(self) -> int:
        """Images per iteration, over all processes."""
        return int(self.o.batch_schedule.get(self.resolution, 16))

    def _average_gradients(self, net: torch.nn.Module) -> None:
        if self.dist.enabled:   # scaled gradients keep their Inf/NaN: every process then skips the same step
            ddp.average_gradients(list(net.parameters()), self.dist, replace_nonfinite=not self.mp.scaled)

    def _reals(self, gen: torch.Generator, batch: int) -> torch.Tensor:
        idx = torch.randint(len(self.dataset), [batch], generator=gen)
        imgs = torch.stack([torch.from_numpy(self.dataset.get_image(int(i))) for i in idx]).to(self.device)
        x = imgs.to(torch.float32) / 127.5 - 1
        factor = self.dataset.resolution // self.resolution
        if factor > 1:
            x = F.avg_pool2d(x, factor)
        return fade_reals(x, self.alpha)

    def _ws(self, gen: torch.Generator, batch: int, update_emas: bool = False) -> torch.Tensor:
        z = torch.randn([batch, self.G.z_dim], generator=gen).to(self.device)
        ws = self.G.mapping(z, None, update_emas=update_emas)
        if self.o.style_mixing_prob > 0:
            used = 2 * (self.step_idx + 1)
            if used > 1:
                z2 = torch.randn([batch, self.G.z_dim], generator=gen).to(self.device)
                ws2 = self.G.mapping(z2, None)
                cut = torch.randint(1, used, [batch, 1, 1], generator=gen).to(self.device)
                mix = (torch.rand([batch, 1, 1], generator=gen) < self.o.style_mixing_prob).to(self.device)
                layer = torch.arange(ws.shape[1], device=self.device)[None, :, None]
                ws = torch.where(mix & (layer >= cut), ws2, ws)
        return ws

    def _fake(self, gen: torch.Generator, batch: int, update_emas: bool = False) -> torch.Tensor:
        ws = self._ws(gen, batch, update_emas)
        noise_gen = torch.Generator().manual_seed(int(torch.randint(2 ** 62, [1], generator=gen)))
        with self.mp.autocast():
            return self.G.synthesis(ws, noise_mode="random", noise_generator=noise_gen).float()

    def _D(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits in float32, its forward under autocast when training in mixed precision."""
        with self.mp.autocast():
            return self.D(x).float()

    def step(self) -> dict[str, float]:
        """One iteration (D step, then G step, then EMA); returns the losses."""
        o = self.o
        batch = self.batch // self.dist.world_size   # this process's share
        # Process r draws its own stream (process 0 that of a one-process run). A CPU generator keeps
        # only the low 32 bits of its seed: the processes' seeds are 0x9E3779B1·r apart modulo 2³²
        # (golden-ratio spacing), far more than the iterations of a run.
        seed = (o.seed * 1_000_003 + self.iteration + 0x9E3779B1 * self.dist.rank) % 2 ** 32
        gen = torch.Generator().manual_seed(seed)
        self.G.train()
        self.D.train()
        # D
        self.D.requires_grad_(True)
        self.G.requires_grad_(False)
        real = self._reals(gen, batch)
        with torch.no_grad():
            fake = self._fake(gen, batch)
        aug = self.augment_pipe
        stats: dict[str, float] = {}
        if o.loss == "wgan-gp":
            if aug is not None:   # D sees augmented images; the penalty is taken between them
                real, fake = aug(real), aug(fake)
            d_real, d_fake = self._D(real), self._D(fake)
            eps = torch.rand([batch, 1, 1, 1], generator=gen).to(self.device)
            mixed = (real + eps * (fake - real)).detach().requires_grad_(True)
            grad = self.mp.input_gradient(self._D(mixed).sum(), mixed)
            gp = (grad.flatten(1).norm(dim=1) - 1).square()
            d_loss = (d_fake - d_real).mean() + o.gp_lambda * gp.mean() + o.drift * d_real.square().mean()
            stats["gp"] = float(gp.detach().mean())
        else:
            if aug is None:
                d_real, d_fake = self._D(real), self._D(fake)
                penalty, _ = r1_penalty(self._D, real, precision=self.mp)
            else:   # R1 of D(augment(x)) with respect to the reals x, as StyleGAN2-ADA
                penalty, d_real = r1_penalty(lambda x: self._D(aug(x)), real, precision=self.mp)
                d_fake = self._D(aug(fake))
            d_loss = F.softplus(d_fake).mean() + F.softplus(-d_real).mean() + o.r1_gamma / 2 * penalty.mean()
            stats["r1"] = float(penalty.detach().mean())
        if self.ada is not None:
            self.ada.accumulate(d_real)
        self.D_opt.zero_grad(set_to_none=True)
        self.mp.backward(d_loss, "D")
        self._average_gradients(self.D)
        self.mp.step(self.D_opt, "D")
        # G
        self.D.requires_grad_(False)
        self.G.requires_grad_(True)
        img = self._fake(gen, batch, update_emas=True)  # also tracks w_avg for truncation
        d_gen = self._D(aug(img) if aug is not None else img)
        g_loss = -d_gen.mean() if o.loss == "wgan-gp" else F.softplus(-d_gen).mean()
        self.G_opt.zero_grad(set_to_none=True)
        self.mp.backward(g_loss, "G")
        self._average_gradients(self.G)
        self.mp.step(self.G_opt, "G")
        self.D.requires_grad_(True)
        ddp.average_tracked_buffers(self.G, self.dist)   # w_avg, from every process's batch
        # EMA, counters, schedule
        batch = self.batch
        self.cur_nimg += batch
        self.iteration += 1
        if self.ada is not None:   # p follows D's view of the reals, one update per interval of iterations
            reduce = (lambda t: ddp.all_reduce_sum(t.to(self.device), self.dist)) if self.dist.enabled else None
            self.ada.update(self.iteration, batch, reduce=reduce)
        ema_update(self.G_ema, self.G, ema_beta(batch, o.ema_kimg, self.cur_nimg))
        self._apply_schedule()
        stats.update(d_loss=float(d_loss.detach()), g_loss=float(g_loss.detach()), step=self.step_idx,
                     alpha=self.alpha, kimg=self.cur_nimg / 1000, **self.mp.scales())
        return stats

    def run(self, kimg: float | None = None) -> None:
        """Train until ``kimg`` (default total_kimg) thousand images, snapshotting every
        ``snapshot_kimg`` and at the end."""
        end = int((self.o.total_kimg if kimg is None else kimg) * 1000)
        every = None if not self.o.snapshot_kimg else int(self.o.snapshot_kimg * 1000)
        next_snap = None if every is None else (self.cur_nimg // every + 1) * every
        while self.cur_nimg < end:
            self.step()
            if next_snap is not None and self.cur_nimg >= next_snap:
                self.save_snapshot()
                next_snap += every
        self.save_snapshot()

    # ------------------------------------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        return {"kind": "stylegan1-progressive", "options": self.o.to_dict(), "cur_nimg": self.cur_nimg,
                "iteration": self.iteration, "step": self.step_idx, "alpha": self.alpha,
                "G_opt": self.G_opt.state_dict(), "D_opt": self.D_opt.state_dict(),
                "augment": augment_state(self.augment_pipe, self.ada), "loss_scale": self.mp.state_dict()}

    def save_snapshot(self, path: str | Path | None = None) -> Path:
        if path is None:
            Path(self.o.run_dir).mkdir(parents=True, exist_ok=True)
            path = Path(self.o.run_dir) / f"network-snapshot-{self.cur_nimg // 1000:06d}k-{self.cur_nimg:09d}.pt"
        return save_snapshot(path, self.G, self.D, self.G_ema, self.training_state())

    def _resume(self, path: str | Path) -> None:
        from gan_core.io import load_checkpoint
        ck = load_checkpoint(path, device=self.device)
        ts = ck.training_state or {}
        if ts.get("kind") != "stylegan1-progressive" or ck.family != "stylegan1":
            raise ValueError(f"{path}: not a StyleGAN1 progressive-training snapshot")
        self.G, self.D = ck.G.train(), ck.D.train()
        self.G.requires_grad_(True)
        self.D.requires_grad_(True)
        self.G_ema = ck.G_ema
        self.cur_nimg, self.iteration = int(ts["cur_nimg"]), int(ts["iteration"])
        self.G_opt = torch.optim.Adam(self.G.parameters(), lr=self.o.lr, betas=self.o.betas)
        self.D_opt = torch.optim.Adam(self.D.parameters(), lr=self.o.lr, betas=self.o.betas)
        load_optimizer_state(self.G_opt, ts["G_opt"])
        load_optimizer_state(self.D_opt, ts["D_opt"])
        restore_augment_state(self.augment_pipe, self.ada, ts.get("augment"))
        self.mp.load_state_dict(ts.get("loss_scale"))
        step, alpha = schedule(self.cur_nimg, self.start_step, self.final_step, self.phase_nimg)
        if (step, alpha) != (int(ts["step"]), float(ts["alpha"])) or (self.G.step, self.G.alpha) != (step, alpha):
            raise ValueError(f"{path}: its step/alpha ({ts['step']}, {ts['alpha']}) do not match the schedule at "
                             f"{self.cur_nimg} images ({step}, {alpha}); resume with the run's own options")


def resume_options(path: str | Path) -> ProgressiveOptions:
    """The options a snapshot was trained with (to resume it with ``ProgressiveTrainer(opts, resume=path)``)."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    return ProgressiveOptions.from_dict(ck["training_state"]["options"])
