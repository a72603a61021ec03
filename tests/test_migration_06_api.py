"""pytorch-pretrained-BERT 0.6's API point by point, against the 0.6.2 package itself where it runs offline.

Module paths, BertAdam and its schedules, BertConfig's first argument, custom models with
init_bert_weights, from_pretrained's 0.6 arguments, folders and archives saved the 0.6 way, the
cache variable, cached_path, the do_lower_case rule, and every public 0.6.2 name accounted for.
The example scripts that use all of it are in tests/test_migration_06.py.
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
from pathlib import Path

import pytest
import torch

import berthub
from berthub.modeling import BertModel
from berthub.sources import settings

# -- the 0.6 API, point by point ------------------------------------------------------------------

CLASSES_06 = ["BertModel", "BertForPreTraining", "BertForMaskedLM", "BertForNextSentencePrediction",
              "BertForSequenceClassification", "BertForMultipleChoice", "BertForTokenClassification",
              "BertForQuestionAnswering", "BertConfig", "BertPreTrainedModel", "PreTrainedBertModel"]


def test_modeling_module_path_gives_every_06_bert_class_and_file_name():
    import berthub.modeling as modeling
    from berthub import file_utils, optimization, tokenization

    for name in CLASSES_06:
        assert getattr(modeling, name) is getattr(berthub, name), name
    assert (modeling.WEIGHTS_NAME, modeling.CONFIG_NAME, modeling.BERT_CONFIG_NAME) == (
        "pytorch_model.bin", "config.json", "bert_config.json")
    assert (file_utils.WEIGHTS_NAME, file_utils.CONFIG_NAME) == (modeling.WEIGHTS_NAME, modeling.CONFIG_NAME)
    assert tokenization.BertTokenizer is berthub.BertTokenizer
    assert optimization.BertAdam.__module__ == "berthub.training.optim_06"  # 0.6's, with schedule and clipping
    assert modeling.BertLayerNorm(8).eps == 1e-12
    with pytest.raises(AttributeError):
        modeling.OpenAIGPTModel  # noqa: B018


def _train_both(schedule: str, warmup: float, t_total: int, steps: int, **options):
    """Same model, same gradients, 0.6.2's BertAdam and berthub's: the two parameter lists after `steps`."""
    from pytorch_pretrained_bert.optimization import BertAdam as Reference

    from berthub.optimization import BertAdam

    torch.manual_seed(0)
    start = [torch.randn(6, 4), torch.randn(4)]
    grads = [[torch.randn_like(p) * 3 for p in start] for _ in range(steps)]
    results = []
    for cls in (Reference, BertAdam):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        optimizer = cls([{"params": params[:1], "weight_decay": 0.01}, {"params": params[1:], "weight_decay": 0.0}],
                        lr=0.1, warmup=warmup, t_total=t_total, schedule=schedule, **options)
        for step_grads in grads:
            for param, grad in zip(params, step_grads, strict=True):
                param.grad = grad.clone()
            optimizer.step()
        results.append((params, optimizer.get_lr()))
    return results


@pytest.mark.filterwarnings("ignore:This overload of add_ is deprecated")  # inside 0.6.2's own code
@pytest.mark.parametrize("schedule", ["warmup_linear", "warmup_cosine", "warmup_constant", "none"])
@pytest.mark.parametrize(("warmup", "t_total"), [(0.2, 10), (-1, -1)])
def test_bertadam_updates_exactly_as_pytorch_pretrained_bert_062(schedule, warmup, t_total):
    (reference, reference_lr), (ours, our_lr) = _train_both(schedule, warmup, t_total, steps=12)
    for expected, actual in zip(reference, ours, strict=True):
        torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-6)
    assert our_lr == pytest.approx(reference_lr)


@pytest.mark.filterwarnings("ignore:This overload of add_ is deprecated")
def test_bertadam_without_clipping_or_schedule_is_the_trainers_adam_weight_decay():
    from berthub.optimization import BertAdam
    from berthub.training.optim import AdamWeightDecay as TrainerBertAdam

    torch.manual_seed(1)
    a, b = torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.randn(5))
    b.data.copy_(a.data)
    legacy = BertAdam([a], lr=0.01, schedule="none", max_grad_norm=-1, weight_decay=0.01)
    trainer = TrainerBertAdam([b], lr=0.01, eps=1e-6, weight_decay=0.01)
    for _ in range(3):
        grad = torch.randn(5) * 10
        a.grad, b.grad = grad.clone(), grad.clone()
        legacy.step(), trainer.step()
    assert torch.equal(a, b)


def test_schedule_objects_give_062s_multipliers_at_every_step():
    import pytorch_pretrained_bert.optimization as reference

    from berthub import optimization

    names = ["ConstantLR", "WarmupConstantSchedule", "WarmupLinearSchedule", "WarmupCosineSchedule",
             "WarmupCosineWithHardRestartsSchedule", "WarmupCosineWithWarmupRestartsSchedule"]
    for name in names:
        kwargs = {"cycles": 2.0} if "Restarts" in name else {}
        theirs = getattr(reference, name)(warmup=0.1, t_total=40, **kwargs)
        ours = getattr(optimization, name)(warmup=0.1, t_total=40, **kwargs)
        assert [ours.get_lr(s) for s in range(50)] == pytest.approx([theirs.get_lr(s) for s in range(50)]), name
    assert set(optimization.SCHEDULES) == set(reference.SCHEDULES)


def test_bertadam_lists_every_bad_argument_at_once():
    from berthub.optimization import BertAdam

    with pytest.raises(ValueError, match=r"lr must be >= 0.*schedule must be one of.*b2 must be in"):
        BertAdam([torch.nn.Parameter(torch.zeros(1))], lr=-1, schedule="warmup_exp", b2=1.5)


def test_bert_config_takes_06s_first_argument_as_a_size_or_a_config_file(tmp_path):
    from pytorch_pretrained_bert.modeling import BertConfig as ReferenceConfig

    from berthub.modeling import BertConfig

    google = {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1536,
              "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 6,
              "type_vocab_size": 2, "vocab_size": 30522}
    (tmp_path / "bert_config.json").write_text(json.dumps(google))
    for config in (BertConfig(str(tmp_path / "bert_config.json")),
                   BertConfig(vocab_size_or_config_json_file=tmp_path / "bert_config.json")):
        assert {k: v for k, v in config.to_dict().items() if k in google} == google
    reference = ReferenceConfig(str(tmp_path / "bert_config.json"))
    assert json.loads(BertConfig(str(tmp_path / "bert_config.json")).to_json_string()).items() >= \
        json.loads(reference.to_json_string()).items()
    assert BertConfig(vocab_size_or_config_json_file=32000, hidden_size=64, num_attention_heads=4).vocab_size == 32000
    assert BertConfig(21128).vocab_size == 21128
    with pytest.raises(berthub.errors.ConfigError, match="vocab_size_or_config_json_file"):
        BertConfig(vocab_size_or_config_json_file=[3])


class _Custom06Model(berthub.BertPreTrainedModel):
    """The 0.6 idiom for a model of one's own: BertModel as `bert`, a new layer, init_bert_weights."""

    def __init__(self, config, num_labels):
        super().__init__(config)
        self.bert = BertModel(config)
        self.dropout = torch.nn.Dropout(config.hidden_dropout_prob)
        self.classifier = torch.nn.Linear(config.hidden_size, num_labels)
        self.apply(self.init_bert_weights)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        _, pooled = self.bert(input_ids, token_type_ids, attention_mask, output_all_encoded_layers=False)
        return self.classifier(self.dropout(pooled))


