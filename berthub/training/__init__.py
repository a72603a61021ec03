"""The training room: the Trainer's loop and the small, separately tested pieces it is made of.

trainer.py       Trainer: fine-tune or pretrain any registered head on any registered task
config.py        TrainingConfig: every setting, validated up front
state.py         TrainState, TrainResult and the Hook interface
optim.py         AdamW / Google's AdamWeightDecay, parameter groups, learning-rate schedules
optim_06.py      pytorch-pretrained-BERT 0.6's BertAdam with its built-in schedules (berthub.optimization)
batching.py      which examples go into which micro-batch, on which rank, in which epoch
accumulation.py  exact gradient accumulation: normalise by the real count over the whole step
sparse_grads.py  vocabulary tables with sparse gradients, densified once per optimizer step
distributed.py   torchrun process groups, all-reduce / gather helpers, DDP wrapping
precision.py     fp32 / bf16 autocast / fp16 with a gradient scaler
checkpoint.py    atomic checkpoints (model, optimizer, scheduler, scaler, RNG of every rank) and resume
reporting.py     progress bar, metrics.jsonl, loss/metric plot, summary, model card
"""

from berthub.training.config import TrainingConfig
from berthub.training.state import Hook, TrainResult, TrainState
from berthub.training.trainer import Trainer, set_seed

__all__ = ["Hook", "TrainResult", "TrainState", "Trainer", "TrainingConfig", "set_seed"]
