"""transformers' keyword arguments on BertModel, checked against transformers on the same MiniLM weights
with real SST-2 sentences padded per batch (real positions compared; 0.6's return shapes stay the default)."""

from __future__ import annotations

import copy

import pytest
import torch

from berthub import BertModel, BertTokenizer
from berthub.errors import InputError
from berthub.inference.onnx import sample_batches
from berthub.model.bert import ExtraOutputs


@pytest.fixture(scope="module")
def model(minilm_dir):
    return BertModel.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def reference(minilm_dir):
    from transformers import BertModel as Reference

    return Reference.from_pretrained(str(minilm_dir), attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def batch(minilm_dir, model):
    return sample_batches(BertTokenizer.from_pretrained(minilm_dir), model)[0]


def _theirs(reference, batch, **kwargs):
    ids, types, mask = batch
    with torch.no_grad():
        return reference(input_ids=ids, token_type_ids=types, attention_mask=mask, **kwargs)


def test_output_attentions_are_transformers_eager_probabilities(model, reference, batch):
    with torch.no_grad():
        layers, pooled, extras = model(*batch, output_attentions=True)
    theirs = _theirs(reference, batch, output_attentions=True).attentions
    assert isinstance(extras, ExtraOutputs) and extras.hidden_states is None and len(layers) == 6
    assert len(extras.attentions) == 6 and extras.attentions[0].shape == (8, 12, *batch[0].shape[1:2] * 2)
    real = batch[2].bool()
    for ours, reference_probs in zip(extras.attentions, theirs, strict=True):
        for row in range(real.shape[0]):  # rows of real query tokens: padded queries differ by design
            torch.testing.assert_close(ours[row][:, real[row]], reference_probs[row][:, real[row]], rtol=0, atol=1e-4)


def test_output_hidden_states_are_the_embeddings_then_every_layer(model, reference, batch):
    with torch.no_grad():
        last, pooled, extras = model(*batch, output_all_encoded_layers=False, output_hidden_states=True)
    theirs = _theirs(reference, batch, output_hidden_states=True).hidden_states
    real = batch[2].bool()
    assert len(extras.hidden_states) == 7 and extras.attentions is None
    assert torch.equal(extras.hidden_states[-1], last)
    for ours, reference_state in zip(extras.hidden_states, theirs, strict=True):
        torch.testing.assert_close(ours[real], reference_state[real], rtol=0, atol=1e-5)


def test_position_ids_and_inputs_embeds_match_transformers(model, reference, batch):
    ids, types, mask = batch
    positions = (torch.arange(ids.shape[1]) + 3).expand_as(ids)
    embeds = model.embeddings.word_embeddings(ids).detach()
    with torch.no_grad():
        ours = model(None, types, mask, False, position_ids=positions, inputs_embeds=embeds)[0]
    theirs = _theirs(reference, (None, types, mask), position_ids=positions, inputs_embeds=embeds)
    torch.testing.assert_close(ours[mask.bool()], theirs.last_hidden_state[mask.bool()], rtol=0, atol=1e-5)


def test_a_zero_in_head_mask_silences_that_heads_context(model, batch):
    layer, head, size = 2, 5, model.config.head_size
    head_mask = torch.ones(6, 12)
    head_mask[layer, head] = 0
    silenced = copy.deepcopy(model)
    with torch.no_grad():
        silenced.encoder.layer[layer].attention.output.dense.weight[:, head * size:(head + 1) * size] = 0
        masked = model(*batch, False, head_mask=head_mask)[0]
        expected = silenced(*batch, False)[0]
        unmasked = model(*batch, False, head_mask=torch.ones(12))[0]
        plain = model(*batch, False)[0]
    torch.testing.assert_close(masked, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(unmasked, plain, rtol=0, atol=1e-5)
    assert (masked - plain).abs().max() > 1e-3


def test_bad_keyword_inputs_are_named(model, batch):
    ids, types, mask = batch
    with pytest.raises(InputError, match="exactly one of input_ids"):
        model(ids, inputs_embeds=torch.zeros(*ids.shape, 384))
    with pytest.raises(InputError, match="head_mask has shape"):
        model(ids, head_mask=torch.ones(3, 12))
    with pytest.raises(InputError, match="inputs_embeds must be"):
        model(None, inputs_embeds=torch.zeros(2, 5, 7))


def test_gradient_checkpointing_gives_the_same_gradients_with_dropout(minilm_dir, batch):
    torch.manual_seed(0)
    grads = []
    for checkpointing in (False, True):
        model = BertModel.from_pretrained(minilm_dir, num_hidden_layers=2).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        torch.manual_seed(1)
        layers, pooled = model(*batch, False)
        (layers.square().mean() + pooled.sum()).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=0, atol=1e-6, msg=name)


def test_training_with_gradient_checkpointing_ends_with_the_same_weights(tmp_path):
    from trainer_support import SentenceTask, examples, tiny_model, tokenizer

    from berthub.training.trainer import Trainer, TrainingConfig

    weights = []
    for checkpointing in (False, True):
        task = SentenceTask()
        model = tiny_model(task, dropout=0.1)
        settings = TrainingConfig(output_dir=tmp_path / str(checkpointing), batch_size=8, max_steps=3,
                                  learning_rate=1e-3, gradient_checkpointing=checkpointing, progress=False)
        Trainer(model, task, tokenizer(), settings).train(examples("sentences", "train", 24))
        assert model.bert.encoder.gradient_checkpointing is checkpointing
        weights.append(model.state_dict())
    for name, tensor in weights[0].items():
        torch.testing.assert_close(weights[1][name], tensor, rtol=0, atol=1e-6, msg=name)
