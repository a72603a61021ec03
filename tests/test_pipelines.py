"""`berthub.pipeline` gives transformers' pipeline answers on the same saved folders (a MiniLM fine-tuned
on real SST-2 by berthub's trainer; MiniLM with token-classification, QA and masked-LM heads), and reads
the task and labels from the folder alone."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import berthub
from berthub.errors import InputError, PluginError
from berthub.tokenization import BertTokenizer

transformers = pytest.importorskip("transformers")

WNUT_LABELS = ["O", "B-corporation", "I-corporation", "B-creative-work", "I-creative-work", "B-group", "I-group",
               "B-location", "I-location", "B-person", "I-person", "B-product", "I-product"]


def _sst2(data_dir: Path, split: str, n: int) -> list[str]:
    lines = (data_dir / f"glue/SST-2/{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines[:n]]


@pytest.fixture(scope="module")
def sst2_model(tmp_path_factory, minilm_dir, data_dir) -> Path:
    """MiniLM fine-tuned for a few steps on real SST-2 sentences by berthub's trainer (its last/ folder)."""
    from berthub.tasks import get_task
    from berthub.training.trainer import Trainer, TrainingConfig, set_seed

    task = get_task("sst-2")
    set_seed(0)
    model = berthub.BertForTask.from_pretrained(minilm_dir, head=task.head, **task.head_options())
    out = tmp_path_factory.mktemp("sst2")
    config = TrainingConfig(output_dir=out, max_steps=10, batch_size=16, learning_rate=3e-4, warmup=0.0,
                            progress=False, device="cpu")
    Trainer(model, task, BertTokenizer.from_pretrained(minilm_dir), config).train(
        task.read(data_dir / "glue/SST-2", "train")[:160])
    return out / "last"


def _with_head(cls, minilm_dir: Path, folder: Path, labels: list[str] | None = None, **options) -> Path:
    """MiniLM with a freshly initialised head, saved (with its tokenizer) so both libraries load the same weights."""
    torch.manual_seed(0)
    model = cls.from_pretrained(minilm_dir, **options)
    if labels:
        extra = {**model.config.extra, "id2label": dict(enumerate(labels)),
                 "label2id": {name: i for i, name in enumerate(labels)}}
        model.config = model.config.replace(extra=extra)
    model.save_pretrained(folder)
    BertTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    return folder


