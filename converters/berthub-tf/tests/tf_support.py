"""What the converter tests and their fixtures (conftest.py) share: a module of its own, because several
conftest.py files in one pytest session all import as `conftest`."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GOOGLE_CONFIG_KEYS = ("attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size",
                      "initializer_range", "intermediate_size", "max_position_embeddings", "num_attention_heads",
                      "num_hidden_layers", "type_vocab_size", "vocab_size")

@dataclass(frozen=True)
class Release:
    """A Google-style release folder: bert_model.ckpt.*, bert_config.json, vocab.txt."""

    folder: Path
    variables: dict[str, np.ndarray]  # exactly what was saved

    @property
    def prefix(self) -> Path:
        return self.folder / "bert_model.ckpt"

    @property
    def config(self) -> Path:
        return self.folder / "bert_config.json"

    @property
    def vocab(self) -> Path:
        return self.folder / "vocab.txt"


def write_release(folder: Path, variables: dict[str, np.ndarray], minilm_dir: Path, num_shards: int = 1) -> Release:
    from berthub_tf.to_tf import write_checkpoint

    folder.mkdir(parents=True)
    write_checkpoint(variables, folder / "bert_model.ckpt", num_shards=num_shards)
    hf = json.loads((minilm_dir / "config.json").read_text())
    (folder / "bert_config.json").write_text(json.dumps({k: hf[k] for k in GOOGLE_CONFIG_KEYS}, indent=2))
    shutil.copyfile(minilm_dir / "vocab.txt", folder / "vocab.txt")
    return Release(folder, variables)


MODEL_GARDEN_ARCHIVE = Path(__file__).parent / "fixtures" / "model_garden.tar.xz"
# folder -> (format, architecture) the converter must recognise from the files alone
MODEL_GARDEN = {"encoder": ("TF2 checkpoint", "BertModel"), "model": ("TF2 checkpoint", "BertModel"),
                "v2": ("TF2 checkpoint", "BertModel"), "pretrainer": ("TF2 checkpoint", "BertForPreTraining"),
                "hub": ("SavedModel", "BertForMaskedLM"), "hub_erf": ("SavedModel", "BertModel")}
# A padded batch: rows of 8, 6 and 3 real tokens, the second with two segments; masked-LM positions at real tokens.
TF2_IDS = np.array([[2, 7, 9, 10, 18, 11, 27, 3], [2, 8, 12, 13, 3, 26, 0, 0], [2, 25, 3, 0, 0, 0, 0, 0]], np.int32)
TF2_MASK = (TF2_IDS > 0).astype(np.int32)
TF2_TYPES = np.array([[0] * 8, [0, 0, 0, 0, 0, 1, 0, 0], [0] * 8], np.int32)
TF2_MLM_POSITIONS = np.array([[1, 6], [3, 5], [1, 2]], np.int32)
