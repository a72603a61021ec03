"""Google's TF variable names <-> berthub's (transformers') tensor names, and what to skip.

The mapping is explicit: for a given BertConfig and set of heads, `expected_variables` lists every
variable Google's modeling.py, run_pretraining.py, run_squad.py and run_classifier.py create,
with the berthub name, the expected TF shape, and whether the kernel is transposed (TF dense
kernels are [in, out]; torch Linear weights are [out, in]). Anything else in a checkpoint is
either optimizer state (skipped and listed), ignored on request, or an error.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from berthub.model import BertConfig

# Head groups, detected by the variables present in a checkpoint.
MLM, NSP, SQUAD, CLASSIFIER = "masked-lm", "next-sentence", "squad", "classifier"

_HEAD_PREFIXES = {
    MLM: ("cls/predictions/",),
    NSP: ("cls/seq_relationship/",),
    SQUAD: ("cls/squad/",),
    CLASSIFIER: ("output_weights", "output_bias"),
}

# Optimizer state that Google's optimization.py (AdamWeightDecayOptimizer), tf.train optimizers,
# LAMB and mixed-precision loss scaling leave in checkpoints: never weights.
_SLOT_SUFFIX = re.compile(
    r"/(adam_m|adam_v|lamb_m|lamb_v|Adam|Adam_1|Momentum|Adagrad|RMSProp|RMSProp_1|Ftrl|Ftrl_1|"
    r"AdamWeightDecayOptimizer|AdamWeightDecayOptimizer_1|ExponentialMovingAverage)$"
)
_TOP_LEVEL_STATE = re.compile(
    r"^(global_step|beta1_power|beta2_power|loss_scale|current_loss_scale|good_steps)(_\d+)?$"
)


@dataclass(frozen=True)
class Mapping:
    """One checkpoint variable and the berthub tensor it becomes."""

    source: str  # Google's variable name
    target: str  # berthub / transformers tensor name
    tf_shape: tuple[int, ...]  # the shape the variable must have in the checkpoint
    transpose: bool  # dense kernel [in, out] -> Linear weight [out, in]
    reshape: tuple[int, ...] | None = None  # first reshaped to this (Model Garden's per-head kernels, model_garden.py)


def is_optimizer_state(name: str) -> bool:
    """True for Adam/LAMB/momentum slots, global_step and loss-scale bookkeeping."""
    return bool(_SLOT_SUFFIX.search(name) or _TOP_LEVEL_STATE.match(name))


def matches_any(name: str, patterns: list[str]) -> bool:
    """Shell-style patterns (`*` crosses `/`), e.g. `cls/predictions/*` or `*/adam_*`."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def detect_heads(names: list[str]) -> set[str]:
    """Which head groups have at least one (non-optimizer) variable among `names`."""
    found = set()
    for name in names:
        if is_optimizer_state(name):
            continue
        for head, prefixes in _HEAD_PREFIXES.items():
            if any(name == p or name.startswith(p) for p in prefixes):
                found.add(head)
    return found


def expected_variables(config: BertConfig, heads: set[str], num_labels: int | None = None) -> list[Mapping]:
    """Every variable a checkpoint with this config and these heads must hold, in a stable order.

    The `bert.` prefix is used whenever there is a head (transformers' layout); a bare encoder
    is saved without it.
    """
    prefix = "bert." if heads else ""
    h, i = config.hidden_size, config.intermediate_size
    out = [
        *_plain(f"{prefix}embeddings.word_embeddings.weight", "bert/embeddings/word_embeddings",
                (config.vocab_size, h)),
        *_plain(f"{prefix}embeddings.position_embeddings.weight", "bert/embeddings/position_embeddings",
                (config.max_position_embeddings, h)),
        *_plain(f"{prefix}embeddings.token_type_embeddings.weight", "bert/embeddings/token_type_embeddings",
                (config.type_vocab_size, h)),
        *_layer_norm(f"{prefix}embeddings.LayerNorm", "bert/embeddings/LayerNorm", h),
    ]
    for layer in range(config.num_hidden_layers):
        src, dst = f"bert/encoder/layer_{layer}", f"{prefix}encoder.layer.{layer}"
        for part in ("query", "key", "value"):
            out += _dense(f"{dst}.attention.self.{part}", f"{src}/attention/self/{part}", h, h)
        out += _dense(f"{dst}.attention.output.dense", f"{src}/attention/output/dense", h, h)
        out += _layer_norm(f"{dst}.attention.output.LayerNorm", f"{src}/attention/output/LayerNorm", h)
        out += _dense(f"{dst}.intermediate.dense", f"{src}/intermediate/dense", h, i)
        out += _dense(f"{dst}.output.dense", f"{src}/output/dense", i, h)
        out += _layer_norm(f"{dst}.output.LayerNorm", f"{src}/output/LayerNorm", h)
    out += _dense(f"{prefix}pooler.dense", "bert/pooler/dense", h, h)
    if MLM in heads:
        out += _dense("cls.predictions.transform.dense", "cls/predictions/transform/dense", h, h)
        out += _layer_norm("cls.predictions.transform.LayerNorm", "cls/predictions/transform/LayerNorm", h)
        out += _plain("cls.predictions.bias", "cls/predictions/output_bias", (config.vocab_size,))
    if NSP in heads:
        out += _plain("cls.seq_relationship.weight", "cls/seq_relationship/output_weights", (2, h))
        out += _plain("cls.seq_relationship.bias", "cls/seq_relationship/output_bias", (2,))
    if SQUAD in heads:
        out += _plain("qa_outputs.weight", "cls/squad/output_weights", (2, h))
        out += _plain("qa_outputs.bias", "cls/squad/output_bias", (2,))
    if CLASSIFIER in heads:
        labels = num_labels if num_labels is not None else 2
        out += _plain("classifier.weight", "output_weights", (labels, h))
        out += _plain("classifier.bias", "output_bias", (labels,))
    return out


def _plain(target: str, source: str, shape: tuple[int, ...]) -> list[Mapping]:
    # Embedding tables, biases and run_squad/run_classifier `output_weights` ([out, in] already).
    return [Mapping(source, target, shape, transpose=False)]


def _dense(target: str, source: str, fan_in: int, fan_out: int) -> list[Mapping]:
    return [
        Mapping(f"{source}/kernel", f"{target}.weight", (fan_in, fan_out), transpose=True),
        Mapping(f"{source}/bias", f"{target}.bias", (fan_out,), transpose=False),
    ]


def _layer_norm(target: str, source: str, width: int) -> list[Mapping]:
    return [
        Mapping(f"{source}/gamma", f"{target}.weight", (width,), transpose=False),
        Mapping(f"{source}/beta", f"{target}.bias", (width,), transpose=False),
    ]
