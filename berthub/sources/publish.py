"""Publish a model directory to a hub (the public one or `berthub serve`), with a model card.

    from berthub import push
    url = push("./converted", "my-org/bert-base-uncased", card={"converted_from": "Google TF checkpoint"})

The upload goes through huggingface_hub's HfApi (repo created if needed, one commit with every
file). A directory without README.md gets a generated model card: YAML metadata (library_name,
tags, license, base_model) plus what the model is, its configuration and how to load it. The
converter and the trainer pass what they know as `card=CardFacts(...)` or a plain dict.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berthub.errors import ConfigError, NotFoundError, PluginError
from berthub.plugins.loader import head_class, head_for_architecture
from berthub.sources.settings import (
    CARD_NAME,
    CONFIG_NAME,
    DEFAULT_ENDPOINT,
    SAFETENSORS_NAME,
    TRAINING_INFO_NAME,
    hub_endpoint,
    hub_token,
)

if TYPE_CHECKING:  # for the annotation only: the card reaches a head's facts through berthub.plugins
    from berthub.plugins.head_contract import HeadFacts

_SKIPPED_DIRS = {".git", ".cache", "__pycache__", ".ipynb_checkpoints"}
_CONFIG_ROWS = [("hidden_size", "Hidden size"), ("num_hidden_layers", "Layers"),
                ("num_attention_heads", "Attention heads"), ("intermediate_size", "Intermediate size"),
                ("vocab_size", "Vocabulary size"), ("max_position_embeddings", "Max sequence length"),
                ("type_vocab_size", "Token types"), ("hidden_act", "Activation")]


@dataclass
class CardFacts:
    """What a model card says beyond the config. Every field is optional.

    base_model: repo id the weights were fine-tuned from; converted_from: where converted weights came
    from (e.g. "Google TF checkpoint uncased_L-12_H-768_A-12"); task: a berthub task/head name;
    task_options: the options the task was built with; task_distribution: the pip distribution
    registering the task; metrics: {"accuracy": 0.86}; hyperparameters: {"learning_rate": 2e-5};
    tags: extra tags; license: SPDX-like id ("apache-2.0"); description: a paragraph that replaces
    the generated one.
    """

    base_model: str | None = None
    converted_from: str | None = None
    task: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)
    task_distribution: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    license: str | None = None
    description: str | None = None

    @classmethod
    def coerce(cls, facts: CardFacts | Mapping[str, Any] | None) -> CardFacts:
        """Accept a CardFacts, a dict with the same keys (unknown keys are an error) or None."""
        if facts is None or isinstance(facts, CardFacts):
            return facts or cls()
        allowed = [item.name for item in fields(cls)]
        unknown = sorted(set(facts) - set(allowed))
        if unknown:
            raise ConfigError(f"Unknown model card field(s) {unknown}; allowed: {', '.join(allowed)}.")
        return cls(**dict(facts))

    @classmethod
    def from_training(cls, directory: str | os.PathLike, **facts: Any) -> CardFacts:
        """Facts from the training.json `berthub train` saved in `directory` ({} when absent), then `facts`."""
        try:
            info = json.loads((Path(directory) / TRAINING_INFO_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        info = info if isinstance(info, dict) else {}
        known = {"task": info.get("task"), "task_options": info.get("task_options") or {},
                 "task_distribution": info.get("task_distribution"), "metrics": info.get("metrics") or {},
                 "hyperparameters": info.get("hyperparameters") or {}}
        return cls(**{**known, **facts})


def model_card(directory: str | os.PathLike, repo_id: str, card: CardFacts | Mapping[str, Any] | None = None,
               *, endpoint: str | None = None) -> str:
    """README.md text for the model in `directory`: YAML front matter, description, config, usage."""
    facts = CardFacts.from_training(directory) if card is None else CardFacts.coerce(card)
    config = _read_config(Path(directory))
    metadata = _card_metadata(config, facts)
    import yaml  # only publishing needs it; `import berthub` stays light

    parts = ["---\n" + yaml.safe_dump(metadata, sort_keys=False).strip() + "\n---", f"# {repo_id.split('/')[-1]}",
             facts.description or _describe(config, facts, _parameters(Path(directory))),
             _config_section(config), _training_section(facts), _usage_section(repo_id, endpoint, config, facts)]
    return "\n\n".join(part for part in parts if part) + "\n"


def _read_config(directory: Path) -> dict[str, Any]:
    try:
        config = json.loads((directory / CONFIG_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _card_metadata(config: dict[str, Any], facts: CardFacts) -> dict[str, Any]:
    tags = ["berthub", "bert", *([config["model_type"]] if config.get("model_type") else []),
            *([facts.task] if facts.task else []), *facts.tags]
    metadata: dict[str, Any] = {"library_name": "berthub", "license": facts.license or "unknown",
                                "tags": list(dict.fromkeys(str(tag) for tag in tags))}
    if facts.base_model:
        metadata["base_model"] = facts.base_model
    head = _head_facts(_model_head(config)) or _head_facts(facts.task)
    if head and head.pipeline_tag:
        metadata["pipeline_tag"] = head.pipeline_tag
    if facts.metrics:
        metadata["metrics"] = list(facts.metrics)
    return metadata


def _model_head(config: dict[str, Any]) -> str | None:
    """The head a saved model carries: berthub's `berthub_head`, else the one its transformers class implies."""
    return config.get("berthub_head") or head_for_architecture((config.get("architectures") or [None])[0])


