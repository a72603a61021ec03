"""What a training run reports and lets users hook into: its state, its result, and the Hook interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from berthub.training.trainer import Trainer


@dataclass
class TrainState:
    """Where the loop is; saved in every checkpoint and restored by resume."""

    step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    total_steps: int = 0
    samples: int = 0
    train_seconds: float = 0.0
    best_step: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What train() returns (and `berthub train` summarises)."""

    steps: int
    epochs: float
    samples: int
    train_seconds: float
    samples_per_s: float
    final_loss: float
    best_step: int | None
    best_metrics: dict[str, float]
    last_metrics: dict[str, float]
    output_dir: Path
    plot: str = ""


class Hook:
    """Override any method to watch or steer a run. Every rank calls them; use `trainer.dist.is_main`."""

    def on_step(self, trainer: Trainer, state: TrainState, loss: float | None) -> None:
        """After each optimizer step (and its evaluation and checkpoint); loss is set on logging steps."""

    def on_evaluate(self, trainer: Trainer, state: TrainState, metrics: dict[str, float]) -> None:
        """After each evaluation during training."""

    def on_checkpoint(self, trainer: Trainer, state: TrainState, path: Path) -> None:
        """After a checkpoint was written (path exists on rank 0)."""
