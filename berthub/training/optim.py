"""Optimizers and learning-rate schedules for fine-tuning BERT.

- AdamW (torch's) with weight decay off for biases and LayerNorm parameters, as Google's BERT and
  transformers do;
- AdamWeightDecay: Google's 2018 `AdamWeightDecayOptimizer` (Adam without bias correction, decoupled weight
  decay), for runs that must reproduce the original numbers;
- schedules: linear warmup, then linear decay to 0, constant, or cosine decay to 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR

OPTIMIZERS = ("adamw", "bertadam")
SCHEDULE_NAMES = ("linear", "constant", "cosine")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: weights with `weight_decay`, biases and LayerNorm parameters without.

    Tied parameters (decoder = word embeddings) appear once; frozen ones (requires_grad=False) not at all.
    """
    decay: list[Tensor] = []
    no_decay: list[Tensor] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            exempt = name.endswith("bias") or isinstance(module, nn.LayerNorm)
            (no_decay if exempt else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class AdamWeightDecay(torch.optim.Optimizer):
    """Google BERT's AdamWeightDecayOptimizer: Adam without bias correction + decoupled weight decay.

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        p = p - lr (m / (sqrt(v) + eps) + weight_decay p)

    Unlike pytorch-pretrained-BERT's BertAdam, warmup and clipping are not built in: the trainer's
    schedule and clipping do them, so every optimizer behaves the same way there.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    adam_weight_decay_update(param, self.state[param], group["lr"], group["betas"],
                                             group["eps"], group["weight_decay"])
        return loss


def adam_weight_decay_update(param: Tensor, state: dict[str, Any], lr: float, betas: tuple[float, float],
                             eps: float, weight_decay: float) -> None:
    """One AdamWeightDecay step of `param` from its `.grad`, keeping the moments in `state` (no bias correction).

    Shared by AdamWeightDecay and pytorch-pretrained-BERT 0.6's BertAdam (berthub.training.optim_06), which adds
    its schedule and per-parameter clipping around it, so both compute the same update.
    """
    beta1, beta2 = betas
    if "exp_avg" not in state:
        state["exp_avg"] = torch.zeros_like(param)
        state["exp_avg_sq"] = torch.zeros_like(param)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(param.grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(param.grad, param.grad, value=1 - beta2)
    update = exp_avg / (exp_avg_sq.sqrt() + eps)
    if weight_decay:
        update.add_(param, alpha=weight_decay)
    param.add_(update, alpha=-lr)


def build_optimizer(model: nn.Module, name: str, learning_rate: float, weight_decay: float,
                    betas: tuple[float, float], eps: float) -> torch.optim.Optimizer:
    """AdamW or AdamWeightDecay ("bertadam") over `parameter_groups(model, weight_decay)`.

    AdamW runs torch's fused kernel (one pass over each tensor, on CPU and GPU): on CPU torch's default
    is a per-tensor Python loop of five ops, which made the optimizer step about a third of a
    fine-tuning step of MiniLM on 2 cores.
    """
    groups = parameter_groups(model, weight_decay)
    if name == "bertadam":
        return AdamWeightDecay(groups, lr=learning_rate, betas=betas, eps=eps)
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps, fused=True)


@dataclass
class Schedule:
    """Learning-rate multiplier at optimizer step `step` (0-based), as LambdaLR calls it.

    Warmup rises linearly from 0 over `warmup_steps`; then `linear` and `cosine` decay to 0 at
    `total_steps` and `constant` stays at 1. A dataclass rather than a lambda, so LambdaLR's
    state_dict (and so a checkpoint) carries it.
    """

    kind: str
    warmup_steps: int
    total_steps: int

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / max(1, self.warmup_steps)
        if self.kind == "constant":
            return 1.0
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        progress = min(progress, 1.0)
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress


def warmup_steps(warmup: float, total_steps: int) -> int:
    """`warmup` as a fraction of the total optimizer steps, rounded up (as transformers does)."""
    return math.ceil(warmup * total_steps)


def build_scheduler(optimizer: torch.optim.Optimizer, kind: str, warmup: float, total_steps: int) -> LambdaLR:
    """LambdaLR over `Schedule(kind, ceil(warmup * total_steps), total_steps)`."""
    return LambdaLR(optimizer, Schedule(kind, warmup_steps(warmup, total_steps), total_steps))


# berthub 0.1's names, kept until 0.3
_RENAMED = {"BertAdam": "AdamWeightDecay", "SCHEDULES": "SCHEDULE_NAMES", "bertadam_update": "adam_weight_decay_update"}


def __getattr__(name: str) -> object:
    if name in _RENAMED:
        warnings.warn(f"berthub.training.optim.{name} is now {_RENAMED[name]} (BertAdam is pytorch-pretrained-BERT "
                      "0.6's optimizer, berthub.optimization.BertAdam); the old name goes in berthub 0.3.",
                      FutureWarning, stacklevel=2)
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