def _head_facts(name: str | None) -> HeadFacts | None:
    """The facts of the head registered as `name`; None when no installed plugin registers it (or it is broken:
    a card is still worth writing without a pipeline tag, and loading the model will report the plugin)."""
    if not name:
        return None
    try:
        return head_class(name).facts
    except PluginError:
        return None


def _parameters(directory: Path) -> int | None:
    """Parameter count from the safetensors header (8-byte length + JSON), without loading weights."""
    try:
        with open(directory / SAFETENSORS_NAME, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error):
        return None
    total = 0
    for name, tensor in header.items():
        if name != "__metadata__":
            count = 1
            for dim in tensor["shape"]:
                count *= dim
            total += count
    return total


def _describe(config: dict[str, Any], facts: CardFacts, parameters: int | None) -> str:
    shape = ", ".join(f"{config[key]} {label}" for key, label in
                      (("num_hidden_layers", "layers"), ("hidden_size", "hidden size"),
                       ("num_attention_heads", "attention heads")) if key in config)
    size = f" with {parameters / 1e6:.1f}M parameters" if parameters else ""
    text = f"A BERT model{size}{f' ({shape})' if shape else ''}, published with [berthub]."
    if facts.converted_from:
        text += f" Converted from {facts.converted_from}."
    if facts.base_model:
        text += f" Fine-tuned from `{facts.base_model}`."
    if facts.task:
        text += f" Task: `{facts.task}`."
    return text + ("\n\n[berthub]: https://pypi.org/project/berthub/"
                   "\n\nThe directory is also a transformers BERT checkpoint (same config keys and tensor names).")


