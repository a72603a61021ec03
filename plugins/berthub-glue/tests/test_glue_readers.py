"""GLUE readers: the real SST-2 and QNLI files, and hand-written rows in every other task's exact format."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from berthub.errors import InputError, NotFoundError
from berthub.tasks import get_task


def _raw_rows(path: Path) -> list[list[str]]:
    """An independent reading of a GLUE TSV: lines split on tabs, header dropped."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return [line.split("\t") for line in lines[1:] if line]


def test_sst2_train_has_every_row_of_the_file_with_its_label(glue_data):
    examples = get_task("sst-2").read(glue_data / "SST-2", "train")
    raw = _raw_rows(glue_data / "SST-2" / "train.tsv")
    assert len(examples) == 67349 == len(raw)
    assert Counter(e.label for e in examples) == Counter(row[1] for row in raw)
    assert [(e.text_a, e.text_b) for e in examples[:2]] == [
        ("hide new secretions from the parental units ", None),
        ("contains no wit , only labored gags ", None),
    ]


def test_sst2_dev_has_872_rows_with_labels_0_and_1(glue_data):
    examples = get_task("sst-2").read(glue_data / "SST-2", "dev")
    assert len(examples) == 872
    assert Counter(e.label for e in examples) == Counter(row[1] for row in _raw_rows(glue_data / "SST-2" / "dev.tsv"))
    assert {e.label for e in examples} == {"0", "1"}


def test_qnli_dev_reads_5463_pairs_and_keeps_stray_quotes(glue_data):
    examples = get_task("qnli").read(glue_data / "QNLI", "dev")
    raw = _raw_rows(glue_data / "QNLI" / "dev.tsv")
    assert len(examples) == 5463 == len(raw)
    assert [(e.text_a, e.text_b, e.label) for e in examples] == [(r[1], r[2], r[3]) for r in raw]
    assert any('"' in e.text_b for e in examples)
    assert {e.label for e in examples} == {"entailment", "not_entailment"}


def test_mrpc_skips_the_bom_header_and_reads_strings_and_quality(glue_files):
    examples = get_task("mrpc").read(glue_files / "MRPC", "train")
    assert [e.label for e in examples] == ["1", "0", "1"]
    assert examples[0].text_a == "The company said quarterly profit rose 12 percent to $ 1.2 billion ."
    assert examples[0].text_b == "Quarterly profit climbed 12 percent to $ 1.2 billion , the company said ."
    assert examples[2].text_a.count('"') == 2


def test_mrpc_test_file_has_an_index_header_and_no_labels(glue_files):
    (example,) = get_task("mrpc").read(glue_files / "MRPC", "test")
    assert example.label is None
    assert example.text_b == "Sales of personal computers grew 5 percent in the quarter ."


def test_cola_has_no_header_and_takes_the_sentence_from_column_3(glue_files):
    examples = get_task("cola").read(glue_files / "CoLA", "train")
    assert len(examples) == 5
    assert examples[0].text_a == "The kettle whistled until somebody took it off the stove."
    assert [e.label for e in examples] == ["1", "0", "1", "0", "0"]
    assert all(e.text_b is None for e in examples)


def test_cola_test_has_a_header(glue_files):
    examples = get_task("cola").read(glue_files / "CoLA", "test")
    assert [e.text_a for e in examples] == ["Bill whistled past the house.", "The more you eat, the less you want."]


def test_stsb_reads_a_float_score_from_column_9(glue_files):
    examples = get_task("sts-b").read(glue_files / "STS-B", "dev")
    assert [e.label for e in examples] == [5.0, 4.75, 0.6]
    assert (examples[0].text_a, examples[0].text_b) == ("A man with a hard hat is dancing.",
                                                        "A man wearing a hard hat is dancing.")


def test_stsb_is_regression_with_one_output():
    task = get_task("sts-b")
    assert task.labels == [] and task.head_options() == {"num_labels": 1}


def test_qqp_reads_questions_and_is_duplicate(glue_files):
    task = get_task("qqp")
    dev = task.read(glue_files / "QQP", "dev")
    assert [e.label for e in dev] == ["1", "0", "1"]
    assert dev[1].text_a == "How do I start running?"
    assert task.read(glue_files / "QQP", "test")[0].text_b == "What are ways to write more neatly?"


def test_mnli_takes_gold_label_from_the_last_of_12_or_16_columns(glue_files):
    task = get_task("mnli")
    assert [e.label for e in task.read(glue_files / "MNLI", "train")] == ["neutral", "contradiction", "entailment"]
    dev = task.read(glue_files / "MNLI", "dev")
    assert [e.label for e in dev] == ["neutral", "contradiction"]
    assert dev[0].text_a == "The new rights are nice enough."
    assert task.labels == ["contradiction", "entailment", "neutral"]


def test_mnli_mm_evaluates_on_the_mismatched_files(glue_files):
    task = get_task("mnli-mm")
    assert task.splits["dev"] == ["dev_mismatched.tsv"] and task.splits["test"] == ["test_mismatched.tsv"]
    assert [e.label for e in task.read(glue_files / "MNLI", "dev")] == ["contradiction", "entailment", "entailment"]
    assert len(task.read(glue_files / "MNLI", "test")) == 3


@pytest.mark.parametrize("name, folder, labels", [("rte", "RTE", ["entailment", "not_entailment"]),
                                                  ("wnli", "WNLI", ["1", "0"])])
def test_rte_and_wnli_read_index_sentence1_sentence2_label(glue_files, name, folder, labels):
    examples = get_task(name).read(glue_files / folder, "train")
    assert [e.label for e in examples] == labels
    assert all(e.text_a and e.text_b for e in examples)


def test_missing_file_error_names_the_file_and_the_folder(tmp_path):
    with pytest.raises(NotFoundError) as error:
        get_task("mnli").read(tmp_path, "dev")
    assert "dev_matched.tsv" in str(error.value) and str(tmp_path) in str(error.value)


def test_unknown_split_lists_the_splits(glue_data):
    with pytest.raises(NotFoundError, match="train, dev, test"):
        get_task("sst-2").read(glue_data / "SST-2", "validation")


def test_a_label_outside_the_task_labels_names_file_and_line(tmp_path):
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\ngood film\t1\nbad film\tnegative\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 3: label 'negative'"):
        get_task("sst-2").read(tmp_path, "dev")


def test_a_row_with_too_few_columns_is_an_error_not_skipped(tmp_path):
    (tmp_path / "dev.tsv").write_text("index\tquestion\tsentence\tlabel\n0\tWhy?\tentailment\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2: 3 columns"):
        get_task("qnli").read(tmp_path, "dev")
