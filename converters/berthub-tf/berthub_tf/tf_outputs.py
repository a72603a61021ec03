"""`--verify` on a SavedModel with TensorFlow installed: TensorFlow runs the SavedModel's own graph.

The converted model and TensorFlow get the same padded batch (three rows of different lengths, two
segments in one row); their sequence and pooled outputs (and masked-LM logits, when both have the
head) are compared at real tokens, where the padding cannot matter. Tensor-for-tensor equality
(verify.py) proves the weights; this proves the computation around them: the activation read from
the graph, the attention layout, the layer norms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from berthub.plugins import builtin_head_class
from berthub_tf.convert import CONFIG_NAME

# float32 in another order of operations stays well below this (about 1e-6 on the two-layer test
# models); the tanh gelu in place of the exact one already shows as 5e-4 there.
TOLERANCE = 1e-4


@dataclass(frozen=True)
class OutputRow:
    name: str
    max_abs_diff: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= TOLERANCE


@dataclass(frozen=True)
class OutputCheck:
    rows: list[OutputRow]
    batch: tuple[int, int]
    tensorflow: str

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def table(self) -> str:
        lines = [f"TensorFlow {self.tensorflow} ran the SavedModel's graph on a padded batch of {self.batch[0]} x "
                 f"{self.batch[1]}; the converted model at real tokens:"]
        for row in self.rows:
            verdict = "ok" if row.ok else "DIFFERENT"
            lines.append(f"  {row.name:<16} max |diff| {row.max_abs_diff:.2g}  {verdict} (tolerance {TOLERANCE:g})")
        return "\n".join(lines)


def padded_batch(vocab_size: int, max_positions: int, type_vocab_size: int) -> dict[str, np.ndarray]:
    """Three rows of lengths T, T - 4 and 3 (T = min(12, max_positions)), the second with two segments."""
    rng = np.random.default_rng(0)
    length = min(12, max_positions)
    lengths = [length, max(1, length - 4), min(3, length)]
    ids = np.zeros((3, length), np.int32)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1, vocab_size, n)
        mask[row, :n] = 1
    if type_vocab_size > 1:
        types[1, lengths[1] // 2 : lengths[1]] = 1
    positions = np.array([[min(1, n - 1), n - 1] for n in lengths], np.int32)
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types, "masked_lm_positions": positions}


def compare_with_saved_model(output_dir: str | Path, saved_model_dir: str | Path) -> OutputCheck:
    """Run the SavedModel with TensorFlow and the converted model with torch on one padded batch."""
    import tensorflow as tf

    folder = Path(output_dir)
    config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    batch = padded_batch(config["vocab_size"], config["max_position_embeddings"], config["type_vocab_size"])
    loaded = tf.saved_model.load(str(saved_model_dir))
    encoder_inputs = {k: tf.constant(batch[k]) for k in ("input_word_ids", "input_mask", "input_type_ids")}
    theirs = {k: v.numpy() for k, v in loaded(encoder_inputs, training=False).items() if k != "encoder_outputs"}
    head = config.get("berthub_head")
    if _scores_index(head) is not None and hasattr(loaded, "mlm"):
        mlm_inputs = {**encoder_inputs, "masked_lm_positions": tf.constant(batch["masked_lm_positions"])}
        theirs["mlm_logits"] = loaded.mlm(mlm_inputs, training=False)["mlm_logits"].numpy()
    ours = converted_outputs(folder, head, batch)
    real = batch["input_mask"].astype(bool)
    rows = [OutputRow("sequence_output", _max_diff(ours["sequence_output"][real], theirs["sequence_output"][real])),
            OutputRow("pooled_output", _max_diff(ours["pooled_output"], theirs["pooled_output"]))]
    if "mlm_logits" in theirs:
        rows.append(OutputRow("mlm_logits", _max_diff(ours["mlm_logits"], theirs["mlm_logits"])))
    return OutputCheck(rows, batch["input_word_ids"].shape, tf.__version__)


def _scores_index(head: str | None) -> int | None:
    """Where a head's outputs hold masked-LM scores (its facts name them "prediction_scores"); None: no MLM."""
    outputs = builtin_head_class(head).facts.outputs if head else ()
    return outputs.index("prediction_scores") if "prediction_scores" in outputs else None


def converted_outputs(folder: Path, head: str | None, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The converted model's sequence_output, pooled_output and (with a masked-LM head) mlm_logits."""
    import torch

    from berthub import BertForTask, BertModel

    index = _scores_index(head)
    model = BertModel.from_pretrained(folder) if index is None else BertForTask.from_pretrained(folder)
    encoder = model if index is None else model.bert
    ids, types, mask = (torch.from_numpy(batch[k]).long() for k in ("input_word_ids", "input_type_ids", "input_mask"))
    with torch.no_grad():
        sequence, pooled = encoder(ids, types, mask, output_all_encoded_layers=False)
        out = {"sequence_output": sequence.numpy(), "pooled_output": pooled.numpy()}
        if index is not None:
            scores = model(ids, types, mask)
            scores = scores[index] if isinstance(scores, tuple) else scores
            positions = torch.from_numpy(batch["masked_lm_positions"]).long()
            out["mlm_logits"] = torch.gather(scores, 1, positions[..., None].expand(-1, -1, scores.shape[-1])).numpy()
    return out


def _max_diff(ours: np.ndarray, theirs: np.ndarray) -> float:
    if ours.shape != theirs.shape:
        return float("inf")
    return float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)), initial=0.0))
