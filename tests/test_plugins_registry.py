"""berthub.plugins: entry-point groups read lazily, and broken or clashing plugins reported by name.

Fake distributions are real ones as importlib.metadata sees them: a `NAME-VERSION.dist-info` folder
with METADATA and entry_points.txt next to the plugin's module, on sys.path.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from berthub.cli import main
from berthub.errors import PluginError
from berthub.model.task_models import BertForTask
from berthub.plugins import loader

GOOD_HEAD = """
from berthub.model.heads import SequenceClassificationHead as Head
"""
# A head written before HeadFacts: `attribute` and `targets` class attributes instead of `facts`.
PRE_CONTRACT_HEAD = """
from berthub.model.heads import SequenceClassificationHead

class Head(SequenceClassificationHead):
    facts = None
    attribute = "old_classifier"
    targets = ("labels",)
"""
# A head as berthub 0.1's docs had plugins write it: `attribute` and `targets`, no `facts` at all.
HEAD_0_1 = """
import torch
import torch.nn.functional as F
from torch import nn

class Head(nn.Module):
    attribute = "legacy_classifier"
    targets = ("labels",)

    def __init__(self, config, num_labels=2):
        super().__init__()
        self.num_labels = num_labels
        self.linear = nn.Linear(config.hidden_size, num_labels)

    def forward(self, encoded):
        return self.linear(encoded.pooled_output)

    def loss(self, logits, targets, encoded, reduction="mean"):
        return F.cross_entropy(logits, targets["labels"], reduction=reduction)

    def loss_count(self, targets, encoded):
        return torch.tensor(targets["labels"].shape[0])

    def options(self):
        return {"num_labels": self.num_labels}
"""
# A plugin head declaring a transformers class of berthub's own: it must not take over transformers folders.
RIVAL_HEAD = """
from berthub.model.heads import HeadFacts, SequenceClassificationHead

class Head(SequenceClassificationHead):
    facts = HeadFacts(attribute="rival", targets={"labels": "scalar"}, architecture="BertForSequenceClassification")
