"""What a person watching a training run sees: progress bar, metrics.jsonl, a plot and a summary.

Only rank 0 reports. metrics.jsonl holds one JSON object per line:
  {"step": 10, "epoch": 0.13, "loss": 0.61, "learning_rate": 1.9e-05, "samples_per_s": 41.2}   (training)
  {"step": 78, "epoch": 1.0, "eval": {"accuracy": 0.86, ...}}                                  (evaluation)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from berthub.files import write_text_atomic

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "training.png"


class Progress:
    """A tqdm bar over optimizer steps showing loss, learning rate and samples/s (silent when disabled)."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", desc="train", dynamic_ncols=True)

    def update(self, loss: float, learning_rate: float, samples_per_s: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{learning_rate:.2e}", samples_s=f"{samples_per_s:.1f}",
                                 refresh=False)
            self.bar.update(1)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class MetricsLog:
    """Appends records to metrics.jsonl, flushing each line so a killed run keeps what it logged."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def records(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop records beyond `step` (logged by a run that died after its last checkpoint)."""
        kept = [r for r in self.records() if r["step"] <= step]
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))


def plot(records: list[dict[str, Any]], path: Path, main_metric: str) -> str:
    """Training loss and the dev `main_metric` against steps, as a PNG; returns a line saying what happened."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "Plot skipped: matplotlib is not installed (pip install 'berthub[plot]')."
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    dev = [(r["step"], r["eval"][main_metric]) for r in records if main_metric in r.get("eval", {})]
    figure, loss_axis = plt.subplots(figsize=(8, 4.5))
    if train:
        loss_axis.plot(*zip(*train, strict=True), color="tab:blue", label="training loss")
    loss_axis.set_xlabel("optimizer step")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    if dev:
        metric_axis = loss_axis.twinx()
        metric_axis.plot(*zip(*dev, strict=True), "o-", color="tab:orange", label=f"dev {main_metric}")
        metric_axis.set_ylabel(f"dev {main_metric}", color="tab:orange")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return f"Plot: {path}"


def format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


def summary(result: Any, output_dir: Path) -> str:
    """The lines printed at the end of `berthub train`."""
    hours, rest = divmod(int(result.train_seconds), 3600)
    lines = [
        f"Trained {result.steps} steps ({result.epochs:.2f} epochs, {result.samples} examples) in "
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}: {result.samples_per_s:.1f} samples/s, "
        f"final loss {result.final_loss:.4f}.",
    ]
    if result.best_metrics:
        lines.append(f"Best dev at step {result.best_step}: {format_metrics(result.best_metrics)}")
    lines.append(f"Models: {output_dir / 'best'} (best), {output_dir / 'last'} (last); "
                 f"log: {output_dir / METRICS_FILE}")
    return "\n".join(lines)