def test_custom_model_with_init_bert_weights_loads_pretrained_weights_by_name(named_models, minilm_dir, tmp_path):
    model = _Custom06Model.from_pretrained("bert-base-uncased", cache_dir=tmp_path / "cache", num_labels=3)
    assert sorted(model.load_report.missing) == ["classifier.bias", "classifier.weight"]
    reference = BertModel.from_pretrained(minilm_dir)
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, reference.embeddings.word_embeddings.weight)
    weight = model.classifier.weight.detach()
    assert weight.shape == (3, 384) and 0.01 < float(weight.std()) < 0.03 and float(weight.abs().max()) <= 0.04
    assert torch.equal(model.classifier.bias, torch.zeros(3))
    assert any((tmp_path / "cache").rglob("model.safetensors")), "cache_dir is where the weights were fetched to"
    small = berthub.BertConfig(vocab_size_or_config_json_file=99, hidden_size=256, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=512)
    fresh = _Custom06Model(small, num_labels=3)  # built directly: init_bert_weights initialises every layer
    std = float(fresh.bert.encoder.layer[0].output.dense.weight.detach().std())
    assert std == pytest.approx(0.02 * 0.88, rel=0.05)  # Google's normal truncated at 2 sigma


def test_state_dict_argument_replaces_the_files_weights(named_models, minilm_dir):
    state = {k: v.clone() for k, v in BertModel.from_pretrained(minilm_dir).state_dict().items()}
    state["pooler.dense.bias"] = torch.full((384,), 0.5)
    model = BertModel.from_pretrained("bert-base-uncased", state_dict=state)
    assert torch.equal(model.pooler.dense.bias, torch.full((384,), 0.5))


