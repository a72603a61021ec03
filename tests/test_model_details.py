"""Details of Google's BERT that are easy to get subtly wrong: activations, the QA loss, the initialisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from berthub import BertConfig, BertForQuestionAnswering, BertForSequenceClassification, BertModel

TINY = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 64, "max_position_embeddings": 64}


@pytest.mark.parametrize("activation", ["gelu", "gelu_new", "relu"])
def test_each_activation_matches_transformers_on_the_same_weights(activation, tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    ours = BertModel(BertConfig(**TINY, hidden_act=activation)).eval()
    ours.save_pretrained(tmp_path)
    theirs = transformers.BertModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert theirs.config.hidden_act == activation
    ids = torch.randint(0, 99, (3, 17))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    with torch.no_grad():
        layers, pooled = ours(ids, None, mask)
        reference = theirs(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    for ours_layer, their_layer in zip(layers, reference.hidden_states[1:], strict=True):
        real = mask.bool()
        assert torch.allclose(ours_layer[real], their_layer[real], atol=1e-5)
    assert torch.allclose(pooled, reference.pooler_output, atol=1e-5)


def test_the_activations_are_the_exact_erf_gelu_the_tanh_approximation_and_relu():
    from berthub.model.bert import ACT2FN

    x = torch.linspace(-4, 4, 101)
    exact = x.double() * 0.5 * (1 + torch.erf(x.double() / 2**0.5))  # float64: no cancellation near -4
    assert torch.allclose(ACT2FN["gelu"](x).double(), exact, atol=1e-6)
    tanh_form = (0.5 * x.double() * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (x.double() + 0.044715 * x.double()**3))))
    assert torch.allclose(ACT2FN["gelu_new"](x).double(), tanh_form, atol=1e-6)
    tanh_form = tanh_form.float()
    assert not torch.allclose(ACT2FN["gelu"](x), tanh_form, atol=1e-5)  # the two really differ
    assert torch.equal(ACT2FN["relu"](x), x.clamp(min=0))


def test_qa_positions_outside_the_sequence_are_clamped_and_ignored_as_googles_run_squad():
    torch.manual_seed(0)
    model = BertForQuestionAnswering(BertConfig(**TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    ids = torch.randint(0, 99, (2, 12))
    start_logits, end_logits = model(ids)
    inside = (F.cross_entropy(start_logits[:1], torch.tensor([3])) + F.cross_entropy(end_logits[:1], torch.tensor([5])))
    # The second example's answer lies beyond the 12 tokens (positions 40 and 41): it adds nothing.
    loss = model(ids, start_positions=torch.tensor([3, 40]), end_positions=torch.tensor([5, 41]))
    assert torch.allclose(loss, inside / 2)
    negative = model(ids, start_positions=torch.tensor([3, -7]), end_positions=torch.tensor([5, -2]))
    both = model(ids, start_positions=torch.tensor([3, 0]), end_positions=torch.tensor([5, 0]))
    assert torch.allclose(negative, both)  # negative positions clamp to 0, the [CLS] token


def test_new_head_weights_follow_googles_truncated_normal_init():
    torch.manual_seed(0)
    config = BertConfig(**{**TINY, "hidden_size": 256, "num_attention_heads": 4}, initializer_range=0.02)
    model = BertForSequenceClassification(config, num_labels=400)
    weight = model.classifier.weight.detach()
    assert weight.abs().max() <= 0.04  # cut at two standard deviations
    # A normal(0, 0.02) truncated at +-2 sigma has a standard deviation of 0.02 * 0.8796.
    assert weight.std().item() == pytest.approx(0.02 * 0.8796, rel=0.03)
    assert torch.count_nonzero(model.classifier.bias) == 0
    layer_norm = model.bert.embeddings.LayerNorm
    assert torch.all(layer_norm.weight == 1) and torch.all(layer_norm.bias == 0)
