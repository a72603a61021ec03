"""BertTokenizer behaves as Google's BERT tokenization and run_classifier, with the 0.6 API."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from berthub.errors import ConfigError, InputError, NotFoundError
from berthub.tokenization import BasicTokenizer, BertTokenizer, WordpieceTokenizer

DATA = Path(__file__).resolve().parents[1] / "data"
UNCASED = DATA / "vocabs/bert-base-uncased/vocab.txt"
CASED = DATA / "vocabs/bert-base-cased/vocab.txt"
CHINESE = DATA / "vocabs/bert-base-chinese/vocab.txt"


@pytest.fixture(scope="module")
def tok() -> BertTokenizer:
    return BertTokenizer(UNCASED)


def _sst2_dev(n: int) -> list[str]:
    lines = (DATA / "glue/SST-2/dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    return [line.split("\t")[0] for line in lines if line][:n]


def _qnli_dev(n: int) -> list[tuple[str, str]]:
    lines = (DATA / "glue/QNLI/dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    return [(cols[1], cols[2]) for cols in (line.split("\t") for line in lines if line)][:n]


def _google_truncate_seq_pair(tokens_a: list, tokens_b: list, max_length: int) -> None:
    """Google's run_classifier._truncate_seq_pair, verbatim in behaviour."""
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


# -- Google's rules (expected values from google-research/bert tokenization_test.py) -----------------


def test_basic_tokenizer_lower_cases_strips_accents_and_splits_punctuation():
    basic = BasicTokenizer(do_lower_case=True)
    assert basic.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert basic.tokenize("H\u00e9llo") == ["hello"]


def test_basic_tokenizer_keeps_case_and_accents_when_not_lower_casing():
    basic = BasicTokenizer(do_lower_case=False)
    assert basic.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]
    assert basic.tokenize("H\u00e9llo") == ["H\u00e9llo"]


def test_basic_tokenizer_splits_every_cjk_ideograph():
    assert BasicTokenizer().tokenize("ah\u535a\u63a8zz") == ["ah", "\u535a", "\u63a8", "zz"]


def test_cjk_ranges_are_googles_including_extension_e_start_and_compatibility_ideographs():
    basic = BasicTokenizer(do_lower_case=False)
    assert basic.tokenize("a\U0002b820b\uf900c\u3042d") == ["a", "\U0002b820", "b", "\uf900", "c\u3042d"]


def test_control_characters_are_dropped_and_unicode_spaces_split_words():
    basic = BasicTokenizer(do_lower_case=False)
    assert basic.tokenize("a\x00b\x07c\u200bd\ufffde") == ["abcde"]
    assert basic.tokenize("a\u00a0b\u3000c\td\ne\u2028f") == ["a", "b", "c", "d", "e", "f"]


def test_non_ascii_punctuation_and_ascii_symbols_are_split():
    basic = BasicTokenizer(do_lower_case=False)
    assert basic.tokenize("a$b^c`d\u00bfe\u2014f") == ["a", "$", "b", "^", "c", "`", "d", "\u00bf", "e", "\u2014", "f"]


def test_final_capital_sigma_lower_cases_by_context_as_python_does():
    assert BasicTokenizer().tokenize("ΟΔΟΣ ΣΟΦΙΑ") == ["οδος", "σοφια"]


def test_wordpiece_is_greedy_longest_match_first():
    vocab = {t: i for i, t in enumerate(["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn",
                                         "##ing"])}
    wordpiece = WordpieceTokenizer(vocab)
    assert wordpiece.tokenize("") == []
    assert wordpiece.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert wordpiece.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_words_over_100_characters_become_unk(tok):
    assert "[UNK]" not in tok.tokenize("a" * 100)
    assert tok.tokenize("a" * 101) == ["[UNK]"]
    assert tok.tokenize("ok " + "x" * 10_000 + " ok") == ["ok", "[UNK]", "ok"]


