"""BertModel: Google's 2018 BERT encoder, op for op, in one file.

embeddings (word + position + token type, LayerNorm, dropout)
  -> num_hidden_layers x [self-attention -> add & LayerNorm -> feed-forward (exact erf gelu) -> add & LayerNorm]
  -> pooler (dense + tanh on the first token).

Module and parameter names are those of Google's checkpoint as transformers spells them
(`encoder.layer.0.attention.self.query.weight`), so saved weights load in either library.

Padding is never computed on: when `attention_mask` marks padded positions, the real tokens are
packed into one [N, H] matrix for every dense layer and only re-padded around the attention
product itself. Results for real tokens are the same as the padded computation; hidden states at
padded positions are returned as zeros. While torch records a graph (trace, export, compile) the
padded computation with the mask is used instead, so the graph takes `attention_mask` as an input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from berthub.config import BertConfig
from berthub.errors import InputError
from berthub.pretrained import BertPreTrainedModel


def gelu(x: Tensor) -> Tensor:
    """Google BERT's gelu: the exact erf form, x * 0.5 * (1 + erf(x / sqrt(2))), not the tanh approximation.

    torch's `gelu(approximate="none")` computes exactly this formula in one fused kernel.
    """
    return F.gelu(x, approximate="none")


def gelu_tanh(x: Tensor) -> Tensor:
    """The tanh approximation of gelu (OpenAI GPT's), for configs that ask for `gelu_new`."""
    return F.gelu(x, approximate="tanh")


ACT2FN = {"gelu": gelu, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "relu": F.relu, "tanh": torch.tanh}


@dataclass
class Encoded:
    """What the encoder hands to a task head.

    sequence_output: [B, T, H] last layer (zeros at padded positions); pooled_output: [B, H];
    attention_mask: [B, T] (1 = real token) or None; num_choices: set when inputs were [B, C, T].
    """

    sequence_output: Tensor
    pooled_output: Tensor
    attention_mask: Tensor | None = None
    num_choices: int | None = None


def recording_graph() -> bool:
    """True while torch records a graph instead of running eagerly: torch.jit.trace / script, the ONNX
    exporters, torch.export and torch.compile. A recorded graph must not bake in one example's padding."""
    return bool(torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
                or torch.compiler.is_compiling() or torch.compiler.is_exporting())


class _Layout:
    """Where the real tokens of a [B, T] batch are, to pack them for dense layers and unpack for attention.

    Eagerly, a padded batch is packed ([N, F], real tokens only) so no dense layer computes on padding.
    That choice looks at the data (`keep.all()`), which a recorded graph cannot do without freezing the
    example's answer into the graph; there, every position is computed and the mask does the work
    (padded keys are masked in attention, padded outputs are zeroed), which gives the same results.
    """

    def __init__(self, attention_mask: Tensor | None, batch: int, length: int) -> None:
        self.batch, self.length = batch, length
        self.index: Tensor | None = None
        self.mask: Tensor | None = None
        self.padding: Tensor | None = None
        if attention_mask is None:
            return
        real = attention_mask.bool()
        if recording_graph():
            self.mask = real[:, None, None, :]
            self.padding = ~real[:, :, None]
        elif not bool(real.all()):
            self.index = real.reshape(-1).nonzero().squeeze(1)
            self.mask = real[:, None, None, :]

    def pack(self, x: Tensor) -> Tensor:
        """[B, T, F] -> [N, F] with only the real tokens (all B * T of them while recording a graph)."""
        flat = x.reshape(self.batch * self.length, x.shape[-1])
        return flat if self.index is None else flat.index_select(0, self.index)

    def unpack(self, x: Tensor) -> Tensor:
        """[N, F] -> [B, T, F]; what sits at padded positions is never read by a real token."""
        if self.index is not None:
            full = x.new_zeros(self.batch * self.length, x.shape[-1])
            x = full.index_copy(0, self.index, x)
        return x.view(self.batch, self.length, x.shape[-1])

    def output(self, x: Tensor) -> Tensor:
        """[N, F] -> [B, T, F] with zeros at padded positions, as the model returns hidden states."""
        x = self.unpack(x)
        return x if self.padding is None else x.masked_fill(self.padding, 0.0)


def _embedding(rows: int, dim: int) -> nn.Embedding:
    # Handing nn.Embedding its (uninitialised) weight skips its normal_() init: init_weights() sets
    # Google's init, and on the meta device normal_() would import torch._dynamo (seconds per process).
    return nn.Embedding(rows, dim, _weight=torch.empty(rows, dim))


class BertEmbeddings(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = _embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = _embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = _embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        embeddings = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


_QKV = ("query", "key", "value")


class BertSelfAttention(nn.Module):
    """Multi-head self-attention whose query, key and value projections are one stored parameter.

    `qkv` ([3H, H] weight, [3H] bias) is the parameter itself, not a copy kept beside three others, so
    every optimizer and in-place update reaches the forward: one matmul instead of three, which
    bench/model.py measured clearly faster on CPU (bench/RESULTS.md). Files keep Google's names:
    `state_dict()` hands out `query`/`key`/`value` (views into `qkv`) and `load_state_dict` joins them,
    so saved weights load in transformers and pytorch-pretrained-BERT 0.6 and theirs load here.
    `.query`, `.key` and `.value` give those views too (`.weight`, `.bias`): reading them or `copy_`
    into them works as on the old Linear layers.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.num_heads, self.head_size = config.num_attention_heads, config.head_size
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob
        self.register_state_dict_post_hook(_split_qkv)
        self.register_load_state_dict_pre_hook(_join_qkv)

    query = property(lambda self: _Projection(self.qkv, 0), doc="the query projection's part of `qkv`")
    key = property(lambda self: _Projection(self.qkv, 1), doc="the key projection's part of `qkv`")
    value = property(lambda self: _Projection(self.qkv, 2), doc="the value projection's part of `qkv`")

    def forward(self, hidden: Tensor, layout: _Layout) -> Tensor:
        qkv = layout.unpack(self.qkv(hidden))
        qkv = qkv.view(layout.batch, layout.length, 3, self.num_heads, self.head_size).permute(2, 0, 3, 1, 4)
        context = F.scaled_dot_product_attention(
            qkv[0], qkv[1], qkv[2], attn_mask=layout.mask, dropout_p=self.dropout_prob if self.training else 0.0
        )
        return layout.pack(context.transpose(1, 2).reshape(layout.batch, layout.length, -1))


class _Projection:
    """One of query/key/value: `weight` [H, H] and `bias` [H] are views into the fused `qkv` layer."""

    def __init__(self, fused: nn.Linear, part: int) -> None:
        size = fused.out_features // 3
        self.weight = fused.weight[part * size:(part + 1) * size]
        self.bias = fused.bias[part * size:(part + 1) * size]

    def __call__(self, hidden: Tensor) -> Tensor:
        return F.linear(hidden, self.weight, self.bias)


def _split_qkv(module: nn.Module, state: dict[str, Tensor], prefix: str, local_metadata: dict) -> None:
    """state_dict hook: `qkv.weight/bias` -> Google's `query/key/value.weight/bias` (views, no copy).

    With keep_vars=True (the live Parameters, which tools such as torch.onnx's TorchScript exporter map
    back to the module) the fused Parameters stay listed too, beside detached views under Google's names."""
    fused = {kind: state.get(f"{prefix}qkv.{kind}") for kind in ("weight", "bias")}
    for kind, tensor in fused.items():
        if tensor is not None and not isinstance(tensor, nn.Parameter):
            del state[f"{prefix}qkv.{kind}"]
    for index, name in enumerate(_QKV):
        for kind, tensor in fused.items():
            if tensor is not None:
                state[f"{prefix}{name}.{kind}"] = tensor.detach().chunk(3)[index]


def _join_qkv(module: nn.Module, state: dict[str, Tensor], prefix: str, *_: object) -> None:
    """load_state_dict hook: Google's `query/key/value.*` -> `qkv.*`. Left alone unless all three are there,
    so a partial set is reported as unexpected keys (and `qkv` as missing) instead of half-loaded."""
    for kind in ("weight", "bias"):
        names = [f"{prefix}{name}.{kind}" for name in _QKV]
        if all(name in state for name in names):
            state[f"{prefix}qkv.{kind}"] = torch.cat([state.pop(name) for name in names])


class BertSelfOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden: Tensor, layout: _Layout) -> Tensor:
        return self.output(self.self(hidden, layout), hidden)


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]

    def forward(self, hidden: Tensor) -> Tensor:
        return self.act(self.dense(hidden))


class BertOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden: Tensor, layout: _Layout) -> Tensor:
        attended = self.attention(hidden, layout)
        return self.output(self.intermediate(attended), attended)


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden: Tensor, layout: _Layout, keep_all: bool) -> list[Tensor]:
        """Packed [N, H] in; every layer's packed output (or only the last one's) out."""
        outputs = []
        for layer in self.layer:
            hidden = layer(hidden, layout)
            if keep_all:
                outputs.append(hidden)
        return outputs if keep_all else [hidden]


class BertPooler(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, sequence_output: Tensor) -> Tensor:
        return self.activation(self.dense(sequence_output[:, 0]))


class BertModel(BertPreTrainedModel):
    """The BERT encoder (pytorch-pretrained-BERT 0.6 interface).

    model(input_ids [B, T], token_type_ids [B, T] = zeros, attention_mask [B, T] = ones,
          output_all_encoded_layers=True)
      -> (list of num_hidden_layers tensors [B, T, H], pooled_output [B, H]);
         with output_all_encoded_layers=False the first element is the last layer [B, T, H].
    """

    def __init__(self, config: BertConfig) -> None:
        if config.head is not None:  # the encoder alone carries no head, whatever the file had
            config = config.replace(head=None, head_options={})
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)
        self.init_weights()

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        output_all_encoded_layers: bool = True,
    ) -> tuple[list[Tensor] | Tensor, Tensor]:
        layers, pooled = self._run(input_ids, token_type_ids, attention_mask, output_all_encoded_layers)
        return (layers if output_all_encoded_layers else layers[-1]), pooled

    def encode(
        self, input_ids: Tensor, token_type_ids: Tensor | None = None, attention_mask: Tensor | None = None
    ) -> Encoded:
        """Last layer and pooled output, as task heads consume them. Accepts [B, C, T] multiple-choice inputs."""
        num_choices = None
        if input_ids.dim() == 3:
            num_choices = input_ids.shape[1]
            flat = [None if t is None else t.reshape(-1, t.shape[-1]) for t in (token_type_ids, attention_mask)]
            input_ids, (token_type_ids, attention_mask) = input_ids.reshape(-1, input_ids.shape[-1]), flat
        layers, pooled = self._run(input_ids, token_type_ids, attention_mask, False)
        return Encoded(layers[-1], pooled, attention_mask, num_choices)

    def _run(self, input_ids, token_type_ids, attention_mask, keep_all) -> tuple[list[Tensor], Tensor]:
        self._check_inputs(input_ids, token_type_ids, attention_mask)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        batch, length = input_ids.shape
        layout = _Layout(attention_mask, batch, length)
        hidden = layout.pack(self.embeddings(input_ids, token_type_ids))
        layers = [layout.output(h) for h in self.encoder(hidden, layout, keep_all)]
        return layers, self.pooler(layers[-1])

    def _check_inputs(self, input_ids: Tensor, token_type_ids: Tensor | None, attention_mask: Tensor | None) -> None:
        config = self.config
        if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
            shape = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
            raise InputError(f"input_ids must be a [batch, seq_len] tensor of token ids, got {shape}.")
        if input_ids.dtype not in (torch.long, torch.int, torch.int16, torch.uint8):
            raise InputError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}.")
        if recording_graph():
            return  # the checks below read sizes and values, which a recorded graph must not freeze
        if input_ids.shape[1] > config.max_position_embeddings:
            raise InputError(
                f"Sequence length {input_ids.shape[1]} exceeds max_position_embeddings="
                f"{config.max_position_embeddings}; truncate the input (tokenizer max_length) first."
            )
        for name, tensor in (("token_type_ids", token_type_ids), ("attention_mask", attention_mask)):
            if tensor is not None and tuple(tensor.shape) != tuple(input_ids.shape):
                raise InputError(
                    f"{name} has shape {tuple(tensor.shape)} but input_ids has shape {tuple(input_ids.shape)}; "
                    "they must match."
                )
        _check_range("input_ids", input_ids, config.vocab_size, "the vocabulary (vocab_size)")
        if token_type_ids is not None:
            _check_range("token_type_ids", token_type_ids, config.type_vocab_size, "type_vocab_size")


def _check_range(name: str, ids: Tensor, size: int, what: str) -> None:
    if ids.numel() == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise InputError(f"{name} contains {bad}, outside {what} of size {size} (valid: 0..{size - 1}).")
