"""Label names, task options and the head's plugin travel with a fine-tuned model, and per-example vector
targets (multi-label) collate as one [B, K] float tensor.

The example plugin (tests/fixtures/berthub-example-plugin) is registered in-process as a distribution
the way `pip install` would (a dist-info folder with its entry points, on sys.path), so the trainer
finds its head and tasks by name without a fresh virtualenv.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from trainer_support import SentenceTask, tokenizer

from berthub import BertConfig, BertForTask
from berthub.errors import InputError, PluginError
from berthub.sources.publish import CardFacts, model_card
from berthub.tasks import Feature, collate, get_task, output_names, target_kinds, task_options
from berthub.training.trainer import Trainer, TrainingConfig, set_seed

EXAMPLE = Path(__file__).resolve().parent / "fixtures" / "berthub-example-plugin"
TOPICS = ["battery", "durability", "performance", "price", "service", "usability"]


@pytest.fixture
def example_plugin(tmp_path, monkeypatch):
    """berthub-example-plugin 0.1.0 as installed metadata sees it, its package importable from the fixture."""
    site = tmp_path / "site"
    info = site / "berthub_example_plugin-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: berthub-example-plugin\nVersion: 0.1.0\n")
    # pyproject's `[project.entry-points."GROUP"]` tables of `name = "module:attr"` -> entry_points.txt
    lines = []
    for table in (EXAMPLE / "pyproject.toml").read_text().split("[project.entry-points.")[1:]:
        group, body = table.split("]", 1)
        lines.append(f"[{group.strip(chr(34))}]")
        lines += [line.replace('"', "") for line in body.split("\n[")[0].splitlines() if re.match(r"^[\w-]+ = ", line)]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    importlib.invalidate_caches()
    yield EXAMPLE / "data"
    for name in [m for m in sys.modules if m.startswith("berthub_example")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _tiny(task) -> BertForTask:
    set_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128)
    return BertForTask(config, head=task.head, **task.head_options())


def test_a_vector_target_collates_as_one_float_matrix():
    features = [Feature([101, 7, 102], [0, 0, 0], {"labels": [1.0, 0.0, 1.0, 0.0]}),
                Feature([101, 102], [0, 0], {"labels": [0, 1, 0, 0]})]
    batch = collate(features, kinds={"labels": "vector"})
    assert batch["labels"].dtype == torch.float32 and batch["labels"].tolist() == [[1, 0, 1, 0], [0, 1, 0, 0]]


def test_an_undeclared_list_that_does_not_fit_the_window_says_to_declare_a_vector():
    features = [Feature([101, 7, 102], [0, 0, 0], {"labels": [1.0, 0.0, 1.0, 0.0, 1.0]})]
    with pytest.raises(InputError, match=r"5 entries for 3 input ids.*target_kinds = \{'labels': 'vector'\}"):
        collate(features)
    with pytest.raises(InputError, match="must hold ints"):
        collate([Feature([101, 7, 102], [0, 0, 0], {"labels": [0.5, 1.0, 0.0]})])


def test_vectors_of_different_lengths_are_refused():
    features = [Feature([101, 102], [0, 0], {"labels": [1.0, 0.0]}), Feature([101, 102], [0, 0], {"labels": [1.0]})]
    with pytest.raises(InputError, match="same length in every feature"):
        collate(features, kinds={"labels": "vector"})


def test_a_bad_target_kind_declaration_names_the_task():
    class Odd(SentenceTask):
        target_kinds = {"labels": "matrix"}

    with pytest.raises(PluginError, match="tiny-sst-2.*matrix.*scalar, token, vector"):
        target_kinds(Odd())


def test_multi_label_task_trains_and_saves_labels_options_and_the_head_plugin(example_plugin, tmp_path):
    task = get_task("example-review-topics", threshold=0.4)
    assert task_options(task) == {"threshold": 0.4}
    model = _tiny(task)
    trainer = Trainer(model, task, tokenizer(), TrainingConfig(output_dir=tmp_path, batch_size=8, epochs=2,
                                                               learning_rate=1e-3, progress=False))
    batch = trainer._batch(trainer.features(task.read(example_plugin, "train")), [0, 1, 2])
    assert batch["labels"].shape == (3, 6) and batch["labels"].dtype == torch.float32
    result = trainer.train(task.read(example_plugin, "train"), eval_examples=task.read(example_plugin, "dev"))
    assert result.final_loss == result.final_loss and set(result.best_metrics) == {"f1", "exact_match"}

    config = json.loads((tmp_path / "best" / "config.json").read_text())
    assert config["id2label"] == {str(i): t for i, t in enumerate(TOPICS)} and config["label2id"]["price"] == 3
    assert config["berthub_head_distribution"] == "berthub-example-plugin"
    assert config["berthub_head_options"] == {"num_labels": 6, "dropout": 0.1, "multi_label": True}
    info = json.loads((tmp_path / "best" / "training.json").read_text())
    assert info["task"] == "example-review-topics" and info["task_options"] == {"threshold": 0.4}
    assert info["task_distribution"] == "berthub-example-plugin"

    again = BertForTask.from_pretrained(tmp_path / "best")  # names its outputs without the task
    assert again.labels == TOPICS and again.head_name == "mean-pooled-classification"

    card = model_card(tmp_path / "best", "acme/topics")
    assert 'BertForTask.from_pretrained("acme/topics")' in card
    assert "pip install berthub-example-plugin" in card and "`battery`, `durability`" in card
    assert "--task example-review-topics --task-option threshold=0.4" in card


def test_a_model_whose_head_plugin_is_missing_names_the_distribution_to_install(minilm_dir, tmp_path):
    BertForTask.from_pretrained(minilm_dir, head="sequence-classification", num_labels=2).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["berthub_head_distribution"] == "berthub"
    config.update(berthub_head="fancy-pooler", berthub_head_distribution="acme-bert-extras")
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(PluginError, match="pip install acme-bert-extras$") as error:
        BertForTask.from_pretrained(tmp_path)
    assert "Did you mean" not in str(error.value)


def test_the_trainer_writes_real_label_names_for_builtin_heads(tmp_path):
    task = SentenceTask()
    task.labels = ["negative", "positive"]
    model = _tiny(task)
    Trainer(model, task, tokenizer(), TrainingConfig(output_dir=tmp_path, progress=False))
    model.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    assert BertForTask.from_pretrained(tmp_path / "saved").labels == ["negative", "positive"]  # no task needed


def test_card_for_a_builtin_head_shows_its_class_and_says_it_is_built_in(minilm_dir, tmp_path):
    BertForTask.from_pretrained(minilm_dir, head="question-answering").save_pretrained(tmp_path)
    card = model_card(tmp_path, "acme/qa", CardFacts(task="squad-v1.1", task_distribution="berthub-squad"))
    assert 'BertForQuestionAnswering.from_pretrained("acme/qa")' in card
    assert "built into berthub" in card and "(`squad-v1.1` from the plugin distribution `berthub-squad`)" in card


def test_evaluate_refusing_other_head_options_names_the_task_option_flags(minilm_dir, tmp_path):
    model = BertForTask.from_pretrained(minilm_dir, head="token-classification", num_labels=3)
    model.save_pretrained(tmp_path)
    labels = ["O", "B-x", "I-x"]
    (tmp_path / "training.json").write_text(json.dumps({"task": "wnut17", "task_options": {"labels": labels}}))
    (tmp_path / "vocab.txt").write_text((minilm_dir / "vocab.txt").read_text())
    done = subprocess.run([sys.executable, "-m", "berthub", "evaluate", "--model", str(tmp_path), "--task", "wnut17",
                           "--task-option", "files={}", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "num_labels=13 (the model's: 3)" in done.stderr
    assert """trained with: --task wnut17 --task-option 'labels=["O", "B-x", "I-x"]'""" in done.stderr


def test_glue_binary_tasks_save_readable_names_and_keep_their_codes():
    sst2 = get_task("sst-2")
    assert output_names(sst2) == ["negative", "positive"] and sst2.labels == ["0", "1"]
    assert output_names(get_task("mnli")) == ["contradiction", "entailment", "neutral"]
    assert output_names(get_task("sts-b")) == []


def test_config_id2label_and_label2id_are_transformers_and_equal_the_models_labels(minilm_dir, tmp_path):
    from transformers import AutoConfig

    from berthub.errors import ConfigError

    names = {0: "negative", 1: "neutral", 2: "positive"}
    model = BertForTask.from_pretrained(minilm_dir, head="sequence-classification", id2label=names)
    assert model.config.id2label == names and model.config.label2id == {v: k for k, v in names.items()}
    assert list(model.config.id2label.values()) == model.labels and model.head.num_labels == 3
    model.save_pretrained(tmp_path / "saved")
    theirs = AutoConfig.from_pretrained(tmp_path / "saved")  # transformers reads the same names, ids as ints
    assert (theirs.id2label, theirs.label2id) == (names, model.config.label2id)
    again = BertForTask.from_pretrained(tmp_path / "saved")
    assert again.config.id2label == names and again.labels == list(names.values())
    again.config.label2id = {"bad": 1, "good": 0}  # set through either, as in transformers
    assert again.labels == ["good", "bad"] and again.config.id2label == {0: "good", 1: "bad"}
    with pytest.raises(ConfigError, match="disagree"):
        BertConfig().replace(id2label={0: "a"}, label2id={"b": 0})
    with pytest.raises(ConfigError, match="each id 0..N-1"):
        BertConfig().id2label = {1: "only-one"}
    assert BertConfig().id2label == {} and BertConfig().label2id == {}


def test_a_regression_head_is_saved_as_regression_not_as_a_placeholder_label(minilm_dir, tmp_path):
    model = BertForTask.from_pretrained(minilm_dir, head="sequence-classification", num_labels=1)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["problem_type"], config["num_labels"]) == ("regression", 1)
    assert "id2label" not in config and "label2id" not in config
    again = BertForTask.from_pretrained(tmp_path)
    assert (again.head_name, again.head.num_labels, again.labels) == (config["berthub_head"], 1, [])
    card = model_card(tmp_path, "acme/similarity")
    assert "Output: one regression value" in card and "LABEL_0" not in card
    assert "pipeline_tag: text-classification" in card  # what the public hub tags regression models with too
    # A classifier keeps its classes: problem_type single_label_classification, placeholders name its outputs.
    classifier = BertForTask.from_pretrained(minilm_dir, head="sequence-classification", num_labels=3)
    classifier.save_pretrained(tmp_path / "c")
    classes = json.loads((tmp_path / "c" / "config.json").read_text())
    assert classes["problem_type"] == "single_label_classification" and len(classes["id2label"]) == 3


def test_a_transformers_regression_folder_resaved_by_berthub_loses_its_placeholder_label(minilm_dir, tmp_path):
    transformers = pytest.importorskip("transformers")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = transformers.BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=1,
                                                                           problem_type="regression")
    theirs.save_pretrained(tmp_path / "theirs")
    assert json.loads((tmp_path / "theirs" / "config.json").read_text())["id2label"] == {"0": "LABEL_0"}
    BertForTask.from_pretrained(tmp_path / "theirs").save_pretrained(tmp_path / "ours")
    ours = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert (ours["problem_type"], ours["num_labels"], "id2label" in ours) == ("regression", 1, False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "ours")
    assert (back.config.num_labels, back.config.problem_type) == (1, "regression")  # transformers reads it as saved
