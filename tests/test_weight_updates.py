"""Every way a parameter can change reaches the next no-grad forward: nothing derived from weights is kept.

Each test updates a small BERT (MiniLM's config and vocabulary, 2 narrow layers, so optimizer steps take
milliseconds) in place after a no-grad forward on real SST-2 sentences (the moment a derived-weight cache
would be filled), then compares a second no-grad forward with a fresh model built from the same state_dict.
"""

from __future__ import annotations

import pytest
import torch

from berthub import BertConfig, BertModel

HIDDEN = 64


@pytest.fixture
def model(minilm_dir):
    config = BertConfig.from_json_file(minilm_dir / "config.json").replace(
        hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    torch.manual_seed(0)
    return BertModel(config).eval()


@pytest.fixture(scope="module")
def batch(minilm_dir, data_dir):
    """Four real SST-2 dev sentences, padded to the longest (so the padded path is exercised too)."""
    from berthub import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(minilm_dir)
    lines = (data_dir / "glue/SST-2/dev.tsv").read_text(encoding="utf-8").splitlines()[1:5]
    rows = [tokenizer.convert_tokens_to_ids(["[CLS]", *tokenizer.tokenize(line.split("\t")[0]), "[SEP]"])
            for line in lines]
    length = max(map(len, rows))
    ids = torch.tensor([r + [0] * (length - len(r)) for r in rows])
    return ids, torch.zeros_like(ids), (ids != 0).long()


def _no_grad_forward(model, batch):
    with torch.no_grad():
        return model(*batch, output_all_encoded_layers=False)[0]


def _assert_matches_fresh_copy(model, batch):
    fresh = BertModel(model.config).to(next(model.parameters()).dtype).eval()
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(_no_grad_forward(model, batch), _no_grad_forward(fresh, batch), rtol=0, atol=0)


def _train_steps(model, batch, optimizer, steps=3):
    model.train()
    for _ in range(steps):
        layers, pooled = model(*batch, output_all_encoded_layers=False)
        (layers.square().mean() + pooled.sum()).backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.AdamW(p, lr=1e-3, fused=True),
    lambda p: torch.optim.AdamW(p, lr=1e-3, foreach=True),
    lambda p: torch.optim.SGD(p, lr=1e-1),
], ids=["fused-adamw", "foreach-adamw", "sgd"])
def test_an_optimizer_step_after_a_no_grad_forward_reaches_the_next_forward(model, batch, make_optimizer):
    before = _no_grad_forward(model, batch)
    _train_steps(model, batch, make_optimizer(model.parameters()))
    after = _no_grad_forward(model, batch)
    assert (after - before).abs().max() > 1e-3  # the steps did change the model
    _assert_matches_fresh_copy(model, batch)


def _copy_into_query(model):
    with torch.no_grad():
        model.encoder.layer[0].attention.self.query.weight.copy_(torch.randn(HIDDEN, HIDDEN))


def _load_other_weights(model):
    other = BertModel(model.config.replace(initializer_range=0.05))
    model.load_state_dict(other.state_dict())


def _assign_data(model):
    for param in model.encoder.parameters():
        param.data = param.data * 1.5


@pytest.mark.parametrize("update", [_copy_into_query, _load_other_weights, _assign_data],
                         ids=["copy_", "load_state_dict", "data-assignment"])
def test_an_in_place_change_after_a_no_grad_forward_reaches_the_next_forward(model, batch, update):
    before = _no_grad_forward(model, batch)
    update(model)
    assert (_no_grad_forward(model, batch) - before).abs().max() > 1e-3
    _assert_matches_fresh_copy(model, batch)


def test_a_dtype_change_after_a_no_grad_forward_reaches_the_next_forward(model, batch):
    _no_grad_forward(model, batch)
    model.to(torch.bfloat16)
    assert _no_grad_forward(model, batch).dtype == torch.bfloat16
    _assert_matches_fresh_copy(model, batch)


