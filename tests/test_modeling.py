"""BertModel is Google's BERT: parity with transformers on the real all-MiniLM-L6-v2 weights."""

from __future__ import annotations

import math

import pytest
import torch

from berthub import BertConfig, BertModel
from berthub.errors import ConfigError, InputError
from berthub.model.bert import gelu


def _sst2_sentences(data_dir, count):
    lines = (data_dir / "glue" / "SST-2" / "dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    return [line.split("\t")[0] for line in lines if line][:count]


@pytest.fixture(scope="module")
def batch(minilm_dir, data_dir):
    """Real SST-2 dev sentences of varied lengths, padded to the longest, tokenized by the reference tokenizer."""
    from transformers import BertTokenizerFast

    sentences = _sst2_sentences(data_dir, 16)
    assert max(map(len, sentences)) > 3 * min(map(len, sentences))
    encoded = BertTokenizerFast(str(minilm_dir / "vocab.txt"))(sentences, padding=True, return_tensors="pt")
    return encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"]


@pytest.fixture(scope="module")
def reference(minilm_dir):
    from transformers import BertModel as ReferenceBert

    return ReferenceBert.from_pretrained(str(minilm_dir), attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def model(minilm_dir):
    return BertModel.from_pretrained(minilm_dir)


def test_every_layer_and_pooled_output_match_transformers_within_1e5(model, reference, batch):
    input_ids, token_type_ids, attention_mask = batch
    assert (attention_mask == 0).any(), "the batch must contain padding"
    with torch.no_grad():
        layers, pooled = model(input_ids, token_type_ids, attention_mask)
        expected = reference(input_ids, attention_mask, token_type_ids, output_hidden_states=True)
    assert len(layers) == model.config.num_hidden_layers == 6
    real = attention_mask.bool()
    for ours, theirs in zip(layers, expected.hidden_states[1:], strict=True):
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours[real], theirs[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(pooled, expected.pooler_output, atol=1e-5, rtol=0)


def test_output_all_encoded_layers_false_returns_the_last_layer_only(model, batch):
    input_ids, token_type_ids, attention_mask = batch
    with torch.no_grad():
        layers, pooled_all = model(input_ids, token_type_ids, attention_mask)
        last, pooled = model(input_ids, token_type_ids, attention_mask, output_all_encoded_layers=False)
    assert isinstance(last, torch.Tensor)
    torch.testing.assert_close(last, layers[-1], atol=0, rtol=0)
    torch.testing.assert_close(pooled, pooled_all, atol=0, rtol=0)


def test_padding_does_not_change_the_real_tokens(model, batch):
    input_ids, token_type_ids, attention_mask = batch
    length = int(attention_mask[3].sum())
    with torch.no_grad():
        padded, _ = model(input_ids[3:4], token_type_ids[3:4], attention_mask[3:4], output_all_encoded_layers=False)
        alone, _ = model(input_ids[3:4, :length], token_type_ids[3:4, :length], output_all_encoded_layers=False)
    torch.testing.assert_close(padded[0, :length], alone[0], atol=1e-5, rtol=0)
    assert padded[0, length:].abs().sum() == 0, "padded positions are not computed and come back as zeros"


def test_defaults_are_all_ones_mask_and_segment_zero(model, batch):
    input_ids = batch[0][:2, :8]
    with torch.no_grad():
        implicit = model(input_ids, output_all_encoded_layers=False)[0]
        explicit = model(input_ids, torch.zeros_like(input_ids), torch.ones_like(input_ids), False)[0]
    torch.testing.assert_close(implicit, explicit, atol=0, rtol=0)


def test_gelu_is_the_exact_erf_form_not_the_tanh_approximation():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    exact = x * 0.5 * (1 + torch.special.erf(x / math.sqrt(2)))
    torch.testing.assert_close(gelu(x), exact, atol=1e-15, rtol=0)
    assert (gelu(x) - torch.nn.functional.gelu(x, approximate="tanh")).abs().max() > 1e-4


def test_the_intermediate_layer_applies_exact_erf_gelu_in_inference_too(model):
    from berthub.model.bert import BertIntermediate

    layer = BertIntermediate(model.config).double()
    hidden = torch.randn(5, model.config.hidden_size, dtype=torch.float64)
    with torch.no_grad():  # the path that writes gelu over the projection in place
        projected = layer.dense(hidden)
        out = layer(hidden)
    exact = projected * 0.5 * (1 + torch.special.erf(projected / math.sqrt(2)))
    torch.testing.assert_close(out, exact, atol=1e-15, rtol=0)


def test_inference_gives_the_same_bits_as_a_forward_that_builds_a_graph(model, batch):
    """No-grad inference overwrites its own intermediate tensors; a grad-enabled forward does not."""
    kept = [t.clone() for t in batch]
    with torch.no_grad():
        layers, pooled = model(*batch)
    traced_layers, traced_pooled = model(*batch)
    assert all(torch.equal(a, b.detach()) for a, b in zip(layers, traced_layers, strict=True))
    assert torch.equal(pooled, traced_pooled.detach())
    assert all(torch.equal(a, b) for a, b in zip(batch, kept, strict=True))


def test_autocast_inference_keeps_the_residual_sum_in_float32(model, batch):
    """Under autocast the dense output is bf16 and the residual fp32: the sum must not be squeezed into bf16."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.no_grad():
            inferred = model(*batch, output_all_encoded_layers=False)[0]
        traced = model(*batch, output_all_encoded_layers=False)[0].detach()
    assert inferred.dtype == traced.dtype
    assert torch.equal(inferred, traced)


def test_bfloat16_weights_stay_close_to_float32(minilm_dir, model, batch):
    input_ids, token_type_ids, attention_mask = batch
    half = BertModel.from_pretrained(minilm_dir, dtype=torch.bfloat16)
    assert half.embeddings.word_embeddings.weight.dtype == torch.bfloat16
    with torch.no_grad():
        full = model(input_ids, token_type_ids, attention_mask, False)[0]
        low = half(input_ids, token_type_ids, attention_mask, False)[0].float()
    real = attention_mask.bool()
    cosine = torch.nn.functional.cosine_similarity(full[real], low[real], dim=-1)
    assert cosine.min() > 0.99 and cosine.mean() > 0.999


def test_input_ids_outside_the_vocabulary_are_named(model):
    with pytest.raises(InputError, match=r"input_ids contains 30522, outside the vocabulary"):
        model(torch.tensor([[101, 30522, 102]]))
    with pytest.raises(InputError, match=r"contains -1"):
        model(torch.tensor([[101, -1, 102]]))


def test_a_sequence_longer_than_max_position_embeddings_is_refused(model):
    with pytest.raises(InputError, match=r"Sequence length 513 exceeds max_position_embeddings=512"):
        model(torch.ones(1, 513, dtype=torch.long))


def test_mismatched_mask_shape_is_refused(model):
    with pytest.raises(InputError, match=r"attention_mask has shape \(1, 4\) but input_ids has shape \(1, 5\)"):
        model(torch.ones(1, 5, dtype=torch.long), attention_mask=torch.ones(1, 4, dtype=torch.long))


def test_float_input_ids_are_refused(model):
    with pytest.raises(InputError, match="integer token ids"):
        model(torch.ones(1, 5))


def test_config_errors_are_all_listed_at_once():
    with pytest.raises(ConfigError) as caught:
        BertConfig(hidden_size=100, num_attention_heads=12, hidden_act="swish", hidden_dropout_prob=1.5,
                   vocab_size="30522")
    message = str(caught.value)
    for fragment in ("vocab_size must be a positive integer", "hidden_act must be one of",
                     "hidden_dropout_prob must be a number in [0, 1)", "must be divisible by num_attention_heads"):
        assert fragment in message


def test_google_bert_config_json_is_read(tmp_path):
    google = {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
              "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 12,
              "type_vocab_size": 2, "vocab_size": 30522}
    path = tmp_path / "bert_config.json"
    path.write_text(__import__("json").dumps(google))
    config = BertConfig.from_json_file(path)
    assert (config.hidden_size, config.num_hidden_layers, config.layer_norm_eps) == (768, 12, 1e-12)
    config.to_json_file(tmp_path / "config.json")
    assert BertConfig.from_json_file(tmp_path / "config.json") == config


def test_a_missing_or_broken_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        BertConfig.from_json_file(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json is not valid JSON"):
        BertConfig.from_json_file(tmp_path / "bad.json")
