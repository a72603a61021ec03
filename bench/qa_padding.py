"""How much letting padded positions into the QA softmax (Google's run_squad, padding to max_seq_length)
changes the loss and the predictions, on real SQuAD v1.1 dev windows, vs berthub's masked head.

Model: MiniLM with a fresh QA head (Google's init, seed 0): the head before fine-tuning, where the
effect is largest, since a padded position's logit is the bias and real logits are near it.
Usage: python bench/qa_padding.py [--examples 48] [--max-seq-length 384]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import REPO, minilm_dir

from berthub import BertForTask, BertTokenizer
from berthub.tasks import collate, get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--max-seq-length", type=int, default=384)
    args = parser.parse_args()
    task = get_task("squad-v1.1")
    tokenizer = BertTokenizer.from_pretrained(minilm_dir())
    examples = task.read(REPO / "data/squad", "dev")[: args.examples]
    features = [f for f in task.features(examples, tokenizer, args.max_seq_length) if f.targets]
    torch.manual_seed(0)
    model = BertForTask.from_pretrained(minilm_dir(), head="question-answering")
    losses = {"google": [], "berthub": []}
    padding_mass, changed, padded = [], 0, []
    for start in range(0, len(features), 8):
        batch = collate(features[start:start + 8])
        length = args.max_seq_length  # Google pads every window to max_seq_length
        pad = length - batch["input_ids"].shape[1]
        ids, types, mask = (F.pad(batch[k], (0, pad)) for k in ("input_ids", "token_type_ids", "attention_mask"))
        with torch.no_grad():
            encoded = model.bert.encode(ids, types, mask)
            raw = model.head.project(encoded.sequence_output).unbind(-1)  # Google: no mask on positions
            masked = model.head(encoded)
        for name, (s, e) in (("google", raw), ("berthub", masked)):
            loss = (F.cross_entropy(s, batch["start_positions"], reduction="none")
                    + F.cross_entropy(e, batch["end_positions"], reduction="none")) / 2
            losses[name].extend(loss.tolist())
        probs = raw[0].softmax(-1)
        padding_mass.extend((probs * (mask == 0)).sum(-1).tolist())
        changed += int((raw[0].argmax(-1) != masked[0].argmax(-1)).sum())
        padded.append(1 - float(mask.float().mean()))
    n = len(losses["google"])
    diffs = [abs(a - b) for a, b in zip(losses["google"], losses["berthub"], strict=True)]
    print(f"{n} SQuAD v1.1 dev windows with an answer ({args.examples} questions), padded to {args.max_seq_length} "
          f"({100 * sum(padded) / len(padded):.0f}% of positions are padding)")
    print(f"mean QA loss: Google (padding in the softmax) {sum(losses['google']) / n:.4f}, "
          f"berthub (masked) {sum(losses['berthub']) / n:.4f}; mean |difference| {sum(diffs) / n:.4f}, "
          f"max {max(diffs):.4f}")
    print(f"start probability on padded positions (Google): mean {sum(padding_mass) / n:.3f}, "
          f"max {max(padding_mass):.3f}; best start lands on padding in {changed} of {n} windows")


if __name__ == "__main__":
    main()
