"""Reading SQuAD JSON: whitespace words, answer word positions, counts on the real dev set."""

from __future__ import annotations

import json

import pytest
from berthub_squad.examples import split_words

from berthub.errors import NotFoundError
from berthub.tasks import get_task


def test_split_words_maps_every_character_to_its_word():
    words, char_to_word = split_words("Hi  there,\tyou")
    assert words == ["Hi", "there,", "you"]
    assert char_to_word == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2]


def test_narrow_no_break_space_separates_words():
    assert split_words("10\u202fkm")[0] == ["10", "km"]


def test_dev_v11_has_every_question_of_the_file(dev_examples, squad_dir):
    data = json.loads((squad_dir / "dev-v1.1.json").read_text(encoding="utf-8"))["data"]
    ids = [qa["id"] for article in data for p in article["paragraphs"] for qa in p["qas"]]
    assert len(dev_examples) == 10570 == len(ids)
    assert [e.qas_id for e in dev_examples] == ids


def test_dev_examples_keep_all_gold_answers(dev_examples):
    first = dev_examples[0]
    assert first.question_text == "Which NFL team represented the AFC at Super Bowl 50?"
    assert first.answers == ["Denver Broncos"] * 3
    assert sum(len(e.answers) for e in dev_examples) == 34726


def test_answer_word_positions_hold_the_answer_text(dev_examples):
    for example in dev_examples:
        words = " ".join(example.doc_tokens[example.start_position : example.end_position + 1])
        assert " ".join(example.orig_answer_text.split()) in words


def test_first_answer_maps_to_the_words_of_its_offset(dev_examples):
    first = dev_examples[0]
    assert first.doc_tokens[first.start_position : first.end_position + 1] == ["Denver", "Broncos"]


def test_questions_of_one_paragraph_share_its_words(dev_examples):
    assert dev_examples[0].doc_tokens is dev_examples[1].doc_tokens


def test_a_training_question_whose_offset_misses_its_answer_is_dropped_with_a_warning(tmp_path):
    doc = {"data": [{"paragraphs": [{"context": "Paris is the capital of France.", "qas": [
        {"id": "good", "question": "Capital?", "answers": [{"text": "Paris", "answer_start": 0}]},
        {"id": "bad", "question": "Country?", "answers": [{"text": "France", "answer_start": 0}]}]}]}]}
    (tmp_path / "train-v1.1.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.warns(UserWarning, match="skipped 1 question"):
        examples = get_task("squad-v1.1").read(tmp_path, "train")
    assert [e.qas_id for e in examples] == ["good"]


def test_missing_file_error_names_the_expected_json(tmp_path):
    with pytest.raises(NotFoundError, match="dev-v2.0.json"):
        get_task("squad-v2.0").read(tmp_path, "dev")


def test_there_is_no_test_split(squad_dir):
    with pytest.raises(NotFoundError, match="no split 'test'"):
        get_task("squad-v1.1").read(squad_dir, "test")
