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
bf16 inference on a CPU runs each dense layer with its gelu or residual add as one oneDNN call
(berthub.model.fused_linear); fp32 and everything that records or differentiates stay on torch's ops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from berthub.errors import InputError
from berthub.model.config import BertConfig
from berthub.model.fused_linear import can_fuse, linear, linear_add
from berthub.model.fused_qkv import Projection, join_qkv, split_qkv
from berthub.model.input_checks import check_inputs
from berthub.model.packing import Packing, eager_inference
from berthub.model.pretrained import BertPreTrainedModel


def gelu(x: Tensor) -> Tensor:
    """Google BERT's gelu: the exact erf form, x * 0.5 * (1 + erf(x / sqrt(2))), not the tanh approximation.

    torch's `gelu(approximate="none")` computes exactly this formula in one fused kernel.
    """
    return F.gelu(x, approximate="none")


def gelu_tanh(x: Tensor) -> Tensor:
    """The tanh approximation of gelu (OpenAI GPT's), for configs that ask for `gelu_new`."""
    return F.gelu(x, approximate="tanh")


ACT2FN = {"gelu": gelu, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "relu": F.relu, "tanh": torch.tanh}

# The same kernels writing over their input: aten's gelu_ is gelu's kernel (bit for bit the same results).
# Used in eager inference, where gelu and the residual adds then allocate no buffers of their own.
_IN_PLACE = {gelu: lambda x: torch.ops.aten.gelu_(x), gelu_tanh: lambda x: torch.ops.aten.gelu_(x, approximate="tanh"),
             F.relu: torch.relu_, torch.tanh: torch.tanh_}
# Those oneDNN applies inside a bf16 dense layer.
_POST_OP = {gelu: "gelu", gelu_tanh: "gelu_tanh", F.relu: "relu"}


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

    def forward(self, input_ids: Tensor | None, token_type_ids: Tensor, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None) -> Tensor:
        if position_ids is None:
            position_ids = torch.arange(token_type_ids.shape[1], device=token_type_ids.device)
        words = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        embeddings = words + self.position_embeddings(position_ids)
        embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


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
        self.register_state_dict_post_hook(split_qkv)
        self.register_load_state_dict_pre_hook(join_qkv)

    query = property(lambda self: Projection(self.qkv, 0), doc="the query projection's part of `qkv`")
    key = property(lambda self: Projection(self.qkv, 1), doc="the key projection's part of `qkv`")
    value = property(lambda self: Projection(self.qkv, 2), doc="the value projection's part of `qkv`")

    def forward(self, hidden: Tensor, packing: Packing, head_mask: Tensor | None = None,
                output_attentions: bool = False) -> tuple[Tensor, Tensor | None]:
        """Packed [N, H] -> (packed context [N, H], probabilities [B, heads, T, T] when asked for, else None)."""
        qkv = packing.unpack(linear(hidden, self.qkv) if can_fuse(hidden, self.qkv) else self.qkv(hidden))
        qkv = qkv.view(packing.batch, packing.length, 3, self.num_heads, self.head_size).permute(2, 0, 3, 1, 4)
        dropout = self.dropout_prob if self.training else 0.0
        probs = None
        if output_attentions or head_mask is not None:  # SDPA's fused kernel hands out no probabilities
            context, probs = _explicit_attention(qkv[0], qkv[1], qkv[2], packing.mask, dropout, head_mask)
        else:
            context = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=packing.mask, dropout_p=dropout)
        return packing.pack(context.transpose(1, 2).reshape(packing.batch, packing.length, -1)), probs


