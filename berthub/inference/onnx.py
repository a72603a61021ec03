"""ONNX export of BertModel and of any BertForTask, checked with onnxruntime against eager PyTorch.

The graph is recorded by torch.onnx's dynamo exporter (torch.export underneath). While torch records,
the encoder's `Packing` (berthub.model.packing) computes on the padded batch with the mask instead of
packing real tokens, so the file takes `attention_mask` and gives eager's numbers on padded batches of any size.

Inputs: input_ids, token_type_ids, attention_mask, int64 [batch, sequence] ([batch, choices, sequence]
for multiple choice), batch and sequence dynamic. Outputs: sequence_output + pooled_output for the
encoder, else the head's logits under the names its BertFor* class returns them by.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from berthub.errors import ConfigError
from berthub.files import atomic_path
from berthub.model.bert import BertModel

INPUT_NAMES = ("input_ids", "token_type_ids", "attention_mask")
ENCODER_OUTPUTS = ("sequence_output", "pooled_output")
SAMPLES = Path(__file__).parent / "samples" / "sst2_dev.txt"


class _Graph(nn.Module):
    """model(input_ids, token_type_ids, attention_mask) -> a flat tuple of tensors, as a graph returns them."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, token_type_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, ...]:
        if isinstance(self.model, BertModel):
            return self.model(input_ids, token_type_ids, attention_mask, output_all_encoded_layers=False)
        out = self.model(input_ids, token_type_ids, attention_mask)
        return out if isinstance(out, tuple) else (out,)


@dataclass
class Check:
    """How an exported file compared with eager PyTorch: the largest difference and the bound it met."""

    batches: int
    sequences: int
    padded_fraction: float
    max_abs_diff: float
    tolerance: float


def graph_outputs(model: nn.Module) -> tuple[str, ...]:
    """The names of the graph's outputs: the encoder's two, or what the head's facts call its outputs."""
    return ENCODER_OUTPUTS if isinstance(model, BertModel) else model.head.facts.outputs


def sample_batches(tokenizer, model: nn.Module, batch_size: int = 8, sentences: Sequence[str] | None = None
                   ) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Real sentences (berthub's SST-2 sample unless given) tokenized and padded per batch of `batch_size`;
    multiple-choice models get each batch's sentences as the choices of one question."""
    if sentences is None:
        lines = SAMPLES.read_text(encoding="utf-8").splitlines()
        sentences = [line for line in lines if line and not line.startswith("#")]
    limit = model.config.max_position_embeddings
    rows = [tokenizer.convert_tokens_to_ids(["[CLS]", *tokenizer.tokenize(s)[: limit - 2], "[SEP]"])
            for s in sentences]
    batches = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        ids = torch.zeros(len(chunk), max(map(len, chunk)), dtype=torch.long)
        for i, row in enumerate(chunk):
            ids[i, :len(row)] = torch.tensor(row)
        batch = (ids, torch.zeros_like(ids), (ids != 0).long())
        if getattr(model, "head_name", None) == "multiple-choice":
            batch = tuple(t[None] for t in batch)
        batches.append(batch)
    return batches


def export_onnx(model: nn.Module, path: Path, example: tuple[Tensor, Tensor, Tensor]) -> Path:
    """Record `model` on `example` and write the ONNX file atomically to `path` (dynamic batch and sequence)."""
    graph = _Graph(model.eval()).eval()
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence", max=model.config.max_position_embeddings)}
    if example[0].dim() == 3:
        dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("choices"),
                2: torch.export.Dim("sequence", max=model.config.max_position_embeddings)}
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(graph, example, dynamo=True, input_names=list(INPUT_NAMES),
                                    output_names=list(graph_outputs(model)), dynamic_shapes=(dims,) * 3,
                                    verbose=False)
    with atomic_path(path) as tmp:
        program.save(str(tmp))
    return Path(path)


@contextlib.contextmanager
def _quiet_exporter():
    """Silence what torch.onnx reports about its own internals (deprecations, optional torchvision ops),
    which says nothing about the user's model; real failures still raise."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*axis name.*", category=UserWarning)
            yield
    finally:
        registration.setLevel(level)


def check_onnx(path: Path, model: nn.Module, batches: Sequence[tuple[Tensor, Tensor, Tensor]],
               tolerance: float = 1e-4) -> Check:
    """Run `path` in onnxruntime on `batches` and compare every output with eager `model`.

    Raises ConfigError naming the output and the difference when one exceeds `tolerance` (absolute,
    scaled by max(1, |eager value|) so large vocabulary scores get the same relative room)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph, names, worst = _Graph(model.eval()).eval(), graph_outputs(model), 0.0
    for batch in batches:
        with torch.no_grad():
            expected = graph(*batch)
        got = session.run(None, {name: t.numpy() for name, t in zip(INPUT_NAMES, batch, strict=True)})
        for name, want, have in zip(names, expected, got, strict=True):
            want = want.float().numpy()
            diff = float(np.max(np.abs(want - have) / np.maximum(1.0, np.abs(want))))
            worst = max(worst, diff)
            if not diff <= tolerance:
                raise ConfigError(f"{path}: output '{name}' differs from PyTorch by {diff:.2e} (tolerance "
                                  f"{tolerance:.0e}) on a batch of shape "
                                  f"{tuple(batch[0].shape)}; the file is unusable.")
    masks = [b[2] for b in batches]
    padded = 1 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)
    return Check(len(batches), sum(int(np.prod(m.shape[:-1])) for m in masks), padded, worst, tolerance)
