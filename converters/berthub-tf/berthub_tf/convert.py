"""Convert a Google TF BERT (TF1 or TF2 checkpoint, or SavedModel) into a berthub model directory.

    convert("uncased_L-12_H-768_A-12/bert_model.ckpt", "uncased_L-12_H-768_A-12/bert_config.json",
            "converted/", vocab="uncased_L-12_H-768_A-12/vocab.txt")
    convert("bert_en_uncased_L-12_H-768_A-12_4/", None, "converted/")     # a TF Hub / Kaggle SavedModel

writes `converted/` with config.json, model.safetensors (transformers' tensor names), vocab.txt
and conversion_report.json (source format and file hashes, the full name mapping, what was skipped).
The format is told from the files (formats.py). Every decision is made by a plan (plan.py for TF1,
tf2_plan.py for TF2 and SavedModels) before a byte is written; the directory is assembled in a
temporary sibling and renamed into place, so a failure never leaves a partial output behind.
Tensors are streamed one at a time into the safetensors file, so peak memory stays near the
largest single tensor (the word embeddings) instead of the whole model.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from berthub.errors import ConfigError
from berthub.model import BertConfig
from berthub.sources.settings import (
    CONFIG_NAME,
    LEGACY_CONFIG_NAME,
    SAFETENSORS_NAME,
    TOKENIZER_CONFIG_NAME,
    VOCAB_NAME,
)
from berthub_tf import outputs, saved_model
from berthub_tf.activation import Choice, choose
from berthub_tf.checkpoint import Checkpoint, normalise_prefix
from berthub_tf.errors import CheckpointFormatError, MissingFileError
from berthub_tf.formats import TF1, Source, open_source
from berthub_tf.names import Mapping
from berthub_tf.plan import Plan, make_plan
from berthub_tf.tf2_plan import make_tf2_plan

WEIGHTS_NAME = SAFETENSORS_NAME
REPORT_NAME = "conversion_report.json"
GOOGLE_CONFIG_NAMES = (LEGACY_CONFIG_NAME, CONFIG_NAME)

_SAFETENSORS_DTYPES = {"<f4": "F32", "<f2": "F16", "<f8": "F64"}
_NEVER_SPLIT = ("[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]")


@dataclass
class _Decided:
    """Everything a conversion writes, decided before writing."""

    source: Source
    plan: Plan
    config: BertConfig
    config_path: Path | None
    vocab_path: Path | None
    activation: Choice | None = None  # TF2 and SavedModel: the hidden_act chosen, and why
    notes: dict[str, object] = field(default_factory=dict)


def convert(
    checkpoint: str | Path,
    config: str | Path | None,
    output_dir: str | Path,
    vocab: str | Path | None = None,
    *,
    ignore: list[str] | tuple[str, ...] = (),
    reader: str = "auto",
    overwrite: bool = False,
    progress: bool = False,
    hidden_act: str | None = None,
) -> Path:
    """Convert `checkpoint` into the berthub model directory `output_dir`; returns its path.

    `checkpoint`: a checkpoint prefix (PREFIX.index + PREFIX.data-*; TF1 or TF2) or a SavedModel
    folder. `config`: Google's bert_config.json; required for TF1, optional for TF2 checkpoints and
    SavedModels, whose sizes are read from the variables' shapes. `ignore`: shell-style patterns of
    variables to leave out (unknown variables are otherwise an error). `reader`: "tf" (TensorFlow),
    "pure" (no TensorFlow) or "auto". `hidden_act`: the activation of a TF2 model (default: the
    SavedModel's graph, else Model Garden's meaning of bert_config.json's, else gelu_new).
    """
    config_path = outputs.require_file(config, LEGACY_CONFIG_NAME) if config is not None else None
    vocab_path = outputs.require_file(vocab, VOCAB_NAME) if vocab is not None else None
    source = open_source(checkpoint, reader)
    if source.format == TF1:
        decided = _decide_tf1(source, config_path, vocab_path, ignore, hidden_act)
    else:
        decided = _decide_tf2(source, config_path, vocab_path, ignore, hidden_act)
    output = Path(output_dir).expanduser()
    with outputs.atomic_directory(output, overwrite=overwrite) as staging:
        _write_weights(source.checkpoint, decided.plan, staging / WEIGHTS_NAME, progress)
        _write_config(decided.config, decided.plan, staging / CONFIG_NAME)
        if decided.vocab_path is not None:
            shutil.copyfile(decided.vocab_path, staging / VOCAB_NAME)
            _write_tokenizer_config(source, decided.config, staging)
        report = _report(decided)
        (staging / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return output


def _decide_tf1(source: Source, config_path: Path | None, vocab_path: Path | None, ignore: list[str] | tuple[str, ...],
                hidden_act: str | None) -> _Decided:
    if config_path is None:
        raise MissingFileError(f"'{source.path}' is a TF1 checkpoint, whose sizes only bert_config.json gives: pass "
                               f"--config PATH (or put bert_config.json beside it).")
    if hidden_act is not None:
        raise ConfigError(f"--hidden-act is for TF2 checkpoints and SavedModels; '{source.path}' is a TF1 checkpoint, "
                          f"whose activation is bert_config.json's hidden_act.")
    bert_config = BertConfig.from_json_file(config_path)
    return _Decided(source, make_plan(source.checkpoint, bert_config, ignore), bert_config, config_path, vocab_path)


def _decide_tf2(source: Source, config_path: Path | None, vocab_path: Path | None, ignore: list[str] | tuple[str, ...],
                hidden_act: str | None) -> _Decided:
    given = BertConfig.from_json_file(config_path) if config_path is not None else None
    ops = saved_model.graph_ops(source.saved_model) if source.saved_model is not None else None
    activation = choose(hidden_act, ops, given.hidden_act if given is not None else None)
    plan, bert_config = make_tf2_plan(source.checkpoint, source.entries or {}, given, activation.hidden_act, ignore)
    if vocab_path is None and source.saved_model is not None:
        vocab_path = saved_model.vocab_file(source.saved_model)
    config_note = "bert_config.json" if given is not None else "read from the variables' shapes"
    return _Decided(source, plan, bert_config, config_path, vocab_path, activation, {"config": config_note})


def convert_directory(source_dir: str | Path, output_dir: str | Path, **options: object) -> Path:
    """Convert the Google release folder `source_dir` (a checkpoint with bert_config.json and maybe
    vocab.txt, or a SavedModel) into `output_dir`; this is what `from_pretrained(..., from_tf=True)` calls."""
    checkpoint, config, vocab = find_checkpoint_files(source_dir)
    return convert(checkpoint, config, output_dir, vocab, **options)  # type: ignore[arg-type]


def find_checkpoint_files(source_dir: str | Path) -> tuple[Path, Path | None, Path | None]:
    """(checkpoint prefix or SavedModel folder, bert_config.json or None, vocab.txt or None) in a folder."""
    folder = Path(source_dir).expanduser()
    if not folder.is_dir():
        raise MissingFileError(f"'{source_dir}' is not a directory holding a TF checkpoint.")
    config = next((folder / n for n in GOOGLE_CONFIG_NAMES if (folder / n).is_file()), None)
    vocab = folder / VOCAB_NAME if (folder / VOCAB_NAME).is_file() else None
    if saved_model.is_saved_model(folder):
        return folder, config, vocab
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
    shape = mapping.reshape or mapping.tf_shape
    return shape[::-1] if mapping.transpose else shape


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
            if mapping.reshape is not None:
                array = array.reshape(mapping.reshape)  # per-head einsum kernel -> Google's 2-D kernel
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


def _write_tokenizer_config(source: Source, bert_config: BertConfig, staging: Path) -> None:
    """tokenizer_config.json where the source says how it was cased (a SavedModel's do_lower_case)."""
    from berthub.tokenizer.files import tokenizer_config

    lower = source.do_lower_case()
    if lower is not None:
        settings = tokenizer_config(lower, bert_config.max_position_embeddings, True, _NEVER_SPLIT)
        text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
        (staging / TOKENIZER_CONFIG_NAME).write_text(text, encoding="utf-8")


def _report(decided: _Decided) -> dict[str, object]:
    from berthub_tf import __version__

    source, plan = decided.source, decided.plan
    checkpoint = source.checkpoint
    extra_files = [p for p in (decided.config_path, decided.vocab_path) if p is not None]
    files = source.files() + [p for p in extra_files if p not in source.files()]
    names = {key: entry.full_name for key, entry in (source.entries or {}).items()}
    report: dict[str, object] = {
        "converter": f"berthub-tf {__version__}",
        "format": source.format,
        "reader": checkpoint.kind,
        "checksums": checkpoint.checksum_note,
        "source": {
            "checkpoint": str(source.path.resolve()),
            "files": [_describe(path, source) for path in files],
        },
        "architecture": plan.architecture,
        "head": plan.head,
        "head_options": plan.head_options,
        "mapping": [_mapping_entry(m, plan, names) for m in plan.mappings],
        "skipped": [{"name": name, "reason": reason} for name, reason in plan.skipped],
        "ignored": [{"name": name, "pattern": pattern} for name, pattern in plan.ignored],
    }
    if decided.activation is not None:
        report["hidden_act"] = {"value": decided.activation.hidden_act, "reason": decided.activation.reason}
    report.update(decided.notes)
    return report


def _describe(path: Path, source: Source) -> dict[str, object]:
    described = outputs.describe_file(path)
    if source.saved_model is not None and path.is_relative_to(source.saved_model):
        described["name"] = path.relative_to(source.saved_model).as_posix()  # variables/variables.index
    return described


def _mapping_entry(m: Mapping, plan: Plan, names: dict[str, str]) -> dict[str, object]:
    entry: dict[str, object] = {"source": m.source}
    if m.source in names:
        entry["variable"] = names[m.source]  # the Keras name Model Garden gave it
    entry.update({"target": m.target, "tf_shape": list(m.tf_shape), "dtype": str(plan.dtypes[m.source]),
                  "transposed": m.transpose})
    if m.reshape is not None:
        entry["reshaped"] = list(m.reshape)
    return entry
