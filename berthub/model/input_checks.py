"""BertModel's input checks: every bad input is refused with one line naming it and the fix."""

from __future__ import annotations

import torch
from torch import Tensor

from berthub.errors import InputError
from berthub.model.config import BertConfig
from berthub.model.packing import recording_graph


def check_inputs(config: BertConfig, input_ids: Tensor | None, token_type_ids: Tensor | None,
                 attention_mask: Tensor | None, inputs_embeds: Tensor | None = None) -> None:
    """One clear InputError for inputs BertModel cannot run (shape, dtype, length, id ranges)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise InputError("Give exactly one of input_ids [batch, seq_len] and inputs_embeds [batch, seq_len, "
                         f"hidden_size]; got {'both' if input_ids is not None else 'neither'}.")
    if inputs_embeds is not None:
        if not isinstance(inputs_embeds, Tensor) or tuple(inputs_embeds.shape[2:]) != (config.hidden_size,):
            shape = tuple(inputs_embeds.shape) if isinstance(inputs_embeds, Tensor) else type(inputs_embeds)
            raise InputError(f"inputs_embeds must be a [batch, seq_len, {config.hidden_size}] tensor, got {shape}.")
        reference, source = inputs_embeds[..., 0], "inputs_embeds"
    else:
        if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
            shape = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
            raise InputError(f"input_ids must be a [batch, seq_len] tensor of token ids, got {shape}.")
        if input_ids.dtype not in (torch.long, torch.int, torch.int16, torch.uint8):
            raise InputError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}.")
        reference, source = input_ids, "input_ids"
    if recording_graph():
        return  # the checks below read sizes and values, which a recorded graph must not freeze
    if reference.shape[1] > config.max_position_embeddings:
        raise InputError(
            f"Sequence length {reference.shape[1]} exceeds max_position_embeddings="
            f"{config.max_position_embeddings}; truncate the input (tokenizer max_length) first."
        )
    for name, tensor in (("token_type_ids", token_type_ids), ("attention_mask", attention_mask)):
        if tensor is not None and tuple(tensor.shape) != tuple(reference.shape):
            raise InputError(
                f"{name} has shape {tuple(tensor.shape)} but {source} has shape {tuple(reference.shape)}; "
                "they must match."
            )
    if input_ids is not None:
        _check_range("input_ids", input_ids, config.vocab_size, "the vocabulary (vocab_size)")
    if token_type_ids is not None:
        _check_range("token_type_ids", token_type_ids, config.type_vocab_size, "type_vocab_size")


def _check_range(name: str, ids: Tensor, size: int, what: str) -> None:
    if ids.numel() == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise InputError(f"{name} contains {bad}, outside {what} of size {size} (valid: 0..{size - 1}).")
