"""Decide, before writing anything, what happens to every variable of a checkpoint.

Each variable is mapped to a berthub tensor, skipped as optimizer state, ignored because the
user asked, or it is a problem. Problems are collected and raised once: first disagreements with
bert_config.json (shapes, missing variables, extra layers), then variables nobody understands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from berthub.model import BertConfig
from berthub.plugins import builtin_head_class
from berthub_tf.checkpoint import Checkpoint
from berthub_tf.errors import ShapeMismatchError, UnknownVariablesError
from berthub_tf.names import (
    CLASSIFIER,
    MLM,
    NSP,
    SQUAD,
    Mapping,
    detect_heads,
    expected_variables,
    is_optimizer_state,
    matches_any,
)

# (Google variable groups present) -> the berthub head holding them; its transformers class comes from
# the head's facts (berthub.plugins.HeadFacts.architecture), not from a table here.
_HEADS = {
    frozenset(): None,
    frozenset({MLM, NSP}): "pretraining",
    frozenset({MLM}): "masked-lm",
    frozenset({NSP}): "next-sentence",
    frozenset({SQUAD}): "question-answering",
    frozenset({CLASSIFIER}): "sequence-classification",
}
_FLOAT_KINDS = "f"
_LAYER = re.compile(r"^bert/encoder/layer_(\d+)/")


@dataclass
class Plan:
    """Everything conversion will do, decided from the variable list alone (no tensor read yet)."""

    architecture: str
    head: str | None
    head_options: dict[str, int]
    mappings: list[Mapping]
    dtypes: dict[str, np.dtype]  # source name -> dtype in the checkpoint
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (variable, why: "optimizer state", ...)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (variable, pattern that matched)


def make_plan(checkpoint: Checkpoint, config: BertConfig, ignore: list[str] | tuple[str, ...] = ()) -> Plan:
    """Classify every variable of `checkpoint`; raise listing every problem if any."""
    variables = checkpoint.variables
    skipped = sorted(n for n in variables if is_optimizer_state(n))
    ignored = sorted((n, first_match(n, ignore)) for n in variables if n not in skipped and matches_any(n, ignore))
    ignored_names = {n for n, _ in ignored}
    weights = sorted(n for n in variables if n not in ignored_names and not is_optimizer_state(n))
    heads = detect_heads(weights)
    architecture, head = architecture_for(heads, checkpoint.prefix)
    num_labels = None
    if CLASSIFIER in heads and "output_weights" in variables:
        num_labels = (variables["output_weights"].shape or (0,))[0]  # a wrong rank is reported by the shape check
    mappings = expected_variables(config, heads, num_labels)
    _check_against_config(checkpoint, config, mappings, weights)
    _check_understood(checkpoint, mappings, weights)
    return Plan(
        architecture=architecture,
        head=head,
        head_options={"num_labels": num_labels} if num_labels is not None else {},
        mappings=mappings,
        dtypes={m.source: variables[m.source].dtype for m in mappings},
        skipped=[(name, "optimizer state") for name in skipped],
        ignored=ignored,
    )


def first_match(name: str, patterns: list[str] | tuple[str, ...]) -> str:
    return next(p for p in patterns if matches_any(name, [p]))


def architecture_for(heads: set[str], source: object) -> tuple[str, str | None]:
    """(transformers class, berthub head) of a checkpoint (`source`, for the error) holding these head groups."""
    key = frozenset(heads)
    if key not in _HEADS:
        groups = {MLM: "cls/predictions/*", NSP: "cls/seq_relationship/*", SQUAD: "cls/squad/*",
                  CLASSIFIER: "output_weights, output_bias"}
        found = ", ".join(groups[h] for h in sorted(heads))
        raise UnknownVariablesError(
            f"Checkpoint '{source}' holds variables of several heads ({found}); a berthub model has "
            f"one. Keep the head you want and drop the others with --ignore PATTERN "
            f"(e.g. --ignore 'cls/predictions/*')."
        )
    head = _HEADS[key]
    return (builtin_head_class(head).facts.architecture or "BertModel") if head else "BertModel", head


def _check_against_config(checkpoint: Checkpoint, config: BertConfig, mappings: list[Mapping],
                          weights: list[str]) -> None:
    present = set(weights)
    expected = [(m.source, m.source if m.source in present else None, m.tf_shape) for m in mappings]
    layers = {int(match.group(1)) for n in weights if (match := _LAYER.match(n))}
    check_shapes(checkpoint, expected, layers, config.num_hidden_layers,
                 "bert_config.json disagrees", "Pass the bert_config.json that was released with this checkpoint.")


def check_shapes(checkpoint: Checkpoint, expected: list[tuple[str, str | None, tuple[int, ...]]], layers: set[int],
                 num_hidden_layers: int, disagrees: str, advice: str) -> None:
    """Raise one ShapeMismatchError listing every expected variable (shown name, bundle key or None when
    absent, shape) that is missing, misshapen or not float, and encoder layers beyond the config's."""
    variables, problems = checkpoint.variables, []
    for name, key, shape in expected:
        if key is None:
            problems.append(f"'{name}' is missing (expected shape {list(shape)})")
        elif variables[key].shape != shape:
            problems.append(f"'{name}' has shape {list(variables[key].shape)}, the config implies {list(shape)}")
        elif variables[key].dtype == np.dtype("O"):
            problems.append(f"'{name}' has a dtype this reader cannot decode (try --reader tf)")
        elif variables[key].dtype.kind not in _FLOAT_KINDS:
            problems.append(f"'{name}' has dtype {variables[key].dtype}, not a float type")
    if layers and max(layers) >= num_hidden_layers:
        problems.append(f"the checkpoint has encoder layers up to layer_{max(layers)} but num_hidden_layers is "
                        f"{num_hidden_layers}")
    if problems:
        raise ShapeMismatchError(f"{disagrees} with checkpoint '{checkpoint.prefix}' ({len(problems)} problems): "
                                 + "; ".join(problems) + f". {advice}")


def _check_understood(checkpoint: Checkpoint, mappings: list[Mapping], weights: list[str]) -> None:
    known = {m.source for m in mappings}
    unknown = [n for n in weights if n not in known]
    if unknown:
        raise UnknownVariablesError(
            f"Checkpoint '{checkpoint.prefix}' has {len(unknown)} variables berthub does not know how to map: "
            + ", ".join(unknown)
            + ". If they are not part of the model, pass --ignore PATTERN (shell-style, e.g. --ignore 'extra/*')."
        )

