"""`berthub train` / `berthub evaluate` end to end, and one clear error for each kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from trainer_support import SentenceTask, TaggingTask, examples, tiny_model, tokenizer

from berthub import BertForTask
from berthub.errors import BerthubError, ConfigError, NotFoundError, PluginError
from berthub.tasks import get_task
from berthub.training.trainer import Trainer, TrainingConfig


def berthub(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "berthub", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


@pytest.mark.slow
def test_train_pushes_the_best_model_and_evaluate_reads_it_back_by_repo_id(minilm_dir, data_dir, hub_server,
                                                                         tmp_path):
    repo_id = hub_server.unique_repo_id("minilm-sst2")
    env = hub_server.client_env()
    env["BERTHUB_CACHE"] = str(tmp_path / "cache")
    out = tmp_path / "run"
    trained = berthub("train", "--model", str(minilm_dir), "--task", "sst-2", "--data-dir",
                      str(data_dir / "glue" / "SST-2"), "--output-dir", str(out), "--limit-train", "96",
                      "--limit-eval", "48", "--batch-size", "8", "--gradient-accumulation-steps", "2",
                      "--epochs", "1", "--max-seq-length", "48", "--eval-steps", "3", "--learning-rate", "5e-5",
                      "--no-progress", "--push", repo_id, env=env)
    assert trained.returncode == 0, trained.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["task"] == "sst-2"
    assert summary["hyperparameters"]["gradient_accumulation_steps"] == 2
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
            if "eval" in json.loads(line)] == [3, 6]
    assert (out / "training.png").stat().st_size > 1000
    assert f"Pushed {out / 'best'} to {repo_id}" in trained.stdout

    from huggingface_hub import hf_hub_download

    card = Path(hf_hub_download(repo_id, "README.md", endpoint=hub_server.endpoint,
                                cache_dir=tmp_path / "hf")).read_text()
    assert "sst-2" in card and "accuracy" in card and "gradient_accumulation_steps" in card
    assert f'BertForSequenceClassification.from_pretrained("{repo_id}")' in card
    assert "`negative`, `positive`" in card  # SST-2's label names, not GLUE's 0/1 codes or LABEL_i

    evaluated = berthub("evaluate", "--model", repo_id, "--task", "sst-2", "--data-dir",
                        str(data_dir / "glue" / "SST-2"), "--limit", "48", "--predictions",
                        str(tmp_path / "predictions.json"), env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    # The model the hub serves scores what the run recorded for its best step, at the trained length.
    accuracy = summary["best_metrics"]["accuracy"]
    assert f"accuracy {accuracy:.4f}" in evaluated.stdout and "max_seq_length 48" in evaluated.stdout
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    gold = [e.label for e in get_task("sst-2").read(data_dir / "glue" / "SST-2", "dev")[:48]]
    assert sum(p == g for p, g in zip(predictions, gold, strict=True)) / 48 == pytest.approx(accuracy)


def test_unknown_task_names_the_registered_ones(tmp_path):
    result = berthub("train", "--model", "bert-base-uncased", "--task", "sst2", "--output-dir", str(tmp_path))
    assert result.returncode == 2
    assert "sst2" in result.stderr and "sst-2" in result.stderr and "Traceback" not in result.stderr


def test_bad_settings_are_all_listed_before_anything_loads(tmp_path):
    result = berthub("train", "--model", "no-such-model", "--task", "sst-2", "--output-dir", str(tmp_path),
                     "--batch-size", "0", "--warmup", "1.5", "--precision", "fp8")
    assert result.returncode == 2
    for field in ("batch_size", "warmup", "precision"):
        assert field in result.stderr
    assert "no-such-model" not in result.stderr


def test_data_dir_without_the_files_names_them(minilm_dir, tmp_path):
    result = berthub("train", "--model", str(minilm_dir), "--task", "qnli", "--data-dir", str(tmp_path),
                     "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "train.tsv" in result.stderr and str(tmp_path) in result.stderr


def test_unknown_head_names_the_registered_ones():
    with pytest.raises(PluginError, match="sequence-classification"):
        BertForTask(tiny_model(SentenceTask()).config, head="sequence-clasification", num_labels=2)


def test_a_model_whose_head_does_not_fit_the_task_is_refused(tmp_path):
    tagger = tiny_model(TaggingTask())
    with pytest.raises(ConfigError, match="token-classification.*sequence-classification|sequence-classification"):
        Trainer(tagger, SentenceTask(), tokenizer(), TrainingConfig(output_dir=tmp_path, progress=False))


def test_head_options_that_differ_from_the_task_are_refused(tmp_path):
    three_labels = BertForTask(tiny_model(SentenceTask()).config, head="sequence-classification", num_labels=3)
    with pytest.raises(ConfigError, match="num_labels"):
        Trainer(three_labels, SentenceTask(), tokenizer(), TrainingConfig(output_dir=tmp_path, progress=False))


def test_resume_from_a_run_of_another_model_is_refused(tmp_path):
    task, data = SentenceTask(), examples("sentences", "train", 32)
    settings = {"output_dir": tmp_path, "batch_size": 8, "max_steps": 2, "progress": False}
    Trainer(tiny_model(task), task, tokenizer(), TrainingConfig(**settings)).train(data)
    wider = BertForTask(tiny_model(task).config.replace(intermediate_size=128), head=task.head,
                        **task.head_options())
    with pytest.raises(ConfigError, match="intermediate_size"):
        Trainer(wider, task, tokenizer(), TrainingConfig(**settings, resume=True)).train(data)


def test_resume_without_a_checkpoint_says_how_to_start(tmp_path):
    task = SentenceTask()
    trainer = Trainer(tiny_model(task), task, tokenizer(),
                      TrainingConfig(output_dir=tmp_path, resume=True, progress=False))
    with pytest.raises(NotFoundError, match="without --resume"):
        trainer.train(examples("sentences", "train", 16))


def test_training_config_lists_every_bad_field():
    with pytest.raises(ConfigError) as error:
        TrainingConfig(output_dir="x", epochs=0, learning_rate=-1, schedule="step", adam_betas=(0.9, 1.5),
                       max_grad_norm=0)
    for field in ("epochs", "learning_rate", "schedule", "adam_betas", "max_grad_norm"):
        assert field in str(error.value)


def test_split_without_gold_labels_cannot_be_trained_on(tmp_path, data_dir):
    task = get_task("sst-2")
    unlabelled = [type(e)(e.guid, e.text_a, e.text_b, None) for e in task.read(data_dir / "glue" / "SST-2", "dev")]
    model = BertForTask(tiny_model(SentenceTask()).config, head=task.head, **task.head_options())
    with pytest.raises(BerthubError, match="label"):
        Trainer(model, task, tokenizer(), TrainingConfig(output_dir=tmp_path, progress=False)).train(unlabelled[:16])
