"""Fixtures for berthub-pretraining's tests: corpora in Google's input format, made from the repo's real data."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

REPO_DATA = Path(__file__).resolve().parents[3] / "data"
VOCAB = REPO_DATA / "vocabs" / "bert-base-uncased" / "vocab.txt"


def sentences(text: str) -> list[str]:
    """A paragraph -> sentences (split after . ! ? followed by a space): one line each, Google's input format."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def squad_articles() -> list[list[str]]:
    """The shipped SQuAD dev contexts: per article, its paragraphs."""
    data = json.loads((REPO_DATA / "squad" / "dev-v1.1.json").read_text(encoding="utf-8"))["data"]
    return [[p["context"] for p in article["paragraphs"]] for article in data]


def sst_sentences() -> list[str]:
    with open(REPO_DATA / "glue" / "SST-2" / "train.tsv", encoding="utf-8", newline="") as handle:
        return [row[0] for row in list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]]


def wnut_tweets() -> list[str]:
    tweets, words = [], []
    for line in (REPO_DATA / "wnut17" / "wnut17train.conll").read_text(encoding="utf-8").split("\n"):
        if line.strip():
            words.append(line.split("\t")[0])
        elif words:
            tweets.append(" ".join(words))
            words = []
    return tweets


def corpus_text(paragraphs: list[str]) -> str:
    """Google's format: one sentence per line, a blank line after each document (here a paragraph)."""
    return "".join("\n".join(sentences(p)) + "\n\n" for p in paragraphs)


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


def tiny_model(head: str, seed: int = 0):
    """A 2-layer, 32-wide BERT on the real bert-base-uncased vocabulary with `head`, dropout off."""
    from berthub import BertConfig, BertForTask
    from berthub.trainer import set_seed

    set_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    return BertForTask(config, head=head)


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
