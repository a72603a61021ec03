"""berthub model directory -> Google-format TF checkpoint (the reverse of convert.py).

    to_tf("converted/", "google/bert_model.ckpt")

writes google/bert_model.ckpt.{index,data-00000-of-00001}, google/bert_config.json and (when
the model directory has one) google/vocab.txt, with exactly the variable names Google's
modeling.py, run_pretraining.py, run_squad.py and run_classifier.py create, so weights trained
with berthub load back into TF code. Writing uses TensorFlow's own Saver (a TF checkpoint must
carry crc32c checksums TF verifies; TF writes them correctly by construction).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from berthub.model import BertConfig
from berthub_tf import outputs
from berthub_tf.checkpoint import tensorflow_available
from berthub_tf.errors import MissingFileError, OutputExistsError, TensorFlowMissingError, UnknownVariablesError
from berthub_tf.names import CLASSIFIER, MLM, NSP, SQUAD, expected_variables

# Google's bert_config.json has exactly these keys.
GOOGLE_CONFIG_KEYS = (
    "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size", "initializer_range",
    "intermediate_size", "max_position_embeddings", "num_attention_heads", "num_hidden_layers",
    "type_vocab_size", "vocab_size",
)
# Tensors other libraries store that are not weights of their own: derived buffers and tied copies.
_DERIVED = re.compile(r"(^|\.)position_ids$|^cls\.predictions\.decoder\.(weight|bias)$")
_HEAD_KEYS = {"cls.predictions.": MLM, "cls.seq_relationship.": NSP, "qa_outputs.": SQUAD, "classifier.": CLASSIFIER}


def to_tf(model_dir: str | Path, output_prefix: str | Path, *, num_shards: int = 1) -> Path:
    """Write the berthub model in `model_dir` as a Google TF checkpoint at `output_prefix`; returns the prefix."""
    if not tensorflow_available():
        raise TensorFlowMissingError(
            "Writing a TF checkpoint needs TensorFlow; install it with pip install 'berthub-tf[tensorflow]'."
        )
    folder = Path(model_dir).expanduser()
    weights_path = outputs.require_file(folder / "model.safetensors", "model weights (model.safetensors)")
    config = BertConfig.from_json_file(outputs.require_file(folder / "config.json", "model config (config.json)"))
    arrays = google_arrays(weights_path, config)
    prefix = Path(output_prefix).expanduser()
    targets = [prefix.parent / "bert_config.json", prefix.parent / "vocab.txt"]
    taken = [str(p) for p in targets if p.exists()] + [str(p) for p in prefix.parent.glob(f"{prefix.name}.*")]
    if taken:
        raise OutputExistsError(f"Not overwriting existing files: {', '.join(taken)}. Choose another --output.")
    with outputs.atomic_files(prefix.parent) as staging:
        write_checkpoint(arrays, staging / prefix.name, num_shards=num_shards)
        google = {key: config.to_dict()[key] for key in GOOGLE_CONFIG_KEYS}
        (staging / "bert_config.json").write_text(json.dumps(google, indent=2, sort_keys=True) + "\n")
        if (folder / "vocab.txt").is_file():
            shutil.copyfile(folder / "vocab.txt", staging / "vocab.txt")
    return prefix


def google_arrays(weights_path: Path, config: BertConfig) -> dict[str, np.ndarray]:
    """The model's tensors under Google's variable names, kernels transposed back to [in, out]."""
    from safetensors import safe_open

    with safe_open(str(weights_path), framework="np") as handle:
        tensors = {_normalise(key): key for key in handle.keys() if not _DERIVED.search(key)}
        heads = {head for key in tensors for start, head in _HEAD_KEYS.items() if key.startswith(start)}
        labels = None
        if "classifier.weight" in tensors:
            labels = handle.get_slice(tensors["classifier.weight"]).get_shape()[0]
        mappings = expected_variables(config, heads, labels)
        wanted = {_normalise(m.target): m for m in mappings}
        unknown = sorted(tensors[k] for k in tensors if k not in wanted)
        missing = sorted(m.target for k, m in wanted.items() if k not in tensors and "pooler" not in k)
        if unknown or missing:
            raise UnknownVariablesError(
                f"'{weights_path}' does not match a Google BERT layout for its config: "
                f"unknown tensors: {', '.join(unknown) or 'none'}; missing tensors: {', '.join(missing) or 'none'}."
            )
        arrays = {}
        for key, mapping in wanted.items():
            if key in tensors:  # transformers drops the pooler from QA/token models; Google's code re-creates it
                array = handle.get_tensor(tensors[key])
                arrays[mapping.source] = np.ascontiguousarray(array.T) if mapping.transpose else array
    return arrays


def _normalise(key: str) -> str:
    key = key[len("bert."):] if key.startswith("bert.") else key
    return re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", key))


def write_checkpoint(arrays: dict[str, np.ndarray], prefix: str | Path, *, num_shards: int = 1) -> Path:
    """Save numpy arrays as TF variables named exactly by the dict keys (TF1 Saver, V2 format).

    `num_shards` > 1 places the variables round-robin on that many CPU devices and saves sharded,
    giving PREFIX.data-00000-of-0000N ... like a multi-host or parameter-server checkpoint.
    """
    import tensorflow as tf

    if not arrays:
        raise MissingFileError("write_checkpoint was given no arrays to save.")
    graph = tf.Graph()
    with graph.as_default():
        variables, feeds = {}, []
        for index, (name, array) in enumerate(arrays.items()):
            with tf.device(f"/cpu:{index % num_shards}"):
                variable = tf.compat.v1.get_variable(
                    name, shape=array.shape, dtype=tf.as_dtype(array.dtype), use_resource=False,
                    initializer=tf.compat.v1.zeros_initializer(), trainable=False,
                )
                value = tf.compat.v1.placeholder(variable.dtype.base_dtype, shape=array.shape)
                feeds.append((variable.assign(value), value, array))
            variables[name] = variable
        saver = tf.compat.v1.train.Saver(var_list=variables, sharded=num_shards > 1, max_to_keep=None)
    session_config = tf.compat.v1.ConfigProto(device_count={"CPU": num_shards})
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    with tf.compat.v1.Session(graph=graph, config=session_config) as session:
        for assign, value, array in feeds:
            session.run(assign.op, feed_dict={value: array})
        saver.save(session, str(prefix), write_meta_graph=False, write_state=False)
    return Path(prefix)
