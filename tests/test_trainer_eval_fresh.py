"""What the trainer logs at each evaluation is what the model saved at that step gives when loaded afresh."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from trainer_support import tokenizer

from berthub import BertConfig, BertForTask, cli
from berthub.model.weights import read_weights
from berthub.tasks import get_task
from berthub.training.trainer import Hook, Trainer, TrainingConfig

EVAL_EXAMPLES = 200


class _RecordOutputs(Hook):
    """The dev logits the training model gives right after each evaluation."""

    def __init__(self, examples) -> None:
        self.examples, self.outputs = examples, {}

    def on_evaluate(self, trainer, state, metrics) -> None:
        self.outputs[state.step] = np.stack(trainer.outputs(trainer.features(self.examples)))


@pytest.fixture(scope="module")
def run(tmp_path_factory, minilm_dir, data_dir):
    """MiniLM's first two layers fine-tuned on 256 real SST-2 sentences with the trainer's fused AdamW, evaluated
    and checkpointed every 3 steps: the in-place updates between evaluations are what a stale cache would miss."""
    base, out = tmp_path_factory.mktemp("base"), tmp_path_factory.mktemp("run")
    task = get_task("sst-2")
    config = BertConfig.from_json_file(minilm_dir / "config.json").replace(num_hidden_layers=2)
    model = BertForTask(config, head="sequence-classification", num_labels=2)
    model.bert.load_state_dict(read_weights(minilm_dir), strict=False)
    tokenizer().save_pretrained(base)
    dev = task.read(data_dir / "glue/SST-2", "dev")[:EVAL_EXAMPLES]
    recorder = _RecordOutputs(dev)
    settings = TrainingConfig(output_dir=out, batch_size=16, max_steps=12, eval_steps=3, save_steps=3,
                              keep_checkpoints=10, learning_rate=3e-4, warmup=0.0, max_seq_length=64, progress=False)
    Trainer(model, task, tokenizer(), settings, hooks=[recorder]).train(
        task.read(data_dir / "glue/SST-2", "train")[:256], dev)
    for checkpoint in (out / "checkpoints").iterdir():  # checkpoints hold the model only; evaluate needs a vocab
        for name in ("vocab.txt", "tokenizer_config.json"):
            shutil.copy(base / name, checkpoint / "model")
    return out, recorder.outputs


def _checkpoint(out, step):
    return out / "checkpoints" / f"step-{step:07d}" / "model"


def test_the_metric_logged_at_every_evaluation_is_what_berthub_evaluate_gives_its_checkpoint(run, data_dir, capsys):
    out, _ = run
    evaluations = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "eval" in r]
    assert [r["step"] for r in evaluations] == [3, 6, 9, 12]
    gold = [e.label for e in get_task("sst-2").read(data_dir / "glue/SST-2", "dev")[:EVAL_EXAMPLES]]
    scores = []
    for record in evaluations:
        predictions = out / f"predictions-{record['step']}.json"
        assert cli.main(["evaluate", "--model", str(_checkpoint(out, record["step"])), "--task", "sst-2",
                         "--data-dir", str(data_dir / "glue/SST-2"), "--limit", str(EVAL_EXAMPLES),
                         "--max-seq-length", "64", "--predictions", str(predictions)]) == 0
        answers = json.loads(predictions.read_text())
        scores.append(sum(a == g for a, g in zip(answers, gold, strict=True)) / EVAL_EXAMPLES)
        assert f"accuracy {record['eval']['accuracy']:.4f}" in capsys.readouterr().out
    assert scores == [r["eval"]["accuracy"] for r in evaluations]  # exactly, to the last digit


def test_the_logits_at_every_evaluation_are_those_of_its_checkpoint_loaded_afresh(run, data_dir):
    out, outputs = run
    task = get_task("sst-2")
    dev = task.read(data_dir / "glue/SST-2", "dev")[:EVAL_EXAMPLES]
    settings = TrainingConfig(output_dir=out / "fresh", max_seq_length=64, progress=False)
    for step, recorded in outputs.items():
        fresh = Trainer(BertForTask.from_pretrained(_checkpoint(out, step)), task, tokenizer(), settings)
        np.testing.assert_array_equal(np.stack(fresh.outputs(fresh.features(dev))), recorded)
    assert not np.array_equal(outputs[3], outputs[12])  # training did move the model between evaluations