def _write_06_folder(folder: Path, config_name: str) -> BertModel:
    """A small random BERT saved as 0.6's scripts did: torch.save(state_dict) + the config as JSON."""
    torch.manual_seed(0)
    model = BertModel(berthub.BertConfig(vocab_size_or_config_json_file=99, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=37))
    folder.mkdir()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    model.config.to_json_file(folder / config_name)
    return model


@pytest.mark.parametrize("config_name", ["config.json", "bert_config.json"])
def test_folder_saved_the_06_way_loads(tmp_path, config_name):
    saved = _write_06_folder(tmp_path / "model", config_name)
    loaded = BertModel.from_pretrained(tmp_path / "model")
    assert loaded.load_report.missing == [] and loaded.load_report.unexpected == []
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in saved.state_dict().items())


def test_local_tar_gz_archive_loads_once_extracted_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
    saved = _write_06_folder(tmp_path / "release", "bert_config.json")
    archive = tmp_path / "bert-base-uncased.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # 0.6's archives: the files at the top, no folder
        for name in ("bert_config.json", "pytorch_model.bin"):
            tar.add(tmp_path / "release" / name, arcname=name)
    before = archive.read_bytes()
    loaded = BertModel.from_pretrained(str(archive))
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in saved.state_dict().items())
    assert Path(loaded.load_report.directory).is_relative_to(tmp_path / "cache")
    again = BertModel.from_pretrained(archive)
    assert again.load_report.directory == loaded.load_report.directory and archive.read_bytes() == before


def test_a_file_that_is_not_an_archive_is_refused_by_name(tmp_path):
    (tmp_path / "weights.txt").write_text("not a model")
    with pytest.raises(berthub.errors.NotFoundError, match="weights.txt' is a file, not a model directory"):
        BertModel.from_pretrained(tmp_path / "weights.txt")


def test_pytorch_pretrained_bert_cache_is_honoured_with_one_warning(named_models, tmp_path, monkeypatch):
    from berthub import file_utils

    monkeypatch.delenv("BERTHUB_CACHE")
    monkeypatch.setenv("PYTORCH_PRETRAINED_BERT_CACHE", str(tmp_path / "legacy"))
    monkeypatch.setattr(settings, "_warned", set())
    with pytest.warns(FutureWarning, match="set BERTHUB_CACHE instead"):
        assert file_utils.PYTORCH_PRETRAINED_BERT_CACHE == tmp_path / "legacy"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BertModel.from_pretrained("bert-base-uncased")
    assert any((tmp_path / "legacy").rglob("model.safetensors"))
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "new"))  # the new name wins
    assert file_utils.PYTORCH_PRETRAINED_BERT_CACHE == tmp_path / "new"


