"""Pre-training heads with Google's loss, computed only where it is needed.

Parameters are Google's / transformers' (`cls.predictions.transform.*`, `cls.predictions.bias`, the
decoder tied to the word embeddings, `cls.seq_relationship.*`), so a trained model loads as
`BertForPreTraining` or `BertForMaskedLM` in berthub and transformers alike. A model without them
(MiniLM) gets them initialised as Google's run_pretraining.py does: truncated normal dense and
next-sentence weights, LayerNorm 1/0, zero biases.

As in Google's run_pretraining.py the vocabulary projection runs only at the masked positions
(Google gathers `masked_lm_positions`): `forward` hands the encoder output through, and `loss`
transforms and projects just the labelled rows. The masked-LM loss is the mean over every masked
token of the step and the next-sentence loss the mean over its examples; `loss_count` gives both
counts, so accumulated micro-batches and DDP ranks reproduce the loss of one big batch exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from berthub.model import BertConfig, BertModel, Encoded, init_parameter
from berthub.model.heads import MaskedLMHead
from berthub.plugins import HeadFacts


class _MaskedLM(nn.Module):
    """The masked-LM part shared by both heads: stored as `cls`, with `cls.predictions`."""

    facts: ClassVar[HeadFacts]

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        # berthub's own masked-LM prediction layers (transform, decoder tied in tie_weights, output bias):
        # [N, H] hidden rows -> [N, V] scores, with the checkpoint names `cls.predictions.*`.
        self.predictions = MaskedLMHead(config).predictions

    def _init(self) -> None:
        for module in self.modules():
            for name, param in module.named_parameters(recurse=False):
                init_parameter(module, name, param, self.config.initializer_range)

    def tie_weights(self, bert: BertModel) -> None:
        self.predictions.decoder.weight = bert.embeddings.word_embeddings.weight

    def options(self) -> dict[str, Any]:
        return {}

    def _labelled(self, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        """[B, T] bool: the positions whose masked-LM label counts (>= 0, on a real token)."""
        mask = targets["masked_lm_labels"] >= 0
        if encoded.attention_mask is not None:
            mask = mask & (encoded.attention_mask != 0)
        return mask

    def _mlm_scores(self, hidden: Tensor, targets: dict[str, Tensor], encoded: Encoded) -> tuple[Tensor, Tensor]:
        """(scores [N, V] at the N labelled positions, their labels [N])."""
        mask = self._labelled(targets, encoded)
        return self.predictions(hidden[mask]).float(), targets["masked_lm_labels"][mask]

    def _mlm_eval(self, hidden: Tensor, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        """[B, T, 3]: (predicted id, loss, label) at each labelled position, (-1, 0, -1) elsewhere."""
        mask = self._labelled(targets, encoded)
        scores, labels = self._mlm_scores(hidden, targets, encoded)
        out = torch.zeros(*mask.shape, 3, device=hidden.device)
        out[..., 0] = out[..., 2] = -1
        out[mask] = torch.stack([scores.argmax(-1).float(), F.cross_entropy(scores, labels, reduction="none"),
                                 labels.float()], dim=-1)
        return out


class GoogleMaskedLMHead(_MaskedLM):
    """Masked LM only (for the `mlm` task). forward -> the encoder output [B, T, H]; loss: mean over masked tokens."""

    # No transformers class: it saves as "BertModel" (its weights still load into BertForMaskedLM).
    facts = HeadFacts(attribute="cls", targets={"masked_lm_labels": "token"}, loss_normaliser="masked tokens",
                      pipeline_tag="fill-mask")

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self._init()

    def forward(self, encoded: Encoded) -> Tensor:
        return encoded.sequence_output

    def loss(self, logits: Tensor, targets: dict[str, Tensor], encoded: Encoded, reduction: str = "mean") -> Tensor:
        scores, labels = self._mlm_scores(logits, targets, encoded)
        summed = F.cross_entropy(scores, labels, reduction="sum")
        return summed if reduction == "sum" else summed / max(labels.numel(), 1)

    def loss_count(self, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        return self._labelled(targets, encoded).sum()

    def eval_outputs(self, logits: Tensor, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        """What evaluation keeps per example: [B, T, 3] (predicted id, loss, label) at masked positions."""
        return self._mlm_eval(logits, targets, encoded)


class GooglePreTrainingHead(_MaskedLM):
    """Masked LM + next sentence (the `pretraining` task), Google's loss: mean masked-LM + mean next-sentence.

    forward -> (encoder output [B, T, H], next-sentence scores [B, 2]; 0 = B follows A, 1 = random).
    loss(reduction="sum") -> [2]: the summed masked-LM and next-sentence losses; loss_count -> [2]:
    masked tokens and examples. A trainer divides each by its count over the whole step.
    """

    facts = HeadFacts(attribute="cls", targets={"masked_lm_labels": "token", "next_sentence_label": "scalar"},
                      loss_normaliser=("masked tokens", "examples"), pipeline_tag="fill-mask")

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)
        self._init()

    def forward(self, encoded: Encoded) -> tuple[Tensor, Tensor]:
        return encoded.sequence_output, self.seq_relationship(encoded.pooled_output)

    def loss(self, logits: tuple[Tensor, Tensor], targets: dict[str, Tensor], encoded: Encoded,
             reduction: str = "mean") -> Tensor:
        scores, labels = self._mlm_scores(logits[0], targets, encoded)
        mlm = F.cross_entropy(scores, labels, reduction="sum")
        nsp = F.cross_entropy(logits[1].float(), targets["next_sentence_label"].reshape(-1), reduction="sum")
        if reduction == "sum":
            return torch.stack([mlm, nsp])
        return mlm / max(labels.numel(), 1) + nsp / max(logits[1].shape[0], 1)

    def loss_count(self, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        labelled = self._labelled(targets, encoded).sum()
        return torch.stack([labelled, torch.as_tensor(targets["next_sentence_label"].numel(), device=labelled.device)])

    def eval_outputs(self, logits: tuple[Tensor, Tensor], targets: dict[str, Tensor],
                     encoded: Encoded) -> tuple[Tensor, Tensor]:
        """What evaluation keeps per example: ([B, T, 3] (predicted id, loss, label) at masked positions, [B, 2])."""
        return self._mlm_eval(logits[0], targets, encoded), logits[1]
