"""The order of training samples: reproducible per epoch, sharded per process, resumable."""

import math

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler):
    """
    Sample indices of one epoch, drawn from ``seed + epoch`` alone.

    A run resumed in the middle of an epoch therefore sees the rest of that epoch's order
    (``set_epoch(epoch, skip)``), not epoch 0's again. With ``world`` processes each takes every
    ``world``-th index of the shared order (padded by wrapping around, as DistributedSampler
    does). With ``weights`` an epoch draws ``size`` indices with replacement in proportion to
    them (a single process only).
    """

    def __init__(self, size, seed, rank=0, world=1, weights=None):
        """
        Sample ``size`` items from ``seed``, as process ``rank`` of ``world``.

        :param size: number of samples in the dataset.
        :param seed: base seed of every epoch's order.
        :param rank: this process's rank; world: number of processes.
        :param weights: optional ``size`` sampling weights.
        """
        if weights is not None:
            if world > 1:
                raise ValueError('sample weights need a single training process')
            if len(weights) != size:
                raise ValueError(f'{len(weights)} sample weights for {size} samples')
            weights = torch.as_tensor(weights, dtype=torch.float64)
        self.size, self.seed, self.rank, self.world = size, seed, rank, world
        self.weights = weights
        self.per_process = math.ceil(size / world)
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch, skip=0):
        """Draw epoch ``epoch``'s order; leave out the first ``skip`` indices of this process."""
        self.epoch, self.skip = epoch, min(max(skip, 0), self.per_process)

    def order(self):
        """Return this process's indices of the current epoch, all ``per_process`` of them."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.weights is not None:
            return torch.multinomial(self.weights, self.size, True, generator=generator).tolist()
        shared = torch.randperm(self.size, generator=generator)
        shared = shared.repeat(math.ceil(self.per_process * self.world / self.size))
        return shared[:self.per_process * self.world][self.rank::self.world].tolist()

    def __iter__(self):
        """Yield the indices left of the current epoch."""
        return iter(self.order()[self.skip:])

    def __len__(self):
        """Return the number of indices left of the current epoch."""
        return self.per_process - self.skip
