"""BigGAN training (Brock et al. 2019), written from the paper's definitions.

* Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D minimizes ``E[relu(1 - D(x, y))] +
  E[relu(1 + D(G(z, y'), y'))]``, G minimizes ``-E[D(G(z, y'), y')]``.
* Spectral norm is part of the networks (``gan_core.models.biggan_layers``); in training mode
  each forward does one power-iteration step and updates ``u0`` / ``sv0``.
* Off-diagonal orthogonal regularization (eq. 3) on G's weights (not the class embedding),
  added to G's loss with weight ``G_ortho`` (β); optionally on D's (``D_ortho``).
* G:D step ratio: ``num_D_steps`` discriminator updates (each on a fresh real batch) per
  generator update.
* G EMA with a start step: until ``ema_start`` generator steps ``G_ema`` is a copy of ``G``, then
  ``G_ema ← d·G_ema + (1 - d)·G`` (``ema_decay`` d) for parameters, buffers copied (stored
  batch-norm statistics and spectral-norm vectors follow G).
* Optional differentiable augmentation of every image D sees (real, fake, and G's images in
  G's step), as in StyleGAN2-ADA: ``augment_pipe`` (``gan_core.train.augment.AugmentPipe``) with
  a fixed p, or its ``AdaController`` adjusting p from the sign of D's real logits after each D
  step. Off by default (the paper trains without it).
* Mixed precision (``precision``, a ``gan_core.train.amp.MixedPrecision``): forward passes under
  autocast with a loss scale per network; spectral norm and the orthogonal regularization stay
  float32. Off by default (``ganscope train --fp32 false`` turns it on on CUDA).
* Class-conditional data: a labelled dataset (``gan_core.data``, labels from the dataset tool,
  one-hot ``[N, c_dim]``); fake images use classes drawn uniformly.
* Several processes (``dist``, a ``gan_core.train.distributed.DistInfo``): each takes
  ``batch / processes`` of every batch, with its own latents; gradients are averaged before
  every optimizer step, the batch-norm statistics G stores after every step, and ADA's
  statistic over all processes. Batch norm normalizes with each process's own batch
  statistics, as BigGAN's reference code does without cross-replica batch norm.

This is a self-contained step function for BigGAN / BigGAN-deep; ``ganscope train --cfg biggan``
runs it through the run-directory loop of ``gan_core.train.loop`` (``families.BigGANRunTrainer``
supplies the real batches as a pure function of the D step, and ``state_dict`` /
``load_state_dict`` carry what an exact resume needs).

    trainer = BigGANTrainer(G, D, dataset, BigGANTrainOptions(batch=16))
    for _ in range(1000):
        stats = trainer.step()        # {'loss_D_real', 'loss_D_fake', 'loss_G', 'ortho_G', ...}
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.models.biggan_layers import orthogonal_regularization, ortho_weights, truncated_normal
from gan_core.train import distributed as ddp
from gan_core.train.amp import MixedPrecision
from gan_core.train.augment import augment_state, restore_augment_state
from gan_core.train.ema import ema_update
from gan_core.train.snapshot import load_optimizer_state


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(``mean(relu(1 - D(x)))``, ``mean(relu(1 + D(G(z))))``) — D's hinge loss, two parts."""
    return F.relu(1.0 - real_logits).mean(), F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-mean(D(G(z)))`` — G's hinge loss."""
    return -fake_logits.mean()


@dataclass
class BigGANTrainOptions:
    batch: int = 32
    lr_G: float = 1e-4          # the paper's 128² ImageNet settings (TTUR)
    lr_D: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.999)
    adam_eps: float = 1e-6
    num_D_steps: int = 2        # D updates per G update
    G_ortho: float = 1e-4       # β of orthogonal regularization on G (0: off)
    D_ortho: float = 0.0
    ema_decay: float = 0.9999
    ema_start: int = 20000      # G steps before the EMA starts averaging
    z_threshold: float | None = None  # train on a truncated normal z (None: N(0, I))
    seed: int = 0


