"""pytorch-pretrained-BERT 0.6's module path `pytorch_pretrained_bert.optimization`, kept for its users.

BertAdam and the schedules themselves are berthub/training/optim_06.py.
"""

from berthub.training.optim_06 import (
    SCHEDULES,
    BertAdam,
    ConstantLR,
    WarmupConstantSchedule,
    WarmupCosineSchedule,
    WarmupCosineWithHardRestartsSchedule,
    WarmupCosineWithWarmupRestartsSchedule,
    WarmupLinearSchedule,
    logger,  # noqa: F401  (0.6's module had one; scripts silence it by name)
)

__all__ = [
    "SCHEDULES", "BertAdam", "ConstantLR", "WarmupConstantSchedule", "WarmupCosineSchedule",
    "WarmupCosineWithHardRestartsSchedule", "WarmupCosineWithWarmupRestartsSchedule", "WarmupLinearSchedule",
]  # fmt: skip
