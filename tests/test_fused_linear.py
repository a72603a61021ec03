"""bf16 inference on CPU runs each dense layer and its gelu / residual add as one oneDNN call: the same
function as torch's ops, rounded once instead of at every step, and only where it is the same function."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from berthub import BertModel
from berthub.model import fused_linear
from berthub.model.bert import BertIntermediate, BertOutput, gelu, gelu_tanh

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch build has no oneDNN")
FUSED = "mkldnn::_linear_pointwise"


@pytest.fixture(autouse=True)
def native_bf16(monkeypatch):
    """Take the fused route whatever this CPU's bf16 instructions: oneDNN computes the same function without them."""
    monkeypatch.setattr(fused_linear, "onednn_bf16", lambda: True)


@pytest.fixture(scope="module")
def models(minilm_dir):
    return BertModel.from_pretrained(minilm_dir), BertModel.from_pretrained(minilm_dir, dtype=torch.bfloat16)


@pytest.fixture(scope="module")
def batch(minilm_dir, data_dir):
    from berthub import BertTokenizer

    lines = (data_dir / "glue" / "SST-2" / "dev.tsv").read_text(encoding="utf-8").split("\n")[1:33]
    encoded = BertTokenizer(str(minilm_dir / "vocab.txt"))([line.split("\t")[0] for line in lines],
                                                            padding=True, return_tensors="pt")
    assert (encoded["attention_mask"] == 0).float().mean() > 0.3, "the batch must carry padding"
    return encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"]


def _fused_calls(fn) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(event.count for event in prof.key_averages() if event.key == FUSED)


def _real_hidden(model, batch, layer: int) -> torch.Tensor:
    """The packed [N, H] input of `layer` on real sentences (what the dense layers see)."""
    with torch.inference_mode():
        layers = model(*batch)[0]
    return layers[layer - 1][batch[2].bool()].contiguous()


@pytest.mark.parametrize("activation", [gelu, gelu_tanh, torch.nn.functional.relu])
def test_fused_dense_and_activation_round_once_and_land_closer_to_exact(models, batch, activation):
    full, half = models
    layer = half.encoder.layer[2].intermediate
    layer.act, kept = activation, layer.act
    try:
        hidden = _real_hidden(half, batch, 2)
        exact = activation(torch.nn.functional.linear(hidden.double(), layer.dense.weight.double(),
                                                      layer.dense.bias.double()))
        with torch.inference_mode():
            fused = layer(hidden)
        unfused = activation(layer.dense(hidden))  # torch's ops: bf16 matmul output, then the activation
    finally:
        layer.act = kept
    assert fused.dtype == torch.bfloat16 and fused.shape == exact.shape
    fused_error, unfused_error = (fused.double() - exact).abs(), (unfused.double() - exact).abs()
    # One rounding to bf16 (8 significant bits) of an fp32 result: within one unit in the last place.
    assert (fused_error <= exact.abs() * 2**-8 + 1e-3).all()
    if activation is torch.nn.functional.relu:  # rounding commutes with relu: the same bits either way
        assert torch.equal(fused, unfused)
    else:
        assert fused_error.mean() < unfused_error.mean()


@pytest.mark.parametrize(("name", "activation"), [("gelu", gelu), ("gelu_tanh", gelu_tanh),
                                                  ("relu", torch.nn.functional.relu)])
def test_each_post_op_is_the_activation_of_that_name(models, batch, name, activation):
    """In fp32, where erf-gelu and its tanh approximation differ by far more than oneDNN's own error."""
    layer = models[0].encoder.layer[2].intermediate.dense
    hidden = _real_hidden(models[0], batch, 2)
    with torch.inference_mode():
        expected = activation(layer(hidden))
        other = gelu_tanh(layer(hidden)) if activation is gelu else gelu(layer(hidden))
        fused = fused_linear.linear(hidden, layer, name)
    assert (fused - expected).abs().max() < 2e-5
    assert (fused - other).abs().max() > 1e-4