def test_special_tokens_are_never_split_even_next_to_punctuation(tok):
    assert tok.tokenize("Paris is the capital of [MASK].") == ["paris", "is", "the", "capital", "of", "[MASK]", "."]
    assert tok.tokenize("[CLS] who ? [SEP]") == ["[CLS]", "who", "?", "[SEP]"]
    assert tok.tokenize("[mask]") == ["[", "mask", "]"]


def test_no_nfc_is_applied_so_decomposed_accents_stay_apart_in_a_cased_vocab():
    cased = BertTokenizer(CASED, do_lower_case=False)
    assert cased.tokenize("Caf\u00e9") == ["Caf\u00e9"]
    # Google's rules keep U+0301 as a character of its own; transformers' Python tokenizer adds NFC.
    assert cased.tokenize("Cafe\u0301") == ["Cafe", "##\u0301"]


# -- vocabulary ------------------------------------------------------------------------------------


def test_vocab_lines_split_on_newline_only_so_u2028_tokens_keep_their_ids():
    chinese = BertTokenizer(CHINESE)
    assert chinese.convert_tokens_to_ids(["\u2028", "##\u2028"]) == [343, 13502]
    assert chinese.convert_ids_to_tokens([343, 13502]) == ["\u2028", "##\u2028"]
    assert len(chinese) == 21128 and chinese.convert_tokens_to_ids(["[UNK]", "[CLS]", "[SEP]"]) == [100, 101, 102]


def test_vocab_without_unk_is_one_clear_error_naming_the_file(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[CLS]\n[SEP]\nhello\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"vocab\.txt.*has no \[UNK\]"):
        BertTokenizer(vocab)


def test_missing_vocab_file_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        BertTokenizer(tmp_path / "nope.txt")


def test_lower_casing_a_cased_vocab_warns():
    with pytest.warns(UserWarning, match="do_lower_case=True with the cased vocabulary"):
        BertTokenizer(CASED, do_lower_case=True)


def test_not_lower_casing_an_uncased_vocab_warns():
    with pytest.warns(UserWarning, match="do_lower_case=False with the uncased vocabulary"):
        BertTokenizer(UNCASED, do_lower_case=False)


@pytest.mark.parametrize(("vocab", "lower"), [(UNCASED, True), (CASED, False), (CHINESE, True)])
def test_matching_case_settings_do_not_warn(vocab, lower):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BertTokenizer(vocab, do_lower_case=lower)


# -- 0.6 token/id API ------------------------------------------------------------------------------


def test_convert_tokens_to_ids_rejects_more_than_max_len_tokens():
    short = BertTokenizer(UNCASED, max_len=8)
    assert short.convert_tokens_to_ids(["hello"] * 8) == [7592] * 8
    with pytest.raises(InputError, match="9 tokens exceed this tokenizer's max_len 8"):
        short.convert_tokens_to_ids(["hello"] * 9)


def test_convert_tokens_to_ids_names_an_unknown_token(tok):
    with pytest.raises(InputError, match="'Hello' is not in the vocabulary"):
        tok.convert_tokens_to_ids(["Hello"])


def test_ids_convert_back_to_tokens_from_lists_and_tensors(tok):
    tokens = tok.tokenize("unaffable jumping")
    ids = tok.convert_tokens_to_ids(tokens)
    assert tok.convert_ids_to_tokens(ids) == tokens
    assert tok.convert_ids_to_tokens(torch.tensor(ids)) == tokens
    with pytest.raises(InputError, match="Id 30522 is outside the vocabulary"):
        tok.convert_ids_to_tokens([30522])


def test_decode_joins_wordpieces_and_drops_special_tokens_when_asked(tok):
    ids = tok.encode("Unaffable jumping!", max_length=10, padding="max_length").input_ids
    assert tok.decode(ids, skip_special_tokens=True) == "unaffable jumping!"
    assert tok.decode(ids[:7]) == "[CLS] unaffable jumping! [SEP]"


# -- model inputs ----------------------------------------------------------------------------------


def test_single_text_is_cls_text_sep_with_type_zero(tok):
    enc = tok.encode("hello world")
    assert enc.input_ids == [101, 7592, 2088, 102]
    assert enc.token_type_ids == [0, 0, 0, 0] and enc.attention_mask == [1, 1, 1, 1]