def _reference(task: str, folder: Path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.pipeline(task, model=str(folder), device="cpu", **options)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


def test_classification_matches_transformers_pipeline_on_a_fine_tuned_folder(sst2_model, data_dir):
    texts = _sst2(data_dir, "dev", 64)
    pipe = berthub.pipeline(sst2_model, batch_size=8)
    assert pipe.task == "text-classification"
    got, want = pipe(texts), _reference("text-classification", sst2_model)(texts)
    assert [g["label"] for g in got] == [w["label"] for w in want]
    assert all(_close(g["score"], w["score"]) for g, w in zip(got, want, strict=True))
    assert len({g["label"] for g in got}) == 2  # the fine-tuned head separates the sentences


def test_answers_do_not_depend_on_the_padding_a_batch_carries(sst2_model, data_dir):
    pipe = berthub.pipeline(sst2_model, batch_size=64)
    short, long = "a gem .", " ".join(_sst2(data_dir, "dev", 12))
    alone = pipe(short)
    padded = pipe.predict([short, long])[0]  # one batch: `short` padded to the long text's length
    assert alone["label"] == padded["label"] and abs(alone["score"] - padded["score"]) < 1e-5


def test_regression_answers_the_raw_value_as_transformers_does_without_its_placeholder_label(tmp_path, minilm_dir):
    folder = _with_head(berthub.BertForSequenceClassification, minilm_dir, tmp_path, num_labels=1)
    pairs = [{"text": "A man plays a guitar.", "text_pair": "Someone plays music."},
             {"text": "A dog runs.", "text_pair": "The market fell."}]
    got, want = berthub.pipeline(folder)(pairs), _reference("text-classification", folder)(pairs)
    assert [w["label"] for w in want] == ["LABEL_0", "LABEL_0"] and all(set(g) == {"score"} for g in got)
    assert all(_close(g["score"], w["score"]) for g, w in zip(got, want, strict=True))


def test_a_transformers_folder_names_its_labels(tmp_path, minilm_dir, data_dir):
    labels = ["negative", "neutral", "positive"]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.BertForSequenceClassification.from_pretrained(
            minilm_dir, num_labels=3, id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    model.save_pretrained(tmp_path)
    BertTokenizer.from_pretrained(minilm_dir).save_pretrained(tmp_path)
    texts = _sst2(data_dir, "dev", 16)
    got, want = berthub.pipeline(tmp_path)(texts), _reference("text-classification", tmp_path)(texts)
    assert [g["label"] for g in got] == [w["label"] for w in want]
    assert all(_close(g["score"], w["score"]) for g, w in zip(got, want, strict=True))


def test_entities_match_transformers_simple_aggregation(tmp_path, minilm_dir, data_dir):
    folder = _with_head(berthub.BertForTokenClassification, minilm_dir, tmp_path, WNUT_LABELS,
                        num_labels=len(WNUT_LABELS))
    sentences, words = [], []
    for line in (data_dir / "wnut17/emerging.dev.conll").read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.append(line.split("\t")[0])
        elif words:
            sentences.append(" ".join(words))
            words = []
    texts = [s for s in sentences if s.isascii()][:24]
    got = berthub.pipeline(folder)(texts)
    want = _reference("token-classification", folder, aggregation_strategy="simple")(texts)
    assert sum(map(len, want)) > 20
    for text, ours, theirs in zip(texts, got, want, strict=True):
        assert [(e["entity_group"], e["start"], e["end"], e["word"]) for e in ours] == [
            (e["entity_group"], e["start"], e["end"], e["word"]) for e in theirs], text
        assert all(_close(e["score"], w["score"]) and e["text"] == text[e["start"]:e["end"]]
                   for e, w in zip(ours, theirs, strict=True))


def _reference_answer(model, tokenizer, question: str, context: str, max_answer_len: int = 30) -> dict:
    """transformers' question-answering pipeline (removed in transformers 5) on one window, rebuilt on its
    model and fast tokenizer: softmax over context tokens, best start x end probability with
    start <= end < start + max_answer_len, the span widened to whole words (align_to_words)."""
    encoded = tokenizer(question, context, return_offsets_mapping=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**{k: encoded[k] for k in ("input_ids", "token_type_ids", "attention_mask")})
    in_context = np.array([s == 1 for s in encoded.sequence_ids(0)])

    def probabilities(logits):
        logits = np.where(in_context, logits.numpy(), -10000.0)
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()

    outer = np.outer(probabilities(out.start_logits[0]), probabilities(out.end_logits[0]))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    start, end = np.unravel_index(candidates.argmax(), candidates.shape)
    first = encoded.word_to_chars(encoded.token_to_word(0, int(start)), sequence_index=1)[0]
    last = encoded.word_to_chars(encoded.token_to_word(0, int(end)), sequence_index=1)[1]
    return {"answer": context[first:last], "start": first, "end": last, "score": float(candidates[start, end])}


def test_question_answering_matches_transformers_on_squad_contexts(tmp_path, minilm_dir, data_dir):
    folder = _with_head(berthub.BertForQuestionAnswering, minilm_dir, tmp_path)
    squad = json.loads((data_dir / "squad/dev-v1.1.json").read_text(encoding="utf-8"))
    paragraphs = [p for article in squad["data"] for p in article["paragraphs"] if len(p["context"]) < 900]
    records = [{"question": p["qas"][0]["question"], "context": p["context"]} for p in paragraphs[::40][:12]]
    got = berthub.pipeline(folder)(records)
    model = transformers.BertForQuestionAnswering.from_pretrained(folder).eval()
    tokenizer = transformers.BertTokenizer.from_pretrained(folder)
    for record, answer in zip(records, got, strict=True):
        want = _reference_answer(model, tokenizer, record["question"], record["context"])
        assert (answer["answer"], answer["start"], answer["end"]) == (want["answer"], want["start"], want["end"])
        assert _close(answer["score"], want["score"])
        assert record["context"][answer["start"]:answer["end"]] == answer["answer"]


def test_long_contexts_are_answered_from_several_windows(tmp_path, minilm_dir, data_dir):
    folder = _with_head(berthub.BertForQuestionAnswering, minilm_dir, tmp_path)
    squad = json.loads((data_dir / "squad/dev-v1.1.json").read_text(encoding="utf-8"))
    paragraph = max((p for article in squad["data"] for p in article["paragraphs"]), key=lambda p: len(p["context"]))
    pipe = berthub.pipeline(folder, max_seq_length=64, doc_stride=32)
    record = {"question": paragraph["qas"][0]["question"], "context": paragraph["context"]}
    state, features = pipe.runner.prepare([record])
    assert len(features) > 5 and all(len(f.input_ids) <= 64 for f in features)
    answer = pipe(record)
    assert 0 < answer["end"] - answer["start"] and record["context"][answer["start"]:answer["end"]] == answer["answer"]


def test_fill_mask_matches_transformers_top_five(tmp_path, minilm_dir, data_dir):
    folder = _with_head(berthub.BertForMaskedLM, minilm_dir, tmp_path)
    texts = []
    for sentence in _sst2(data_dir, "dev", 10):
        words = sentence.split()
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        texts.append(" ".join(words[:longest] + ["[MASK]"] + words[longest + 1:]))
    got = berthub.pipeline(folder, task="fill-mask")(texts)
    want = _reference("fill-mask", folder)(texts)
    for ours, theirs in zip(got, want, strict=True):
        assert [(f["token"], f["token_str"], f["sequence"]) for f in ours] == [
            (f["token"], f["token_str"], f["sequence"]) for f in theirs]
        assert all(_close(f["score"], w["score"]) for f, w in zip(ours, theirs, strict=True))


def test_a_plugin_task_answers_through_its_predict_hook(sst2_model, data_dir):
    texts = _sst2(data_dir, "dev", 16)
    builtin = berthub.pipeline(sst2_model)(texts)
    plugin = berthub.pipeline(sst2_model, task="sst-2")
    assert plugin.task == "sst-2"
    labels = [json.loads((sst2_model / "config.json").read_text())["id2label"][str(i)] for i in range(2)]
    assert [labels.index(b["label"]) for b in builtin] == [int(p) for p in plugin(texts)]


def test_asking_a_fine_tuned_model_for_another_task_names_the_one_it_has(sst2_model):
    with pytest.raises(InputError, match="fine-tuned for text-classification, not question-answering"):
        berthub.pipeline(sst2_model, task="question-answering")
    with pytest.raises(InputError, match="Unknown task 'sst2'"):
        berthub.pipeline(sst2_model, task="sst2")


def test_a_record_without_the_fields_its_task_needs_is_named(minilm_dir):
    from berthub.inference.runners import QuestionAnswering

    with pytest.raises(InputError, match="Input 0 has no 'question' field"):
        QuestionAnswering(BertTokenizer.from_pretrained(minilm_dir)).prepare([{"context": "no question here"}])


# -- berthub predict --------------------------------------------------------------------------------


def _predict(capsys, *argv: str) -> tuple[int, str, str]:
    from berthub.cli import main

    code = main(["predict", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_command_answers_text_arguments_as_json_lines(sst2_model, capsys):
    texts = ["a gripping , funny film", "a dull , lifeless mess"]
    code, out, _ = _predict(capsys, "--model", str(sst2_model), texts[0], json.dumps({"sentence": texts[1]}))
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == berthub.pipeline(sst2_model)(texts)


def test_predict_command_reads_a_glue_tsv_and_writes_the_answers_file_atomically(sst2_model, data_dir, tmp_path,
                                                                                   capsys):
    rows = (data_dir / "glue/SST-2/dev.tsv").read_text(encoding="utf-8").splitlines()[:41]
    source = tmp_path / "dev.tsv"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    output = tmp_path / "out" / "answers.jsonl"
    output.parent.mkdir()
    code, _, err = _predict(capsys, "--model", str(sst2_model), "--input", str(source), "--output", str(output),
                            "--batch-size", "7")
    assert code == 0 and "40 text-classification answers written" in err
    want = berthub.pipeline(sst2_model, batch_size=7)([row.split("\t")[0] for row in rows[1:]])
    assert [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()] == want
    assert [p.name for p in output.parent.iterdir()] == ["answers.jsonl"]  # no temporary file left behind


@pytest.mark.parametrize(("make_args", "message"), [
    (lambda tmp: [], "Nothing to predict"),
    (lambda tmp: ["--input", str(tmp / "missing.jsonl")], "missing.jsonl does not exist"),
    (lambda tmp: ["--input", _write(tmp / "bad.jsonl", '"ok"\n{"text": \n')], "bad.jsonl line 2 is not valid JSON"),
    (lambda tmp: ["--input", _write(tmp / "in.txt", "x\n")], "unknown format '.txt'"),
    (lambda tmp: ["x", "--output", str(tmp / "no" / "dir" / "out.jsonl")], "does not exist; create it first"),
    (lambda tmp: ["--task", "question-answering", "x"], "fine-tuned for text-classification"),
    (lambda tmp: ["x", "--device", "gpu"], "device='gpu' is not a torch device"),
    (lambda tmp: ["x", "--batch-size", "0"], "batch_size=0 must be a positive int"),
    (lambda tmp: ["x", "--pair", "a", "b"], "not TEXT arguments and --pair"),
])
def test_predict_command_errors_are_one_line(sst2_model, tmp_path, capsys, make_args, message):
    code, out, err = _predict(capsys, "--model", str(sst2_model), *make_args(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("berthub predict: error: ") and message in err and err.count("\n") == 1


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_task_comes_from_the_head_the_architecture_or_training_json(tmp_path):
    from berthub.inference.pipelines import SavedModel, _choose_task

    def saved(config: dict, training: dict | None = None) -> SavedModel:
        return SavedModel(tmp_path, config, training or {})

    assert _choose_task(saved({"berthub_head": "token-classification"}), None, "m") == "token-classification"
    assert _choose_task(saved({"architectures": ["BertForQuestionAnswering"]}), None, "m") == "question-answering"
    assert _choose_task(saved({"architectures": ["BertForMaskedLM"]}), "fill-mask", "m") == "fill-mask"
    with pytest.raises(PluginError, match="Task 'acme' .* plugin distribution 'acme-plugin', which is not installed: "
                                          "pip install acme-plugin$"):
        _choose_task(saved({"berthub_head": "acme-multilabel"}, {"task": "acme", "task_distribution": "acme-plugin"}),
                     None, "m")
    with pytest.raises(InputError, match="plugin head 'acme-multilabel' but no training.json"):
        _choose_task(saved({"berthub_head": "acme-multilabel"}), None, "m")
    with pytest.raises(InputError, match="pass task= one of"):
        _choose_task(saved({"architectures": ["BertModel"]}), None, "m")
    with pytest.raises(InputError, match="no trained text-classification head"):
        _choose_task(saved({"architectures": ["BertModel"]}), "sentiment-analysis", "m")
    assert saved({"id2label": {"0": "neg", "1": "pos"}}).labels() == ["neg", "pos"]
    assert saved({"berthub_head_options": {"num_labels": 3}}).labels() == ["LABEL_0", "LABEL_1", "LABEL_2"]


def test_a_model_trained_on_a_task_is_answered_by_that_task_unless_it_names_a_pipeline_task(tmp_path, caplog):
    from berthub.inference.pipelines import SavedModel, _choose_task

    classifier = {"berthub_head": "sequence-classification", "berthub_head_options": {"num_labels": 1}}
    # STS-B (a pair regression task of berthub-glue) answers through its own hook, even with a built-in head;
    # SST-2 names the built-in text-classification pipeline as its raw-text answer.
    assert _choose_task(SavedModel(tmp_path, classifier, {"task": "sts-b"}), None, "m") == "sts-b"
    assert _choose_task(SavedModel(tmp_path, classifier, {"task": "sst-2"}), None, "m") == "text-classification"
    # A task whose plugin is gone: the built-in head still answers, and the warning says why and what to install.
    gone = SavedModel(tmp_path, classifier, {"task": "acme-pairs", "task_distribution": "acme-plugin"})
    with caplog.at_level("WARNING", logger="berthub"):
        assert _choose_task(gone, None, "m") == "text-classification"
    assert caplog.messages == ["Answering 'm' with the built-in text-classification pipeline (a text and an optional "
                               "text_pair per input), not its task's own predict hook: Task 'acme-pairs' (the one this "
                               "model was trained on) comes from the plugin distribution 'acme-plugin', which is not "
                               "installed: pip install acme-plugin"]
    with pytest.raises(PluginError, match="pip install acme-plugin$"):
        _choose_task(gone, "acme-pairs", "m")  # asked by name: an error, not a fallback


def test_a_model_published_on_a_hub_is_answered_by_repo_id(sst2_model, hub_server, monkeypatch, tmp_path):
    from huggingface_hub import HfApi

    repo_id = hub_server.unique_repo_id("sst2-minilm")
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    api.create_repo(repo_id)
    api.upload_folder(folder_path=sst2_model, repo_id=repo_id)
    monkeypatch.setenv("BERTHUB_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
    texts = ["a gripping , funny film", "a dull , lifeless mess"]
    assert berthub.pipeline(repo_id)(texts) == berthub.pipeline(sst2_model)(texts)
