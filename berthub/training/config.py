"""TrainingConfig: every setting of a fine-tuning run, validated up front (re-exported by berthub.training)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berthub.errors import ConfigError
from berthub.training.optim import OPTIMIZERS, SCHEDULE_NAMES
from berthub.training.precision import PRECISIONS


@dataclass
class TrainingConfig:
    """Settings of one fine-tuning run; every invalid field is reported at once (ConfigError).

    output_dir: where best/, last/, checkpoints/ and metrics.jsonl go.
    epochs / max_steps: passes over the training set; max_steps (optimizer steps) overrides epochs.
    batch_size: examples per micro-batch per process. One optimizer step sees
      batch_size x gradient_accumulation_steps x processes examples, and its gradient is exactly
      that of one batch of them all (see berthub.training.accumulation).
    eval_batch_size: examples per evaluation batch per process.
    learning_rate, weight_decay (off for biases and LayerNorm), optimizer ("adamw" | "bertadam":
      Google's Adam without bias correction), adam_betas, adam_epsilon.
    schedule: "linear" | "constant" | "cosine" after a linear warmup over `warmup` (fraction of steps).
    max_grad_norm: clip the global gradient norm (None: no clipping).
    max_seq_length: longest input window in tokens; batches are padded only to their longest window.
    precision: "fp32" | "bf16" (autocast, CPU or GPU) | "fp16" (autocast + loss scaling, GPU only).
    seed: seeds weight init of new heads (via set_seed), shuffling and dropout.
    group_by_length: batch windows of similar length together (less padding, faster).
    gradient_checkpointing: recompute each layer's activations in backward instead of keeping them
      (less memory for longer sequences or larger batches, ~30% more time per step).
    eval_steps: evaluate every N optimizer steps (None: at the end of each epoch) and at the end.
    save_steps: write a resumable checkpoint every N steps (None: only at the end); keep_checkpoints newest kept.
    logging_steps: log loss, learning rate and samples/s every N steps.
    resume: continue from the newest checkpoint in output_dir, mid-epoch if it was written there.
    device: "auto" | "cpu" | "cuda". progress: show a progress bar (rank 0).
    """

    output_dir: str | Path
    epochs: int = 3
    max_steps: int | None = None
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    eval_batch_size: int = 64
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    optimizer: str = "adamw"
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_epsilon: float = 1e-6
    schedule: str = "linear"
    warmup: float = 0.1
    max_grad_norm: float | None = 1.0
    max_seq_length: int = 128
    precision: str = "fp32"
    seed: int = 42
    group_by_length: bool = True
    gradient_checkpointing: bool = False
    eval_steps: int | None = None
    save_steps: int | None = None
    keep_checkpoints: int = 2
    logging_steps: int = 10
    resume: bool = False
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self.adam_betas = tuple(self.adam_betas)
        problems = self.problems()
        if problems:
            raise ConfigError("Invalid TrainingConfig:\n  - " + "\n  - ".join(problems))

    def problems(self) -> list[str]:
        """Every invalid field, as 'field must be ..., got ...' lines."""
        problems = []
        for name in ("epochs", "batch_size", "gradient_accumulation_steps", "eval_batch_size", "max_seq_length",
                     "keep_checkpoints", "logging_steps"):
            problems += _positive_int(name, getattr(self, name))
        for name in ("max_steps", "eval_steps", "save_steps"):
            if getattr(self, name) is not None:
                problems += _positive_int(name, getattr(self, name), "or None")
        for name, value, allowed in (("optimizer", self.optimizer, OPTIMIZERS),
                                     ("schedule", self.schedule, SCHEDULE_NAMES),
                                     ("precision", self.precision, PRECISIONS),
                                     ("device", self.device, ("auto", "cpu", "cuda"))):
            if value not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        for name, value, low, high in (("learning_rate", self.learning_rate, 0, None),
                                       ("weight_decay", self.weight_decay, 0, None), ("warmup", self.warmup, 0, 1),
                                       ("adam_epsilon", self.adam_epsilon, 0, None)):
            if not _number(value) or value < low or (high is not None and value >= high) or (
                    name in ("learning_rate", "adam_epsilon") and value == 0):
                bound = f"in [{low}, {high})" if high is not None else ("> 0" if name in (
                    "learning_rate", "adam_epsilon") else ">= 0")
                problems.append(f"{name} must be a number {bound}, got {value!r}")
        if len(self.adam_betas) != 2 or not all(_number(b) and 0 <= b < 1 for b in self.adam_betas):
            problems.append(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas!r}")
        if self.max_grad_norm is not None and (not _number(self.max_grad_norm) or self.max_grad_norm <= 0):
            problems.append(f"max_grad_norm must be a number > 0 or None, got {self.max_grad_norm!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            problems.append(f"seed must be a non-negative integer, got {self.seed!r}")
        return problems

    def hyperparameters(self) -> dict[str, Any]:
        """The settings that shape the result (for training.json and the model card)."""
        skip = {"output_dir", "resume", "device", "progress", "keep_checkpoints", "logging_steps"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_int(name: str, value: Any, extra: str = "") -> list[str]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return []
    return [f"{name} must be a positive integer{' ' + extra if extra else ''}, got {value!r}"]
