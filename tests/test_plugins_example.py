"""The worked third-party example (tests/fixtures/berthub-example-plugin): its head and task, and that
`pip install` into a fresh virtualenv makes both usable by name with no change to berthub."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parent / "fixtures" / "berthub-example-plugin"


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
    assert head.options() == {"num_labels": 3, "dropout": 0.1}
    assert head.loss_count({"labels": torch.tensor([0, -100, 2])}, None) == 2


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


@pytest.mark.slow
def test_pip_install_makes_the_head_and_task_usable_by_name_and_uninstall_removes_them(tmp_path, minilm_dir):
    from fresh_venv import FreshVenv

    env = FreshVenv(tmp_path / "venv")
    assert "mean-pooled-classification" not in env.berthub("plugins")
    source = shutil.copytree(EXAMPLE, tmp_path / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env.pip("install", str(source))

    listing = env.berthub("plugins")
    assert re.search(r"mean-pooled-classification +berthub-example-plugin 0\.1\.0", listing)
    assert re.search(r"example-reviews +berthub-example-plugin 0\.1\.0", listing)
    result = json.loads(env.run("-c", _USE_BY_NAME, str(minilm_dir), str(EXAMPLE / "data"), str(tmp_path / "out")))
    assert result["head_module"] == "berthub_example.head"
    assert result["saved"] == ["mean-pooled-classification", {"num_labels": 2, "dropout": 0.1}]
    assert result["same"] and result["loss"] > 0
    assert set(result["metrics"]) == {"accuracy"}

    # The stock command line trains and evaluates the third-party task with its third-party head.
    run = tmp_path / "run"
    env.berthub("train", "--model", str(minilm_dir), "--task", "example-reviews", "--data-dir", str(EXAMPLE / "data"),
                "--output-dir", str(run), "--batch-size", "8", "--epochs", "1", "--no-progress")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "example-reviews" and summary["steps"] == 3 and "accuracy" in summary["best_metrics"]
    assert json.loads((run / "best" / "config.json").read_text())["berthub_head"] == "mean-pooled-classification"
    scored = env.berthub("evaluate", "--model", str(run / "best"), "--task", "example-reviews",
                         "--data-dir", str(EXAMPLE / "data"))
    assert f"accuracy {summary['best_metrics']['accuracy']:.4f}" in scored

    env.uninstall("berthub-example-plugin")
    assert "mean-pooled-classification" not in env.berthub("plugins")
    missing = env.run("-c", "from berthub.tasks import get_task; get_task('example-reviews')", check=False)
    assert "No dataset named 'example-reviews' is registered" in missing
