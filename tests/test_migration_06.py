"""Code written for pytorch-pretrained-BERT 0.6 runs with the import renamed to berthub.

tests/migration06/ holds miniature versions of 0.6.2's example scripts (run_classifier, run_squad,
run_swag, simple_lm_finetuning, extract_features), written from 0.6's documented API with `from
berthub...` imports. Each runs here on real data shipped in data/, loading "bert-base-uncased" by
name from a local hub that serves the real MiniLM weights under that name, and must finish with
outputs that check out. The 0.6 API points are pinned one at a time, against the
pytorch-pretrained-BERT 0.6.2 package itself where it can run offline (tests/test_migration_06_api.py).
"""

from __future__ import annotations

import csv
import json
import runpy
import sys
from pathlib import Path

import torch
from conftest import DATA

import berthub
from berthub.modeling import BertForSequenceClassification, BertModel

SCRIPTS = Path(__file__).parent / "migration06"


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


def test_run_classifier_trains_saves_the_06_way_reloads_and_evaluates_sst2(named_models, minilm_dir, tmp_path):
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


def test_extract_features_writes_the_hidden_states_transformers_computes(named_models, minilm_dir, tmp_path):
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


def test_run_squad_windows_the_document_trains_and_predicts_spans_of_the_context(named_models, tmp_path):
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


def test_run_swag_trains_multiple_choice_on_items_built_from_shipped_sentences(named_models, tmp_path):
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


def test_simple_lm_finetuning_trains_both_pretraining_losses_and_saves_a_loadable_model(named_models, tmp_path):
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