def test_cached_path_downloads_urls_once_and_returns_local_files(named_models, minilm_dir, tmp_path):
    from berthub.file_utils import cached_path

    url = f"{named_models.endpoint}/google-bert/bert-base-uncased/resolve/main/vocab.txt"
    local = cached_path(url, cache_dir=tmp_path / "cache")
    assert Path(local).read_bytes() == (minilm_dir / "vocab.txt").read_bytes()
    assert Path(local).is_relative_to(tmp_path / "cache") and cached_path(url, cache_dir=tmp_path / "cache") == local
    assert cached_path(str(minilm_dir / "config.json")) == str(minilm_dir / "config.json")
    with pytest.raises(berthub.errors.NotFoundError, match="not found"):
        cached_path(str(tmp_path / "missing.txt"))
    with pytest.raises(berthub.errors.NotFoundError, match="only http"):
        cached_path("s3://bucket/bert_config.json")


NAMES_062 = ["bert-base-uncased", "bert-large-uncased", "bert-base-cased", "bert-large-cased",
             "bert-base-multilingual-uncased", "bert-base-multilingual-cased", "bert-base-chinese"]


def test_registry_casing_follows_062s_rule_for_its_names():
    from berthub.sources.registry import model_entry

    for name in NAMES_062:  # 0.6.2: lower-case unless "-cased" is in the name (Chinese and multilingual too)
        assert model_entry(name).do_lower_case is ("-cased" not in name), name


@pytest.mark.parametrize(("name", "asked", "corrected"), [("bert-base-uncased", False, True),
                                                          ("bert-base-chinese", False, True),
                                                          ("bert-base-cased", True, False)])
def test_do_lower_case_contradicting_a_named_model_is_corrected_with_a_warning(named_models, name, asked, corrected):
    with pytest.warns(UserWarning, match=f"sets do_lower_case={corrected} instead"):
        tokenizer = berthub.BertTokenizer.from_pretrained(name, do_lower_case=asked)
    assert tokenizer.do_lower_case is corrected


def test_do_lower_case_of_a_directory_is_what_the_user_asked(minilm_dir):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the uncased-vocabulary hint is another warning
        tokenizer = berthub.BertTokenizer.from_pretrained(minilm_dir, do_lower_case=False)
    assert tokenizer.do_lower_case is False


# -- every 0.6.2 name is accounted for ----------------------------------------------------------------

# Names of 0.6.2 that berthub does not provide under that name; README's migration section says what instead.
NOT_PROVIDED = re.compile(r"GPT|OpenAI|TransfoXL|gpt|transfo_xl|^(BertPredictionHeadTransform|BertLMPredictionHead|"
                          r"BertOnlyMLMHead|BertOnlyNSPHead|BertPreTrainingHeads|url_to_filename|filename_to_url|"
                          r"http_get|s3_\w+|split_s3_path|read_set_from_file|get_file_extension)$")


def _public_names_062() -> dict[str, list[str]]:
    """module ("" = the package) -> the public names 0.6.2 defines or re-exports there."""
    import importlib
    import types

    names = {}
    for module in ("", "modeling", "tokenization", "optimization", "file_utils"):
        theirs = importlib.import_module("pytorch_pretrained_bert" + (f".{module}" if module else ""))
        names[module] = [
            name for name in dir(theirs) if not name.startswith("_") and not isinstance(getattr(theirs, name),
                                                                                       types.ModuleType)
            and (getattr(getattr(theirs, name), "__module__", "") or "").startswith("pytorch_pretrained_bert")
            or name.isupper() and name != "ABC"  # optimization's Python 2 shim for abc.ABC
        ]
    return names


def test_every_062_name_exists_under_its_module_path_or_is_explained():
    import importlib

    for module, names in _public_names_062().items():
        ours = importlib.import_module("berthub" + (f".{module}" if module else ""))
        missing = [name for name in names if not NOT_PROVIDED.search(name) and not hasattr(ours, name)]
        assert not missing, f"berthub.{module} lacks 0.6.2's {missing}"


