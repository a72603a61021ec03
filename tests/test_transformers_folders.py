"""Folders fine-tuned and saved by transformers load into berthub with their head size and labels, give
transformers' outputs, and the vocabulary / dtype calls transformers users reach for behave as theirs."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

import berthub
from berthub import BertForMaskedLM, BertForTask, BertModel
from berthub.errors import InputError
from berthub.tokenization import BertTokenizer

LABELS = {0: "contradiction", 1: "entailment", 2: "neutral"}
TAGS = {0: "O", 1: "B-person", 2: "I-person", 3: "B-location", 4: "I-location"}


def _inputs(minilm_dir):
    tokenizer = BertTokenizer.from_pretrained(minilm_dir)
    rows = [tokenizer.convert_tokens_to_ids(["[CLS]", *tokenizer.tokenize(text), "[SEP]"])
            for text in ("Paris is in France.", "A cat sat on the mat, quietly purring.")]
    length = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (length - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])
    return ids, torch.zeros_like(ids), mask


def _saved(cls_name, minilm_dir, folder, **kwargs):
    torch.manual_seed(0)
    model = getattr(transformers, cls_name).from_pretrained(minilm_dir, **kwargs).eval()
    model.save_pretrained(folder)
    return model


def test_a_transformers_3_label_classifier_loads_with_its_labels_and_gives_its_logits(minilm_dir, tmp_path):
    theirs = _saved("BertForSequenceClassification", minilm_dir, tmp_path, num_labels=3, id2label=LABELS)
    ids, types, mask = _inputs(minilm_dir)
    for cls in (berthub.BertForSequenceClassification, BertForTask):
        model = cls.from_pretrained(tmp_path)
        assert model.head_name == "sequence-classification" and model.head.num_labels == 3
        assert model.labels == ["contradiction", "entailment", "neutral"]
        assert model.load_report.missing == [] and model.load_report.unexpected == []
        with torch.no_grad():
            expected = theirs(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
            torch.testing.assert_close(model(ids, types, mask), expected, atol=2e-5, rtol=0)


@pytest.mark.parametrize("cls_name", ["BertForTokenClassification", "BertForQuestionAnswering"])
def test_transformers_token_classification_and_qa_folders_load_by_architecture(cls_name, minilm_dir, tmp_path):
    kwargs = {"num_labels": 5, "id2label": TAGS} if cls_name == "BertForTokenClassification" else {}
    theirs = _saved(cls_name, minilm_dir, tmp_path, **kwargs)
    ours = BertForTask.from_pretrained(tmp_path)
    ids, types, mask = _inputs(minilm_dir)
    with torch.no_grad():
        out, expected = ours(ids, types, mask), theirs(input_ids=ids, token_type_ids=types, attention_mask=mask)
    real = mask.bool()
    if cls_name == "BertForTokenClassification":
        assert ours.head_name == "token-classification" and ours.labels == list(TAGS.values())
        torch.testing.assert_close(out[real], expected.logits[real], atol=2e-5, rtol=0)
    else:
        assert ours.head_name == "question-answering"
        torch.testing.assert_close(out[0][real], expected.start_logits[real], atol=2e-5, rtol=0)
        torch.testing.assert_close(out[1][real], expected.end_logits[real], atol=2e-5, rtol=0)


def test_labels_saved_by_berthub_are_read_by_transformers(minilm_dir, tmp_path):
    _saved("BertForSequenceClassification", minilm_dir, tmp_path / "theirs", num_labels=3, id2label=LABELS)
    BertForTask.from_pretrained(tmp_path / "theirs").save_pretrained(tmp_path / "ours")
    config = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert config["label2id"] == {"contradiction": 0, "entailment": 1, "neutral": 2}
    again = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "ours")
    assert again.config.id2label == LABELS and again.num_labels == 3


def test_an_explicit_num_labels_beats_the_label_names_and_placeholders_fill_in(minilm_dir, tmp_path):
    model = BertForTask.from_pretrained(minilm_dir, head="sequence-classification", num_labels=4)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["id2label"] == {str(i): f"LABEL_{i}" for i in range(4)}
    assert transformers.BertForSequenceClassification.from_pretrained(tmp_path).num_labels == 4


def _mlm_pair(minilm_dir, folder):
    theirs = _saved("BertForMaskedLM", minilm_dir, folder)
    return theirs, BertForMaskedLM.from_pretrained(folder)


@pytest.mark.parametrize("size", [30522 + 7, 30000])
def test_resize_token_embeddings_matches_transformers(minilm_dir, tmp_path, size):
    theirs, ours = _mlm_pair(minilm_dir, tmp_path)
    old_bias = ours.cls.predictions.bias.detach().clone()
    theirs.resize_token_embeddings(size)
    embeddings = ours.resize_token_embeddings(size)
    assert embeddings is ours.get_input_embeddings() and embeddings.weight.shape == (size, 384)
    assert ours.config.vocab_size == size and ours.bert.config.vocab_size == size
    assert ours.cls.predictions.decoder.weight is embeddings.weight  # still tied
    ids, types, mask = _inputs(minilm_dir)
    with torch.no_grad():
        scores = ours(ids, types, mask)
        expected = theirs(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
    assert scores.shape == expected.shape == (2, ids.shape[1], size)
    real = mask.bool()
    # New rows start at the old mean (transformers adds noise of ~1e-5 around it).
    torch.testing.assert_close(scores[real], expected[real], atol=2e-3, rtol=0)
    torch.testing.assert_close(embeddings.weight, theirs.get_input_embeddings().weight, atol=1e-3, rtol=0)
    if size > 30522:
        torch.testing.assert_close(ours.cls.predictions.bias[30522:], old_bias.mean().expand(7))


def test_resize_without_mean_uses_google_init_and_pads_to_a_multiple(minilm_dir):
    model = BertForMaskedLM.from_pretrained(minilm_dir)
    old = model.get_input_embeddings().weight.detach().clone()
    torch.manual_seed(0)
    weight = model.resize_token_embeddings(30523, pad_to_multiple_of=64, mean_resizing=False).weight
    assert weight.shape[0] == 30528 and model.cls.predictions.bias.shape == (30528,)
    assert torch.equal(weight[:30522], old)
    new = weight[30522:].detach()
    assert new.abs().max() <= 2 * model.config.initializer_range and new.std() > 0
    assert torch.all(model.cls.predictions.bias[30522:] == 0)


def test_a_resized_model_saves_and_loads_with_its_new_vocabulary(minilm_dir, tmp_path):
    model = BertForMaskedLM.from_pretrained(minilm_dir)
    model.resize_token_embeddings(30530)
    model.save_pretrained(tmp_path)
    again = BertForMaskedLM.from_pretrained(tmp_path)
    assert again.config.vocab_size == 30530 and again.load_report.missing == []
    assert torch.equal(again.get_input_embeddings().weight, model.get_input_embeddings().weight)
    transformers.BertForMaskedLM.from_pretrained(tmp_path)  # transformers reads it too


def test_set_input_embeddings_replaces_the_word_embeddings_of_every_model_class(minilm_dir):
    for model in (BertModel.from_pretrained(minilm_dir),
                  BertForTask.from_pretrained(minilm_dir, head="sequence-classification")):
        replacement = torch.nn.Embedding(30522, 384)
        model.set_input_embeddings(replacement)
        assert model.get_input_embeddings() is replacement
    with pytest.raises(InputError, match="embedding_dim 384"):
        model.set_input_embeddings(torch.nn.Embedding(10, 12))


def test_torch_dtype_is_an_alias_of_dtype(minilm_dir):
    assert BertModel.from_pretrained(minilm_dir, torch_dtype=torch.bfloat16).pooler.dense.weight.dtype == torch.bfloat16
    assert BertModel.from_pretrained(minilm_dir, dtype="bfloat16").pooler.dense.weight.dtype == torch.bfloat16
    assert BertModel.from_pretrained(minilm_dir, torch_dtype="auto").pooler.dense.weight.dtype == torch.float32
    with pytest.raises(InputError, match="disagree"):
        BertModel.from_pretrained(minilm_dir, dtype=torch.float16, torch_dtype=torch.bfloat16)
    with pytest.raises(InputError, match="not a floating-point torch dtype"):
        BertModel.from_pretrained(minilm_dir, dtype="int8")


def test_the_model_card_of_a_transformers_classifier_shows_its_class_and_labels(minilm_dir, tmp_path):
    from berthub.sources.publish import model_card

    _saved("BertForSequenceClassification", minilm_dir, tmp_path, num_labels=3, id2label=LABELS)
    card = model_card(tmp_path, "acme/nli")
    assert 'BertForSequenceClassification.from_pretrained("acme/nli")' in card
    assert "`contradiction`, `entailment`, `neutral`" in card