def test_pair_is_cls_a_sep_b_sep_with_types_zero_then_one(tok):
    enc = tok.encode("hello", "big world")
    assert enc.input_ids == [101, 7592, 102, 2502, 2088, 102]
    assert enc.token_type_ids == [0, 0, 0, 1, 1, 1]


def test_pair_truncation_follows_googles_truncate_seq_pair(tok):
    for question, sentence in _qnli_dev(60):
        a, b = tok.tokenize(question), tok.tokenize(sentence)
        for max_length in (8, 17, 32, 65):
            want_a, want_b = list(a), list(b)
            _google_truncate_seq_pair(want_a, want_b, max_length - 3)
            enc = tok.encode(question, sentence, max_length=max_length)
            want = tok.convert_tokens_to_ids(["[CLS]", *want_a, "[SEP]", *want_b, "[SEP]"])
            assert enc.input_ids == want
            assert enc.token_type_ids == [0] * (len(want_a) + 2) + [1] * (len(want_b) + 1)
            assert enc.num_truncated == len(a) + len(b) - len(want_a) - len(want_b)


def test_truncation_ties_drop_from_the_second_text_first(tok):
    enc = tok.encode("a b c d", "e f g h", max_length=8)  # 5 of 8 tokens fit: A keeps 3, B keeps 2
    assert tok.convert_ids_to_tokens(enc.input_ids) == ["[CLS]", "a", "b", "c", "[SEP]", "e", "f", "[SEP]"]


def test_single_text_truncates_to_max_length(tok):
    enc = tok.encode("one two three four five", max_length=4)
    assert tok.convert_ids_to_tokens(enc.input_ids) == ["[CLS]", "one", "two", "[SEP]"]
    assert enc.num_truncated == 3


def test_text_longer_than_max_len_without_max_length_is_an_error():
    short = BertTokenizer(UNCASED, max_len=5)
    with pytest.raises(InputError, match="pass max_length= to truncate"):
        short.encode("one two three four")


def test_padding_to_max_length_pads_with_pad_id_zero_type_and_zero_mask(tok):
    enc = tok.encode("hello", "world", max_length=8, padding="max_length")
    assert enc.input_ids == [101, 7592, 102, 2088, 102, 0, 0, 0]
    assert enc.token_type_ids == [0, 0, 0, 1, 1, 0, 0, 0]
    assert enc.attention_mask == [1, 1, 1, 1, 1, 0, 0, 0]


def test_batch_encode_gives_long_tensors_padded_to_the_longest(tok):
    texts = _sst2_dev(40)
    batch = tok.batch_encode(texts)
    longest = max(len(tok.tokenize(t)) for t in texts) + 2
    for name in ("input_ids", "token_type_ids", "attention_mask"):
        assert batch[name].dtype == torch.long and batch[name].shape == (40, longest)
    for row, text in enumerate(texts):
        enc = tok.encode(text, max_length=longest, padding="max_length")
        assert batch["input_ids"][row].tolist() == enc.input_ids
        assert batch["attention_mask"][row].tolist() == enc.attention_mask


def test_batch_encode_of_pairs_matches_one_by_one_encoding(tok):
    pairs = _qnli_dev(30)
    batch = tok.batch_encode([q for q, _ in pairs], [s for _, s in pairs], max_length=48, padding="max_length")
    assert batch["input_ids"].shape == (30, 48)
    for row, (question, sentence) in enumerate(pairs):
        enc = tok.encode(question, sentence, max_length=48, padding="max_length")
        assert batch["input_ids"][row].tolist() == enc.input_ids
        assert batch["token_type_ids"][row].tolist() == enc.token_type_ids
        assert batch["attention_mask"][row].tolist() == enc.attention_mask


def test_batch_encode_without_padding_returns_ragged_lists(tok):
    batch = tok.batch_encode(["a", "b c"], padding=False, return_tensors=None)
    assert batch["input_ids"] == [[101, 1037, 102], [101, 1038, 1039, 102]]
    assert batch["attention_mask"] == [[1, 1, 1], [1, 1, 1, 1]]


