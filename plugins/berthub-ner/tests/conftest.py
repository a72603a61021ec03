"""Fixtures for berthub-ner's tests: the real WNUT-17 files and berthub's cased tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_DATA = HERE.parents[2] / "data"


@pytest.fixture(scope="session")
def wnut_dir() -> Path:
    """The real WNUT-17 files: wnut17train.conll, emerging.dev.conll, emerging.test.annotated."""
    return REPO_DATA / "wnut17"


@pytest.fixture(scope="session")
def conll2003_dir() -> Path:
    """Hand-written sentences in CoNLL-2003's exact format (IOB1 tags, -DOCSTART- lines)."""
    return HERE / "conll2003_files"


@pytest.fixture(scope="session")
def tokenizer():
    """berthub's tokenizer on Google's bert-base-cased vocabulary (NER keeps case)."""
    from berthub.tokenization import BertTokenizer

    return BertTokenizer(str(REPO_DATA / "vocabs" / "bert-base-cased" / "vocab.txt"), do_lower_case=False)