def test_saved_files_keep_googles_query_key_value_names(model):
    names = [k for k in model.state_dict() if ".layer.0.attention.self." in k]
    assert names == [f"encoder.layer.0.attention.self.{p}.{kind}"
                     for p in ("query", "key", "value") for kind in ("weight", "bias")]
    fused = model.encoder.layer[0].attention.self.qkv.weight
    assert torch.equal(model.state_dict()["encoder.layer.0.attention.self.key.weight"], fused[HIDDEN:2 * HIDDEN])


def test_query_key_value_views_compute_the_separate_projections(model):
    attention = model.encoder.layer[0].attention.self
    hidden = torch.randn(2, 5, HIDDEN)
    joined = attention.qkv(hidden)
    parts = torch.cat([attention.query(hidden), attention.key(hidden), attention.value(hidden)], dim=-1)
    torch.testing.assert_close(parts, joined)


def test_a_partial_query_key_value_set_is_refused_by_strict_loading(model):
    state = model.state_dict()
    del state["encoder.layer.1.attention.self.key.weight"]
    with pytest.raises(RuntimeError, match="attention.self.qkv.weight"):
        model.load_state_dict(state)


def _allocated_bytes(fn) -> int:
    """Bytes that torch allocated on the CPU while `fn()` ran (torch.profiler's memory accounting)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return sum(max(event.self_cpu_memory_usage, 0) for event in prof.key_averages())


def test_loading_writes_query_key_value_into_qkv_without_a_joined_copy(model):
    other = BertModel(model.config.replace(initializer_range=0.05))
    state = other.state_dict()
    fused = model.encoder.layer[1].attention.self.qkv.weight
    storage = fused.data_ptr()
    allocated = _allocated_bytes(lambda: model.load_state_dict(state))
    assert allocated < fused.numel() * fused.element_size()  # a torch.cat of q/k/v would allocate all of it
    assert model.encoder.layer[1].attention.self.qkv.weight.data_ptr() == storage
    for name, tensor in other.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_loading_a_models_own_state_dict_keeps_its_weights(model, batch):
    before = _no_grad_forward(model, batch)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(model.state_dict())  # query/key/value are views into the qkv they load into
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    assert torch.equal(_no_grad_forward(model, batch), before)


def test_loading_casts_to_the_models_dtype_and_assign_keeps_the_files(model):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    low = BertModel(model.config).to(torch.bfloat16)
    low.load_state_dict(state)
    qkv = low.encoder.layer[0].attention.self.qkv
    assert qkv.weight.dtype == torch.bfloat16
    assert torch.equal(qkv.weight[:HIDDEN], state["encoder.layer.0.attention.self.query.weight"].to(torch.bfloat16))
    low.load_state_dict(state, assign=True)
    qkv = low.encoder.layer[0].attention.self.qkv
    assert qkv.weight.dtype == torch.float32 and isinstance(qkv.weight, torch.nn.Parameter)
    assert torch.equal(qkv.bias[2 * HIDDEN:], state["encoder.layer.0.attention.self.value.bias"])


def test_a_query_key_value_of_the_wrong_shape_is_reported_and_leaves_qkv_alone(model):
    state = model.state_dict()
    state["encoder.layer.0.attention.self.query.weight"] = torch.zeros(HIDDEN, HIDDEN // 2)
    before = model.encoder.layer[0].attention.self.qkv.weight.clone()
    with pytest.raises(RuntimeError, match=r"size mismatch for encoder\.layer\.0\.attention\.self\.query\.weight"):
        model.load_state_dict(state)
    assert torch.equal(model.encoder.layer[0].attention.self.qkv.weight, before)


def test_non_strict_loading_names_googles_keys_for_a_partial_set(model):
    state = model.state_dict()
    del state["encoder.layer.1.attention.self.value.bias"]
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["encoder.layer.1.attention.self.qkv.bias"]
    assert sorted(result.unexpected_keys) == ["encoder.layer.1.attention.self.key.bias",
                                              "encoder.layer.1.attention.self.query.bias"]
