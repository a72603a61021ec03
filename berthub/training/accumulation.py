"""Exact gradient accumulation: k micro-batches give the same update as one batch of all their examples.

Averaging each micro-batch's mean loss (transformers' Trainer did, for years: their issues #34191 and
#35438) weights a micro-batch with 3 labelled tokens like one with 300. Instead, before any backward
pass, count the items every loss term sums over (what the head's `facts.loss_normaliser` names:
examples for sequence tasks, labelled tokens for token tasks) across all micro-batches of the step
and all ranks, then back-propagate each micro-batch's *summed* loss divided by that total. DDP
averages gradients over ranks, so each rank also multiplies by the world size. The gradient is then
exactly d(mean loss over the whole step).

A loss made of several means over different items (BERT pre-training: the mean over masked tokens
plus the mean over examples) has a head whose facts name K terms; its `loss_count` returns one count
per term ([K]) and its `loss(..., reduction="sum")` one sum per term ([K]); each term is divided by
its own total.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from berthub.errors import PluginError
from berthub.model.bert import Encoded
from berthub.training.distributed import Dist, all_reduce_sum


def loss_count(head: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """How many items `head.loss(..., reduction="sum")` sums over for `batch`, known before the forward:
    a scalar, or [K] for a head whose `facts.loss_normaliser` names K terms.

    Uses the head's `loss_count(targets, encoded)`, which may read the targets and the attention mask
    only (the encoder has not run yet).
    """
    targets = {name: batch[name] for name in head.facts.targets}
    mask, choices = batch.get("attention_mask"), None
    if mask is not None and mask.dim() == 3:  # multiple choice: the encoder sees [B * C, T]
        choices, mask = mask.shape[1], mask.reshape(-1, mask.shape[-1])
    encoded = Encoded(sequence_output=None, pooled_output=None, attention_mask=mask, num_choices=choices)
    count = torch.as_tensor(head.loss_count(targets, encoded))
    terms = head.facts.loss_terms
    if tuple(count.shape) not in ([(), (1,)] if terms == 1 else [(terms,)]):
        # A count per term that does not match the facts would divide a sum by the wrong items.
        raise PluginError(f"The {type(head).__name__} head's loss_count returned shape {list(count.shape)}, but its "
                          f"facts.loss_normaliser names {terms} term(s) {head.facts.loss_normaliser}: it must return "
                          f"{'one count (a scalar)' if terms == 1 else f'one count per term ([{terms}])'}.")
    return count


def step_count(head: nn.Module, micro_batches: list[dict[str, Tensor]], ctx: Dist) -> Tensor:
    """The loss count of a whole optimizer step: every micro-batch of every rank (one small all-reduce)."""
    local = torch.stack([loss_count(head, batch).to(torch.long) for batch in micro_batches]).sum(0)
    return all_reduce_sum(local.to(ctx.device), ctx)


def backward_weight(total: Tensor, ctx: Dist) -> float | list[float]:
    """What each micro-batch's summed loss is multiplied by before backward: world_size / total count.

    A step whose targets are all ignored (count 0) gets weight 0 rather than a division by zero.
    With one count per loss term ([K] totals), one weight per term.
    """
    if total.dim():
        return [ctx.world_size / int(c) if int(c) else 0.0 for c in total]
    count = int(total)
    return ctx.world_size / count if count else 0.0


def weighted(summed: Tensor, weight: float | list[float]) -> Tensor:
    """The scalar to back-propagate: summed * weight, or the sum over terms of summed[k] * weight[k]."""
    if isinstance(weight, list):
        return sum(term * w for term, w in zip(summed, weight, strict=True))
    return summed * weight


class SummedLoss(nn.Module):
    """model -> the head's loss summed over the batch's items (the module DDP wraps).

    DDP only syncs gradients of computations that run through its own forward, so the loss is
    computed inside this module's forward rather than by calling the model's methods directly.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Any]:
        logits, encoded = self.model.encode_and_score(batch)
        head = self.model.head
        targets = {name: batch[name] for name in head.facts.targets}
        return head.loss(logits, targets, encoded, reduction="sum"), logits