def _explicit_attention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, dropout: float,
                        head_mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(d)) with padded keys excluded, dropout, then the head mask, as Google computes it."""
    scores = query @ key.transpose(-1, -2) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    probs = F.dropout(scores.softmax(-1), dropout)
    if head_mask is not None:
        probs = probs * head_mask
    return probs @ value, probs


def _add_residual(x: Tensor, residual: Tensor) -> Tensor:
    """x + residual, into x itself when allowed (x is the fresh output of this layer's dense projection) and the
    sum keeps x's dtype and shape (under autocast x may be bf16 and the residual fp32: the sum is then fp32)."""
    if eager_inference() and x.dtype == residual.dtype and x.shape == residual.shape:
        return x.add_(residual)
    return x + residual


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden: Tensor, packing: Packing, head_mask: Tensor | None = None,
                output_attentions: bool = False) -> tuple[Tensor, Tensor | None]:
        context, probs = self.self(hidden, packing, head_mask, output_attentions)
        return self.output(context, hidden), probs


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]

    def forward(self, hidden: Tensor) -> Tensor:
        if self.act in _POST_OP and can_fuse(hidden, self.dense):
            return linear(hidden, self.dense, _POST_OP[self.act])
        projected = self.dense(hidden)
        in_place = _IN_PLACE.get(self.act) if eager_inference() else None
        return self.act(projected) if in_place is None else in_place(projected)


class BertOutput(nn.Module):
    """dense -> dropout -> + residual -> LayerNorm: the end of the feed-forward block (from intermediate_size)."""

    def __init__(self, config: BertConfig, in_features: int | None = None) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features or config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: Tensor, residual: Tensor) -> Tensor:
        if (not self.training or self.dropout.p == 0) and can_fuse(hidden, self.dense, residual):
            return self.LayerNorm(linear_add(hidden, self.dense, residual))
        return self.LayerNorm(_add_residual(self.dropout(self.dense(hidden)), residual))


