"""Gradient accumulation, data parallelism and resume change nothing about what is learned.

Tiny BERTs (2 layers, hidden 32, dropout 0 unless said) on real SST-2 sentences and WNUT-17 tweets, fp32 on CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from trainer_support import SentenceTask, TaggingTask, examples, tiny_model, tokenizer

from berthub.training.batching import Layout, epoch_plan
from berthub.training.trainer import Hook, Trainer, TrainingConfig

TESTS = Path(__file__).resolve().parent


def _train(task, output_dir: Path, batch_size: int, accumulation: int, data, dropout: float = 0.0,
           hooks=(), **settings) -> torch.nn.Module:
    settings = {"max_steps": 4, "learning_rate": 1e-3, "warmup": 0.0, "progress": False, **settings}
    config = TrainingConfig(output_dir=output_dir, batch_size=batch_size, gradient_accumulation_steps=accumulation,
                            **settings)
    model = tiny_model(task, dropout=dropout)
    Trainer(model, task, tokenizer(), config, hooks=hooks).train(data)
    return model


def _max_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max((pa - pb).abs().max().item() for pa, pb in zip(a.parameters(), b.parameters(), strict=True))


def test_four_micro_batches_of_8_update_like_one_batch_of_32(tmp_path):
    task, data = SentenceTask(), examples("sentences", "train", 128)
    whole = _train(task, tmp_path / "whole", 32, 1, data)
    accumulated = _train(task, tmp_path / "accumulated", 8, 4, data)
    assert _max_difference(whole, tiny_model(task)) > 1e-3  # it did learn something
    assert _max_difference(whole, accumulated) < 1e-6


def _short_and_long_tweets(count_short: int, count_long: int) -> list:
    tweets = examples("tagging", "train", 400)
    lengths = [len(f.input_ids) for f in TaggingTask().features(tweets, tokenizer(), 128)]
    by_length = sorted(range(len(tweets)), key=lambda i: lengths[i])
    return [tweets[i] for i in by_length[:count_short] + by_length[-count_long:]]


def test_token_accumulation_is_exact_when_micro_batches_have_very_different_token_counts(tmp_path):
    task, data = TaggingTask(), _short_and_long_tweets(96, 32)
    features = task.features(data, tokenizer(), 128)
    steps = epoch_plan([len(f.input_ids) for f in features], Layout(8, 4), 0, 42, 0, False)
    tokens = [[sum(1 for i in micro for label in features[i].targets["labels"] if label >= 0) for micro in step]
              for step in steps]
    padded = [[max(len(features[i].input_ids) for i in micro) for micro in step] for step in steps]
    # A mean of micro-batch means would weight one token of the sparse micro-batch twice as much.
    assert any(max(t) > 2 * min(t) for t in tokens) and any(max(p) > 2 * min(p) for p in padded)
    whole = _train(task, tmp_path / "whole", 32, 1, data, group_by_length=False)
    accumulated = _train(task, tmp_path / "accumulated", 8, 4, data, group_by_length=False)
    assert _max_difference(whole, accumulated) < 1e-6


@pytest.mark.slow
def test_two_torchrun_processes_update_like_one_process_with_the_same_global_batch(tmp_path):
    base = [sys.executable, str(TESTS / "trainer_support.py"), "--task", "tagging", "--examples", "64"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = [*base, "--output-dir", str(tmp_path / "single"), "--batch-size", "16"]
    ddp = [*torchrun, *base[1:], "--output-dir", str(tmp_path / "ddp"), "--batch-size", "4", "--accumulation", "2"]
    for command in (single, ddp):
        subprocess.run(command, check=True, env=env, timeout=300, cwd=tmp_path)
    from berthub import BertForTask

    one = BertForTask.from_pretrained(tmp_path / "single" / "last")
    two = BertForTask.from_pretrained(tmp_path / "ddp" / "last")
    assert _max_difference(one, tiny_model(TaggingTask())) > 1e-3
    assert _max_difference(one, two) < 1e-6


class _Killed(Exception):
    pass


class _Crash(Hook):
    """Stops the run after `step` as a kill would: nothing after that step is written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, trainer, state, loss) -> None:
        if state.step == self.step:
            raise _Killed


def test_resume_after_a_crash_mid_epoch_gives_bit_identical_weights(tmp_path):
    task, data = SentenceTask(), examples("sentences", "train", 64)
    settings = {"max_steps": None, "epochs": 2, "save_steps": 5, "dropout": 0.1}  # 8 steps per epoch
    whole = _train(task, tmp_path / "whole", 8, 1, data, **settings)
    with pytest.raises(_Killed):
        _train(task, tmp_path / "resumed", 8, 1, data, hooks=[_Crash(7)], **settings)
    assert sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()) == ["step-0000005"]
    resumed = _train(task, tmp_path / "resumed", 8, 1, data, resume=True, **settings)
    for (name, a), b in zip(whole.named_parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b), name
