"""Growing or shrinking a model's vocabulary: the word embeddings and every vocabulary-sized head tensor.

Rows the old vocabulary had are kept as they were; new rows start either at the mean of the old
rows (`mean_resizing=True`, transformers' default since 4.46: a new token's embedding and its MLM
score start at "an average token", so adding tokens barely moves the model's predictions) or at
Google's initialisation (truncated normal(0, initializer_range), zero output bias).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from berthub.errors import InputError


def target_size(current: int, new_num_tokens: int | None, pad_to_multiple_of: int | None) -> int:
    """The vocabulary size asked for: `new_num_tokens` (default: the current size) rounded up to a multiple."""
    size = current if new_num_tokens is None else new_num_tokens
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise InputError(f"new_num_tokens must be a positive integer, got {new_num_tokens!r}.")
    if pad_to_multiple_of is not None:
        if not isinstance(pad_to_multiple_of, int) or isinstance(pad_to_multiple_of, bool) or pad_to_multiple_of <= 0:
            raise InputError(f"pad_to_multiple_of must be a positive integer, got {pad_to_multiple_of!r}.")
        size = -(-size // pad_to_multiple_of) * pad_to_multiple_of
    return size


def resized_rows(old: Tensor, rows: int, mean_resizing: bool, init_range: float | None) -> Tensor:
    """`old` ([V, ...] or [V]) with `rows` rows: the first min(V, rows) copied, new ones initialised.

    New rows: the mean of the old rows when `mean_resizing`, else truncated normal(0, init_range)
    (or zeros when init_range is None, as for an output bias).
    """
    fresh = torch.empty((rows, *old.shape[1:]), dtype=old.dtype, device=old.device)
    kept = min(rows, old.shape[0])
    with torch.no_grad():
        fresh[:kept] = old[:kept]
        if rows > kept:
            if mean_resizing:
                fresh[kept:] = old.float().mean(dim=0).to(old.dtype)
            elif init_range is None:
                fresh[kept:].zero_()
            else:
                nn.init.trunc_normal_(fresh[kept:], std=init_range, a=-2 * init_range, b=2 * init_range)
    return fresh


def resized_embedding(old: nn.Embedding, rows: int, mean_resizing: bool, init_range: float) -> nn.Embedding:
    """A new nn.Embedding with `rows` rows (see resized_rows), same dtype, device and requires_grad."""
    weight = resized_rows(old.weight.detach(), rows, mean_resizing, init_range)
    padding_idx = old.padding_idx if old.padding_idx is not None and old.padding_idx < rows else None
    embedding = nn.Embedding(rows, old.embedding_dim, padding_idx=padding_idx, _weight=weight)
    embedding.weight.requires_grad_(old.weight.requires_grad)
    return embedding


def resized_parameter(old: nn.Parameter, rows: int, mean_resizing: bool, init_range: float | None) -> nn.Parameter:
    """A parameter like `old` with `rows` rows (see resized_rows)."""
    return nn.Parameter(resized_rows(old.detach(), rows, mean_resizing, init_range), requires_grad=old.requires_grad)