def _table(rows: list[tuple[str, Any]], header: tuple[str, str]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    return "\n".join(lines + [f"| {name} | {value} |" for name, value in rows])


def _config_section(config: dict[str, Any]) -> str:
    rows = [(label, config[key]) for key, label in _CONFIG_ROWS if key in config]
    return "## Configuration\n\n" + _table(rows, ("Setting", "Value")) if rows else ""


def _training_section(facts: CardFacts) -> str:
    parts = []
    if facts.metrics:
        parts.append("### Results\n\n" + _table([(k, f"{v:.4g}" if isinstance(v, float) else v)
                                                 for k, v in facts.metrics.items()], ("Metric", "Value")))
    if facts.hyperparameters:
        parts.append("### Hyper-parameters\n\n" + _table(list(facts.hyperparameters.items()),
                                                         ("Hyper-parameter", "Value")))
    return "## Training\n\n" + "\n\n".join(parts) if parts else ""


def _usage_section(repo_id: str, endpoint: str | None, config: dict[str, Any], facts: CardFacts) -> str:
    head = _model_head(config)
    text = "## How to use\n\n" + (_task_usage(repo_id, config, head) if head else _encoder_usage(repo_id))
    if facts.task:
        source = f" from the plugin distribution `{facts.task_distribution}`" if facts.task_distribution else ""
        flags = "".join(f" --task-option {shlex.quote(f'{k}={json.dumps(v)}')}" for k, v in facts.task_options.items())
        text += (f"\n\nTo score it on its task (`{facts.task}`{source}):\n\n```bash\nberthub evaluate --model "
                 f"{repo_id} --task {facts.task}{flags} --data-dir DATA_DIR\n```")
    if endpoint and endpoint.rstrip("/") != DEFAULT_ENDPOINT:
        text += (f"\n\nThis model lives on a self-hosted hub: set `BERTHUB_ENDPOINT={endpoint}` first "
                 f"(`HF_ENDPOINT={endpoint}` for transformers and huggingface_hub).")
    return text


def _encoder_usage(repo_id: str) -> str:
    return ("```python\nfrom berthub import BertModel, BertTokenizer\n\n"
            f'tokenizer = BertTokenizer.from_pretrained("{repo_id}")\n'
            f'model = BertModel.from_pretrained("{repo_id}")\n```')


def _task_usage(repo_id: str, config: dict[str, Any], head: str) -> str:
    """How to load a fine-tuned model: BertForTask (and the BertFor* class), where the head comes from, its labels."""
    architecture = (config.get("architectures") or ["BertModel"])[0]
    classes = ["BertForTask"] + ([architecture] if architecture.startswith("BertFor") else [])
    lines = [f"from berthub import {', '.join(classes)}, BertTokenizer", "",
             f'tokenizer = BertTokenizer.from_pretrained("{repo_id}")',
             f'model = BertForTask.from_pretrained("{repo_id}")  # BERT + its \'{head}\' head']
    if len(classes) > 1:
        lines.append(f'model = {architecture}.from_pretrained("{repo_id}")  # the same, as a 0.6 / transformers class')
    text = "```python\n" + "\n".join(lines) + "\n```"
    distribution = config.get("berthub_head_distribution")
    if distribution and distribution != "berthub":
        text += (f"\n\nThe `{head}` head comes from the plugin distribution `{distribution}`; install it first: "
                 f"`pip install {distribution}`.")
    elif distribution:
        text += f"\n\nThe `{head}` head is built into berthub."
    labels = config.get("id2label")
    names = [str(labels[k]) for k in sorted(labels, key=lambda k: int(k) if str(k).isdigit() else 0)] \
        if isinstance(labels, dict) else []
    if config.get("problem_type") == "regression" and all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        outputs = len(names) or config.get("num_labels") or 1
        text += ("\n\nOutput: one regression value" if outputs == 1 else f"\n\nOutputs: {outputs} regression values") \
            + " (config.json `problem_type`: `regression`), e.g. a score, not a class label."
    elif names:
        text += f"\n\nOutputs, in id order (config.json `id2label`): {', '.join(f'`{n}`' for n in names)}."
    return text


def _files(directory: Path) -> list[tuple[str, Path]]:
    """(path in repo, local path) of every file to upload, skipping VCS and cache folders."""
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not _SKIPPED_DIRS.intersection(relative.parts[:-1]):
            found.append((relative.as_posix(), path))
    return found


@contextlib.contextmanager
def _plain_http_uploads(endpoint: str) -> Iterator[None]:
    """Use LFS over plain HTTP instead of Xet for hubs other than the public one.

    huggingface_hub uploads through Xet whenever hf_xet is installed, and a self-hosted hub has no Xet
    storage. The switch is a module-level constant, so it is flipped for the duration of the push only.
    """
    from huggingface_hub import constants

    previous = constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_DISABLE_XET = previous or endpoint != DEFAULT_ENDPOINT
    try:
        yield
    finally:
        constants.HF_HUB_DISABLE_XET = previous


def push(directory: str | os.PathLike, repo_id: str, *, endpoint: str | None = None, token: str | None = None,
         revision: str = "main", commit_message: str | None = None, private: bool = False,
         card: CardFacts | Mapping[str, Any] | None = None) -> str:
    """Upload every file of `directory` to `repo_id` as one commit; returns the commit URL.

    The repo is created when missing (`private` applies then). A generated model card is added
    when the directory has no README.md (the directory itself is not modified). The returned
    string is a huggingface_hub CommitInfo: `.oid` is the commit id.
    """
    folder = Path(directory)
    if not (folder / CONFIG_NAME).is_file():
        raise NotFoundError(f"Cannot push '{directory}': it is not a model directory (no config.json). "
                            "Save a model there first (model.save_pretrained(DIR) or `berthub convert`).")
    from huggingface_hub import CommitOperationAdd, HfApi

    hub = hub_endpoint(endpoint)
    api = HfApi(endpoint=hub, token=hub_token(token), library_name="berthub")
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in _files(folder)]
    if not (folder / CARD_NAME).exists():
        text = model_card(folder, repo_id, card, endpoint=hub)
        operations.append(CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=text.encode()))
    message = commit_message or f"Upload {folder.resolve().name} with berthub"
    from berthub.sources.hub_errors import push_errors

    with _plain_http_uploads(hub), push_errors(repo_id, hub):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        return api.create_commit(repo_id, operations, commit_message=message, revision=revision)
