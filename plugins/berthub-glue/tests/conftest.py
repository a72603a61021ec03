"""Fixtures for berthub-glue's tests: the repo's real GLUE data and hand-written files in GLUE's formats."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_DATA = HERE.parents[2] / "data"


@pytest.fixture(scope="session")
def glue_data() -> Path:
    """The repo's real GLUE files: SST-2 (train, dev) and QNLI (dev)."""
    return REPO_DATA / "glue"


@pytest.fixture(scope="session")
def glue_files() -> Path:
    """Hand-written rows in the exact formats of the GLUE tasks the repo cannot ship."""
    return HERE / "glue_files"


@pytest.fixture(scope="session")
def tokenizer():
    """berthub's tokenizer on Google's bert-base-uncased vocabulary (shipped in data/vocabs)."""
    from berthub.tokenization import BertTokenizer

    return BertTokenizer(str(REPO_DATA / "vocabs" / "bert-base-uncased" / "vocab.txt"), do_lower_case=True)
