"""Fixtures for berthub-squad's tests: the real SQuAD v1.1 dev set and berthub's uncased tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_DATA = HERE.parents[2] / "data"


@pytest.fixture(scope="session")
def squad_dir() -> Path:
    """The folder holding the real dev-v1.1.json (10,570 questions)."""
    return REPO_DATA / "squad"


@pytest.fixture(scope="session")
def tokenizer():
    """berthub's tokenizer on Google's bert-base-uncased vocabulary (shipped in data/vocabs)."""
    from berthub.tokenization import BertTokenizer

    return BertTokenizer(str(REPO_DATA / "vocabs" / "bert-base-uncased" / "vocab.txt"), do_lower_case=True)


@pytest.fixture(scope="session")
def dev_examples(squad_dir):
    from berthub.tasks import get_task

    return get_task("squad-v1.1").read(squad_dir, "dev")
