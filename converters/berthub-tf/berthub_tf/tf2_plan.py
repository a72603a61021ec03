"""Decide what happens to every entry of a TF2 checkpoint or SavedModel, before writing anything.

The object graph (object_graph.py) says what each entry is: a weight, optimizer state, the save
counter, object metadata or a tokenizer setting. Each weight's Keras name gives its Model Garden role
(model_garden.py), and the roles give the config where no bert_config.json is given. Problems are
collected and raised once: disagreements with the config (missing variables, shapes, extra layers),
then variables nobody understands, each listed by its bundle key and its Keras name.
"""

from __future__ import annotations

import re
from dataclasses import replace

from berthub.model import BertConfig
from berthub_tf.checkpoint import OBJECT_GRAPH_KEY, Checkpoint
from berthub_tf.errors import UnknownVariablesError, UnsupportedFeatureError
from berthub_tf.model_garden import derive_config, identify, is_factorized_embedding, role_mappings
from berthub_tf.names import matches_any
from berthub_tf.object_graph import WEIGHT, SavedEntry
from berthub_tf.plan import Plan, architecture_for, check_shapes, first_match

_LAYER = re.compile(r"^transformer/layer_(\d+)/")


def make_tf2_plan(checkpoint: Checkpoint, entries: dict[str, SavedEntry], config: BertConfig | None,
                  hidden_act: str, ignore: list[str] | tuple[str, ...] = ()) -> tuple[Plan, BertConfig]:
    """The plan and the config (`config` with `hidden_act`, or derived from the shapes when None)."""
    skipped = [(OBJECT_GRAPH_KEY, "object graph")]
    skipped += sorted((e.key, e.kind) for e in entries.values() if e.kind != WEIGHT)
    weights = {key: e for key, e in entries.items() if e.kind == WEIGHT}
    ignored = sorted((key, _pattern(e, ignore)) for key, e in weights.items() if _pattern(e, ignore))
    ignored_keys = {key for key, _ in ignored}
    found, unknown = _identify({k: e for k, e in weights.items() if k not in ignored_keys}, checkpoint)
    unknown += [f"'{n}'" for n in sorted(checkpoint.variables) if n not in entries and n != OBJECT_GRAPH_KEY
                and not matches_any(n, ignore)]
    if config is None:
        derived = derive_config({name: checkpoint.variables[key].shape for name, key in found.items()}, hidden_act)
        if isinstance(derived, str):
            raise UnknownVariablesError(f"'{checkpoint.prefix}' is not a Model Garden BERT this converter knows: "
                                        f"{derived}. Its variables: {_sample(weights)}.")
        config = derived
    else:
        config = config.replace(hidden_act=hidden_act)
    heads = {h for name in found for h in _heads_of(name)}
    expected = role_mappings(config, heads)
    _check_against_config(checkpoint, config, expected, found)
    if unknown:
        raise UnknownVariablesError(
            f"Checkpoint '{checkpoint.prefix}' has {len(unknown)} variables berthub does not know how to map: "
            + ", ".join(unknown)
            + ". If they are not part of the model, pass --ignore PATTERN (shell-style, matched against the "
              "checkpoint key or the variable name, e.g. --ignore 'next_sentence/*')."
        )
    architecture, head = architecture_for(heads, checkpoint.prefix)
    mappings = [replace(m, source=found[name]) for name, m, _ in expected]
    return Plan(architecture=architecture, head=head, head_options={}, mappings=mappings,
                dtypes={m.source: checkpoint.variables[m.source].dtype for m in mappings},
                skipped=skipped, ignored=ignored), config


def _pattern(entry: SavedEntry, ignore: list[str] | tuple[str, ...]) -> str | None:
    for name in (entry.key, entry.full_name):
        if name and matches_any(name, ignore):
            return first_match(name, ignore)
    return None


def _identify(weights: dict[str, SavedEntry], checkpoint: Checkpoint) -> tuple[dict[str, str], list[str]]:
    """(Model Garden name -> bundle key, descriptions of the weights with no role)."""
    found: dict[str, str] = {}
    unknown = []
    for key, entry in sorted(weights.items()):
        if is_factorized_embedding(entry.full_name):
            raise UnsupportedFeatureError(
                f"Checkpoint '{checkpoint.prefix}' has factorized embeddings ('{entry.full_name}': the embedding "
                f"width differs from the hidden size, as in ALBERT); a BERT has none, so berthub cannot hold it.")
        hit = identify(entry.full_name)
        if hit is None:
            unknown.append(f"'{key}' ('{entry.full_name}')")
            continue
        role, layer = hit
        name = role.model_garden.format(i=layer)
        if name in found:
            raise UnknownVariablesError(
                f"Checkpoint '{checkpoint.prefix}' holds two variables named like '{name}' ('{found[name]}' and "
                f"'{key}'): it has two encoders or heads. Keep one with --ignore PATTERN.")
        found[name] = key
    return found, unknown


def _heads_of(name: str) -> set[str]:
    hit = identify(name)
    return {hit[0].head} if hit and hit[0].head else set()


def _check_against_config(checkpoint: Checkpoint, config: BertConfig, expected: list, found: dict[str, str]) -> None:
    layers = {int(match.group(1)) for name in found if (match := _LAYER.match(name))}
    check_shapes(checkpoint, [(name, found.get(name), mapping.tf_shape) for name, mapping, _ in expected], layers,
                 config.num_hidden_layers, "The config disagrees",
                 "Pass the bert_config.json released with this checkpoint, or none to read the sizes from the shapes.")


def _sample(weights: dict[str, SavedEntry], limit: int = 8) -> str:
    names = sorted(e.full_name or e.key for e in weights.values())
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
