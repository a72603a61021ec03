"""Helpers of berthub-pretraining's tests and bench: corpora in Google's input format from the repo's real data,
and a tiny model. (A module of its own: `conftest` names clash when the whole repository is collected at once.)"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

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


def tiny_model(head: str, seed: int = 0):
    """A 2-layer, 32-wide BERT on the real bert-base-uncased vocabulary with `head`, dropout off."""
    from berthub import BertConfig, BertForTask
    from berthub.training import set_seed

    set_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    return BertForTask(config, head=head)
