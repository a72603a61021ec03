"""Code written for pytorch-pretrained-BERT 0.6 runs with the import renamed to berthub.

tests/migration06/ holds miniature versions of 0.6.2's example scripts (run_classifier, run_squad,
run_swag, simple_lm_finetuning, extract_features), written from 0.6's documented API with `from
berthub...` imports. Each runs here on real data shipped in data/, loading "bert-base-uncased" by
name from a local hub that serves the real MiniLM weights under that name, and must finish with
outputs that check out. The other tests pin the 0.6 API points one at a time, against the
pytorch-pretrained-BERT 0.6.2 package itself where it can run offline.
"""

from __future__ import annotations

import csv
import json
import re
import runpy
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from conftest import DATA, named_models_env

import berthub
from berthub import hub
from berthub.modeling import BertForSequenceClassification, BertModel

SCRIPTS = Path(__file__).parent / "migration06"


@pytest.fixture(scope="module")
def named(minilm_named_hub, tmp_path_factory):
    """berthub pointed at the hub serving MiniLM as bert-base-uncased & co., with a fresh cache."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in named_models_env(minilm_named_hub, tmp_path_factory.mktemp("cache")).items():
            patch.setenv(key, value)
        yield minilm_named_hub


def run_script(name: str, *argv: str) -> None:
    """Run tests/migration06/<name>.py as `python <name>.py ARGV` would, in this process."""
    saved = sys.argv
    sys.argv = [name + ".py", *argv]
    try:
        runpy.run_path(str(SCRIPTS / f"{name}.py"), run_name="__main__")
    finally:
        sys.argv = saved


def _tsv_head(source: Path, target: Path, rows: int) -> None:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(lines[: rows + 1]), encoding="utf-8")


def _eval_results(path: Path) -> dict[str, float]:
    return {k: float(v) for k, v in (line.split(" = ") for line in path.read_text().splitlines())}


# -- the example scripts ------------------------------------------------------------------------


def test_run_classifier_trains_saves_the_06_way_reloads_and_evaluates_sst2(named, minilm_dir, tmp_path):
    data = tmp_path / "SST-2"
    _tsv_head(DATA / "glue" / "SST-2" / "train.tsv", data / "train.tsv", 16)
    _tsv_head(DATA / "glue" / "SST-2" / "dev.tsv", data / "dev.tsv", 8)
    out = tmp_path / "out"
    run_script("run_classifier", "--data_dir", str(data), "--bert_model", "bert-base-uncased",
               "--output_dir", str(out), "--do_lower_case", "--max_seq_length", "32", "--train_batch_size", "8",
               "--gradient_accumulation_steps", "2", "--num_train_epochs", "1")
    results = _eval_results(out / "eval_results.txt")
    assert results["global_step"] == 2  # 16 examples, 2 steps of 2 accumulated micro-batches of 4
    assert 0 <= results["eval_accuracy"] <= 1 and results["loss"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "eval_results.txt", "pytorch_model.bin",
                                                     "vocab.txt"]
    reloaded = BertForSequenceClassification.from_pretrained(out, num_labels=2)
    assert reloaded.load_report.missing == [] and reloaded.load_report.unexpected == []
    original = BertModel.from_pretrained(minilm_dir)
    trained = reloaded.bert.encoder.layer[0].attention.self.query.weight
    assert not torch.equal(trained, original.encoder.layer[0].attention.self.query.weight)


def test_extract_features_writes_the_hidden_states_transformers_computes(named, minilm_dir, tmp_path):
    from transformers import BertModel as ReferenceModel
    from transformers import BertTokenizer as ReferenceTokenizer

    sst = (DATA / "glue" / "SST-2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:3]
    qnli = (DATA / "glue" / "QNLI" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1].split("\t")
    texts = [(line.split("\t")[0], None) for line in sst] + [(qnli[1], qnli[2])]
    (tmp_path / "input.txt").write_text("".join(a + (f" ||| {b}" if b else "") + "\n" for a, b in texts))
    run_script("extract_features", "--input_file", str(tmp_path / "input.txt"), "--output_file",
               str(tmp_path / "out.jsonl"), "--bert_model", "bert-base-uncased", "--do_lower_case",
               "--layers=-1,-2", "--max_seq_length", "96")
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["linex_index"] for line in lines] == [0, 1, 2]
    reference = ReferenceModel.from_pretrained(minilm_dir).eval()
    tokenizer = ReferenceTokenizer(str(minilm_dir / "vocab.txt"), do_lower_case=True)
    for (text_a, text_b), line in zip(texts, lines, strict=True):
        encoded = tokenizer(text_a, text_b, truncation=True, max_length=96, return_tensors="pt")
        with torch.no_grad():
            hidden = reference(**encoded, output_hidden_states=True).hidden_states
        assert [f["token"] for f in line["features"]] == tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
        for layer in (-1, -2):
            ours = torch.tensor([[x for x in f["layers"][-layer - 1]["values"]] for f in line["features"]])
            torch.testing.assert_close(ours, hidden[layer][0], atol=2e-5, rtol=0)


def _squad_subset(path: Path, questions: int) -> list[str]:
    article = json.loads((DATA / "squad" / "dev-v1.1.json").read_text(encoding="utf-8"))["data"][0]
    paragraph = dict(article["paragraphs"][0], qas=article["paragraphs"][0]["qas"][:questions])
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": article["title"], "paragraphs": [paragraph]}]}))
    return [paragraph["context"], *(qa["id"] for qa in paragraph["qas"])]


def test_run_squad_windows_the_document_trains_and_predicts_spans_of_the_context(named, tmp_path):
    context, *ids = _squad_subset(tmp_path / "squad.json", questions=2)
    run_script("run_squad", "--bert_model", "bert-base-uncased", "--output_dir", str(tmp_path / "out"),
               "--train_file", str(tmp_path / "squad.json"), "--predict_file", str(tmp_path / "squad.json"),
               "--do_lower_case", "--max_seq_length", "64", "--doc_stride", "32", "--train_batch_size", "8",
               "--num_train_epochs", "1")
    result = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert result["global_step"] >= 1  # 2 questions over a 160-word paragraph: several 64-token windows each
    assert sorted(result["predictions"]) == sorted(ids)
    words = " ".join(context.split())
    assert all(answer and answer in words for answer in result["predictions"].values())


def _swag_csv(path: Path, sentences: list[str], seed: int) -> None:
    """SWAG's CSV layout, items made from shipped SST-2 sentences: the context is a sentence's first words,
    the right ending its own rest, the three wrong ones the rests of other sentences."""
    import random

    rng = random.Random(seed)
    header = ["", "video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source",
              "ending0", "ending1", "ending2", "ending3", "label"]
    rows = [header]
    for i, sentence in enumerate(sentences):
        words = sentence.split()
        others = [s.split()[6:] for j, s in enumerate(sentences) if j != i]
        endings = [" ".join(words[6:])] + [" ".join(e) for e in rng.sample(others, 3)]
        order = rng.sample(range(4), 4)
        rows.append([str(i), f"sst2-{i}", str(i), " ".join(words[:6]), " ".join(words[:4]), " ".join(words[4:6]),
                     "gold", *(endings[k] for k in order), str(order.index(0))])
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def test_run_swag_trains_multiple_choice_on_items_built_from_shipped_sentences(named, tmp_path):
    lines = (DATA / "glue" / "SST-2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    sentences = [line.split("\t")[0] for line in lines if 10 <= len(line.split("\t")[0].split()) <= 14][:8]
    _swag_csv(tmp_path / "train.csv", sentences[:4], seed=0)
    _swag_csv(tmp_path / "val.csv", sentences[4:], seed=1)
    run_script("run_swag", "--data_dir", str(tmp_path), "--bert_model", "bert-base-uncased", "--output_dir",
               str(tmp_path / "out"), "--do_lower_case", "--max_seq_length", "24", "--train_batch_size", "4",
               "--num_train_epochs", "1")
    results = _eval_results(tmp_path / "out" / "eval_results.txt")
    assert results["global_step"] == 1 and results["eval_examples"] == 4
    assert results["eval_accuracy"] in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_simple_lm_finetuning_trains_both_pretraining_losses_and_saves_a_loadable_model(named, tmp_path):
    article = json.loads((DATA / "squad" / "dev-v1.1.json").read_text(encoding="utf-8"))["data"][0]
    docs = [[s.strip() + "." for s in p["context"].split(". ") if s.strip()] for p in article["paragraphs"][:3]]
    (tmp_path / "corpus.txt").write_text("\n\n".join("\n".join(doc) for doc in docs) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    run_script("simple_lm_finetuning", "--train_corpus", str(tmp_path / "corpus.txt"), "--bert_model",
               "bert-base-uncased", "--output_dir", str(out), "--do_lower_case", "--max_seq_length", "48",
               "--train_batch_size", "8", "--num_train_epochs", "1")
    losses = [float(x) for x in (out / "losses.txt").read_text().split()]
    pairs = sum(len(doc) - 1 for doc in docs)
    assert len(losses) == -(-pairs // 8) and all(0 < loss < 100 for loss in losses)
    model = berthub.BertForPreTraining.from_pretrained(out)
    assert model.load_report.missing == [] and model.load_report.unexpected == []


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
    assert tokenization.BertTokenizer is berthub.BertTokenizer and optimization.BertAdam.__module__ == \
        "berthub.optimization"
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
def test_bertadam_without_clipping_or_schedule_is_berthubs_bertadam_update():
    from berthub.optimization import BertAdam
    from berthub.training.optim import BertAdam as TrainerBertAdam

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


def test_custom_model_with_init_bert_weights_loads_pretrained_weights_by_name(named, minilm_dir, tmp_path):
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


def test_state_dict_argument_replaces_the_files_weights(named, minilm_dir):
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


def test_pytorch_pretrained_bert_cache_is_honoured_with_one_warning(named, tmp_path, monkeypatch):
    from berthub import file_utils

    monkeypatch.delenv("BERTHUB_CACHE")
    monkeypatch.setenv("PYTORCH_PRETRAINED_BERT_CACHE", str(tmp_path / "legacy"))
    monkeypatch.setattr(hub, "_warned", set())
    with pytest.warns(FutureWarning, match="set BERTHUB_CACHE instead"):
        assert file_utils.PYTORCH_PRETRAINED_BERT_CACHE == tmp_path / "legacy"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BertModel.from_pretrained("bert-base-uncased")
    assert any((tmp_path / "legacy").rglob("model.safetensors"))
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "new"))  # the new name wins
    assert file_utils.PYTORCH_PRETRAINED_BERT_CACHE == tmp_path / "new"


def test_cached_path_downloads_urls_once_and_returns_local_files(named, minilm_dir, tmp_path):
    from berthub.file_utils import cached_path

    url = f"{named.endpoint}/google-bert/bert-base-uncased/resolve/main/vocab.txt"
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
    from berthub.registry import model_entry

    for name in NAMES_062:  # 0.6.2: lower-case unless "-cased" is in the name (Chinese and multilingual too)
        assert model_entry(name).do_lower_case is ("-cased" not in name), name


@pytest.mark.parametrize(("name", "asked", "corrected"), [("bert-base-uncased", False, True),
                                                          ("bert-base-chinese", False, True),
                                                          ("bert-base-cased", True, False)])
def test_do_lower_case_contradicting_a_named_model_is_corrected_with_a_warning(named, name, asked, corrected):
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