class BigGANTrainer:
    """Trains ``G`` / ``D`` (BigGAN or BigGAN-deep, class-conditional) on ``dataset``, an
    ``ImageDataset`` opened with ``use_labels=True`` (uint8 ``[C, H, W]`` images, one-hot labels)."""

    def __init__(self, G: nn.Module, D: nn.Module, dataset: Any, opts: BigGANTrainOptions | None = None,
                 device: str | torch.device = "cpu",
                 reals: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None,
                 augment_pipe: nn.Module | None = None, ada: Any = None, dist: ddp.DistInfo | None = None,
                 precision: MixedPrecision | None = None) -> None:
        """``reals``: optional stream of real ``(images in [-1, 1], one-hot labels)`` batches on
        ``device`` (default: a shuffling loader driven by the trainer's generator); with several
        processes it is required and yields this process's share of each batch.
        ``augment_pipe``: augments every image D sees; ``ada``: an ``AdaController`` of that pipe.
        ``dist``: the process group this trainer is one process of (default: alone).
        ``precision``: mixed precision (default: float32)."""
        self.opts = opts = opts or BigGANTrainOptions()
        if opts.num_D_steps < 1 or opts.batch < 1:
            raise ValueError("num_D_steps and batch must be >= 1")
        self.dist = dist if dist is not None else ddp.DistInfo()
        world = self.dist.world_size
        if opts.batch % world:
            raise ValueError(f"batch {opts.batch} is not a multiple of the {world} processes")
        if self.dist.enabled and reals is None:
            raise ValueError("with several processes, give each its share of the real batches (reals=)")
        self.local_batch = opts.batch // world
        label_dim = int(getattr(dataset, "label_dim", 0))
        if label_dim != G.c_dim:
            raise ValueError(f"the dataset has {label_dim} label dimensions but the model has {G.c_dim} classes; "
                             f"BigGAN trains on a labelled dataset (open it with use_labels=True; labels come "
                             f"from the dataset tool's dataset.json)")
        res = int(getattr(dataset, "resolution", G.img_resolution))
        if res != G.img_resolution:
            raise ValueError(f"the dataset's images are {res}² but the model makes {G.img_resolution}²")
        self.device = torch.device(device)
        self.mp = precision if precision is not None else MixedPrecision(self.device, enabled=False)
        self.G, self.D = G.to(self.device).train(), D.to(self.device).train()
        self.G_ema = copy.deepcopy(G).eval().requires_grad_(False)
        self.opt_G = torch.optim.Adam(G.parameters(), lr=opts.lr_G, betas=opts.betas, eps=opts.adam_eps)
        self.opt_D = torch.optim.Adam(D.parameters(), lr=opts.lr_D, betas=opts.betas, eps=opts.adam_eps)
        self.augment_pipe = augment_pipe.to(self.device) if augment_pipe is not None else None
        self.ada = ada
        # each process draws its own latents (process 0 those of a one-process run)
        self.gen = torch.Generator().manual_seed(ddp.latent_seed(opts.seed, self.dist.rank))
        self.dataset = dataset
        self._reals = reals if reals is not None else self._real_batches()
        self.g_steps = 0
        self.d_steps = 0
        self.nimg = 0

    def _real_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=self.opts.batch, shuffle=True, drop_last=True,
                                             generator=self.gen, num_workers=0)
        if len(loader) == 0:
            raise ValueError(f"the dataset has fewer images ({len(self.dataset)}) than one batch ({self.opts.batch})")
        while True:
            for img, c in loader:
                yield (img.to(self.device, torch.float32) / 127.5 - 1), c.to(self.device, torch.float32)

    def state_dict(self) -> dict[str, Any]:
        """Optimizer states, the latent generator's state, the augmentation's p (and ADA's
        accumulators), the loss scales and the counters (networks not included)."""
        augment = augment_state(self.augment_pipe, self.ada)
        return {"opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(), "gen": self.gen.get_state(),
                "g_steps": self.g_steps, "d_steps": self.d_steps, "nimg": self.nimg, "augment": augment,
                "loss_scale": self.mp.state_dict()}

    def process_state(self) -> dict[str, Any]:
        """What differs between processes: the latent generator and ADA's accumulators."""
        return {"gen": self.gen.get_state(), "augment": self.ada.state_dict() if self.ada is not None else None}

    def load_process_state(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"].to(torch.uint8))
        if self.ada is not None and state.get("augment") and "sign_sum" in state["augment"]:
            self.ada.load_state_dict(state["augment"])

    def _reduce_gradients(self, net: nn.Module) -> None:
        if self.dist.enabled:   # scaled gradients keep their Inf/NaN: every process then skips the same step
            ddp.average_gradients(list(net.parameters()), self.dist, replace_nonfinite=not self.mp.scaled)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_optimizer_state(self.opt_G, state["opt_G"])
        load_optimizer_state(self.opt_D, state["opt_D"])
        self.gen.set_state(state["gen"].to(torch.uint8))
        self.g_steps, self.d_steps, self.nimg = int(state["g_steps"]), int(state["d_steps"]), int(state["nimg"])
        restore_augment_state(self.augment_pipe, self.ada, state.get("augment"))
        self.mp.load_state_dict(state.get("loss_scale"))

    @property
    def _ada_reduce(self):
        """ADA's [sign sum, count] summed over processes (None: one process)."""
        if not self.dist.enabled:
            return None
        return lambda t: ddp.all_reduce_sum(t.to(self.device), self.dist)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        return self.augment_pipe(images) if self.augment_pipe is not None else images

    def _G(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """G's images (float32), its forward under autocast when training in mixed precision."""
        with self.mp.autocast():
            return self.G(z, c).float()

    def _D(self, images: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """D's logits (float32) of the augmented images (augmented in float32, as StyleGAN2-ADA)."""
        x = self._augment(images)
        with self.mp.autocast():
            return self.D(x, c).float()

    def _latents(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        shape = [n, self.G.z_dim]
        z = (torch.randn(shape, generator=self.gen) if self.opts.z_threshold is None
             else truncated_normal(shape, self.opts.z_threshold, generator=self.gen))
        y = torch.randint(self.G.c_dim, [n], generator=self.gen)
        return z.to(self.device), F.one_hot(y, self.G.c_dim).float().to(self.device)

    def step(self) -> dict[str, float]:
        """``num_D_steps`` D updates, one G update, then the EMA. Returns the step's losses."""
        o, G, D, mp = self.opts, self.G, self.D, self.mp
        G.train()
        D.train()
        stats: dict[str, float] = {}
        D.requires_grad_(True)
        for _ in range(o.num_D_steps):
            real, c_real = next(self._reals)
            z, c_fake = self._latents(real.shape[0])
            with torch.no_grad():
                fake = self._G(z, c_fake)
            real_logits = self._D(real, c_real)
            fake_logits = self._D(fake, c_fake)
            if self.ada is not None:
                self.ada.accumulate(real_logits)
            loss_real, loss_fake = hinge_d_loss(real_logits, fake_logits)
            loss = loss_real + loss_fake
            if o.D_ortho > 0:
                ortho_d = orthogonal_regularization(ortho_weights(D), o.D_ortho)
                loss = loss + ortho_d
                stats["ortho_D"] = ortho_d.item()
            self.opt_D.zero_grad(set_to_none=True)
            mp.backward(loss, "D")
            self._reduce_gradients(D)
            mp.step(self.opt_D, "D")
            self.d_steps += 1
            self.nimg += real.shape[0] * self.dist.world_size
            if self.ada is not None:      # p follows D's view of the reals, one update per interval of D steps
                self.ada.update(self.d_steps, real.shape[0] * self.dist.world_size, reduce=self._ada_reduce)
            stats["loss_D_real"], stats["loss_D_fake"] = loss_real.item(), loss_fake.item()
        D.requires_grad_(False)
        z, c = self._latents(self.local_batch)
        loss_G = hinge_g_loss(self._D(self._G(z, c), c))
        loss = loss_G
        if o.G_ortho > 0:
            ortho_g = orthogonal_regularization(ortho_weights(G), o.G_ortho)
            loss = loss + ortho_g
            stats["ortho_G"] = ortho_g.item()
        self.opt_G.zero_grad(set_to_none=True)
        mp.backward(loss, "G")
        self._reduce_gradients(G)
        mp.step(self.opt_G, "G")
        D.requires_grad_(True)
        ddp.average_tracked_buffers(G, self.dist)   # G's stored batch-norm statistics, from every process's batches
        self.g_steps += 1
        stats["loss_G"] = loss_G.item()
        stats.update(mp.scales())
        if self.g_steps <= o.ema_start:
            ema_update(self.G_ema, G, 0.0)   # a copy until the EMA starts
            stats["ema_decay"] = 0.0
        else:
            ema_update(self.G_ema, G, o.ema_decay)
            stats["ema_decay"] = o.ema_decay
        if not all(math.isfinite(v) for v in stats.values()):
            raise FloatingPointError(f"training diverged at G step {self.g_steps}: {stats}")
        return stats
