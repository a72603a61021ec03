"""Graphs recorded from an unpadded example take attention_mask and reproduce eager results on padded batches.

Covers torch.jit.trace, the TorchScript and dynamo ONNX exporters, torch.export, and `berthub export onnx`,
on real SST-2 dev sentences padded per batch (as a server batches them).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from berthub import BertForTask, BertModel, BertTokenizer, cli
from berthub.inference.onnx import _Graph, check_onnx, export_onnx, sample_batches

HEADS = ["sequence-classification", "multiple-choice", "token-classification", "question-answering", "masked-lm",
         "next-sentence", "pretraining"]


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return BertTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def encoder(minilm_dir):
    """MiniLM's first two layers (real weights): what a graph does per layer, two layers show as well as six."""
    return BertModel.from_pretrained(minilm_dir, num_hidden_layers=2)


@pytest.fixture(scope="module")
def padded(tokenizer, encoder):
    """Real SST-2 dev sentences in batches of 8, each padded to its longest (35% of positions are padding)."""
    batches = sample_batches(tokenizer, encoder)
    assert all(int(b[2].sum()) < b[2].numel() for b in batches)
    return batches


def _unpadded(batches):
    return tuple(t[:2, :5].clone() for t in batches[0])


def _assert_real_tokens_match(got, batch, graph, atol=1e-4):
    """Every output at real positions (and pooled/per-sequence outputs) within atol of eager."""
    with torch.no_grad():
        expected = graph(*batch)
    mask = batch[2].bool()
    for have, want in zip(got, expected, strict=True):
        have = torch.as_tensor(have)
        if have.dim() >= 2 and have.shape[:2] == mask.shape:
            have, want = have[mask], want[mask]
        torch.testing.assert_close(have, want, rtol=0, atol=atol)


def test_jit_trace_from_an_unpadded_example_masks_padded_batches(encoder, padded):
    graph = _Graph(encoder).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(graph, _unpadded(padded))
    for batch in padded:
        _assert_real_tokens_match(traced(*batch), batch, graph)


def test_torchscript_onnx_export_takes_the_attention_mask(encoder, padded, tmp_path):
    import onnxruntime

    path = tmp_path / "encoder.onnx"
    axes = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "token_type_ids", "attention_mask")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Graph(encoder).eval(), _unpadded(padded), path, dynamo=False,
                          input_names=list(axes), output_names=["sequence_output", "pooled_output"],
                          dynamic_axes={**axes, "sequence_output": {0: "batch", 1: "sequence"}})
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(axes)
    for batch in padded:
        got = session.run(None, {name: t.numpy() for name, t in zip(axes, batch, strict=True)})
        _assert_real_tokens_match(got, batch, _Graph(encoder).eval())


def test_torch_export_with_dynamic_shapes_reproduces_eager_on_padded_batches(encoder, padded):
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence", max=512)}
    with torch.no_grad():
        program = torch.export.export(_Graph(encoder).eval(), _unpadded(padded), dynamic_shapes=(dims,) * 3)
    exported = program.module()
    for batch in padded[:3]:
        with torch.no_grad():
            _assert_real_tokens_match(exported(*batch), batch, _Graph(encoder).eval())


@pytest.mark.parametrize("head", HEADS)
def test_every_task_model_exports_to_onnx_and_passes_the_check(minilm_dir, tokenizer, head, tmp_path):
    torch.manual_seed(0)
    model = BertForTask.from_pretrained(minilm_dir, head=head, num_hidden_layers=1)
    batches = sample_batches(tokenizer, model, batch_size=4)[:3]
    path = export_onnx(model, tmp_path / f"{head}.onnx", _unpadded(batches) if head != "multiple-choice"
                       else tuple(t[:, :2, :5].clone() for t in batches[0]))
    check = check_onnx(path, model, batches)
    assert check.max_abs_diff <= 1e-4 and check.padded_fraction > 0.2


@pytest.mark.slow
def test_cli_exports_a_fine_tuned_model_and_reports_the_measured_difference(minilm_dir, tokenizer, padded,
                                                                             tmp_path, capsys):
    import onnxruntime

    torch.manual_seed(0)
    folder = tmp_path / "qa"
    model = BertForTask.from_pretrained(minilm_dir, head="question-answering", num_hidden_layers=2)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert cli.main(["export", "onnx", str(folder), "--output", str(tmp_path / "qa.onnx")]) == 0
    printed = capsys.readouterr().out
    assert "question-answering" in printed and "max difference from PyTorch" in printed and "tolerance 1e-04" in printed
    session = onnxruntime.InferenceSession(str(tmp_path / "qa.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["start_logits", "end_logits"]
    batch = padded[1]
    start, end = session.run(None, {n: t.numpy() for n, t in zip(("input_ids", "token_type_ids", "attention_mask"),
                                                                   batch, strict=True)})
    assert np.all(start[batch[2].numpy() == 0] == np.finfo(np.float32).min)
    _assert_real_tokens_match((start, end), batch, _Graph(model).eval())


def test_cli_names_a_missing_sentences_file(minilm_dir, tmp_path, capsys):
    code = cli.main(["export", "onnx", str(minilm_dir), "--output", str(tmp_path / "x.onnx"),
                     "--sentences", str(tmp_path / "none.txt")])
    error = capsys.readouterr().err
    assert code == 2 and "none.txt" in error and error.count("\n") == 1
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_cli_leaves_no_file_when_onnxruntime_disagrees_beyond_the_tolerance(minilm_dir, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "model.onnx").write_text("the previous export")
    code = cli.main(["export", "onnx", str(minilm_dir), "--output", str(folder / "model.onnx"), "--tolerance", "0"])
    error = capsys.readouterr().err
    assert code == 2 and "differs from PyTorch" in error and "tolerance 0e+00" in error
    assert [p.name for p in folder.iterdir()] == ["model.onnx"]  # no half-checked file left beside it
    assert (folder / "model.onnx").read_text() == "the previous export"
