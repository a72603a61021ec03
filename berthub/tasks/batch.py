"""Task features to a batch of tensors, and head outputs back to one item per feature.

The one collate of berthub: the trainer, the pipelines and plugins' tests batch with `collate`; a
task may build its own batch (berthub-pretraining's masks) and still call it for the common part.
Which examples go into each batch is berthub.training.batching's job; the padding itself is
berthub.tokenizer.inputs' (`stack_inputs`, `pad_rows`), shared with the tokenizer's own batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from berthub.errors import InputError
from berthub.plugins.head_contract import IGNORE_INDEX, TargetKind
from berthub.tokenizer.inputs import pad_rows, stack_inputs

MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")
Outputs = np.ndarray | tuple[np.ndarray, ...]


class Window(Protocol):
    """What collate reads of a feature; berthub.tasks.Feature is one."""

    input_ids: list[int]
    token_type_ids: list[int]
    targets: dict[str, Any]


def collate(features: Sequence[Window], pad_id: int = 0,
            kinds: dict[str, TargetKind] | None = None) -> dict[str, Tensor]:
    """Stack features into a batch padded to its longest window.

    Returns input_ids / token_type_ids / attention_mask [B, T] (long; padding pad_id / 0 / 0) and one
    tensor per target, by its kind (`kinds`, as `target_kinds(task)` gives them; undeclared: an int or
    float is "scalar", a list is "token"): scalar int -> long [B], scalar float -> float32 [B];
    token -> long [B, T] padded with -100; vector -> float32 [B, K]. Every feature must have the same
    target keys; a token list must have one int per input id, a vector the same K in every feature.
    """
    if not features:
        raise InputError("collate needs at least one feature.")
    arrays = stack_inputs([f.input_ids for f in features], pad_id, types=[f.token_type_ids for f in features])
    batch = {name: torch.from_numpy(array) for name, array in arrays.items()}
    length = batch["input_ids"].shape[1]
    keys = set(features[0].targets)
    for f in features:
        if set(f.targets) != keys:
            raise InputError(f"Features disagree on targets: {sorted(keys)} vs {sorted(f.targets)}.")
    kinds = kinds or {}
    for key in sorted(keys):
        values = [f.targets[key] for f in features]
        kind = kinds.get(key) or ("token" if isinstance(values[0], (list, tuple)) else "scalar")
        batch[key] = _COLLATE[kind](key, values, features, length)
    return batch


def _scalars(key: str, values: list[Any], features: Sequence[Window], length: int) -> Tensor:
    if any(isinstance(v, (list, tuple)) for v in values):
        raise InputError(f"Target '{key}' is declared a scalar but some features give a list.")
    floats = any(isinstance(v, float) for v in values)
    return torch.tensor(values, dtype=torch.float32 if floats else torch.long)


def _tokens(key: str, values: list[Any], features: Sequence[Window], length: int) -> Tensor:
    for index, (value, feature) in enumerate(zip(values, features, strict=True)):
        if not isinstance(value, (list, tuple)) or len(value) != len(feature.input_ids):
            size = len(value) if isinstance(value, (list, tuple)) else "a scalar"
            raise InputError(f"Target '{key}' of feature {index} has {size} entries for {len(feature.input_ids)} "
                             "input ids; a per-token target needs one per input id. For one vector per example "
                             f"(multi-label, several outputs) declare target_kinds = {{'{key}': 'vector'}} on the "
                             "task.")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise InputError(f"Target '{key}' of feature {index} is a per-token target and must hold ints (label "
                             f"ids, -100 = ignored); declare target_kinds = {{'{key}': 'vector'}} for float vectors.")
    return torch.from_numpy(pad_rows(values, length, IGNORE_INDEX))


def _vectors(key: str, values: list[Any], features: Sequence[Window], length: int) -> Tensor:
    sizes = {len(v) if isinstance(v, (list, tuple)) else None for v in values}
    if len(sizes) != 1 or None in sizes:
        raise InputError(f"Vector target '{key}' needs a list of the same length in every feature, got lengths "
                         f"{sorted(str(s) for s in sizes)}.")
    return torch.tensor([list(v) for v in values], dtype=torch.float32)


_COLLATE = {"scalar": _scalars, "token": _tokens, "vector": _vectors}


def model_inputs(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Only the encoder inputs of a collated batch (for prediction without a loss)."""
    return {k: v for k, v in batch.items() if k in MODEL_INPUTS}


def unbatch(logits: Tensor | tuple[Tensor, ...]) -> list[Outputs]:
    """Batch head outputs (a tensor or a tuple of tensors, batch first) -> one numpy item per row."""
    if isinstance(logits, Tensor):
        return list(logits.detach().float().cpu().numpy())
    parts = [list(t.detach().float().cpu().numpy()) for t in logits]
    return [tuple(row) for row in zip(*parts, strict=True)]
