"""`tokenizer(text, text_pair, ...)`, decode and the special token ids give exactly what transformers'
BertTokenizer gives on the same real vocabularies and real text, on the pure and the fast path."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
import torch
from test_tokenization_parity import DATA, HANDWRITTEN, VOCABS

from berthub.errors import InputError
from berthub.tokenization import BertTokenizer

transformers = pytest.importorskip("transformers")


def _qnli(n: int) -> list[tuple[str, str]]:
    lines = (DATA / "glue/QNLI/dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    return [(cols[1], cols[2]) for cols in (line.split("\t") for line in lines if line)][:n]


def _squad_contexts(n: int) -> list[str]:
    squad = json.loads((DATA / "squad/dev-v1.1.json").read_text(encoding="utf-8"))
    contexts = [p["context"] for article in squad["data"] for p in article["paragraphs"]]
    foreign = [c for c in contexts if not c.isascii()]
    return contexts[:: len(contexts) // n][:n] + foreign[:n]


PAIRS = _qnli(40)
CONTEXTS = _squad_contexts(40)


@pytest.fixture(scope="module", params=list(VOCABS))
def trio(request):
    """(berthub pure, berthub fast, transformers' BertTokenizer) on one shipped vocabulary."""
    vocab = str(DATA / "vocabs" / request.param / "vocab.txt")
    lower = VOCABS[request.param]
    reference = transformers.BertTokenizer(vocab, do_lower_case=lower, model_max_length=512)
    return (BertTokenizer(vocab, do_lower_case=lower), BertTokenizer(vocab, do_lower_case=lower, use_fast=True),
            reference)


def _plain(value):
    """A transformers BatchEncoding or berthub output as nested lists (tuples, tensors, arrays too)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "keys"):
        return {key: _plain(value[key]) for key in value.keys()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


OPTIONS = [
    dict(padding=padding, truncation=truncation, max_length=max_length)
    for padding, truncation, max_length in itertools.product(
        (False, True, "max_length"), (None, False, True, "longest_first", "only_second"), (None, 24, 61))
]


def _both(ours, reference, *args, **options):
    try:
        want = _plain(reference(*args, **options))
    except Exception as error:  # noqa: BLE001 - transformers raises plain Exception from Rust
        with pytest.raises(InputError):
            ours(*args, **options)
        return str(error)
    assert _plain(ours(*args, **options)) == want, options
    return want


def test_every_padding_and_truncation_option_matches_transformers_on_real_pairs(trio):
    pure, fast, reference = trio
    questions, sentences = [q for q, _ in PAIRS], [s for _, s in PAIRS]
    for options in OPTIONS:
        if options["padding"] == "max_length" and options["max_length"] and options["truncation"] in (None, False):
            options = {**options, "max_length": 600}  # padding that does not truncate must fit every row
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # transformers' "max_length is ignored" advice
            for ours in (pure, fast):
                _both(ours, reference, questions, sentences, **options)
                _both(ours, reference, questions[:5], **options)
                _both(ours, reference, questions[0], sentences[0], **options)


def test_tie_breaking_of_pair_truncation_is_transformers_in_call_and_googles_in_encode(trio):
    pure, _, reference = trio
    a, b = "one two three four five", "six seven eight nine ten"  # 5 + 5 tokens into a budget of 7
    call = pure(a, b, max_length=10, truncation=True)["input_ids"]
    assert call == reference(a, b, max_length=10, truncation=True)["input_ids"]
    assert call.count(pure.sep_token_id) == 2 and call.index(pure.sep_token_id) == 4  # A keeps 3, B 4
    assert pure.encode(a, b, max_length=10).input_ids.index(pure.sep_token_id) == 5  # Google: A keeps 4, B 3


@pytest.mark.parametrize("return_tensors", ["pt", "np"])
def test_tensors_and_special_tokens_mask_match_transformers(trio, return_tensors):
    pure, fast, reference = trio
    texts = [q for q, _ in PAIRS[:8]] + HANDWRITTEN[:4]
    want = reference(texts, padding=True, truncation=True, max_length=32, return_tensors=return_tensors,
                     return_special_tokens_mask=True)
    for ours in (pure, fast):
        got = ours(texts, padding=True, truncation=True, max_length=32, return_tensors=return_tensors,
                   return_special_tokens_mask=True)
        assert set(got) == set(want)
        for name, value in got.items():
            assert isinstance(value, torch.Tensor if return_tensors == "pt" else np.ndarray)
            assert value.dtype in (torch.int64, np.int64) and value.tolist() == want[name].tolist(), name


@pytest.mark.filterwarnings("ignore:A sequence of")  # whole SQuAD contexts, some over 512 tokens
def test_offsets_match_transformers_fast_tokenizer_on_real_text(trio):
    pure, fast, reference = trio
    texts = CONTEXTS + [q for q, _ in PAIRS] + HANDWRITTEN
    want = reference(texts, return_offsets_mapping=True)
    compared = 0
    for ours in (pure, fast):
        got = ours(texts, return_offsets_mapping=True)
        for i, text in enumerate(texts):
            assert got["input_ids"][i] == pure(text)["input_ids"]  # offsets never change the ids
            # Rust's tokenization departs from Google's on a few characters (berthub/tokenizer/fast.py):
            # offsets are compared where the tokens agree.
            if got["input_ids"][i] == want["input_ids"][i]:
                assert got["offset_mapping"][i] == want["offset_mapping"][i], text
                compared += 1
    assert compared >= 0.85 * 2 * len(texts)


def test_offsets_of_a_padded_pair_batch_match_transformers(trio):
    pure, fast, reference = trio
    questions, sentences = [q for q, _ in PAIRS[:6]], [s for _, s in PAIRS[:6]]
    want = reference(questions, sentences, padding=True, truncation="only_second", max_length=40,
                     return_offsets_mapping=True, return_tensors="pt")
    for ours in (pure, fast):
        got = ours(questions, sentences, padding=True, truncation="only_second", max_length=40,
                   return_offsets_mapping=True, return_tensors="pt")
        assert got["offset_mapping"].shape == (6, 40, 2)
        assert got["offset_mapping"].tolist() == want["offset_mapping"].tolist()


def test_decode_and_batch_decode_match_transformers(trio):
    pure, fast, reference = trio
    texts = [q for q, _ in PAIRS[:20]] + CONTEXTS[:10] + HANDWRITTEN
    batch = reference(texts, padding=True, truncation=True, max_length=64)["input_ids"]
    for ours in (pure, fast):
        for skip in (False, True):
            assert ours.batch_decode(batch, skip_special_tokens=skip) == reference.batch_decode(
                batch, skip_special_tokens=skip)
            assert ours.batch_decode(torch.tensor(batch), skip_special_tokens=skip) == reference.batch_decode(
                torch.tensor(batch), skip_special_tokens=skip)
        assert ours.decode(batch[0][3]) == reference.decode(batch[0][3])
        assert ours.decode(torch.tensor(batch[0][3])) == reference.decode(torch.tensor(batch[0][3]))
        # transformers 5 ignores clean_up_tokenization_spaces=False for BERT; berthub honours it.
        assert ours.decode(batch[0], True, clean_up_tokenization_spaces=False) == " ".join(
            ours.convert_ids_to_tokens(batch[0][1:batch[0].index(ours.sep_token_id)])).replace(" ##", "")


def test_special_token_ids_and_vocab_size_match_transformers(trio):
    pure, fast, reference = trio
    for ours in (pure, fast):
        for name in ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id", "unk_token_id", "vocab_size"):
            assert getattr(ours, name) == getattr(reference, name), name


def test_a_call_output_feeds_the_model_as_keyword_arguments(trio):
    pure, _, _ = trio
    batch = pure(["a short one", "and a longer second text"], padding=True, return_tensors="pt")
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask"}
    assert batch["attention_mask"].sum(1).tolist() == [len(pure("a short one")["input_ids"]),
                                                       len(pure("and a longer second text")["input_ids"])]


def test_invalid_options_are_one_error_naming_each():
    tok = BertTokenizer(DATA / "vocabs/bert-base-uncased/vocab.txt")
    with pytest.raises(InputError, match="padding='middle'.*truncation='sideways'.*return_tensors='tf'"):
        tok("x", padding="middle", truncation="sideways", return_tensors="tf")
    with pytest.raises(InputError, match="needs a second text"):
        tok("one two three four", truncation="only_second", max_length=4)
    with pytest.raises(InputError, match="padding=True"):
        tok(["a", "b c d"], return_tensors="pt")
    with pytest.raises(InputError, match="2 texts but text_pair has 1"):
        tok(["a", "b"], ["c"])
    with pytest.raises(InputError, match="one sequence of ids; use batch_decode"):
        tok.decode([[101, 102], [101, 102]])
