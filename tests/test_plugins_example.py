"""The worked third-party example (tests/fixtures/berthub-example-plugin): its head and two tasks (one label
per review; a multi-label vector target), and that `pip install` into a fresh virtualenv makes them
usable by name with no change to berthub: trained, pushed, reloaded with its label names."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

EXAMPLE = Path(__file__).resolve().parent / "fixtures" / "berthub-example-plugin"
TOPICS = ["battery", "durability", "performance", "price", "service", "usability"]


@pytest.fixture
def example_package(monkeypatch):
    """The example's modules imported from its source folder (no install), for unit checks."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from berthub_example import head, reviews

    yield SimpleNamespace(head=head, reviews=reviews)
    for name in [m for m in sys.modules if m.startswith("berthub_example")]:
        del sys.modules[name]


def _config():
    return SimpleNamespace(hidden_size=8, hidden_dropout_prob=0.1, initializer_range=0.02)


def test_mean_pooled_head_ignores_padding(example_package):
    head = example_package.head.MeanPooledClassificationHead(_config(), num_labels=3).eval()
    hidden = torch.randn(1, 4, 8)
    padded = torch.cat([hidden, torch.randn(1, 2, 8)], dim=1)
    short = head(SimpleNamespace(sequence_output=hidden, attention_mask=torch.ones(1, 4)))
    long = head(SimpleNamespace(sequence_output=padded, attention_mask=torch.tensor([[1, 1, 1, 1, 0, 0]])))
    assert short.shape == (1, 3)
    torch.testing.assert_close(short, long)


def test_mean_pooled_head_options_rebuild_it(example_package):
    head = example_package.head.MeanPooledClassificationHead(_config(), num_labels=3)
    assert head.options() == {"num_labels": 3, "dropout": 0.1, "multi_label": False}
    assert head.loss_count({"labels": torch.tensor([0, -100, 2])}, None) == 2


def test_multi_label_head_sums_one_binary_cross_entropy_per_label(example_package):
    head = example_package.head.MeanPooledClassificationHead(_config(), num_labels=3, multi_label=True)
    logits, gold = torch.tensor([[2.0, -1.0, 0.0], [0.5, 0.5, -3.0]]), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    by_hand = -(gold * torch.sigmoid(logits).log() + (1 - gold) * (1 - torch.sigmoid(logits)).log()).sum()
    torch.testing.assert_close(head.loss(logits, {"labels": gold}, None, reduction="sum"), by_hand)
    assert head.loss_count({"labels": gold}, None) == 6


def test_topics_are_one_vector_per_review_in_label_order(example_package):
    task = example_package.reviews.ReviewTopics()
    train = task.read(EXAMPLE / "data", "train")
    by_id = {r.id: r for r in train}
    assert by_id["r1002"].topics == ("battery", "service") and by_id["r1010"].topics == ()
    tokenizer = SimpleNamespace(tokenize=str.split, convert_tokens_to_ids=lambda tokens: [1] * len(tokens))
    features = task.features([by_id["r1002"], by_id["r1010"]], tokenizer, 16)
    assert features[0].targets == {"labels": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]}  # battery, service
    assert features[1].targets == {"labels": [0.0] * 6}
    assert task.target_kinds == {"labels": "vector"}


def test_topic_metrics_are_micro_f1_and_exact_sets(example_package):
    task = example_package.reviews.ReviewTopics(threshold=0.5)
    dev = task.read(EXAMPLE / "data", "dev")[:2]  # gold: {battery}, {durability, price}
    features = task.features(dev, SimpleNamespace(tokenize=str.split, convert_tokens_to_ids=lambda t: [1] * len(t)), 16)
    # Review 1: battery and price predicted (1 right of 2); review 2: durability and price (both right).
    outputs = [np.array([3.0, -3, -3, 1, -3, -3]), np.array([-3.0, 2, -3, 2, -3, -3])]
    assert task.predict(dev, features, outputs) == [["battery", "price"], ["durability", "price"]]
    # hits 3, predicted 4, gold 3: F1 = 2*3 / 7; exact sets: only the second review.
    assert task.metrics(dev, features, outputs) == {"f1": pytest.approx(6 / 7), "exact_match": 0.5}


def test_review_csv_keeps_quoted_commas_quotes_and_line_breaks(example_package):
    task = example_package.reviews.ReviewSentiment()
    train = task.read(EXAMPLE / "data", "train")
    assert len(train) == 24 and len(task.read(EXAMPLE / "data", "dev")) == 8
    by_id = {r.id: r for r in train}
    assert by_id["r1005"].text == 'Does exactly what it says on the box: "quiet, fast, cool". Recommended.'
    assert by_id["r1018"].text == "Flimsy hinges, wobbly stand,\nand the left speaker buzzes."
    assert {r.sentiment for r in train} == {"negative", "positive"}


