"""Which dataset images each training step uses: a pure function of (seed, step, rank).

The global sample stream is the concatenation of per-epoch permutations
``RandomState(seed + epoch).permutation(len(dataset))``. Step ``s`` uses stream positions
``[s · batch, (s + 1) · batch)``; process ``r`` takes its ``batch / world_size`` slice. Because
nothing depends on the history, a resumed run sees exactly the images an uninterrupted run
would have seen, whatever the number of loader workers.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch


class StepBatchSampler(torch.utils.data.Sampler):
    """Infinite batch sampler for ``DataLoader(batch_sampler=...)`` starting at ``start_step``."""

    def __init__(self, size: int, batch: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 start_step: int = 0) -> None:
        if size < 1:
            raise ValueError("the dataset is empty")
        if batch % world_size:
            raise ValueError(f"batch {batch} is not a multiple of world size {world_size}")
        self.size, self.batch, self.seed = int(size), int(batch), int(seed)
        self.rank, self.world_size, self.start_step = int(rank), int(world_size), int(start_step)
        self._perm_epoch: int | None = None
        self._perm: np.ndarray | None = None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.RandomState((self.seed + epoch) % 2 ** 32).permutation(self.size)
            self._perm_epoch = epoch
        return self._perm

    def indices(self, step: int) -> list[int]:
        """Dataset indices of this process's share of step ``step``."""
        per = self.batch // self.world_size
        start = step * self.batch + self.rank * per
        out = []
        for k in range(start, start + per):
            epoch, pos = divmod(k, self.size)
            out.append(int(self._permutation(epoch)[pos]))
        return out

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            yield self.indices(step)
            step += 1


def step_loader(dataset, sampler: StepBatchSampler, *, workers: int, pin_memory: bool,
                seed: int) -> torch.utils.data.DataLoader:
    """The training DataLoader: ``sampler`` picks the images; ``workers`` processes decode them.

    The loader has its own generator, so creating an iterator does not draw from the global RNG
    (which is part of a snapshot). Workers ignore Ctrl+C and SIGTERM (``ignore_stop_signals``):
    the trainer alone decides when to stop, after finishing its step."""
    from gan_core.data.dataset import ignore_stop_signals
    kw: dict = dict(batch_sampler=sampler, num_workers=workers, pin_memory=pin_memory,
                    generator=torch.Generator().manual_seed(seed))
    if workers > 0:
        kw["prefetch_factor"] = 2
        kw["worker_init_fn"] = ignore_stop_signals
    return torch.utils.data.DataLoader(dataset, **kw)


def close_before_exit(owner) -> None:
    """Call ``owner.close()`` at interpreter exit if nobody did.

    multiprocessing's exit handler stops the remaining daemonic children with SIGTERM and then
    joins them; loader workers ignore SIGTERM, so a script that never closes its trainer would
    hang there for ever. The handler first runs finalizers that have an exit priority, so closing
    the owner in one shuts the workers down through their queues before that. Holds only a weak
    reference: a trainer that is dropped earlier is not kept alive."""
    import multiprocessing.util
    import weakref

    ref = weakref.ref(owner)

    def close() -> None:
        alive = ref()
        if alive is not None:
            alive.close()

    multiprocessing.util.Finalize(owner, close, exitpriority=100)
