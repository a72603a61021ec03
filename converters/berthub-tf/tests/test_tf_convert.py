"""Converting real Google-format checkpoints: exact tensors, full accounting, the right model class."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from berthub_tf import convert, verify
from berthub_tf.convert import REPORT_NAME

from berthub import BertForPreTraining, BertForQuestionAnswering, BertForSequenceClassification, BertModel

pytestmark = pytest.mark.tf

INPUT_IDS = torch.tensor([[101, 7592, 1010, 2088, 999, 102, 0, 0], [101, 2023, 2003, 1037, 3231, 102, 2000, 102]])
TOKEN_TYPES = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]])


def _encoder_outputs(model: BertModel) -> tuple[list[torch.Tensor], torch.Tensor]:
    with torch.no_grad():
        return model(INPUT_IDS, TOKEN_TYPES, MASK)


@pytest.mark.parametrize("name", ["pretraining", "squad", "classifier"])
def test_every_written_tensor_is_identical_to_its_checkpoint_variable(converted, name):
    result = verify(converted[name], reader="tf")  # checked against TensorFlow's own reading
    assert result.ok, result.table()
    assert all(row.identical for row in result.rows)


def test_verify_catches_a_written_tensor_that_differs_from_the_checkpoint(converted, tmp_path):
    import shutil

    from safetensors.numpy import load_file, save_file

    copy = tmp_path / "tampered"
    shutil.copytree(converted["squad"], copy)
    tensors = load_file(str(copy / "model.safetensors"))
    tensors["bert.encoder.layer.3.attention.self.key.weight"][0, 0] += 1e-7
    save_file(tensors, str(copy / "model.safetensors"))
    result = verify(copy, reader="pure")
    assert not result.ok
    assert [r.target for r in result.rows if not r.identical] == ["bert.encoder.layer.3.attention.self.key.weight"]
    assert "DIFFERENT" in result.table()


@pytest.mark.parametrize("name", ["pretraining", "squad", "classifier"])
def test_no_variable_is_unaccounted_for_and_optimizer_state_is_listed_as_skipped(releases, converted, name):
    report = json.loads((converted[name] / REPORT_NAME).read_text())
    saved = set(releases.all()[name].variables)
    mapped = {m["source"] for m in report["mapping"]}
    skipped = {s["name"] for s in report["skipped"]}
    assert mapped | skipped == saved and not mapped & skipped
    assert skipped == {n for n in saved if n.endswith(("/adam_m", "/adam_v"))} | {"global_step"}


def test_converted_encoder_gives_exactly_the_original_pytorch_models_outputs(minilm_dir, converted):
    original = BertModel.from_pretrained(minilm_dir)
    for name in ("pretraining", "squad", "classifier"):
        layers, pooled = _encoder_outputs(BertModel.from_pretrained(converted[name]))
        expected_layers, expected_pooled = _encoder_outputs(original)
        assert len(layers) == 6
        for ours, theirs in zip(layers, expected_layers, strict=True):
            assert torch.equal(ours, theirs), name
        assert torch.equal(pooled, expected_pooled), name


def test_pretraining_checkpoint_loads_as_bert_for_pretraining_with_every_weight(releases, converted):
    config = json.loads((converted["pretraining"] / "config.json").read_text())
    assert config["architectures"] == ["BertForPreTraining"] and config["berthub_head"] == "pretraining"
    model = BertForPreTraining.from_pretrained(converted["pretraining"])
    assert model.load_report.missing == [] and model.load_report.unexpected == []
    variables = releases.pretraining.variables
    with torch.no_grad():
        scores, nsp = model(INPUT_IDS, TOKEN_TYPES, MASK)
        pooled = model.bert(INPUT_IDS, TOKEN_TYPES, MASK)[1]
    nsp_google = pooled.numpy() @ variables["cls/seq_relationship/output_weights"].T + variables[
        "cls/seq_relationship/output_bias"]
    np.testing.assert_allclose(nsp.numpy(), nsp_google, rtol=1e-5, atol=1e-6)
    assert scores.shape == (2, 8, 30522)


def test_squad_checkpoint_loads_as_question_answering_with_googles_logits(releases, converted):
    config = json.loads((converted["squad"] / "config.json").read_text())
    assert config["architectures"] == ["BertForQuestionAnswering"]
    model = BertForQuestionAnswering.from_pretrained(converted["squad"])
    assert model.load_report.missing == [] and model.load_report.unexpected == []
    with torch.no_grad():
        start, end = model(INPUT_IDS, TOKEN_TYPES, MASK)
        sequence = model.bert(INPUT_IDS, TOKEN_TYPES, MASK, output_all_encoded_layers=False)[0]
    variables = releases.squad.variables
    # run_squad.py: logits = final_hidden @ output_weights^T + output_bias, then unstack on the last axis.
    logits = sequence.numpy() @ variables["cls/squad/output_weights"].T + variables["cls/squad/output_bias"]
    # Real positions carry Google's logits; padded ones are excluded from the softmax (docs/training.md).
    real = MASK.numpy() == 1
    np.testing.assert_allclose(start.numpy()[real], logits[..., 0][real], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(end.numpy()[real], logits[..., 1][real], rtol=1e-5, atol=1e-5)
    assert (start.numpy()[~real] == np.finfo(np.float32).min).all()


def test_classifier_checkpoint_loads_with_num_labels_taken_from_the_checkpoint(releases, converted):
    config = json.loads((converted["classifier"] / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["berthub_head_options"] == {"num_labels": 3} and len(config["id2label"]) == 3
    model = BertForSequenceClassification.from_pretrained(converted["classifier"])
    assert model.load_report.missing == [] and model.load_report.unexpected == []
    with torch.no_grad():
        logits = model(INPUT_IDS, TOKEN_TYPES, MASK)
        pooled = model.bert(INPUT_IDS, TOKEN_TYPES, MASK)[1]
    variables = releases.classifier.variables
    expected = pooled.numpy() @ variables["output_weights"].T + variables["output_bias"]
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_report_records_the_sha256_of_every_source_file(releases, converted):
    report = json.loads((converted["squad"] / REPORT_NAME).read_text())
    files = {f["name"]: f["sha256"] for f in report["source"]["files"]}
    folder = releases.squad.folder
    assert set(files) == {"bert_model.ckpt.index", "bert_model.ckpt.data-00000-of-00001", "bert_config.json",
                          "vocab.txt"}
    for name, digest in files.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


def test_output_directory_holds_exactly_the_model_files(converted):
    names = sorted(p.name for p in converted["squad"].iterdir())
    assert names == ["config.json", REPORT_NAME, "model.safetensors", "vocab.txt"]
    assert not [p for p in converted["squad"].parent.iterdir() if p.name.startswith(".")]


def test_ignoring_the_heads_gives_a_bare_encoder_without_the_bert_prefix(minilm_dir, releases, tmp_path):
    release = releases.pretraining
    out = convert(release.prefix, release.config, tmp_path / "bare", ignore=["cls/*"])
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["architecture"] == "BertModel"
    assert {i["pattern"] for i in report["ignored"]} == {"cls/*"} and len(report["ignored"]) == 7
    assert all(not m["target"].startswith(("bert.", "cls.")) for m in report["mapping"])
    layers, pooled = _encoder_outputs(BertModel.from_pretrained(out))
    assert torch.equal(pooled, _encoder_outputs(BertModel.from_pretrained(minilm_dir))[1])


def test_sharded_checkpoint_converts_to_the_same_weights_as_the_single_shard_one(releases, converted, tmp_path):
    from safetensors.numpy import load_file

    release = releases.sharded
    out = convert(release.prefix, release.config, tmp_path / "from-shards", release.vocab, reader="pure")
    ours = load_file(str(out / "model.safetensors"))
    single = load_file(str(converted["pretraining"] / "model.safetensors"))
    assert ours.keys() == single.keys()
    assert all(ours[k].tobytes() == single[k].tobytes() for k in ours)


@pytest.mark.parametrize("name", ["pretraining", "squad"])
def test_tensorflow_reader_and_numpy_reader_write_byte_identical_model_files(releases, converted, tmp_path, name):
    release = releases.all()[name]
    assert json.loads((converted[name] / REPORT_NAME).read_text())["reader"] == "pure"  # auto: google-crc32c is here
    out = convert(release.prefix, release.config, tmp_path / "tf", release.vocab, reader="tf")
    assert (out / "model.safetensors").read_bytes() == (converted[name] / "model.safetensors").read_bytes()
    assert json.loads((out / REPORT_NAME).read_text())["reader"] == "tensorflow"


def test_from_pretrained_from_tf_converts_a_google_release_folder(minilm_dir, releases):
    model = BertModel.from_pretrained(releases.squad.folder, from_tf=True)
    assert torch.equal(_encoder_outputs(model)[1], _encoder_outputs(BertModel.from_pretrained(minilm_dir))[1])


def test_transformers_loads_the_converted_directory_with_every_weight(converted):
    import transformers

    ours = BertForQuestionAnswering.from_pretrained(converted["squad"])
    theirs, info = transformers.BertForQuestionAnswering.from_pretrained(converted["squad"], output_loading_info=True)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    with torch.no_grad():
        start, _ = ours(INPUT_IDS, TOKEN_TYPES, MASK)
        theirs_start = theirs.eval()(input_ids=INPUT_IDS, token_type_ids=TOKEN_TYPES, attention_mask=MASK).start_logits
    masked = MASK.bool()
    torch.testing.assert_close(start[masked], theirs_start[masked], rtol=1e-4, atol=1e-4)



def test_state_of_other_optimizers_and_loss_scaling_is_skipped_and_listed(releases, converted, minilm_dir, tmp_path):
    from tf_support import write_release

    base = releases.pretraining.variables
    kernel = "bert/encoder/layer_0/attention/self/query/kernel"
    shape = base[kernel].shape
    state = {f"{kernel}/{slot}": np.full(shape, 0.5, np.float32)
             for slot in ("Adam", "Adam_1", "Momentum", "lamb_m", "lamb_v", "ExponentialMovingAverage")}
    state.update({"beta1_power": np.float32(0.9), "beta2_power": np.float32(0.999),
                  "current_loss_scale": np.float32(32768.0), "good_steps": np.int64(7)})
    release = write_release(tmp_path / "release", {**base, **state}, minilm_dir)
    convert(release.prefix, release.config, tmp_path / "out")
    report = json.loads((tmp_path / "out" / REPORT_NAME).read_text())
    assert {s["name"] for s in report["skipped"]} == set(state) | {"global_step"}
    # The weights are those of the same checkpoint without any optimizer state.
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (
        converted["pretraining"] / "model.safetensors").read_bytes()
