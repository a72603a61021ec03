"""berthub's tokenizer gives transformers' Python (Google-compatible) tokenizer's tokens and ids on the
four real vocabularies and real text, and its `tokenizers` (Rust) path gives the pure path's ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from berthub.tokenization import BertTokenizer

transformers_bert = pytest.importorskip("transformers.models.bert.tokenization_bert_legacy")
pytest.importorskip("tokenizers")

DATA = Path(__file__).resolve().parents[1] / "data"
VOCABS = {  # folder -> do_lower_case of Google's release
    "bert-base-uncased": True,
    "bert-base-cased": False,
    "bert-base-chinese": True,
    "bert-base-multilingual-cased": False,
}

# Real text in many scripts, and the inputs where tokenizers usually break.
HANDWRITTEN = [
    "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
    "我们在2018年发布了BERT模型（Bidirectional Encoder Representations from Transformers）。",
    "東京は日本の首都です。カタカナとひらがなも混ざっています。",
    "서울은 대한민국의 수도이다.",
    "Москва — столица России, город федерального значения.",
    "Ελλάδα, ΟΔΟΣ ΣΟΦΙΑΣ και ΣΟΦΊΑ: η τελική σίγμα ΣΣ.",
    "القاهرة هي عاصمة جمهورية مصر العربية.",
    "עברית היא שפה שמית.",
    "हिन्दी भारत की एक राजभाषा है।",
    "Tiếng Việt có dấu: Hà Nội, Thành phố Hồ Chí Minh, người Việt.",
    "Crème brûlée, naïve façade, Zürich, São Paulo, Ångström, Łódź, Øresund, straße, İstanbul.",
    "Decomposed accents: Cafe\u0301 and nai\u0308ve.",
    "Emoji 😀👍🏽 new ones 🥰🫠 and flags 🇫🇷 and ZWJ 👨\u200d👩\u200d👧 sequences.",
    "Control\x00chars\x07and\x1bescape\x7fdelete\ufffdreplacement\u200bzero-width\ufeffbom\u00adsoft.",
    "Line\u2028separator and paragraph\u2029separator, no-break\u00a0space, ideographic\u3000space, tab\there.",
    "CRLF\r\nline\nbreaks\rand\x0bvertical\x0cfeed\x1cfile\x85next.",
    "Punctuation ¿¡«»„“”‘’–—…・、。！？ and symbols $^`~|+<=>≠≤ plus ⸕ and ⹝ (new).",
    "CJK extensions: 𠀀𪜀𫝀𫠠𬺰 and compatibility 丽 and Ext-B/C edge 𫠟𫠠𫤟𬀀.",
    "Private use \ue000\uf8ff and unassigned \u0378\U000e0080 code points.",
    "Special tokens: [CLS] question [SEP] answer [SEP] with [MASK]. and x[MASK]y and [PAD][UNK].",
    "",
    "   \t\n  ",
    "a" * 100,
    "b" * 101,
    "é" * 100 + " " + "é" * 101,
    "unaffable " + "x" * 10_000 + " tail",
]
# transformers applies NFC first (Google does not; see test_tokenization.py): keep to NFC text for
# the cased vocabularies, where NFC changes the result.
NOT_NFC = {"Decomposed accents: Cafe\u0301 and nai\u0308ve.", "CJK extensions: 𠀀𪜀𫝀𫠠𬺰 and compatibility 丽 and "
           "Ext-B/C edge 𫠟𫠠𫤟𬀀."}


def _sst2() -> list[str]:
    lines = (DATA / "glue/SST-2/train.tsv").read_text(encoding="utf-8").split("\n")[1:]
    sentences = [line.split("\t")[0] for line in lines if line]
    return sentences[:: len(sentences) // 300][:300]


def _squad() -> list[str]:
    squad = json.loads((DATA / "squad/dev-v1.1.json").read_text(encoding="utf-8"))
    paragraphs = [p for article in squad["data"] for p in article["paragraphs"]]
    questions = [qa["question"] for p in paragraphs[::20] for qa in p["qas"][:2]]
    sentences = [s for p in paragraphs for s in re.split(r"(?<=[.!?]) ", p["context"])]
    foreign = [s for s in sentences if not s.isascii()]  # Chinese, Cyrillic, Greek, Arabic, accents
    return questions[:150] + sentences[::100][:150] + foreign


TEXTS = _sst2() + _squad() + HANDWRITTEN


def _texts_for(lower: bool) -> list[str]:
    return TEXTS if lower else [t for t in TEXTS if t not in NOT_NFC]


@pytest.fixture(scope="module", params=list(VOCABS))
def trio(request):
    """(berthub pure, berthub fast, transformers' Python tokenizer, do_lower_case) for one vocab."""
    vocab_file = DATA / "vocabs" / request.param / "vocab.txt"
    lower = VOCABS[request.param]
    return (
        BertTokenizer(vocab_file, do_lower_case=lower, use_fast=False),
        BertTokenizer(vocab_file, do_lower_case=lower, use_fast=True),
        transformers_bert.BertTokenizerLegacy(str(vocab_file), do_lower_case=lower),
        lower,
    )


def test_the_corpus_covers_real_multilingual_text():
    scripts = "".join(TEXTS)
    for sample in ("正", "Тесла", "Π", "إسلام", "é", "😀", "\u2028", "\u00a0", "\x00"):
        assert sample in scripts


def test_tokens_match_transformers_python_tokenizer(trio):
    ours, _, reference, lower = trio
    for text in _texts_for(lower):
        assert ours.tokenize(text) == reference.tokenize(text), text


def test_ids_match_transformers_python_tokenizer(trio):
    ours, _, reference, lower = trio
    texts = _texts_for(lower)
    expected = [reference.convert_tokens_to_ids(reference.tokenize(t)) for t in texts]
    got = [ours.convert_tokens_to_ids(ours.tokenize(t)) for t in texts]
    for text, ids, want in zip(texts, got, expected, strict=True):
        assert ids == want, text


def test_fast_path_gives_the_pure_path_ids(trio):
    pure, fast, _, _ = trio
    assert fast.is_fast and not pure.is_fast
    pure_batch = pure.batch_encode(TEXTS, return_tensors=None, padding=False)["input_ids"]
    fast_batch = fast.batch_encode(TEXTS, return_tensors=None, padding=False)["input_ids"]
    for text, got, want in zip(TEXTS, fast_batch, pure_batch, strict=True):
        assert got == want, text


def test_fast_path_gives_the_pure_path_ids_one_text_at_a_time(trio):
    pure, fast, _, _ = trio
    for text in HANDWRITTEN:
        assert fast.encode(text, max_length=512).input_ids == pure.encode(text, max_length=512).input_ids, text


def test_pair_encoding_matches_transformers_with_longest_first_truncation(trio):
    ours, _, reference, _ = trio
    questions, contexts = TEXTS[300:350], TEXTS[450:500]
    for max_length in (16, 33, 64):
        for question, context in zip(questions, contexts, strict=True):
            want = reference(question, context, max_length=max_length, truncation="longest_first",
                             padding="max_length", return_token_type_ids=True)
            got = ours.encode(question, context, max_length=max_length, padding="max_length")
            assert got.input_ids == want["input_ids"], (question, context)
            assert got.token_type_ids == want["token_type_ids"]
            assert got.attention_mask == want["attention_mask"]


@pytest.mark.parametrize("options", [{"tokenize_chinese_chars": False}, {"do_basic_tokenize": False}])
def test_options_match_transformers(options):
    vocab_file = DATA / "vocabs/bert-base-multilingual-cased/vocab.txt"
    ours = BertTokenizer(vocab_file, do_lower_case=False, **options)
    reference = transformers_bert.BertTokenizerLegacy(str(vocab_file), do_lower_case=False, **options)
    for text in _texts_for(False)[-len(HANDWRITTEN):]:
        assert ours.tokenize(text) == reference.tokenize(text), text
