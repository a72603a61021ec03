"""The eight pytorch-pretrained-BERT 0.6 classes: forward, backward, return rules, transformers parity."""

from __future__ import annotations

import pytest
import torch

import berthub
from berthub import (
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTask,
    BertForTokenClassification,
)
from berthub.errors import ConfigError

B, T = 3, 12


def _inputs(vocab_size=30522):
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1000, vocab_size, (B, T), generator=generator)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 8:] = 0
    return input_ids, torch.zeros_like(input_ids), mask


CASES = [
    (BertForPreTraining, {}, {"masked_lm_labels": torch.full((B, T), -1).index_fill(1, torch.tensor([2, 5]), 7),
                              "next_sentence_label": torch.tensor([0, 1, 0])}, [(B, T, 30522), (B, 2)]),
    (BertForMaskedLM, {}, {"masked_lm_labels": torch.full((B, T), -100).index_fill(1, torch.tensor([3]), 42)},
     [(B, T, 30522)]),
    (BertForNextSentencePrediction, {}, {"next_sentence_label": torch.tensor([1, 0, 1])}, [(B, 2)]),
    (BertForSequenceClassification, {"num_labels": 3}, {"labels": torch.tensor([0, 2, 1])}, [(B, 3)]),
    (BertForTokenClassification, {"num_labels": 5}, {"labels": torch.randint(0, 5, (B, T))}, [(B, T, 5)]),
    (BertForQuestionAnswering, {}, {"start_positions": torch.tensor([1, 2, 40]),
                                    "end_positions": torch.tensor([3, 2, 41])}, [(B, T), (B, T)]),
]


@pytest.mark.parametrize(("cls", "options", "labels", "shapes"), CASES, ids=[c[0].__name__ for c in CASES])
def test_head_returns_logits_without_labels_and_a_differentiable_loss_with_them(
    minilm_dir, cls, options, labels, shapes
):
    model = cls.from_pretrained(minilm_dir, **options)
    input_ids, token_type_ids, mask = _inputs()
    with torch.no_grad():
        logits = model(input_ids, token_type_ids, mask)
    logits = logits if isinstance(logits, tuple) else (logits,)
    assert [tuple(x.shape) for x in logits] == shapes
    model.train()
    loss = model(input_ids, token_type_ids, mask, **labels)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads[:5])
    assert model.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_multiple_choice_takes_batch_choices_tokens_and_scores_each_choice(minilm_dir):
    model = BertForMultipleChoice.from_pretrained(minilm_dir, num_choices=4)
    input_ids = torch.randint(1000, 30000, (2, 4, 10))
    with torch.no_grad():
        logits = model(input_ids, torch.zeros_like(input_ids), torch.ones_like(input_ids))
    assert logits.shape == (2, 4)
    loss = model(input_ids, torch.zeros_like(input_ids), torch.ones_like(input_ids), labels=torch.tensor([3, 0]))
    loss.backward()
    assert torch.isfinite(loss)


def test_pretraining_decoder_is_tied_to_the_word_embeddings(minilm_dir):
    model = BertForPreTraining.from_pretrained(minilm_dir)
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert set(model.load_report.missing) >= {"cls.predictions.bias", "cls.seq_relationship.weight"}
    assert "cls.predictions.decoder.weight" not in model.load_report.missing


@pytest.mark.parametrize(
    ("ours", "theirs", "options"),
    [("BertForSequenceClassification", "BertForSequenceClassification", {"num_labels": 3}),
     ("BertForQuestionAnswering", "BertForQuestionAnswering", {}),
     ("BertForTokenClassification", "BertForTokenClassification", {"num_labels": 4}),
     ("BertForPreTraining", "BertForPreTraining", {})],
)
def test_saved_model_is_a_transformers_checkpoint_with_the_same_outputs(minilm_dir, tmp_path, ours, theirs, options):
    import transformers

    model = getattr(berthub, ours).from_pretrained(minilm_dir, **options)
    model.save_pretrained(tmp_path)
    reference = getattr(transformers, theirs).from_pretrained(str(tmp_path), attn_implementation="eager").eval()
    input_ids, token_type_ids, mask = _inputs()
    with torch.no_grad():
        mine = model(input_ids, token_type_ids, mask)
        other = reference(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=mask)
    mine = mine if isinstance(mine, tuple) else (mine,)
    other = [v for k, v in other.items() if k.endswith("logits")]
    real = mask.bool()
    for a, b in zip(mine, other, strict=True):
        if a.dim() >= 2 and a.shape[:2] == (B, T):
            a, b = a[real], b[real]
        torch.testing.assert_close(a, b, atol=2e-5, rtol=0)


def test_bert_for_task_rebuilds_its_head_from_config_without_naming_it(minilm_dir, tmp_path):
    model = BertForTask.from_pretrained(minilm_dir, head="token-classification", num_labels=7)
    model.save_pretrained(tmp_path)
    again = BertForTask.from_pretrained(tmp_path)
    assert again.head_name == "token-classification" and again.head.num_labels == 7
    assert again.load_report.missing == [] and again.load_report.unexpected == []
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_bert_for_task_without_a_head_explains_what_to_pass(minilm_dir):
    with pytest.raises(ConfigError, match="needs a head: pass head="):
        BertForTask.from_pretrained(minilm_dir)


def test_an_unknown_head_name_lists_the_registered_ones(minilm_dir):
    with pytest.raises(berthub.errors.PluginError, match="question-answering"):
        BertForTask.from_pretrained(minilm_dir, head="no-such-head")


def test_sum_reduction_and_loss_count_reproduce_the_mean(minilm_dir):
    model = BertForTokenClassification.from_pretrained(minilm_dir, num_labels=5).eval()
    input_ids, token_type_ids, mask = _inputs()
    labels = torch.randint(0, 5, (B, T))
    labels[0, :4] = -100
    batch = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": mask}
    with torch.no_grad():
        logits, encoded = model.encode_and_score(batch)
        total = model.head.loss(logits, {"labels": labels}, encoded, reduction="sum")
        count = model.head.loss_count({"labels": labels}, encoded)
        mean = model(input_ids, token_type_ids, mask, labels=labels)
    assert int(count) == int(((labels >= 0) & mask.bool()).sum())
    torch.testing.assert_close(total / count, mean)
