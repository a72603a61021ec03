"""Reading CoNLL files: the real WNUT-17 splits and hand-written CoNLL-2003 rows."""

from __future__ import annotations

from collections import Counter

import pytest

from berthub.errors import InputError, NotFoundError
from berthub.tasks import get_task


def _raw_tags(path) -> Counter:
    """An independent count: the second tab field of every non-blank line."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return Counter(line.split("\t")[1] for line in lines if line.strip())


@pytest.mark.parametrize("split, file, sentences, tokens", [
    ("train", "wnut17train.conll", 3394, 62730),
    ("dev", "emerging.dev.conll", 1009, 15733),
    ("test", "emerging.test.annotated", 1287, 23394),
])
def test_wnut17_splits_have_the_published_sentence_and_token_counts(wnut_dir, split, file, sentences, tokens):
    examples = get_task("wnut17").read(wnut_dir, split)
    assert len(examples) == sentences
    assert sum(len(s.tokens) for s in examples) == tokens
    assert Counter(t for s in examples for t in s.tags) == _raw_tags(wnut_dir / file)


def test_wnut17_first_sentence(wnut_dir):
    first = get_task("wnut17").read(wnut_dir, "train")[0]
    assert first.tokens[:3] == ["@paulwalk", "It", "'s"]
    assert first.tokens[14:17] == ["Empire", "State", "Building"]
    assert first.tags[14:17] == ["B-location", "I-location", "I-location"]


def test_wnut17_has_13_labels_with_o_first():
    task = get_task("wnut17")
    assert task.labels[0] == "O" and len(task.labels) == 13
    assert task.head == "token-classification" and task.head_options() == {"num_labels": 13}


def test_conll2003_format_skips_docstart_and_takes_the_last_column(conll2003_dir):
    examples = get_task("conll-ner").read(conll2003_dir, "train")
    assert [len(s.tokens) for s in examples] == [8, 9, 5]
    assert examples[0].tokens[:2] == ["Acme", "Widgets"] and examples[0].tags[:2] == ["I-ORG", "I-ORG"]
    assert examples[1].tags[6:8] == ["I-LOC", "B-LOC"]


def test_a_tag_outside_the_labels_names_file_and_line(tmp_path):
    (tmp_path / "train.txt").write_text("Paris\tB-LOC\nis\tO\n\nRome\tB-CITY\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 4: tag 'B-CITY'"):
        get_task("conll-ner").read(tmp_path, "train")


def test_labels_and_file_names_are_options(tmp_path):
    (tmp_path / "eng.testa").write_text("Rome\tB-CITY\n", encoding="utf-8")
    task = get_task("conll-ner", labels=["O", "B-CITY", "I-CITY"], files={"dev": "eng.testa"})
    assert task.read(tmp_path, "dev")[0].tags == ["B-CITY"]


def test_missing_file_error_names_it(tmp_path):
    with pytest.raises(NotFoundError, match="emerging.dev.conll"):
        get_task("wnut17").read(tmp_path, "dev")
