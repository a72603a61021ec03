"""The small, separately tested pieces that berthub.trainer's loop is made of.

optim.py         AdamW / Google's BertAdam, parameter groups, learning-rate schedules
batching.py      which examples go into which micro-batch, on which rank, in which epoch
accumulation.py  exact gradient accumulation: normalise by the real count over the whole step
sparse_grads.py  vocabulary tables with sparse gradients, densified once per optimizer step
distributed.py   torchrun process groups, all-reduce / gather helpers, DDP wrapping
precision.py     fp32 / bf16 autocast / fp16 with a gradient scaler
checkpoint.py    atomic checkpoints (model, optimizer, scheduler, scaler, RNG of every rank) and resume
reporting.py     progress bar, metrics.jsonl, loss/metric plot, summary, model card
state.py         TrainState, TrainResult and the Hook interface (re-exported by berthub.trainer)
"""