def test_review_with_an_unknown_sentiment_names_the_line(example_package, tmp_path):
    from berthub.errors import InputError

    (tmp_path / "dev.csv").write_text("id,text,sentiment\nr1,Fine.,positive\nr2,Meh.,neutral\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 3: sentiment 'neutral'"):
        example_package.reviews.ReviewSentiment().read(tmp_path, "dev")


_USE_BY_NAME = """
import json, sys, torch
from berthub import BertForTask
from berthub.tasks import collate, get_task, model_inputs, unbatch
from berthub.tokenization import BertTokenizer

minilm, data, out = sys.argv[1:4]
task = get_task("example-reviews")
tokenizer = BertTokenizer(minilm + "/vocab.txt", do_lower_case=True)
model = BertForTask.from_pretrained(minilm, head=task.head, **task.head_options())
examples = task.read(data, "dev")
batch = collate(task.features(examples, tokenizer, 64))
with torch.no_grad():
    loss = model(**batch)
    logits = model(**model_inputs(batch))
model.save_pretrained(out)
again = BertForTask.from_pretrained(out)
with torch.no_grad():
    same = torch.equal(again(**model_inputs(batch)), logits)
print(json.dumps({"head_module": type(model.head).__module__, "loss": float(loss), "same": same,
                  "saved": [again.head_name, again.config.head_options],
                  "metrics": task.metrics(examples, task.features(examples, tokenizer, 64), unbatch(logits))}))
"""


_LOAD_PUSHED = """
import json, sys
from berthub import BertForTask
from berthub.errors import PluginError
try:
    model = BertForTask.from_pretrained(sys.argv[1])
    print(json.dumps({"labels": model.labels, "head": model.head_name}))
except PluginError as error:
    print(json.dumps({"error": str(error)}))
"""


@pytest.mark.slow
def test_pip_install_makes_the_head_and_tasks_usable_by_name_and_uninstall_removes_them(
        tmp_path, minilm_dir, hub_server, monkeypatch):
    from fresh_venv import hub_venv

    env = hub_venv(tmp_path, hub_server, monkeypatch)  # the venv's commands push to and load from this hub
    assert "mean-pooled-classification" not in env.berthub("plugins")
    source = shutil.copytree(EXAMPLE, tmp_path / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env.pip("install", str(source))

    listing = env.berthub("plugins")
    for name in ("mean-pooled-classification", "example-reviews", "example-review-topics"):
        assert re.search(rf"{name} +berthub-example-plugin 0\.2\.0", listing)
    result = json.loads(env.run("-c", _USE_BY_NAME, str(minilm_dir), str(EXAMPLE / "data"), str(tmp_path / "out")))
    assert result["head_module"] == "berthub_example.head"
    assert result["saved"] == ["mean-pooled-classification", {"num_labels": 2, "dropout": 0.1, "multi_label": False}]
    assert result["same"] and result["loss"] > 0
    assert set(result["metrics"]) == {"accuracy"}

    # The stock command line trains the third-party multi-label task with its third-party head, and pushes.
    run, repo_id = tmp_path / "run", hub_server.unique_repo_id("review-topics")
    env.berthub("train", "--model", str(minilm_dir), "--task", "example-review-topics", "--task-option",
                "threshold=0.4", "--data-dir", str(EXAMPLE / "data"), "--output-dir", str(run), "--batch-size", "8",
                "--epochs", "1", "--no-progress", "--push", repo_id)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "example-review-topics" and summary["steps"] == 3 and "f1" in summary["best_metrics"]
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["berthub_head"] == "mean-pooled-classification" and config["berthub_head_options"]["multi_label"]
    assert list(config["id2label"].values()) == TOPICS
    assert json.loads((run / "best" / "training.json").read_text())["task_options"] == {"threshold": 0.4}
    # evaluate rebuilds the task with the options it was trained with (threshold 0.4).
    scored = env.berthub("evaluate", "--model", str(run / "best"), "--task", "example-review-topics",
                         "--data-dir", str(EXAMPLE / "data"))
    assert f"f1 {summary['best_metrics']['f1']:.4f}" in scored

    # Reloaded from the hub, the model names its outputs; its card says how to load it and what to install.
    assert json.loads(env.run("-c", _LOAD_PUSHED, repo_id)) == {"labels": TOPICS,
                                                                "head": "mean-pooled-classification"}
    card = env.run("-c", "import sys; from huggingface_hub import hf_hub_download as get; "
                   "print(open(get(sys.argv[1], 'README.md')).read())", repo_id)
    assert f'BertForTask.from_pretrained("{repo_id}")' in card and "pip install berthub-example-plugin" in card
    assert "`battery`, `durability`, `performance`" in card and "--task-option threshold=0.4" in card

    env.uninstall("berthub-example-plugin")
    assert "mean-pooled-classification" not in env.berthub("plugins")
    missing = env.run("-c", "from berthub.tasks import get_task; get_task('example-reviews')", check=False)
    assert "No dataset named 'example-reviews' is registered" in missing
    orphan = json.loads(env.run("-c", _LOAD_PUSHED, repo_id))
    assert orphan["error"].endswith("pip install berthub-example-plugin")
