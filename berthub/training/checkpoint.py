"""Checkpoints that a killed run resumes from bit-for-bit, written so a crash never leaves half of one.

Layout of `<output_dir>/checkpoints/step-0000120/`:
  model/            the model as a berthub directory (config.json + model.safetensors)
  trainer_state.pt  optimizer, scheduler and scaler state, the loop's position (epoch, step in epoch)
                    and the fingerprint that a resume must match (model architecture, task, batch layout)
  rng_state.pt      Python, NumPy and torch (CPU and CUDA) generator states of every rank

Everything is written into a hidden temporary folder first, which is renamed into place as the
last act; folders that do not start with `step-` are never read back.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from berthub.errors import ConfigError, NotFoundError
from berthub.files import replace_dir

CHECKPOINTS = "checkpoints"
_PREFIX = "step-"


def rng_state() -> dict[str, Any]:
    """This process's generator states, as plain types and tensors (loadable with weights_only=True)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": _plain(random.getstate()),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state()` captured."""
    random.setstate(_tuples(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return Path(output_dir) / CHECKPOINTS / f"{_PREFIX}{step:07d}"


def save(output_dir: Path, step: int, model: Any, trainer_state: dict[str, Any], rng_states: list[dict[str, Any]],
         keep: int) -> Path:
    """Write checkpoint `step` atomically and delete all but the newest `keep` checkpoints."""
    target = checkpoint_dir(output_dir, step)

    def write(folder: Path) -> None:
        model.save_pretrained(folder / "model")
        _save_synced(trainer_state, folder / "trainer_state.pt")
        _save_synced(rng_states, folder / "rng_state.pt")

    replace_dir(target, write)  # the same step saved by an earlier attempt of this run is replaced whole
    for old in checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _save_synced(obj: Any, path: Path) -> None:
    with open(path, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())


def checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints under `output_dir`, oldest first."""
    folder = Path(output_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(_PREFIX))


def latest(output_dir: Path) -> Path:
    """The newest checkpoint; a clear error when there is none to resume from."""
    found = checkpoints(output_dir)
    if not found:
        raise NotFoundError(f"--resume was asked for but {Path(output_dir) / CHECKPOINTS} holds no checkpoint. "
                            "Run without --resume to start afresh, or pass the --output-dir of the run to continue.")
    return found[-1]


def load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(trainer_state, rng_states) of a checkpoint folder."""
    trainer_state = torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=True)
    rng_states = torch.load(path / "rng_state.pt", map_location="cpu", weights_only=True)
    return trainer_state, rng_states


def check_compatible(path: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to resume when the checkpoint's fingerprint differs from this run's, naming every difference."""
    problems = [f"{key}: checkpoint has {saved.get(key)!r}, this run has {value!r}"
                for key, value in current.items() if saved.get(key) != value]
    if problems:
        raise ConfigError(f"Cannot resume from {path}: it was written by a different run.\n  - "
                          + "\n  - ".join(problems)
                          + "\nResume with the same model, task and batch settings, or use a new --output-dir.")