def test_readme_migration_section_names_every_062_name():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Coming from pytorch-pretrained-BERT 0.6", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([A-Za-z_][\w]*)", section))
    unnamed = sorted({name for names in _public_names_062().values() for name in names} - named)
    assert not unnamed, f"README's migration section does not say what became of {unnamed}"
    assert "missing" not in section.lower()


@pytest.mark.tf
def test_load_tf_weights_in_bert_reads_a_google_checkpoint_into_a_model(minilm_dir, tmp_path):
    pytest.importorskip("tensorflow")
    import subprocess

    from berthub.modeling import load_tf_weights_in_bert

    subprocess.run([sys.executable, "-m", "berthub", "convert", "to-tf", str(minilm_dir), "--output",
                    str(tmp_path / "tf" / "bert_model.ckpt")], check=True, capture_output=True)
    reference = BertModel.from_pretrained(minilm_dir)
    model = BertModel(reference.config)
    assert load_tf_weights_in_bert(model, tmp_path / "tf" / "bert_model.ckpt") is model
    assert model.load_report.missing == [] and model.load_report.unexpected == []
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.state_dict().items())
    with pytest.raises(berthub.errors.WeightsError, match="No TF checkpoint"):
        load_tf_weights_in_bert(model, tmp_path / "tf" / "model.ckpt")


def _small_062_config(tmp_path: Path) -> Path:
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                                "intermediate_size": 37, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                                "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64,
                                "type_vocab_size": 2, "initializer_range": 0.02}))
    return path


def test_a_model_saved_by_pytorch_pretrained_bert_062_loads_and_computes_the_same(tmp_path):
    import pytorch_pretrained_bert.modeling as reference

    torch.manual_seed(0)
    theirs = reference.BertForPreTraining(reference.BertConfig(str(_small_062_config(tmp_path)))).eval()
    saved = tmp_path / "saved"
    saved.mkdir()
    torch.save(theirs.state_dict(), saved / "pytorch_model.bin")  # 0.6.2's own way of saving
    theirs.config.to_json_file(str(saved / "config.json"))
    ours = berthub.BertForPreTraining.from_pretrained(saved)
    assert ours.load_report.missing == [] and ours.load_report.unexpected == []
    ids = torch.randint(0, 99, (2, 12))
    types, mask = torch.zeros_like(ids), torch.ones_like(ids)
    mask[1, 8:] = 0
    with torch.no_grad():
        for expected, actual in zip(theirs(ids, types, mask), ours(ids, types, mask), strict=True):
            torch.testing.assert_close(actual[mask.bool()] if actual.dim() == 3 else actual,
                                       expected[mask.bool()] if expected.dim() == 3 else expected,
                                       atol=1e-5, rtol=1e-5)


def test_a_folder_saved_the_06_way_by_berthub_loads_back_into_pytorch_pretrained_bert_062(tmp_path):
    import pytorch_pretrained_bert.modeling as reference

    torch.manual_seed(0)
    ours = berthub.BertForSequenceClassification(berthub.BertConfig(str(_small_062_config(tmp_path))),
                                                 num_labels=3).eval()
    saved = tmp_path / "saved"
    saved.mkdir()
    torch.save(ours.state_dict(), saved / "pytorch_model.bin")
    ours.config.to_json_file(saved / "config.json")
    theirs = reference.BertForSequenceClassification.from_pretrained(str(saved), num_labels=3).eval()
    ids = torch.randint(0, 99, (2, 10))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), theirs(ids), atol=1e-5, rtol=1e-5)


def test_positional_inputs_after_the_name_go_to_the_constructor_as_in_06(minilm_dir):
    classifier = berthub.BertForSequenceClassification.from_pretrained(minilm_dir, 3)
    assert classifier(torch.tensor([[101, 2023, 102]])).shape == (1, 3)
    custom = _Custom06Model.from_pretrained(minilm_dir, 4)
    assert custom.classifier.out_features == 4
