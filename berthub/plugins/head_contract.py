"""The head contract: what a task head class must declare and provide, and the check that says what is missing.

Standard library and berthub.errors only (torch is imported to check a loaded head, not before), so
`berthub.plugins` can check a head it loads from the `berthub.heads` entry-point group without importing
the model, and listing plugins or model names never loads torch. Plugins import these names from
`berthub.plugins` (docs/plugins.md, "Stable API").
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from berthub.errors import PluginError

if TYPE_CHECKING:
    from torch import Tensor

    from berthub.model.bert import Encoded
    from berthub.model.config import BertConfig

IGNORE_INDEX = -100  # a target position no loss reads (transformers' value; 0.6's -1 is mapped to it)
TargetKind = Literal["scalar", "token", "vector"]
TARGET_KINDS: tuple[TargetKind, ...] = ("scalar", "token", "vector")


@dataclass(frozen=True)
class HeadFacts:
    """What berthub knows about a head class without building it (declared once, as the class's `facts`).

    attribute: the name the head is stored under in the composed model, so its parameters are
        `ATTRIBUTE.*` in checkpoints (berthub's heads use Google's / transformers': classifier, qa_outputs, cls).
    targets: batch key its loss reads -> how a batch holds it: "scalar" (one number per example), "token"
        (one id per input token, -100 = ignored) or "vector" (K floats per example).
    loss_normaliser: what the loss is a mean over, one name per term of the loss ("examples", "labelled
        tokens"; BERT pre-training has two terms). `loss(..., reduction="sum")` returns one sum per term and
        `loss_count` one count per term; exact gradient accumulation divides each sum by its count over
        the whole step. A plain string is one term.
    architecture: the transformers class reading the same checkpoint ("BertForSequenceClassification"),
        written to config.json's `architectures`; None when there is none ("BertModel" is written).
    pipeline_tag: the Hugging Face Hub task a model card declares ("text-classification"); None: none fits.
        berthub's own heads with one of the pipeline's tasks are answered by `berthub.pipeline` through it.
    outputs: the names of what `forward` returns, in order: one for a tensor, one per tensor of a tuple
        (("start_logits", "end_logits")); an exported ONNX graph names its outputs so.
    """

    attribute: str
    targets: Mapping[str, str]
    loss_normaliser: str | tuple[str, ...] = ("examples",)
    architecture: str | None = None
    pipeline_tag: str | None = None
    outputs: str | tuple[str, ...] = ("logits",)

    def __post_init__(self) -> None:
        normaliser = (self.loss_normaliser,) if isinstance(self.loss_normaliser, str) else self.loss_normaliser
        outputs = (self.outputs,) if isinstance(self.outputs, str) else self.outputs
        object.__setattr__(self, "loss_normaliser", tuple(normaliser))
        object.__setattr__(self, "outputs", tuple(outputs))
        object.__setattr__(self, "targets", dict(self.targets))  # a copy: the caller's dict may change later
        named = (("attribute", self.attribute), ("architecture", self.architecture),
                 ("pipeline_tag", self.pipeline_tag))
        problems = [f"{name} must be a non-empty string, got {value!r}" for name, value in named
                    if (value is not None or name == "attribute") and not (isinstance(value, str) and value)]
        problems += [f"targets['{key}'] is {kind!r}, not one of {', '.join(TARGET_KINDS)}"
                     for key, kind in self.targets.items() if kind not in TARGET_KINDS]
        if not self.targets:
            problems.append("targets is empty: name at least the one batch key the loss reads")
        if not self.loss_normaliser or not all(isinstance(n, str) and n for n in self.loss_normaliser):
            problems.append(f"loss_normaliser must name what each loss term is a mean over, got {normaliser!r}")
        if not self.outputs or not all(isinstance(n, str) and n for n in self.outputs):
            problems.append(f"outputs must name what forward returns, one name per tensor, got {outputs!r}")
        if problems:
            raise PluginError("HeadFacts: " + "; ".join(problems) + ".")

    @property
    def loss_terms(self) -> int:
        """How many terms the loss has: loss(..., reduction="sum") returns a [K] tensor when K > 1, else a scalar."""
        return len(self.loss_normaliser)


class Head(Protocol):
    """The head contract: an nn.Module class with these members (no berthub base class is needed).

    Optional members, used when present: `tie_weights(bert)` (share weights with the encoder, e.g. a
    decoder tied to the word embeddings), `resize_vocab(vocab_size, mean_resizing)` (follow
    `resize_token_embeddings`), `eval_outputs(logits, targets, encoded)` (what evaluation keeps per
    example instead of the logits). A head may refine its `facts` per instance in `__init__` when an
    option changes them (a multi-label option making `labels` a "vector" target), never its attribute.
    """

    facts: ClassVar[HeadFacts]

    def __init__(self, config: BertConfig, **options: Any) -> None:
        """Build from the encoder's config and keyword options (`num_labels`...)."""

    def forward(self, encoded: Encoded) -> Tensor | tuple[Tensor, ...]:
        """The encoder's outputs -> logits (a tensor or a tuple of tensors)."""

    def loss(self, logits: Any, targets: dict[str, Tensor], encoded: Encoded, reduction: str = "mean") -> Tensor:
        """The loss for `facts.targets`: their mean ("mean"), or one sum per term of `facts.loss_normaliser` ("sum")."""

    def loss_count(self, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        """How many items each summed term covers; may read only the targets and `encoded.attention_mask`
        (exact accumulation counts a whole step before the encoder runs)."""

    def options(self) -> dict[str, Any]:
        """The keyword options that rebuild this head (saved in config.json as `berthub_head_options`)."""



def head_problems(cls: Any) -> list[str]:
    """What `cls` lacks to meet the head contract (berthub.plugins.Head), each with its fix; [] when nothing.

    The members and how berthub calls them are read from the Head protocol itself: each method must
    accept the protocol's parameters (a keyword with a default is passed by name, as berthub does).
    """
    from torch import nn  # a head is loaded, so torch is needed anyway

    if not isinstance(cls, type):
        return [f"it is {cls!r}, not a class: the entry point must name the head class"]
    problems = [] if issubclass(cls, nn.Module) else ["it is not an nn.Module subclass: derive it from torch.nn.Module"]
    facts = getattr(cls, "facts", None)
    if not isinstance(facts, HeadFacts):
        problems.append(f"`facts` is {'missing' if facts is None else 'a ' + type(facts).__name__}: declare the "
                        f"class attribute {facts_line(cls)} (KIND: scalar, token or vector; see berthub.plugins."
                        "HeadFacts for loss_normaliser, architecture and pipeline_tag)")
    for member, wanted in _protocol_methods(Head).items():
        method = getattr(cls, member, None)
        if not callable(method):
            problems.append(f"`{member}` is missing: define {member}{wanted}")
            continue
        problem = _call_problem(method, wanted)
        if problem:
            problems.append(f"`{member}` cannot be called as {member}{wanted}: {problem}")
    return problems


def facts_line(cls: type) -> str:
    """The `facts = HeadFacts(...)` line to write, filled from a pre-contract head's `attribute` and `targets`."""
    if _attribute_and_targets(cls) is None:
        return "facts = HeadFacts(attribute=NAME, targets={KEY: KIND})"
    keys = ", ".join(f"{key!r}: KIND" for key in cls.targets)
    return (f"facts = HeadFacts(attribute={cls.attribute!r}, targets={{{keys}}}) in place of its `attribute` and "
            "`targets` class attributes")


def _legacy_declaration(cls: Any) -> tuple[str, tuple[str, ...]] | None:
    """(attribute, targets) of a head written for berthub 0.1, which declared those two class attributes
    instead of `facts`; None for anything else (a class with any `facts`, even a wrong one, is checked as is)."""
    if not isinstance(cls, type) or "facts" in dir(cls):
        return None
    return _attribute_and_targets(cls)


def _attribute_and_targets(cls: Any) -> tuple[str, tuple[str, ...]] | None:
    attribute, targets = getattr(cls, "attribute", None), getattr(cls, "targets", None)
    if not (isinstance(attribute, str) and attribute and isinstance(targets, (tuple, list)) and targets
            and all(isinstance(key, str) and key for key in targets)):
        return None
    return attribute, tuple(targets)


def adapt_legacy_head(cls: Any) -> Any:
    """A head written for berthub 0.1 as a subclass with the `facts` its declaration implies; anything else
    unchanged. Its targets' kinds were never declared (0.1 batched each as the task's `target_kinds` or the
    value's type said), so `declared_target_kinds` gives none for it, and its loss is a mean over "items"."""
    declaration = _legacy_declaration(cls)
    if declaration is None:
        return cls
    attribute, targets = declaration
    facts = HeadFacts(attribute=attribute, targets=dict.fromkeys(targets, "scalar"), loss_normaliser="items")
    return type(cls.__name__, (cls,), {"facts": facts, "legacy_head": True, "__module__": cls.__module__,
                                       "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})


def declared_target_kinds(head: Any) -> dict[str, str]:
    """How the head says each target is batched (`facts.targets`); {} for an adapted 0.1 head, which never said."""
    return {} if getattr(head, "legacy_head", False) else dict(head.facts.targets)


def _protocol_methods(protocol: type) -> dict[str, inspect.Signature]:
    """The methods a protocol declares (its own, and __init__) -> their signatures without `self`."""
    found = {}
    for member, value in vars(protocol).items():
        if inspect.isfunction(value) and (member == "__init__" or not member.startswith("_")):
            parameters = list(inspect.signature(value).parameters.values())[1:]
            found[member] = inspect.Signature([p.replace(annotation=p.empty) for p in parameters])  # shown plain
    return found


def _call_problem(method: Any, wanted: inspect.Signature) -> str | None:
    """Why `method` (unbound) cannot take the arguments `wanted` describes; None when it can."""
    args, kwargs = [None], {}
    for parameter in wanted.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            continue
        if parameter.default is parameter.empty:
            args.append(parameter.name)
        else:
            kwargs[parameter.name] = parameter.default
    try:
        inspect.signature(method).bind(*args, **kwargs)
    except TypeError as error:
        return str(error)
    except ValueError:  # no readable signature (a builtin): calling it will tell
        return None
    return None
