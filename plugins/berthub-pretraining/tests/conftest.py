"""Fixtures for berthub-pretraining's tests: corpora in Google's input format, made from the repo's real data."""

from __future__ import annotations

from pathlib import Path

import pytest
from pretraining_support import VOCAB, corpus_text, squad_articles


@pytest.fixture(scope="session")
def vocab_file() -> Path:
    return VOCAB


@pytest.fixture
def squad_files(tmp_path: Path) -> list[Path]:
    """Three corpus files from SQuAD contexts with the edge cases Google's reader has rules for: the first
    file ends mid-document (no blank line), so its last document goes on in the second; the second has
    Windows line ends and a stray carriage return inside a line; the third has runs of blank lines."""
    articles = squad_articles()
    first = corpus_text([p for a in articles[:4] for p in a]).rstrip("\n") + "\n"
    second = corpus_text([p for a in articles[4:8] for p in a]).replace("\n", "\r\n")
    second = second.replace(" the ", " the\r ", 3)
    third = "\n\n\n" + corpus_text([p for a in articles[8:12] for p in a]).replace("\n\n", "\n\n\n")
    paths = []
    for number, text in enumerate((first, second, third)):
        path = tmp_path / f"part-{number}.txt"
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def tokenizer():
    from berthub.tokenization import BertTokenizer

    return BertTokenizer(str(VOCAB), do_lower_case=True)


@pytest.fixture(scope="session")
def instances_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA/train and DATA/dev instance folders (max_seq_length 64) from different SQuAD articles."""
    from berthub_pretraining.build import BuildSpec, build
    from berthub_pretraining.instances import InstanceConfig

    root = tmp_path_factory.mktemp("instances")
    articles = squad_articles()
    for split, chosen in (("train", articles[:6]), ("dev", articles[30:32])):
        text = root / f"{split}.txt"
        text.write_text(corpus_text([p for a in chosen for p in a]), encoding="utf-8")
        build(BuildSpec((text,), VOCAB, True, InstanceConfig(max_seq_length=64, dupe_factor=1), root / split,
                        progress=False))
    return root
