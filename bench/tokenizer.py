"""berthub BertTokenizer vs transformers' BERT tokenizers on SST-2 train (67,349 sentences), CPU, one run.

The task for every tokenizer: the whole list of sentences -> padded input_ids / token_type_ids /
attention_mask LongTensors (padding to the longest, no truncation). Rows:
  pure: berthub use_fast=False   vs  transformers' Python tokenizer (BertTokenizerLegacy)
  fast: berthub use_fast=True    vs  transformers' tokenizers-backed BertTokenizer, called on the batch
Each timed run uses a fresh tokenizer (berthub's word cache starts empty) after one warm-up call on a
short text; the time is the best of --repeats runs. "same ids" compares all three tensors with the
reference's, and berthub pure with berthub fast.
Usage: python bench/tokenizer.py [--repeats 3] [--limit N] [--vocab bert-base-uncased]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import REPO

NAMES = ("input_ids", "token_type_ids", "attention_mask")


def sst2_train(limit: int | None) -> list[str]:
    lines = (REPO / "data/glue/SST-2/train.tsv").read_text(encoding="utf-8").split("\n")[1:]
    return [line.split("\t")[0] for line in lines if line][:limit]


def makers(vocab_file: Path, lower: bool) -> dict:
    from transformers import BertTokenizer as HFFast
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    from berthub.tokenization import BertTokenizer, load_vocab

    vocab = {token: i for i, token in enumerate(load_vocab(vocab_file))}
    return {
        "berthub pure": lambda: BertTokenizer(vocab_file, do_lower_case=lower, use_fast=False).batch_encode,
        "transformers legacy": lambda: _hf_call(BertTokenizerLegacy(str(vocab_file), do_lower_case=lower)),
        "berthub fast": lambda: BertTokenizer(vocab_file, do_lower_case=lower, use_fast=True).batch_encode,
        "transformers fast": lambda: _hf_call(HFFast(vocab=dict(vocab), do_lower_case=lower)),
    }


def _hf_call(tokenizer):
    def encode(texts):
        return dict(tokenizer(texts, padding="longest", return_token_type_ids=True, return_tensors="pt"))

    return encode


def best_time(make, texts: list[str], repeats: int) -> tuple[float, dict]:
    best, out = float("inf"), None
    for _ in range(repeats):
        encode = make()
        encode(["warm up"])
        start = time.perf_counter()
        out = encode(texts)
        best = min(best, time.perf_counter() - start)
    return best, out


def same(a: dict, b: dict) -> str:
    return "yes" if all(torch.equal(a[name], b[name]) for name in NAMES) else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N sentences only")
    parser.add_argument("--vocab", default="bert-base-uncased", help="folder under data/vocabs")
    args = parser.parse_args()
    texts = sst2_train(args.limit)
    vocab_file = REPO / "data/vocabs" / args.vocab / "vocab.txt"
    lower = "uncased" in args.vocab or "chinese" in args.vocab
    seconds, outputs = {}, {}
    for name, make in makers(vocab_file, lower).items():
        seconds[name], outputs[name] = best_time(make, texts, args.repeats)
    tokens = int(outputs["berthub pure"]["attention_mask"].sum())
    print(f"SST-2 train: {len(texts)} sentences, {tokens} tokens with [CLS]/[SEP], vocab {args.vocab}, "
          f"torch threads {torch.get_num_threads()}, best of {args.repeats}")
    print(f"{'path':<6} {'berthub s':>10} {'reference':<20} {'ref s':>8} {'speed-up':>9} {'same ids':>9}")
    rows = (("pure", "berthub pure", "transformers legacy"), ("fast", "berthub fast", "transformers fast"))
    for path, ours, ref in rows:
        ratio = seconds[ref] / seconds[ours]
        print(f"{path:<6} {seconds[ours]:>10.3f} {ref:<20} {seconds[ref]:>8.3f} {ratio:>8.2f}x "
              f"{same(outputs[ours], outputs[ref]):>9}")
    print(f"berthub pure and fast give the same tensors: {same(outputs['berthub pure'], outputs['berthub fast'])}")


if __name__ == "__main__":
    main()