def test_words_are_tokenized_one_by_one_and_mapped_back(tok):
    words = ["Jim", "Henson", "was", "a", "puppeteer."]
    enc = tok.encode(words, "who?")
    pieces = [tok.tokenize(w) for w in words]
    assert enc.input_ids[1:-4] == tok.convert_tokens_to_ids([p for word in pieces for p in word])
    assert enc.word_ids == [None] + [i for i, word in enumerate(pieces) for _ in word] + [None, None, None, None]


def test_batch_of_word_lists_has_word_ids_with_minus_one_at_specials(tok):
    batch = tok.batch_encode([["Hello", "world!"], ["x"]])
    assert batch["word_ids"].tolist() == [[-1, 0, 1, 1, -1], [-1, 0, -1, -1, -1]]


def test_invalid_encoding_options_are_reported_together(tok):
    with pytest.raises(InputError, match=r"max_length=1 must be an int >= 2.*padding='middle'"):
        tok.encode("x", max_length=1, padding="middle")
    with pytest.raises(InputError, match="3 texts but 2 pairs"):
        tok.batch_encode(["a", "b", "c"], ["d", "e"])
    with pytest.raises(InputError, match="texts is one string"):
        tok.batch_encode("abc")
    with pytest.raises(InputError, match=r"texts\[1\] is int"):
        tok.batch_encode(["a", 3])


# -- fast path -------------------------------------------------------------------------------------


def test_fast_path_sends_only_texts_it_would_tokenize_differently_to_python():
    pytest.importorskip("tokenizers")
    fast = BertTokenizer(UNCASED, use_fast=True)._build_fast()
    to_python = []
    texts = ["plain ascii", "Ελλάδα", "ΟΔΟΣ", "a\u2e5db", "x[MASK]", "北京", "\U0002b820"]
    fast.batch_ids(texts, fallback=lambda text: to_python.append(text) or [])
    # final sigma (context), U+2E5D (newer than Rust's tables), never_split, U+2B820 (Rust's CJK range)
    assert to_python == ["ΟΔΟΣ", "a\u2e5db", "x[MASK]", "\U0002b820"]


def test_fast_path_keeps_custom_lower_case_never_split_tokens_whole_as_python_does():
    pytest.importorskip("tokenizers")
    texts = ["a [MASK] b", "[M\u00c1SK]!", "[mask]", "x [Mask]."]
    options = {"never_split": ["[mask]"]}
    fast = BertTokenizer(UNCASED, use_fast=True, **options).batch_encode(texts, return_tensors=None, padding=False)
    pure = BertTokenizer(UNCASED, **options).batch_encode(texts, return_tensors=None, padding=False)
    assert fast["input_ids"] == pure["input_ids"]


def test_use_fast_without_tokenizers_installed_is_a_clear_error(monkeypatch):
    import berthub.tokenizer.files as files

    monkeypatch.setattr(files, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install berthub\[fast\]"):
        BertTokenizer(UNCASED, use_fast=True)


def test_word_cache_stays_bounded_and_correct(monkeypatch):
    from berthub.tokenizer import bert

    monkeypatch.setattr(bert, "_CACHE_LIMIT", 8)
    small = BertTokenizer(UNCASED)
    reference = BertTokenizer(UNCASED)
    texts = _sst2_dev(30)
    assert [small.tokenize(t) for t in texts] == [reference.tokenize(t) for t in texts]
    assert len(small._cache) <= 8


@pytest.mark.parametrize("use_fast", [False, True])
def test_tokenizer_survives_pickling_for_dataloader_workers(use_fast):
    import pickle

    if use_fast:
        pytest.importorskip("tokenizers")
    texts = ["Héllo wörld", "ΟΔΟΣ", "北京 [MASK]."]
    original = BertTokenizer(UNCASED, use_fast=use_fast)
    before = original.batch_encode(texts)["input_ids"]
    copy = pickle.loads(pickle.dumps(original))
    assert torch.equal(copy.batch_encode(texts)["input_ids"], before)
