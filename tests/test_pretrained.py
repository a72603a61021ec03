"""Weights I/O: save/load round trips, legacy pytorch-pretrained-BERT files, key reports."""

from __future__ import annotations

import json

import pytest
import torch

from berthub import BertForQuestionAnswering, BertForSequenceClassification, BertModel
from berthub.errors import BerthubError, WeightsError


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype and torch.equal(sa[key], sb[key]), key


def test_save_then_load_is_bit_exact(minilm_dir, tmp_path):
    model = BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=2)
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    again = BertForSequenceClassification.from_pretrained(tmp_path)
    assert again.load_report.missing == [] and again.load_report.unexpected == []
    _same_state(model, again)


def test_saved_config_names_the_architecture_and_head(minilm_dir, tmp_path):
    BertForQuestionAnswering.from_pretrained(minilm_dir).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["BertForQuestionAnswering"]
    assert config["berthub_head"] == "question-answering" and config["model_type"] == "bert"


def _legacy_state_dict(minilm_dir):
    """A pytorch-pretrained-BERT 0.6 style state dict: `bert.` prefix, LayerNorm gamma/beta, position_ids."""
    from safetensors.torch import load_file

    legacy = {}
    for key, tensor in load_file(minilm_dir / "model.safetensors").items():
        key = "bert." + key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        legacy[key] = tensor
    legacy["bert.embeddings.position_ids"] = torch.arange(512)[None]
    legacy["classifier.weight"] = torch.randn(2, 384)
    legacy["classifier.bias"] = torch.randn(2)
    return legacy


def test_legacy_pytorch_model_bin_with_gamma_beta_loads(minilm_dir, tmp_path):
    torch.save(_legacy_state_dict(minilm_dir), tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text((minilm_dir / "config.json").read_text())
    model = BertForSequenceClassification.from_pretrained(tmp_path, num_labels=2)
    reference = BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=2)
    assert model.load_report.missing == [] and model.load_report.unexpected == []
    assert model.load_report.renamed > 0
    assert torch.equal(model.bert.encoder.layer[3].output.LayerNorm.weight,
                       reference.bert.encoder.layer[3].output.LayerNorm.weight)
    encoder = BertModel.from_pretrained(tmp_path)
    assert encoder.load_report.unexpected == ["classifier.weight", "classifier.bias"]


def test_weights_saved_on_a_gpu_load_on_a_cpu_only_machine(minilm_dir, tmp_path):
    state = _legacy_state_dict(minilm_dir)

    def tag_as_cuda(storage):  # how torch.save records tensors that lived on cuda:0
        return "cuda:0" if storage.device.type == "cpu" else None

    torch.serialization.register_package(-1, tag_as_cuda, lambda obj, location: None)
    try:
        torch.save(state, tmp_path / "pytorch_model.bin")
    finally:
        torch.serialization._package_registry[:] = [
            entry for entry in torch.serialization._package_registry if entry[1] is not tag_as_cuda
        ]
    raw = (tmp_path / "pytorch_model.bin").read_bytes()
    assert b"cuda:0" in raw
    (tmp_path / "config.json").write_text((minilm_dir / "config.json").read_text())
    model = BertModel.from_pretrained(tmp_path)
    assert model.embeddings.word_embeddings.weight.device.type == "cpu"


def test_missing_encoder_weights_are_reported_by_name(minilm_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    state = load_file(minilm_dir / "model.safetensors")
    del state["pooler.dense.weight"], state["pooler.dense.bias"]
    state["encoder.layer.9.output.dense.weight"] = torch.zeros(1)
    save_file(state, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text((minilm_dir / "config.json").read_text())
    model = BertModel.from_pretrained(tmp_path)
    assert model.load_report.missing == ["pooler.dense.weight", "pooler.dense.bias"]
    assert model.load_report.unexpected == ["encoder.layer.9.output.dense.weight"]
    assert model.pooler.dense.bias.abs().sum() == 0 and model.pooler.dense.weight.std() > 0.01


def test_a_head_of_another_size_is_a_clear_error(minilm_dir, tmp_path):
    BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=3).save_pretrained(tmp_path)
    with pytest.raises(WeightsError) as caught:
        BertForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    assert "'classifier.weight' has shape (3, 384), the model expects (5, 384)" in str(caught.value)
    assert "'classifier.bias' has shape (3,), the model expects (5,)" in str(caught.value)


def test_loading_never_runs_random_init_on_loaded_tensors(minilm_dir, monkeypatch):
    calls = []
    original = torch.nn.init.trunc_normal_

    def counting(tensor, *args, **kwargs):
        calls.append(tensor.shape)
        return original(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "trunc_normal_", counting)
    BertModel.from_pretrained(minilm_dir)
    assert calls == []


def test_config_overrides_change_the_config(minilm_dir):
    model = BertModel.from_pretrained(minilm_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    assert model.config.hidden_dropout_prob == 0.0 and model.embeddings.dropout.p == 0.0


def test_a_directory_without_weights_says_what_it_expected(tmp_path, minilm_dir):
    (tmp_path / "config.json").write_text((minilm_dir / "config.json").read_text())
    with pytest.raises(BerthubError, match=r"no model.safetensors or pytorch_model.bin"):
        BertModel.from_pretrained(tmp_path)


def test_a_directory_without_config_is_not_a_model_directory(tmp_path):
    with pytest.raises(BerthubError, match="no config.json"):
        BertModel.from_pretrained(tmp_path)
