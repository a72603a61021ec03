"""TensorFlow Model Garden's BERT variables -> Google's TF1 names -> berthub tensors, and the config they imply.

Model Garden (`official.nlp.modeling`: BertEncoder, BertEncoderV2, BertPretrainer, and the TF Hub /
Kaggle SavedModels its exporter writes) names every layer explicitly, and Keras records the names in
each variable (`full_name` in the object graph): `word_embeddings/embeddings`,
`transformer/layer_3/self_attention/query/kernel`, `pooler_transform/bias`, `cls/predictions/...`.
A prefix (`bert_encoder_v2/`, `bert/`) may precede them; the names are matched at their end.

Each role maps onto the Google TF1 variable with the same job, so names.py's table gives the berthub
tensor and its expected shape. Attention projections are per-head einsum kernels: query/key/value
`[hidden, heads, head_size]` (bias `[heads, head_size]`) and the output `[heads, head_size, hidden]`,
which reshape (row-major, head-major like Google's TF1 code) to TF1's `[hidden, hidden]` kernels. The
next-sentence kernel of BertPretrainer's classification network is `[hidden, 2]`, TF1's transposed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berthub.model import BertConfig
from berthub_tf.names import MLM, NSP, Mapping, expected_variables

AS_IS, HEADS_IN, HEADS_BIAS, HEADS_OUT, TRANSPOSED = "as is", "heads in", "heads bias", "heads out", "transposed"
LAYER_NORM_EPS = 1e-12  # every LayerNormalization of Model Garden's BERT encoders and MaskedLM


@dataclass(frozen=True)
class Role:
    """A Model Garden variable (`{i}`: the layer) and the Google TF1 variable it corresponds to."""

    model_garden: str
    google: str
    how: str
    head: str | None = None


def _roles() -> tuple[Role, ...]:
    roles = [
        Role("word_embeddings/embeddings", "bert/embeddings/word_embeddings", AS_IS),
        Role("position_embedding/embeddings", "bert/embeddings/position_embeddings", AS_IS),
        Role("type_embeddings/embeddings", "bert/embeddings/token_type_embeddings", AS_IS),
        *_pair("embeddings/layer_norm", "bert/embeddings/LayerNorm", ("gamma", "beta")),
        *_pair("pooler_transform", "bert/pooler/dense", ("kernel", "bias")),
    ]
    ours, google = "transformer/layer_{i}", "bert/encoder/layer_{i}"
    for part in ("query", "key", "value"):
        roles.append(Role(f"{ours}/self_attention/{part}/kernel", f"{google}/attention/self/{part}/kernel", HEADS_IN))
        roles.append(Role(f"{ours}/self_attention/{part}/bias", f"{google}/attention/self/{part}/bias", HEADS_BIAS))
    roles.append(Role(f"{ours}/self_attention/attention_output/kernel", f"{google}/attention/output/dense/kernel",
                      HEADS_OUT))
    roles.append(Role(f"{ours}/self_attention/attention_output/bias", f"{google}/attention/output/dense/bias", AS_IS))
    roles += _pair(f"{ours}/self_attention_layer_norm", f"{google}/attention/output/LayerNorm", ("gamma", "beta"))
    roles += _pair(f"{ours}/intermediate", f"{google}/intermediate/dense", ("kernel", "bias"))
    roles += _pair(f"{ours}/output", f"{google}/output/dense", ("kernel", "bias"))
    roles += _pair(f"{ours}/output_layer_norm", f"{google}/output/LayerNorm", ("gamma", "beta"))
    roles += _pair("cls/predictions/transform/dense", "cls/predictions/transform/dense", ("kernel", "bias"), MLM)
    roles += _pair("cls/predictions/transform/LayerNorm", "cls/predictions/transform/LayerNorm", ("gamma", "beta"),
                   MLM)
    roles.append(Role("cls/predictions/output_bias/bias", "cls/predictions/output_bias", AS_IS, MLM))
    roles.append(Role("predictions/transform/logits/kernel", "cls/seq_relationship/output_weights", TRANSPOSED, NSP))
    roles.append(Role("predictions/transform/logits/bias", "cls/seq_relationship/output_bias", AS_IS, NSP))
    return tuple(roles)


def _pair(ours: str, google: str, leaves: tuple[str, str], head: str | None = None) -> list[Role]:
    return [Role(f"{ours}/{leaf}", f"{google}/{leaf}", AS_IS, head) for leaf in leaves]


ROLES = _roles()
_PATTERNS = [(re.compile(r"(?:^|/)" + re.escape(r.model_garden).replace(r"\{i\}", r"(\d+)") + r"(?::0)?$"), r)
             for r in ROLES]
_FACTORIZED = re.compile(r"(?:^|/)embedding_projection/")


def identify(full_name: str) -> tuple[Role, int | None] | None:
    """The role of a Model Garden variable and its layer (None outside the encoder layers), if it has one."""
    for pattern, role in _PATTERNS:
        match = pattern.search(full_name)
        if match:
            return role, int(match.group(1)) if match.groups() else None
    return None


def is_factorized_embedding(full_name: str) -> bool:
    """ALBERT-style `embedding_projection` (embedding_width != hidden_size): a layer BERT does not have."""
    return bool(_FACTORIZED.search(full_name))


def role_mappings(config: BertConfig, heads: set[str]) -> list[tuple[str, Mapping, str]]:
    """(Model Garden name, its mapping with the Model Garden shape, how) for every variable the config implies."""
    google = {m.source: m for m in expected_variables(config, heads)}
    out = []
    for role in ROLES:
        if role.head is not None and role.head not in heads:
            continue
        layers = range(config.num_hidden_layers) if "{i}" in role.model_garden else [None]
        for layer in layers:
            m = google[role.google.format(i=layer)]
            shape = _model_garden_shape(m.tf_shape, role.how, config)
            reshape = m.tf_shape if role.how in (HEADS_IN, HEADS_BIAS, HEADS_OUT) else None
            transpose = m.transpose != (role.how == TRANSPOSED)
            mapping = Mapping(m.source, m.target, shape, transpose, reshape=reshape)
            out.append((role.model_garden.format(i=layer), mapping, role.how))
    return out


def _model_garden_shape(google_shape: tuple[int, ...], how: str, config: BertConfig) -> tuple[int, ...]:
    heads, size = config.num_attention_heads, config.head_size
    if how == HEADS_IN:
        return (google_shape[0], heads, size)
    if how == HEADS_BIAS:
        return (heads, size)
    if how == HEADS_OUT:
        return (heads, size, google_shape[1])
    if how == TRANSPOSED:
        return google_shape[::-1]
    return google_shape


def derive_config(shapes: dict[str, tuple[int, ...]], hidden_act: str) -> BertConfig | str:
    """The BertConfig the variables' shapes imply (`shapes`: Model Garden name -> shape, every layer),
    or a sentence saying which variable is missing to tell."""
    needed = {"word_embeddings/embeddings": 2, "position_embedding/embeddings": 2, "type_embeddings/embeddings": 2,
              "transformer/layer_0/self_attention/query/kernel": 3, "transformer/layer_0/intermediate/kernel": 2}
    absent = [f"'{name}' (rank {rank})" for name, rank in needed.items() if len(shapes.get(name, ())) != rank]
    if absent:
        return f"no {', '.join(absent)} to read the sizes from"
    vocab, hidden = shapes["word_embeddings/embeddings"]
    _, heads, _ = shapes["transformer/layer_0/self_attention/query/kernel"]
    layers = 1 + max(int(n.split("/")[1][len("layer_"):]) for n in shapes if n.startswith("transformer/layer_"))
    return BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      intermediate_size=shapes["transformer/layer_0/intermediate/kernel"][1], hidden_act=hidden_act,
                      max_position_embeddings=shapes["position_embedding/embeddings"][0],
                      type_vocab_size=shapes["type_embeddings/embeddings"][0], layer_norm_eps=LAYER_NORM_EPS)
