"""pytorch-pretrained-BERT 0.6's `optimization` module: BertAdam with its built-in schedule and clipping.

    optimizer = BertAdam(groups, lr=2e-5, warmup=0.1, t_total=num_train_optimization_steps)

The update is Google's (berthub.training.optim.adam_weight_decay_update: Adam
without bias correction, decoupled weight decay). Around it, as 0.6 did, each parameter's gradient
is clipped to `max_grad_norm` on its own, and the learning rate is multiplied by the schedule at the
parameter's own step count. Schedules take training progress = step / t_total; `warmup` is a
fraction of t_total; t_total=-1 (the default) means a constant learning rate, no warmup.

New code should use `berthub train` or berthub.training.optim (AdamW, global clipping, LambdaLR).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch.nn.utils import clip_grad_norm_
from torch.optim.optimizer import required

from berthub.training.optim import adam_weight_decay_update

__all__ = [
    "SCHEDULES", "BertAdam", "ConstantLR", "WarmupConstantSchedule", "WarmupCosineSchedule",
    "WarmupCosineWithHardRestartsSchedule", "WarmupCosineWithWarmupRestartsSchedule", "WarmupLinearSchedule",
]  # fmt: skip

logger = logging.getLogger("berthub")


class _LRSchedule:
    """Learning-rate multiplier at step `step` of `t_total`; subclasses give it as a function of progress."""

    warn_t_total = False  # schedules that end at t_total warn when training goes past it

    def __init__(self, warmup: float = 0.002, t_total: float = -1, **_: Any) -> None:
        if not (0.0 <= warmup < 1.0 or warmup == -1):
            raise ValueError(f"Invalid warmup: {warmup}; it is a fraction of t_total in [0, 1), or -1 for none.")
        self.warmup, self.t_total = float(max(warmup, 0.0)), float(t_total)
        self._warned_at = -1.0

    def get_lr(self, step: int, nowarn: bool = False) -> float:
        """The multiplier for update number `step` (0-based); 1 when t_total < 0 (no schedule)."""
        if self.t_total < 0:
            return 1.0
        progress = float(step) / self.t_total
        multiplier = self.get_lr_(progress)
        if not nowarn and self.warn_t_total and progress > 1.0 and progress > self._warned_at:
            logger.warning("Training beyond t_total=%d: %s sets the learning-rate multiplier to %s; "
                           "pass the real number of optimizer steps as t_total.",
                           int(self.t_total), type(self).__name__, multiplier)
            self._warned_at = progress
        return multiplier

    def get_lr_(self, progress: float) -> float:
        raise NotImplementedError

    def _warming(self, progress: float) -> bool:
        return progress < self.warmup


class ConstantLR(_LRSchedule):
    """Always 1 (schedule=None or "none")."""

    def get_lr_(self, progress: float) -> float:
        return 1.0


class WarmupConstantSchedule(_LRSchedule):
    """Linear warmup from 0 to 1 over the `warmup` fraction, then 1."""

    def get_lr_(self, progress: float) -> float:
        return progress / self.warmup if self._warming(progress) else 1.0


class WarmupLinearSchedule(_LRSchedule):
    """Linear warmup, then linear decay from 1 at `warmup` to 0 at t_total (and 0 after it)."""

    warn_t_total = True

    def get_lr_(self, progress: float) -> float:
        if self._warming(progress):
            return progress / self.warmup
        return max((1.0 - progress) / (1.0 - self.warmup), 0.0)


class WarmupCosineSchedule(_LRSchedule):
    """Linear warmup, then 0.5 * (1 + cos(2 pi cycles p)) over the rest (cycles=0.5: from 1 down to 0)."""

    warn_t_total = True

    def __init__(self, warmup: float = 0.002, t_total: float = -1, cycles: float = 0.5, **kw: Any) -> None:
        super().__init__(warmup, t_total, **kw)
        self.cycles = cycles

    def get_lr_(self, progress: float) -> float:
        if self._warming(progress):
            return progress / self.warmup
        after = (progress - self.warmup) / (1.0 - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * self.cycles * 2 * after))


class WarmupCosineWithHardRestartsSchedule(WarmupCosineSchedule):
    """Linear warmup, then `cycles` cosine decays from 1 to 0, each restarting at 1."""

    def __init__(self, warmup: float = 0.002, t_total: float = -1, cycles: float = 1.0, **kw: Any) -> None:
        if cycles < 1.0:
            raise ValueError(f"Invalid cycles: {cycles}; hard restarts need cycles >= 1.")
        super().__init__(warmup, t_total, cycles, **kw)

    def get_lr_(self, progress: float) -> float:
        if self._warming(progress):
            return progress / self.warmup
        after = (progress - self.warmup) / (1.0 - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * ((self.cycles * after) % 1)))


class WarmupCosineWithWarmupRestartsSchedule(WarmupCosineWithHardRestartsSchedule):
    """Training split into `cycles` equal parts, each a linear warmup then a cosine decay to 0."""

    def __init__(self, warmup: float = 0.002, t_total: float = -1, cycles: float = 1.0, **kw: Any) -> None:
        if warmup * cycles >= 1.0:
            raise ValueError(f"Invalid warmup {warmup} with cycles {cycles}: warmup * cycles must be below 1.")
        super().__init__(warmup * cycles if warmup >= 0 else warmup, t_total, cycles, **kw)

    def get_lr_(self, progress: float) -> float:
        progress = progress * self.cycles % 1.0
        if self._warming(progress):
            return progress / self.warmup
        after = (progress - self.warmup) / (1.0 - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * after))


SCHEDULES: dict[str | None, type[_LRSchedule]] = {
    None: ConstantLR,
    "none": ConstantLR,
    "warmup_cosine": WarmupCosineSchedule,
    "warmup_constant": WarmupConstantSchedule,
    "warmup_linear": WarmupLinearSchedule,
}


class BertAdam(torch.optim.Optimizer):
    """pytorch-pretrained-BERT 0.6's BertAdam: Google's Adam + its warmup schedule + per-parameter clipping.

    lr: learning rate; warmup: fraction of t_total spent warming up (-1: none); t_total: number of
    optimizer steps the schedule spans (-1: constant lr); schedule: "warmup_linear" (default),
    "warmup_cosine", "warmup_constant", "none" / None, or a schedule object (then warmup and t_total
    belong to it); b1, b2, e: Adam's betas and epsilon; weight_decay: decoupled decay (default 0.01,
    set it to 0 in the parameter group of biases and LayerNorm); max_grad_norm: clip each parameter's
    gradient to this norm (-1: no clipping).
    """

    def __init__(self, params: Iterable[Any], lr: float = required, warmup: float = -1, t_total: int = -1,
                 schedule: str | _LRSchedule | None = "warmup_linear", b1: float = 0.9, b2: float = 0.999,
                 e: float = 1e-6, weight_decay: float = 0.01, max_grad_norm: float = 1.0, **_: Any) -> None:
        problems = _problems(lr, schedule, b1, b2, e)
        if problems:
            raise ValueError("Invalid BertAdam arguments: " + "; ".join(problems))
        if not isinstance(schedule, _LRSchedule):
            schedule = SCHEDULES[schedule](warmup=warmup, t_total=t_total)
        elif warmup != -1 or t_total != -1:
            logger.warning("BertAdam ignores warmup and t_total given with a schedule object; set them on it.")
        defaults = {"lr": lr, "schedule": schedule, "b1": b1, "b2": b2, "e": e, "weight_decay": weight_decay,
                    "max_grad_norm": max_grad_norm}
        super().__init__(params, defaults)

    def get_lr(self) -> list[float]:
        """The scheduled learning rate of every parameter at its next step ([0] before the first step)."""
        rates = []
        for group in self.param_groups:
            for param in group["params"]:
                state = self.state[param]
                if not state:
                    return [0]
                rates.append(group["lr"] * group["schedule"].get_lr(state["step"]))
        return rates

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError("BertAdam does not take sparse gradients; use dense embeddings.")
                state = self.state[param]
                state.setdefault("step", 0)
                if group["max_grad_norm"] > 0:
                    clip_grad_norm_(param, group["max_grad_norm"])
                lr = group["lr"] * group["schedule"].get_lr(state["step"])
                adam_weight_decay_update(param, state, lr, (group["b1"], group["b2"]), group["e"],
                                         group["weight_decay"])
                state["step"] += 1
        return loss


def _problems(lr: Any, schedule: Any, b1: float, b2: float, e: float) -> list[str]:
    problems = []
    if lr is not required and lr < 0.0:
        problems.append(f"lr must be >= 0, got {lr}")
    if not isinstance(schedule, _LRSchedule) and schedule not in SCHEDULES:
        allowed = ", ".join(repr(name) for name in SCHEDULES)
        problems.append(f"schedule must be one of {allowed} or a schedule object, got {schedule!r}")
    for name, value in (("b1", b1), ("b2", b2)):
        if not 0.0 <= value < 1.0:
            problems.append(f"{name} must be in [0, 1), got {value}")
    if not e >= 0.0:
        problems.append(f"e must be >= 0, got {e}")
    return problems