class BertSelfOutput(BertOutput):
    """The same block ending the attention, from hidden_size (Google's and 0.6's separate class name)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, config.hidden_size)


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden: Tensor, packing: Packing, head_mask: Tensor | None = None,
                output_attentions: bool = False) -> tuple[Tensor, Tensor | None]:
        attended, probs = self.attention(hidden, packing, head_mask, output_attentions)
        return self.output(self.intermediate(attended), attended), probs


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, hidden: Tensor, packing: Packing, keep_all: bool, head_mask: list[Tensor | None] | None = None,
                output_attentions: bool = False) -> tuple[list[Tensor], list[Tensor]]:
        """Packed [N, H] in; (every layer's packed output, or only the last one's; attention probabilities)."""
        outputs, attentions = [], []
        for index, layer in enumerate(self.layer):
            mask = None if head_mask is None else head_mask[index]
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                # Keep only each layer's input; recompute its inside during backward (same dropout masks).
                hidden, probs = checkpoint(layer, hidden, packing, mask, output_attentions, use_reentrant=False)
            else:
                hidden, probs = layer(hidden, packing, mask, output_attentions)
            if keep_all:
                outputs.append(hidden)
            if probs is not None and output_attentions:
                attentions.append(probs)
        return (outputs if keep_all else [hidden]), attentions


class BertPooler(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, sequence_output: Tensor) -> Tensor:
        return self.activation(self.dense(sequence_output[:, 0]))


@dataclass
class ExtraOutputs:
    """What `BertModel(..., output_hidden_states=True, output_attentions=True)` adds, as a third element.

    hidden_states: num_hidden_layers + 1 tensors [B, T, H], the embeddings first (as transformers orders them);
    attentions: num_hidden_layers tensors [B, heads, T, T], each layer's attention probabilities.
    Either is None when not asked for. Padded positions hold zeros in hidden states.
    """

    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


class BertModel(BertPreTrainedModel):
    """The BERT encoder (pytorch-pretrained-BERT 0.6 interface, plus transformers' keyword arguments).

    model(input_ids [B, T], token_type_ids [B, T] = zeros, attention_mask [B, T] = ones,
          output_all_encoded_layers=True)
      -> (list of num_hidden_layers tensors [B, T, H], pooled_output [B, H]);
         with output_all_encoded_layers=False the first element is the last layer [B, T, H].
    Keyword-only, as transformers spells them: position_ids [B or 1, T]; inputs_embeds [B, T, H] instead of
    input_ids; head_mask [heads] or [layers, heads] (1 keeps a head, 0 silences it); output_hidden_states and
    output_attentions, which append an ExtraOutputs as a third element:
      layers, pooled, extras = model(ids, output_attentions=True); extras.attentions[0]  # [B, heads, T, T]
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
        input_ids: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        output_all_encoded_layers: bool = True,
        *,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        head_mask: Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> tuple:
        extra = {"position_ids": position_ids, "inputs_embeds": inputs_embeds, "head_mask": head_mask,
                 "output_attentions": output_attentions}
        keep_all = output_all_encoded_layers or output_hidden_states
        layers, pooled, embedded, attentions = self._run(input_ids, token_type_ids, attention_mask, keep_all,
                                                         keep_embeddings=output_hidden_states, **extra)
        first = layers if output_all_encoded_layers else layers[-1]
        if not (output_attentions or output_hidden_states):
            return first, pooled
        hidden_states = (embedded, *layers) if output_hidden_states else None
        return first, pooled, ExtraOutputs(hidden_states, tuple(attentions) if output_attentions else None)

    def encode(
        self, input_ids: Tensor, token_type_ids: Tensor | None = None, attention_mask: Tensor | None = None
    ) -> Encoded:
        """Last layer and pooled output, as task heads consume them. Accepts [B, C, T] multiple-choice inputs."""
        num_choices = None
        if input_ids.dim() == 3:
            num_choices = input_ids.shape[1]
            flat = [None if t is None else t.reshape(-1, t.shape[-1]) for t in (token_type_ids, attention_mask)]
            input_ids, (token_type_ids, attention_mask) = input_ids.reshape(-1, input_ids.shape[-1]), flat
        layers, pooled, _, _ = self._run(input_ids, token_type_ids, attention_mask, False)
        return Encoded(layers[-1], pooled, attention_mask, num_choices)

    def gradient_checkpointing_enable(self) -> None:
        """Recompute each layer's activations during backward instead of keeping them: less memory, ~30% more time."""
        self.encoder.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        self.encoder.gradient_checkpointing = False

    def _run(self, input_ids, token_type_ids, attention_mask, keep_all, keep_embeddings=False, position_ids=None,
             inputs_embeds=None, head_mask=None, output_attentions=False
             ) -> tuple[list[Tensor], Tensor, Tensor | None, list[Tensor]]:
        """-> (layers [B, T, H] (all, or the last), pooled [B, H], embeddings [B, T, H] if kept, attention probs)."""
        check_inputs(self.config, input_ids, token_type_ids, attention_mask, inputs_embeds)
        batch, length = (input_ids if inputs_embeds is None else inputs_embeds).shape[:2]
        device = (input_ids if inputs_embeds is None else inputs_embeds).device
        if token_type_ids is None:
            token_type_ids = torch.zeros(batch, length, dtype=torch.long, device=device)
        packing = Packing(attention_mask, batch, length)
        embedded = packing.pack(self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds))
        packed, attentions = self.encoder(embedded, packing, keep_all, self._head_masks(head_mask), output_attentions)
        layers = [packing.output(h) for h in packed]
        return layers, self.pooler(layers[-1]), packing.output(embedded) if keep_embeddings else None, attentions

    def _head_masks(self, head_mask: Tensor | None) -> list[Tensor] | None:
        """[heads] or [layers, heads] -> one [1, heads, 1, 1] multiplier per layer (None: every head kept)."""
        if head_mask is None:
            return None
        layers, heads = self.config.num_hidden_layers, self.config.num_attention_heads
        if head_mask.dim() == 1:
            head_mask = head_mask.expand(layers, -1)
        if tuple(head_mask.shape) != (layers, heads):
            raise InputError(f"head_mask has shape {tuple(head_mask.shape)}; give [{heads}] (every layer) or "
                             f"[{layers}, {heads}] (num_hidden_layers, num_attention_heads).")
        return [m.view(1, heads, 1, 1) for m in head_mask]
