"""The head contract (berthub.plugins.Head / HeadFacts): what the plugin loader refuses, and every reader of the facts.

Fake plugin distributions (for heads loaded by name) are in test_plugins_registry.py; here the
checking function is given classes directly, and the readers are given berthub's own heads.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from torch import nn

from berthub import BertForSequenceClassification, BertForTask, plugins
from berthub.errors import PluginError
from berthub.model.heads import HeadFacts, PreTrainingHead, SequenceClassificationHead
from berthub.plugins.head_contract import head_problems
from berthub.sources.publish import model_card
from berthub.training import accumulation

# What each built-in head is, as transformers and the Hub name it (written out here, not read from berthub).
BUILTIN = {
    "sequence-classification": ("BertForSequenceClassification", "text-classification", ("examples",)),
    "token-classification": ("BertForTokenClassification", "token-classification", ("labelled tokens",)),
    "question-answering": ("BertForQuestionAnswering", "question-answering", ("examples",)),
    "multiple-choice": ("BertForMultipleChoice", "multiple-choice", ("examples",)),
    "masked-lm": ("BertForMaskedLM", "fill-mask", ("masked tokens",)),
    "pretraining": ("BertForPreTraining", "fill-mask", ("masked tokens", "examples")),
    "next-sentence": ("BertForNextSentencePrediction", None, ("examples",)),
}


class PreContractHead(nn.Module):
    """A head written to the contract before facts: `attribute` and `targets` class attributes, no loss_count,
    and a loss without `reduction`."""

    attribute = "my_head"
    targets = ("labels",)

    def __init__(self, config, num_labels=2):
        super().__init__()

    def forward(self, encoded):
        return encoded.pooled_output

    def loss(self, logits, targets, encoded):
        return logits.sum()

    def options(self):
        return {}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_head_meets_the_contract_and_declares_its_transformers_class_and_tag(name):
    cls = plugins.head_class(name)
    assert head_problems(cls) == []
    architecture, tag, normaliser = BUILTIN[name]
    assert (cls.facts.architecture, cls.facts.pipeline_tag, cls.facts.loss_normaliser) == (architecture, tag,
                                                                                          normaliser)
    assert plugins.head_for_architecture(architecture) == name


def test_a_pre_contract_head_is_told_exactly_what_to_add():
    problems = head_problems(PreContractHead)
    assert len(problems) == 3, problems
    assert problems[0].startswith("`facts` is missing: declare the class attribute facts = HeadFacts("
                                  "attribute='my_head', targets={'labels': KIND}) in place of its `attribute`")
    assert problems[1] == ("`loss` cannot be called as loss(logits, targets, encoded, reduction='mean'): "
                           "got an unexpected keyword argument 'reduction'")
    assert problems[2] == "`loss_count` is missing: define loss_count(targets, encoded)"


def test_a_head_whose_constructor_takes_no_config_is_refused():
    class NoConfig(SequenceClassificationHead):
        def __init__(self):
            super().__init__(None)

    assert head_problems(NoConfig) == [
        "`__init__` cannot be called as __init__(config, **options): too many positional arguments"]


def test_facts_that_are_not_head_facts_are_named():
    class DictFacts(SequenceClassificationHead):
        facts = {"attribute": "classifier", "targets": {"labels": "scalar"}}

    (problem,) = head_problems(DictFacts)
    assert problem.startswith("`facts` is a dict: declare the class attribute facts = HeadFacts(attribute=NAME")


def test_head_facts_refuse_unknown_kinds_empty_targets_and_empty_names():
    with pytest.raises(PluginError, match=r"targets\['labels'\] is 'int', not one of scalar, token, vector"):
        HeadFacts(attribute="classifier", targets={"labels": "int"})
    with pytest.raises(PluginError, match="targets is empty"):
        HeadFacts(attribute="classifier", targets={})
    with pytest.raises(PluginError, match="attribute must be a non-empty string.*pipeline_tag must be"):
        HeadFacts(attribute="", targets={"labels": "scalar"}, pipeline_tag="")
    assert HeadFacts(attribute="c", targets={"labels": "scalar"}, loss_normaliser="examples").loss_terms == 1


def test_the_composed_model_stores_the_head_under_its_attribute_and_saves_its_architecture(minilm_dir, tmp_path):
    model = BertForTask.from_pretrained(minilm_dir, head="question-answering")
    assert model.head is model.qa_outputs
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["architectures"] == ["BertForQuestionAnswering"] and saved["berthub_head"] == "question-answering"
    assert {key.split(".")[0] for key in load_file(tmp_path / "model.safetensors")} == {"bert", "qa_outputs"}


def test_the_model_card_tag_comes_from_the_saved_head_not_the_task_name(minilm_dir, tmp_path):
    BertForTask.from_pretrained(minilm_dir, head="token-classification", num_labels=3).save_pretrained(tmp_path)
    card = model_card(tmp_path, "acme/ner", {"task": "wnut17"})  # a task name, not a head name
    assert yaml.safe_load(card.split("---")[1])["pipeline_tag"] == "token-classification"


def test_accumulation_refuses_a_count_that_does_not_match_the_declared_terms():
    class OneCount(PreTrainingHead):  # declares two terms (masked tokens, examples) but counts one
        def loss_count(self, targets, encoded):
            return torch.tensor(3)

    head = OneCount.__new__(OneCount)
    batch = {"masked_lm_labels": torch.tensor([[1, -1]]), "next_sentence_label": torch.tensor([0])}
    with pytest.raises(PluginError, match=r"returned shape \[\], but its facts.loss_normaliser names 2 term"):
        accumulation.loss_count(head, batch)


def test_the_pretraining_head_sums_per_term_and_its_counts_reproduce_the_mean(minilm_dir):
    model = BertForTask.from_pretrained(minilm_dir, head="pretraining")
    input_ids = torch.randint(1000, 30000, (3, 9), generator=torch.Generator().manual_seed(0))
    labels = torch.full((3, 9), -100).index_fill(1, torch.tensor([2, 5]), 7)
    labels[0, 5] = -1
    targets = {"masked_lm_labels": labels, "next_sentence_label": torch.tensor([0, 1, 1])}
    with torch.no_grad():
        logits, encoded = model.encode_and_score({"input_ids": input_ids})
        summed = model.head.loss(logits, targets, encoded, reduction="sum")
        mean = model.head.loss(logits, targets, encoded)
    count = accumulation.loss_count(model.head, {**targets, "input_ids": input_ids})
    assert count.tolist() == [5, 3]
    torch.testing.assert_close((summed / count).sum(), mean)


def _pre_change_folder(minilm_dir, folder, config_changes):
    """A classifier folder written by hand in the format berthub saved before HeadFacts existed."""
    folder.mkdir()
    config = json.loads((minilm_dir / "config.json").read_text())
    config.update(config_changes)
    (folder / "config.json").write_text(json.dumps(config))
    tensors = {f"bert.{key}": value for key, value in load_file(minilm_dir / "model.safetensors").items()}
    generator = torch.Generator().manual_seed(1)
    tensors["classifier.weight"] = torch.randn(3, 384, generator=generator) * 0.02
    tensors["classifier.bias"] = torch.randn(3, generator=generator)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return tensors


@pytest.mark.parametrize("saved_by", ["berthub", "transformers"])
def test_a_folder_saved_before_head_facts_still_loads_with_its_head(minilm_dir, tmp_path, saved_by):
    labels = {"id2label": {"0": "neg", "1": "neu", "2": "pos"}, "label2id": {"neg": 0, "neu": 1, "pos": 2},
              "architectures": ["BertForSequenceClassification"]}
    berthub_fields = {"berthub_head": "sequence-classification", "berthub_head_options": {"num_labels": 3},
                      "berthub_head_distribution": "berthub"}
    tensors = _pre_change_folder(minilm_dir, tmp_path / "old",
                                 {**labels, **(berthub_fields if saved_by == "berthub" else {})})
    model = BertForTask.from_pretrained(tmp_path / "old")
    assert model.head_name == "sequence-classification" and model.head.num_labels == 3
    assert model.labels == ["neg", "neu", "pos"]
    assert model.load_report.missing == [] and model.load_report.unexpected == []
    assert torch.equal(model.classifier.weight, tensors["classifier.weight"])
    again = BertForSequenceClassification.from_pretrained(tmp_path / "old")
    input_ids = torch.randint(1000, 30000, (2, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        pooled = model.bert.encode(input_ids).pooled_output
        expected = pooled @ tensors["classifier.weight"].T + tensors["classifier.bias"]
        torch.testing.assert_close(model(input_ids), expected)
        torch.testing.assert_close(again(input_ids), expected)