"""


def _distribution(site: Path, name: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n", encoding="utf-8")
    groups = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
                     for group, eps in entry_points.items())
    (info / "entry_points.txt").write_text(groups, encoding="utf-8")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source, encoding="utf-8")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path for fake distributions; module names are unique per test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    importlib.invalidate_caches()


@pytest.fixture
def broken(site):
    """Installed: a head whose module fails to import, one pointing at a missing attribute, one that is
    not a head, one written before HeadFacts, one claiming a built-in head's transformers class, and a
    dataset name registered by two distributions."""
    tag = uuid.uuid4().hex[:8]
    _distribution(site, "broken-plugin", {
        "berthub.heads": {"broken-head": f"bad_{tag}:Head", "ghost-head": f"ok_{tag}:NoSuchHead",
                          "not-a-head": f"ok_{tag}:NotAHead"},
    }, {f"bad_{tag}": "import a_module_that_does_not_exist\n", f"ok_{tag}": "class NotAHead:\n    pass\n"})
    _distribution(site, "twin-one", {"berthub.datasets": {"twin-task": f"one_{tag}:task"}}, {f"one_{tag}": ""})
    _distribution(site, "twin-two", {"berthub.datasets": {"twin-task": f"two_{tag}:task"}}, {f"two_{tag}": ""})
    _distribution(site, "good-plugin", {"berthub.heads": {"good-head": f"good_{tag}:Head"}}, {f"good_{tag}": GOOD_HEAD})
    _distribution(site, "old-plugin",
                  {"berthub.heads": {"old-head": f"old_{tag}:Head", "rival-head": f"rival_{tag}:Head",
                                     "head-0-1": f"legacy_{tag}:Head"}},
                  {f"old_{tag}": PRE_CONTRACT_HEAD, f"rival_{tag}": RIVAL_HEAD, f"legacy_{tag}": HEAD_0_1})
    importlib.invalidate_caches()
    return tag  # the suffix of the fake plugins' module names


def test_berthubs_own_heads_register_through_its_entry_points():
    builtin = {p.name for p in loader.entries("heads") if p.distribution == "berthub"}
    assert builtin == {"pretraining", "masked-lm", "next-sentence", "sequence-classification",
                       "token-classification", "multiple-choice", "question-answering"}


def test_listing_names_imports_no_plugin(broken):
    assert {"broken-head", "ghost-head", "good-head"} <= set(loader.names("heads"))
    assert not [m for m in sys.modules if m.endswith(broken)]


def test_an_import_error_names_the_entry_point_and_distribution_and_chains_the_cause(broken):
    with pytest.raises(PluginError) as error:
        loader.load("heads", "broken-head")
    message = str(error.value)
    assert f"broken-head = bad_{broken}:Head" in message and "broken-plugin 0.1.0" in message
    assert "pip uninstall broken-plugin" in message
    assert isinstance(error.value.__cause__, ModuleNotFoundError)


def test_a_missing_attribute_is_reported_with_its_distribution(broken):
    with pytest.raises(PluginError, match="ghost-head.*broken-plugin") as error:
        loader.load("heads", "ghost-head")
    assert isinstance(error.value.__cause__, AttributeError)


def test_an_object_without_the_head_protocol_is_refused_at_load(broken):
    with pytest.raises(PluginError, match="not-a-head.*broken-plugin.*does not meet berthub's head contract") as error:
        loader.load("heads", "not-a-head")
    for missing in ("not an nn.Module subclass", "`facts` is missing", "`forward` is missing", "`loss` is missing",
                    "`loss_count` is missing", "`options` is missing", "pip uninstall broken-plugin"):
        assert missing in str(error.value)


def test_a_head_without_facts_is_refused_at_load_naming_its_distribution_and_the_line_to_write(broken, minilm_dir):
    expected = ".*".join(re.escape(part) for part in (
        "The head 'old-head' (entry point 'old-head = old_", "' of old-plugin 0.1.0) does not meet berthub's head "
        "contract", "`facts` is missing: declare the class attribute facts = HeadFacts(attribute='old_classifier', "
        "targets={'labels': KIND})", "Fix the head in old-plugin"))
    with pytest.raises(PluginError, match=expected):
        loader.load("heads", "old-head")
    with pytest.raises(PluginError, match=expected):
        BertForTask.from_pretrained(minilm_dir, head="old-head")
    assert loader.load("heads", "good-head").facts.attribute == "classifier"  # the others still load


def test_a_head_written_for_0_1_loads_adapted_with_a_future_warning_giving_its_facts_line(broken, minilm_dir):
    import torch

    from berthub.plugins.head_contract import declared_target_kinds

    with pytest.warns(FutureWarning, match=re.escape("should declare facts = HeadFacts(attribute='legacy_classifier', "
                                                     "targets={'labels': KIND})")):
        head = loader.load("heads", "head-0-1")
    assert head.__name__ == "Head" and head.__module__ == f"legacy_{broken}" and head.legacy_head
    assert (head.facts.attribute, list(head.facts.targets), head.facts.loss_normaliser) == (
        "legacy_classifier", ["labels"], ("items",))
    model = BertForTask.from_pretrained(minilm_dir, head="head-0-1", num_labels=3)
    assert declared_target_kinds(model.head) == {}  # batched as the task or the values say, as in 0.1
    ids = torch.tensor([[101, 7592, 102]])
    assert model(ids, labels=torch.tensor([2])).dim() == 0 and model(ids).shape == (1, 3)
    assert "legacy_classifier.linear.weight" in model.state_dict()


def test_a_plugin_head_cannot_take_a_transformers_class_from_berthubs_own(broken):
    assert loader.load("heads", "rival-head").facts.architecture == "BertForSequenceClassification"
    assert loader.head_for_architecture("BertForSequenceClassification") == "sequence-classification"


def test_a_clash_on_a_builtin_head_name_leaves_transformers_folders_their_head(site):
    tag = uuid.uuid4().hex[:8]
    _distribution(site, "clash-plugin", {"berthub.heads": {"sequence-classification": f"clash_{tag}:Head"}},
                  {f"clash_{tag}": RIVAL_HEAD})
    importlib.invalidate_caches()
    assert loader.head_for_architecture("BertForSequenceClassification") == "sequence-classification"
    with pytest.raises(PluginError, match="registered by clash-plugin 0.1.0 .* and berthub "):
        loader.head_class("sequence-classification")  # using the name still says which two clash


def test_a_name_from_two_distributions_is_an_error_naming_both(broken):
    with pytest.raises(PluginError, match="registered by twin-one 0.1.0 .* and twin-two 0.1.0"):
        loader.load("datasets", "twin-task")
    assert [p.distribution for p in loader.duplicates("datasets")["twin-task"]] == ["twin-one", "twin-two"]


def test_other_plugins_keep_working_beside_broken_ones(broken, minilm_dir):
    good = loader.load("heads", "good-head")
    assert good.__name__ == "SequenceClassificationHead"
    assert loader.load("heads", "sequence-classification") is good
    model = BertForTask.from_pretrained(minilm_dir, head="good-head", num_labels=3)
    assert model.head_name == "good-head"


def test_a_model_asking_for_a_broken_head_gets_the_plugin_error(broken, minilm_dir):
    with pytest.raises(PluginError, match="broken-plugin"):
        BertForTask.from_pretrained(minilm_dir, head="broken-head")


def test_an_unknown_name_lists_the_registered_ones_and_the_closest():
    with pytest.raises(PluginError) as error:
        loader.load("heads", "sequence-clasification")
    assert "Did you mean 'sequence-classification'" in str(error.value)
    assert "masked-lm" in str(error.value) and "berthub plugins" in str(error.value)


def test_an_unknown_kind_lists_the_kinds():
    with pytest.raises(PluginError, match="heads, datasets, converters, models"):
        loader.names("optimizers")


def test_loading_twice_returns_the_same_object():
    assert loader.load("heads", "masked-lm") is loader.load("heads", "masked-lm")


def test_berthub_plugins_lists_every_group_with_distribution_and_version(broken, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for group in ("berthub.heads", "berthub.datasets", "berthub.converters", "berthub.models"):
        assert group in out
    assert "good-head" in out and "good-plugin 0.1.0" in out
    assert "DUPLICATE: registered by twin-one, twin-two" in out
    assert not [m for m in sys.modules if m.endswith(broken)]  # listing imported nothing


def test_berthub_plugins_check_reports_broken_ones_and_fails(broken, capsys):
    assert main(["plugins", "--check", "--kind", "heads"]) == 1
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert "BROKEN" in lines["broken-head"] and "ModuleNotFoundError" in lines["broken-head"]
    assert "BROKEN" in lines["ghost-head"]
    assert lines["good-head"].endswith("ok") and lines["masked-lm"].endswith("ok")


def test_import_berthub_and_the_cli_work_with_broken_plugins_installed(broken, site):
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import sys, berthub; print(sorted(m for m in sys.modules if m.startswith(('bad_', 'ok_', 'berthub_'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]"  # nor does it import any plugin
    listing = subprocess.run([sys.executable, "-m", "berthub", "plugins"], capture_output=True, text=True,
                             env=env, timeout=120)
    assert listing.returncode == 0 and "broken-head" in listing.stdout and "sequence-classification" in listing.stdout


def test_a_name_a_gone_plugin_gave_names_its_distribution_and_a_cache_that_cannot_be_written_is_no_error(
        tmp_path, monkeypatch, capsys):
    from berthub.errors import NotFoundError
    from berthub.plugins import memory
    from berthub.sources import registry

    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(NotFoundError, match="^Unknown model 'acme-bert'"):
        registry.model_entry("acme-bert")  # never used here: berthub cannot know who gave it
    memory.remember("models", "acme-bert", "acme-berts", repo_id="acme/bert")
    memory.remember("commands", "acme-report", "acme-berts")
    with pytest.raises(NotFoundError) as error:
        registry.model_entry("acme-bert")
    assert str(error.value) == ("The model name 'acme-bert' (hub repo acme/bert) comes from the plugin distribution "
                                "'acme-berts', which is not installed: pip install acme-berts")
    assert main(["acme-report", "--x"]) == 2  # not argparse's "invalid choice"
    assert capsys.readouterr().err == ("berthub: error: The command 'acme-report' comes from the plugin distribution "
                                       "'acme-berts', which is not installed: pip install acme-berts\n")
    assert memory.recall("commands", "acme-report") == {"distribution": "acme-berts"}

    (tmp_path / "blocked").write_text("a file where the cache folder would be")
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "blocked" / "cache"))
    memory.remember("models", "acme-bert", "acme-berts")  # nothing written, nothing raised
    assert memory.recall("models", "acme-bert") is None
