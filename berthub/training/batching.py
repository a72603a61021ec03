"""Which training examples form each optimizer step, and how a step is split over ranks and micro-batches.

One optimizer step consumes one *global batch* of `batch_size * accumulation * world_size` examples.
The order of global batches depends only on the seed, the epoch and the global batch size, so
1 process x 1 micro-batch of 32, 1 process x 4 micro-batches of 8 and 2 processes x 2 micro-batches
of 8 see exactly the same examples in every step: that is what makes accumulation and DDP exact.

Each epoch: shuffle with a generator seeded by (seed, epoch) (the same on every rank, so no
communication is needed); with length grouping, sort within windows of 50 global batches by length
so padding is short, then shuffle the order of the global batches. A global batch is cut into
`accumulation * world_size` near-equal chunks; chunk `micro * world_size + rank` is that rank's
micro-batch `micro`. The last, short global batch is kept when every chunk gets at least one
example, and dropped otherwise (fewer than `accumulation * world_size` examples).

This module only chooses example indices; berthub.tasks.batch.collate (or a task's own `collate`) turns
them into tensors, in the trainer's `_batch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

# Window (in global batches) within which length grouping sorts, as transformers' LengthGroupedSampler.
GROUP_WINDOW = 50

MicroBatches = list[list[int]]  # one optimizer step on one rank: micro-batch -> example indices


@dataclass(frozen=True)
class Layout:
    """How one optimizer step is shared: per-rank micro-batch size, accumulation steps, ranks."""

    batch_size: int
    accumulation: int
    world_size: int = 1

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.accumulation * self.world_size

    @property
    def chunks(self) -> int:
        return self.accumulation * self.world_size

    def steps_per_epoch(self, num_examples: int) -> int:
        full, rest = divmod(num_examples, self.global_batch)
        return full + (1 if rest >= self.chunks else 0)

    def step_examples(self, num_examples: int, step_in_epoch: int) -> int:
        """Examples in step `step_in_epoch` over all ranks (every rank knows it without communicating)."""
        return min(self.global_batch, num_examples - step_in_epoch * self.global_batch)


def epoch_order(lengths: Sequence[int], layout: Layout, seed: int, epoch: int, group_by_length: bool) -> list[int]:
    """Example indices of one epoch in training order (identical on every rank)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if not group_by_length:
        return order
    if not order:
        return order
    window = GROUP_WINDOW * layout.global_batch
    grouped = []
    for start in range(0, len(order), window):
        grouped.extend(sorted(order[start:start + window], key=lambda i: -lengths[i]))
    batches = [grouped[i:i + layout.global_batch] for i in range(0, len(grouped), layout.global_batch)]
    # The short last batch stays last so every other step keeps the full global batch size.
    full = batches if len(batches[-1]) == layout.global_batch else batches[:-1]
    shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    return [i for batch in shuffled + batches[len(full):] for i in batch]


def split_step(indices: Sequence[int], layout: Layout, rank: int) -> MicroBatches:
    """This rank's micro-batches of one global batch (chunk `micro * world_size + rank`)."""
    base, extra = divmod(len(indices), layout.chunks)
    bounds = [0]
    for chunk in range(layout.chunks):
        bounds.append(bounds[-1] + base + (1 if chunk < extra else 0))
    chunks = [list(indices[bounds[c]:bounds[c + 1]]) for c in range(layout.chunks)]
    return [chunks[micro * layout.world_size + rank] for micro in range(layout.accumulation)]


def epoch_plan(lengths: Sequence[int], layout: Layout, rank: int, seed: int, epoch: int,
               group_by_length: bool) -> list[MicroBatches]:
    """Every optimizer step of one epoch, as this rank's micro-batches of example indices."""
    order = epoch_order(lengths, layout, seed, epoch, group_by_length)
    steps = layout.steps_per_epoch(len(lengths))
    return [split_step(order[s * layout.global_batch:(s + 1) * layout.global_batch], layout, rank)
            for s in range(steps)]


def eval_batches(lengths: Sequence[int], batch_size: int, rank: int, world_size: int) -> list[list[int]]:
    """This rank's share of an evaluation set in batches of similar length (order restored after gathering)."""
    by_length = sorted(range(len(lengths)), key=lambda i: lengths[i])
    mine = by_length[rank::world_size]
    return [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]