def test_fused_residual_add_leaves_the_residual_alone(models, batch):
    full, half = models
    block: BertOutput = half.encoder.layer[3].output
    residual = _real_hidden(half, batch, 3)
    intermediate = BertIntermediate.forward(half.encoder.layer[3].intermediate, residual)
    kept = residual.clone()
    dense = block.dense
    exact = torch.nn.functional.linear(intermediate.double(), dense.weight.double(), dense.bias.double())
    exact = torch.nn.functional.layer_norm((exact + residual.double()).float(), (residual.shape[-1],),
                                           block.LayerNorm.weight.float(), block.LayerNorm.bias.float(),
                                           block.LayerNorm.eps)
    with torch.inference_mode():
        assert _fused_calls(lambda: block(intermediate, residual)) == 1
        fused = block(intermediate, residual)
    unfused = block(intermediate, residual)  # grad enabled: torch's ops
    assert torch.equal(residual, kept)
    assert (fused.float() - exact).abs().mean() < (unfused.float() - exact).abs().mean()


def test_a_bf16_model_stays_close_to_fp32_and_closer_than_torchs_ops(models, batch, monkeypatch):
    full, half = models
    real = batch[2].bool()
    with torch.inference_mode():
        reference = full(*batch, output_all_encoded_layers=False)[0][real]
        fused = half(*batch, output_all_encoded_layers=False)[0][real].float()
        monkeypatch.setattr(fused_linear, "onednn_bf16", lambda: False)
        unfused = half(*batch, output_all_encoded_layers=False)[0][real].float()
    cosine = torch.nn.functional.cosine_similarity(reference, fused, dim=-1)
    assert cosine.min() > 0.999, cosine.min()
    assert (fused - reference).abs().mean() < (unfused - reference).abs().mean()


def test_only_eager_bf16_inference_takes_the_fused_route(models, batch):
    full, half = models
    layers = half.config.num_hidden_layers

    def forward(model):
        return lambda: model(*batch, output_all_encoded_layers=False)

    with torch.inference_mode():
        assert _fused_calls(forward(half)) == 4 * layers  # qkv, intermediate + gelu, two dense + residual
        assert _fused_calls(forward(full)) == 0  # fp32 stays op for op with Google's BERT
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert _fused_calls(forward(full)) == 0
        assert _fused_calls(forward(half)) == 0
    assert _fused_calls(forward(half)) == 0  # autograd builds a graph: torch's ops, which have gradients
    half.train()
    try:
        with torch.no_grad():  # dropout sits between the dense layer and the residual: only two of four fuse
            assert _fused_calls(forward(half)) == 2 * layers
    finally:
        half.eval()


def test_a_traced_bf16_model_keeps_torchs_ops_and_eagers_answers_to_bf16_rounding(models, batch):
    """Graphs stay portable (no oneDNN op in them); they then round after each op instead of once."""
    half = models[1]
    with torch.no_grad():
        traced = torch.jit.trace(half, batch, strict=False, check_trace=False)
        assert FUSED not in str(traced.inlined_graph)
        eager, graph = half(*batch), traced(*batch)
    real = batch[2].bool()
    for ours, theirs in zip(eager[0], graph[0], strict=True):
        difference = (ours[real].float() - theirs[real].float()).abs()
        assert difference.max() <= 2**-5 * ours[real].float().abs().max(), difference.max()
        assert torch.nn.functional.cosine_similarity(ours[real].float(), theirs[real].float(), dim=-1).min() > 0.999
    assert (eager[1].float() - graph[1].float()).abs().max() <= 2**-6


def test_without_native_bf16_torchs_ops_run(models, batch, monkeypatch):
    monkeypatch.setattr(fused_linear, "onednn_bf16", lambda: False)
    with torch.inference_mode():
        assert _fused_calls(lambda: models[1](*batch)) == 0


def test_a_forward_hook_on_a_dense_layer_still_sees_its_output(models, batch):
    half = models[1]
    dense = half.encoder.layer[1].intermediate.dense
    seen = []
    handle = dense.register_forward_hook(lambda module, args, output: seen.append(output))
    try:
        with torch.inference_mode():
            fused = _fused_calls(lambda: half(*batch))
    finally:
        handle.remove()
    assert len(seen) == 1 and seen[0].shape[-1] == half.config.intermediate_size
    assert fused == 4 * half.config.num_hidden_layers - 1
