"""Convert a Google TF BERT checkpoint into a berthub model directory.

    convert("uncased_L-12_H-768_A-12/bert_model.ckpt", "uncased_L-12_H-768_A-12/bert_config.json",
            "converted/", vocab="uncased_L-12_H-768_A-12/vocab.txt")

writes `converted/` with config.json, model.safetensors (transformers' tensor names), vocab.txt
and conversion_report.json (source file hashes, the full name mapping, what was skipped).
Every decision is made by `make_plan` before a byte is written; the directory is assembled in a
temporary sibling and renamed into place, so a failure never leaves a partial output behind.
Tensors are streamed one at a time into the safetensors file, so peak memory stays near the
largest single tensor (the word embeddings) instead of the whole model.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np

from berthub.model import BertConfig
from berthub.sources.settings import CONFIG_NAME, LEGACY_CONFIG_NAME, SAFETENSORS_NAME, VOCAB_NAME
from berthub_tf import outputs
from berthub_tf.checkpoint import Checkpoint, normalise_prefix, open_checkpoint
from berthub_tf.errors import CheckpointFormatError, MissingFileError
from berthub_tf.plan import Plan, make_plan

WEIGHTS_NAME = SAFETENSORS_NAME
REPORT_NAME = "conversion_report.json"
GOOGLE_CONFIG_NAMES = (LEGACY_CONFIG_NAME, CONFIG_NAME)

_SAFETENSORS_DTYPES = {"<f4": "F32", "<f2": "F16", "<f8": "F64"}


def convert(
    checkpoint: str | Path,
    config: str | Path,
    output_dir: str | Path,
    vocab: str | Path | None = None,
    *,
    ignore: list[str] | tuple[str, ...] = (),
    reader: str = "auto",
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Convert checkpoint `checkpoint` (a prefix: PREFIX.index + PREFIX.data-*) described by Google's
    `config` (bert_config.json) into the berthub model directory `output_dir`; returns its path.

    `ignore`: shell-style patterns of variables to leave out (unknown variables are otherwise an
    error). `reader`: "tf" (TensorFlow), "pure" (no TensorFlow) or "auto" (TensorFlow if installed).
    """
    config_path = outputs.require_file(config, LEGACY_CONFIG_NAME)
    vocab_path = outputs.require_file(vocab, VOCAB_NAME) if vocab is not None else None
    bert_config = BertConfig.from_json_file(config_path)
    source = open_checkpoint(checkpoint, reader)
    plan = make_plan(source, bert_config, ignore)
    output = Path(output_dir).expanduser()
    with outputs.atomic_directory(output, overwrite=overwrite) as staging:
        _write_weights(source, plan, staging / WEIGHTS_NAME, progress)
        _write_config(bert_config, plan, staging / CONFIG_NAME)
        if vocab_path is not None:
            shutil.copyfile(vocab_path, staging / VOCAB_NAME)
        report = _report(source, plan, config_path, vocab_path)
        (staging / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return output


def convert_directory(source_dir: str | Path, output_dir: str | Path, **options: object) -> Path:
    """Convert the Google release folder `source_dir` (a checkpoint, bert_config.json, maybe vocab.txt)
    into `output_dir`; this is what `from_pretrained(..., from_tf=True)` calls."""
    checkpoint, config, vocab = find_checkpoint_files(source_dir)
    return convert(checkpoint, config, output_dir, vocab, **options)  # type: ignore[arg-type]


def find_checkpoint_files(source_dir: str | Path) -> tuple[Path, Path, Path | None]:
    """(checkpoint prefix, config, vocab or None) inside a Google release folder."""
    folder = Path(source_dir).expanduser()
    if not folder.is_dir():
        raise MissingFileError(f"'{source_dir}' is not a directory holding a TF checkpoint.")
    config = next((folder / n for n in GOOGLE_CONFIG_NAMES if (folder / n).is_file()), None)
    if config is None:
        raise MissingFileError(f"'{folder}' has no bert_config.json; pass --config with the model's config file.")
    vocab = folder / VOCAB_NAME if (folder / VOCAB_NAME).is_file() else None
    return _find_prefix(folder), config, vocab


def _find_prefix(folder: Path) -> Path:
    prefixes = sorted(p.with_suffix("") for p in folder.glob("*.index"))
    state = folder / "checkpoint"  # TF's "latest checkpoint" file, written by Saver during training
    if len(prefixes) > 1 and state.is_file():
        for line in state.read_text(encoding="utf-8").splitlines():
            if line.startswith("model_checkpoint_path:"):
                latest = folder / Path(line.split(":", 1)[1].strip().strip('"')).name
                if latest in prefixes:
                    return latest
    if len(prefixes) == 1:
        return normalise_prefix(prefixes[0])
    if not prefixes:
        raise MissingFileError(f"'{folder}' holds no TF checkpoint (no *.index file).")
    names = ", ".join(p.name for p in prefixes)
    raise MissingFileError(f"'{folder}' holds several checkpoints ({names}); pass --checkpoint PREFIX to pick one.")


def _target_shape(plan: Plan, index: int) -> tuple[int, ...]:
    mapping = plan.mappings[index]
    return mapping.tf_shape[::-1] if mapping.transpose else mapping.tf_shape


def _write_weights(source: Checkpoint, plan: Plan, path: Path, progress: bool) -> None:
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for index, mapping in enumerate(plan.mappings):
        dtype = plan.dtypes[mapping.source]
        shape = _target_shape(plan, index)
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        header[mapping.target] = {"dtype": _safetensors_dtype(mapping.source, dtype), "shape": list(shape),
                                  "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # safetensors aligns the data section to 8 bytes
    with open(path, "wb") as handle, outputs.progress_bar(offset, "converting", progress) as bar:
        handle.write(struct.pack("<Q", len(encoded)) + encoded)
        for mapping in plan.mappings:
            array = source.read(mapping.source)
            if array.shape != mapping.tf_shape or array.dtype != plan.dtypes[mapping.source]:
                raise CheckpointFormatError(
                    f"'{mapping.source}' was listed as {plan.dtypes[mapping.source]}{list(mapping.tf_shape)} but "
                    f"read as {array.dtype}{list(array.shape)}: the checkpoint index is inconsistent."
                )
            if mapping.transpose:
                array = np.ascontiguousarray(array.T)  # [in, out] kernel -> [out, in] Linear weight
            handle.write(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)
            bar.update(array.nbytes)


def _safetensors_dtype(name: str, dtype: np.dtype) -> str:
    if dtype.str not in _SAFETENSORS_DTYPES:
        raise CheckpointFormatError(f"'{name}' has dtype {dtype}; berthub stores float16/32/64 weights only.")
    return _SAFETENSORS_DTYPES[dtype.str]


def _write_config(bert_config: BertConfig, plan: Plan, path: Path) -> None:
    extra = dict(bert_config.extra)
    extra["architectures"] = [plan.architecture]
    if "num_labels" in plan.head_options:
        labels = range(plan.head_options["num_labels"])
        extra["id2label"] = {str(i): f"LABEL_{i}" for i in labels}  # how transformers learns num_labels
        extra["label2id"] = {f"LABEL_{i}": i for i in labels}
    bert_config.replace(head=plan.head, head_options=dict(plan.head_options), extra=extra).to_json_file(path)


def _report(source: Checkpoint, plan: Plan, config_path: Path, vocab_path: Path | None) -> dict[str, object]:
    from berthub_tf import __version__

    files = [*source.files(), config_path, *([vocab_path] if vocab_path else [])]
    return {
        "converter": f"berthub-tf {__version__}",
        "reader": source.kind,
        "checksums": source.checksum_note,
        "source": {
            "checkpoint": str(source.prefix.resolve()),
            "files": [outputs.describe_file(path) for path in files],
        },
        "architecture": plan.architecture,
        "head": plan.head,
        "head_options": plan.head_options,
        "mapping": [
            {"source": m.source, "target": m.target, "tf_shape": list(m.tf_shape),
             "dtype": str(plan.dtypes[m.source]), "transposed": m.transpose}
            for m in plan.mappings
        ],
        "skipped": [{"name": name, "reason": "optimizer state"} for name in plan.skipped],
        "ignored": [{"name": name, "pattern": pattern} for name, pattern in plan.ignored],
    }
