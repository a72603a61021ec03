"""Google's TF2 BERTs (Model Garden checkpoints, TF Hub / Kaggle SavedModels) convert without TensorFlow
and compute what TensorFlow computes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from berthub_tf import convert, convert_directory
from berthub_tf.convert import REPORT_NAME
from berthub_tf.errors import ShapeMismatchError, UnknownVariablesError
from tf_support import MODEL_GARDEN, TF2_IDS, TF2_MASK, TF2_MLM_POSITIONS, TF2_TYPES

from berthub import BertForMaskedLM, BertForPreTraining, BertModel, BertTokenizer

pytestmark = pytest.mark.tf

REAL = TF2_MASK.astype(bool)
TOLERANCE = 1e-5


def _report(folder) -> dict:
    return json.loads((folder / REPORT_NAME).read_text())


def _encoder_outputs(folder) -> tuple[np.ndarray, np.ndarray]:
    model = BertModel.from_pretrained(folder) if _report(folder)["head"] is None else BertForMaskedLM.from_pretrained(
        folder).bert
    with torch.no_grad():
        sequence, pooled = model(*(torch.from_numpy(a).long() for a in (TF2_IDS, TF2_TYPES, TF2_MASK)),
                                 output_all_encoded_layers=False)
    return sequence.numpy(), pooled.numpy()


def _max_diff(ours: np.ndarray, theirs: np.ndarray) -> float:
    assert ours.shape == theirs.shape
    return float(np.abs(ours.astype(np.float64) - theirs).max())


@pytest.mark.parametrize("name", list(MODEL_GARDEN))
def test_each_format_is_told_from_the_files_and_converts_without_tensorflow(tf2_converted, name):
    report = _report(tf2_converted[name])
    assert (report["format"], report["architecture"]) == MODEL_GARDEN[name]
    assert report["reader"] == "pure"  # the subprocess could not import TensorFlow


@pytest.mark.parametrize("name", list(MODEL_GARDEN))
def test_sequence_and_pooled_outputs_match_tensorflows_at_real_tokens(tf2_converted, tensorflow_outputs, name):
    sequence, pooled = _encoder_outputs(tf2_converted[name])
    theirs = tensorflow_outputs[name]
    assert _max_diff(sequence[REAL], theirs["sequence_output"][REAL]) <= TOLERANCE
    assert _max_diff(pooled, theirs["pooled_output"]) <= TOLERANCE


def test_masked_lm_and_next_sentence_heads_match_tensorflows(tf2_converted, tensorflow_outputs):
    ids, types, mask = (torch.from_numpy(a).long() for a in (TF2_IDS, TF2_TYPES, TF2_MASK))
    positions = torch.from_numpy(TF2_MLM_POSITIONS).long()[..., None]
    with torch.no_grad():
        scores, nsp = BertForPreTraining.from_pretrained(tf2_converted["pretrainer"])(ids, types, mask)
        hub_scores = BertForMaskedLM.from_pretrained(tf2_converted["hub"])(ids, types, mask)
    for name, all_scores in (("pretrainer", scores), ("hub", hub_scores)):
        picked = torch.gather(all_scores, 1, positions.expand(-1, -1, all_scores.shape[-1])).numpy()
        assert _max_diff(picked, tensorflow_outputs[name]["mlm_logits"]) <= TOLERANCE * 10, name  # logits ~ 10x
    assert _max_diff(nsp.numpy(), tensorflow_outputs["pretrainer"]["nsp_logits"]) <= TOLERANCE


def test_the_wrong_gelu_would_fail_the_comparison(model_garden, tensorflow_outputs, tmp_path):
    out = convert(model_garden / "hub_erf", None, tmp_path / "tanh", hidden_act="gelu_new")
    sequence, _ = _encoder_outputs(out)
    assert _max_diff(sequence[REAL], tensorflow_outputs["hub_erf"]["sequence_output"][REAL]) > 10 * TOLERANCE


def test_the_activation_is_the_one_tensorflow_computes_and_the_report_says_why(tf2_converted):
    chosen = {name: _report(tf2_converted[name])["hidden_act"] for name in MODEL_GARDEN}
    assert {name: c["value"] for name, c in chosen.items()} == {
        "encoder": "gelu_new", "model": "gelu_new", "v2": "gelu_new", "pretrainer": "gelu_new", "hub": "gelu_new",
        "hub_erf": "gelu"}
    assert chosen["hub"]["reason"] == "the SavedModel's graph computes the tanh approximation of gelu (Pow ops)"
    assert chosen["hub_erf"]["reason"].startswith("the SavedModel's graph computes exact erf gelu (Erf")
    assert chosen["encoder"]["reason"].startswith('bert_config.json says "gelu", which Model Garden computes as')
    assert chosen["v2"]["reason"].startswith("a TF2 checkpoint holds no graph")
    for name in MODEL_GARDEN:
        assert json.loads((tf2_converted[name] / "config.json").read_text())["hidden_act"] == chosen[name]["value"]


def test_sizes_come_from_the_shapes_and_equal_the_released_config(model_garden, tf2_converted):
    given = json.loads((model_garden / "encoder" / "bert_config.json").read_text())
    for name in MODEL_GARDEN:
        config = json.loads((tf2_converted[name] / "config.json").read_text())
        assert {k: config[k] for k in given if k != "hidden_act" and "dropout" not in k and "initializer" not in k} == {
            k: v for k, v in given.items() if k != "hidden_act" and "dropout" not in k and "initializer" not in k}
        assert config["layer_norm_eps"] == 1e-12
    assert _report(tf2_converted["encoder"])["config"] == "bert_config.json"
    assert _report(tf2_converted["model"])["config"] == "read from the variables' shapes"


def test_a_config_that_disagrees_with_the_shapes_lists_the_model_garden_names(model_garden, tmp_path):
    config = {**json.loads((model_garden / "encoder" / "bert_config.json").read_text()), "num_attention_heads": 4,
              "num_hidden_layers": 3}
    (tmp_path / "bert_config.json").write_text(json.dumps(config))
    with pytest.raises(ShapeMismatchError) as error:
        convert(model_garden / "v2" / "ckpt-1", tmp_path / "bert_config.json", tmp_path / "out")
    message = str(error.value)
    query = "'transformer/layer_0/self_attention/query/kernel'"
    assert f"{query} has shape [16, 2, 8], the config implies [16, 4, 4]" in message
    assert "'transformer/layer_2/output_layer_norm/beta' is missing" in message
    assert not (tmp_path / "out").exists()


def test_every_entry_is_mapped_or_listed_and_optimizer_slots_are_skipped(model_garden, tf2_converted):
    import tensorflow as tf

    report = _report(tf2_converted["pretrainer"])
    saved = set(tf.train.load_checkpoint(str(model_garden / "pretrainer")).get_variable_to_shape_map())
    mapped = {m["source"] for m in report["mapping"]}
    skipped = {s["name"]: s["reason"] for s in report["skipped"]}
    assert mapped | set(skipped) == saved and not mapped & set(skipped)
    reasons = sorted(skipped.values())
    assert reasons.count("optimizer state") == 2 * len(mapped) + 5  # Adam m and v per weight; iter, lr, betas, decay
    assert reasons.count("checkpoint counter") == 1 and reasons.count("object graph") == 1
    optimizer = [n for n, r in skipped.items() if r == "optimizer state"]
    assert all(".OPTIMIZER_SLOT/" in n or n.startswith("optimizer/") for n in optimizer)
    by_name = {m["variable"]: m for m in report["mapping"]}
    assert by_name["transformer/layer_1/self_attention/query/kernel"]["reshaped"] == [16, 16]
    assert by_name["predictions/transform/logits/kernel"]["target"] == "cls.seq_relationship.weight"


def test_unknown_variables_are_an_error_unless_ignored(model_garden, tmp_path):
    import tensorflow as tf

    hub = tf.saved_model.load(str(model_garden / "hub"))
    extra = tf.Variable(np.zeros(3, np.float32), name="my_task/logits/bias")
    checkpoint = tf.train.Checkpoint(encoder=getattr(hub, "layer_with_weights-0"), head=extra)
    prefix = checkpoint.save(str(tmp_path / "c" / "ckpt"))
    with pytest.raises(UnknownVariablesError, match=r"'head/.ATTRIBUTES/VARIABLE_VALUE' \('my_task/logits/bias'\)"):
        convert(prefix, None, tmp_path / "out")
    out = convert(prefix, None, tmp_path / "out", ignore=["my_task/*"])
    assert _report(out)["ignored"] == [{"name": "head/.ATTRIBUTES/VARIABLE_VALUE", "pattern": "my_task/*"}]


def test_a_savedmodel_brings_its_vocabulary_and_casing(model_garden, tf2_converted):
    out = tf2_converted["hub"]
    assert (out / "vocab.txt").read_bytes() == (model_garden / "hub" / "assets" / "vocab.txt").read_bytes()
    assert json.loads((out / "tokenizer_config.json").read_text())["do_lower_case"] is True
    tokenizer = BertTokenizer.from_pretrained(out)
    assert tokenizer.tokenize("The BIG cat") == ["the", "big", "cat"]
    names = {f["name"] for f in _report(out)["source"]["files"]}
    assert {"saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001",
            "assets/vocab.txt"} <= names


def test_from_pretrained_from_tf_converts_savedmodels_and_tf2_folders(model_garden, tf2_converted):
    for name in ("hub_erf", "v2"):
        ours = BertModel.from_pretrained(model_garden / name, from_tf=True)
        with torch.no_grad():
            pooled = ours(*(torch.from_numpy(a).long() for a in (TF2_IDS, TF2_TYPES, TF2_MASK)))[1].numpy()
        assert np.array_equal(pooled, _encoder_outputs(tf2_converted[name])[1]), name


def test_converting_again_with_tensorflows_reader_gives_the_same_model_file(model_garden, tf2_converted, tmp_path):
    out = convert_directory(model_garden / "pretrainer", tmp_path / "tf", reader="tf")
    assert _report(out)["reader"] == "tensorflow"
    assert (out / "model.safetensors").read_bytes() == (tf2_converted["pretrainer"] / "model.safetensors").read_bytes()
