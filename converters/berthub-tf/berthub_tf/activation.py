"""Which gelu a TF2 BERT computes, so the converted model computes the same.

Model Garden's `"gelu"` (`tf_utils.get_activation("gelu")`, the default of BertEncoder and
BertEncoderV2, and what its exporters write into configs) is the tanh approximation, which berthub
calls `gelu_new`; berthub's `"gelu"` is Google's 2018 exact erf form. TensorFlow writes the two as
different ops: the tanh form as `Pow` (x^3) feeding `Tanh`, the erf form as `Erf` (or `Erfc`).
A SavedModel carries its graph, so the graph decides; a TF2 checkpoint holds no graph, so its
activation comes from --hidden-act, else bert_config.json (read with Model Garden's meaning),
else Model Garden's default.
"""

from __future__ import annotations

from dataclasses import dataclass

from berthub.errors import ConfigError

_SIGNATURES = {"gelu": {"Erf", "Erfc"}, "gelu_new": {"Pow"}, "relu": {"Relu"}}
_DESCRIBED = {"gelu": "exact erf gelu", "gelu_new": "the tanh approximation of gelu", "relu": "relu"}


@dataclass(frozen=True)
class Choice:
    hidden_act: str
    reason: str

    def line(self) -> str:
        return f"hidden_act: {self.hidden_act} ({self.reason})"


def choose(override: str | None, graph_ops: set[str] | None, config_act: str | None) -> Choice:
    """The activation to write into config.json, and why (one sentence)."""
    if override is not None:
        return Choice(override, "--hidden-act")
    if graph_ops is not None:
        return _from_graph(graph_ops)
    if config_act == "gelu":
        return Choice("gelu_new", 'bert_config.json says "gelu", which Model Garden computes as the tanh '
                                  'approximation; pass --hidden-act gelu if the model was trained with exact erf gelu')
    if config_act is not None:
        return Choice(config_act, "bert_config.json")
    return Choice("gelu_new", "a TF2 checkpoint holds no graph; Model Garden's default gelu is the tanh "
                              "approximation; pass --hidden-act gelu if the model was trained with exact erf gelu")


def _from_graph(ops: set[str]) -> Choice:
    found = sorted(act for act, signature in _SIGNATURES.items() if ops & signature)
    if len(found) == 1:
        act = found[0]
        shown = ", ".join(sorted(ops & _SIGNATURES[act]))
        return Choice(act, f"the SavedModel's graph computes {_DESCRIBED[act]} ({shown} ops)")
    seen = " and ".join(_DESCRIBED[act] for act in found) or "none of exact gelu, tanh gelu or relu"
    raise ConfigError(f"The SavedModel's graph computes {seen}, so berthub cannot tell the activation of "
                             f"its feed-forward layers. Pass --hidden-act (gelu, gelu_new, relu, ...).")
