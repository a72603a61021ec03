"""Run Google's own create_training_instances and print its instances as JSON (one process per reference).

    python google_reference.py bert|official VOCAB FLAGS_JSON FILE [FILE ...]

`bert`: bert-tensorflow 1.0.4's create_pretraining_data (per-piece masking); `official`: tf-models-official
2.2.0's copy of the same script, which has --do_whole_word_mask. Both define the same absl flags, so each
runs in its own process. Tokenization is bert-tensorflow's FullTokenizer (Google's tokenization.py).
"""

from __future__ import annotations

import importlib
import json
import random
import sys
import types


def main() -> None:
    which, vocab, flags_json, *files = sys.argv[1:]
    flags = json.loads(flags_json)
    if which == "official":  # its tokenization module imports sentencepiece, which nothing run here uses
        sys.modules.setdefault("sentencepiece", types.ModuleType("sentencepiece"))
    module = importlib.import_module({"bert": "bert.create_pretraining_data",
                                      "official": "official.nlp.data.create_pretraining_data"}[which])
    from absl import flags as absl_flags
    from bert import tokenization

    absl_flags.FLAGS(["reference"] + (["--do_whole_word_mask=true"] if flags.get("do_whole_word_mask") else []))
    tokenizer = tokenization.FullTokenizer(vocab, do_lower_case=True)
    instances = module.create_training_instances(
        files, tokenizer, flags["max_seq_length"], flags["dupe_factor"], flags["short_seq_prob"],
        flags["masked_lm_prob"], flags["max_predictions_per_seq"], random.Random(flags["random_seed"]))
    json.dump([{"tokens": i.tokens, "segment_ids": i.segment_ids, "is_random_next": i.is_random_next,
                "masked_lm_positions": i.masked_lm_positions, "masked_lm_labels": i.masked_lm_labels}
               for i in instances], sys.stdout)


if __name__ == "__main__":
    main()
