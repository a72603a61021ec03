"""Dynamic int8 quantization: torch's quantize_dynamic works on berthub models, and a fine-tuned MiniLM
keeps its SST-2 dev accuracy within one point under `berthub evaluate --precision int8`."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from berthub import BertForTask, BertModel, BertTokenizer, cli
from berthub.inference.int8 import quantize_int8
from berthub.inference.onnx import sample_batches
from berthub.tasks import get_task
from berthub.training.trainer import Trainer, TrainingConfig


def _cosines(model, quantized, minilm_dir):
    """Cosine of fp32 and int8 hidden states at every real token of 16 real SST-2 sentences."""
    cosines = []
    for batch in sample_batches(BertTokenizer.from_pretrained(minilm_dir), model)[:2]:
        with torch.no_grad():
            full = model(*batch, output_all_encoded_layers=False)[0][batch[2].bool()]
            low = quantized(*batch, output_all_encoded_layers=False)[0][batch[2].bool()]
        cosines.append(torch.nn.functional.cosine_similarity(full, low, dim=-1))
    return torch.cat(cosines)


def test_quantize_dynamic_runs_berthub_models_and_stays_close_to_fp32(minilm_dir):
    model = BertModel.from_pretrained(minilm_dir)
    with pytest.warns(DeprecationWarning):  # torch 2.13 deprecates torch.ao; quantize_int8 says why we use it
        quantized = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    assert type(quantized.encoder.layer[0].attention.self.qkv).__name__ == "Linear"  # torch.ao's dynamic Linear
    assert quantized.encoder.layer[0].attention.self.qkv.__module__.startswith("torch.ao.nn.quantized")
    cosine = _cosines(model, quantized, minilm_dir)
    assert cosine.mean() > 0.9 and cosine.min() > 0.7  # per-tensor scales: quantize_int8 uses per-channel


def test_quantize_int8_keeps_minilm_hidden_states_close_to_fp32(minilm_dir):
    model = BertModel.from_pretrained(minilm_dir)
    cosine = _cosines(model, quantize_int8(model), minilm_dir)
    assert cosine.mean() > 0.95 and cosine.min() > 0.9


def test_quantize_int8_copies_and_leaves_the_model_itself_in_fp32(minilm_dir):
    model = BertForTask.from_pretrained(minilm_dir, head="sequence-classification", num_hidden_layers=1)
    quantized = quantize_int8(model)
    assert isinstance(model.bert.encoder.layer[0].intermediate.dense, nn.Linear)
    assert quantized.bert.encoder.layer[0].intermediate.dense is not model.bert.encoder.layer[0].intermediate.dense
    assert not quantized.training


def test_int8_on_gpu_is_refused_with_the_fix(minilm_dir, data_dir, tmp_path, capsys):
    folder = tmp_path / "model"
    BertForTask.from_pretrained(minilm_dir, head="sequence-classification", num_hidden_layers=1).save_pretrained(folder)
    BertTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    code = cli.main(["evaluate", "--model", str(folder), "--task", "sst-2", "--data-dir", str(data_dir / "glue/SST-2"),
                     "--precision", "int8", "--device", "cuda", "--limit", "4"])
    assert code == 2 and "--precision int8 runs on the CPU" in capsys.readouterr().err


@pytest.mark.slow
def test_a_fine_tuned_minilm_scores_sst2_dev_within_one_point_in_int8(minilm_dir, data_dir, tmp_path, capsys):
    task, sst2 = get_task("sst-2"), str(data_dir / "glue/SST-2")
    torch.manual_seed(0)
    model = BertForTask.from_pretrained(minilm_dir, head="sequence-classification", num_labels=2)
    settings = TrainingConfig(output_dir=tmp_path / "run", batch_size=32, max_steps=120, learning_rate=1e-4,
                              max_seq_length=64, progress=False)
    Trainer(model, task, BertTokenizer.from_pretrained(minilm_dir), settings).train(task.read(sst2, "train")[:3840])
    accuracy = {}
    for precision in ("fp32", "int8"):
        assert cli.main(["evaluate", "--model", str(tmp_path / "run" / "last"), "--task", "sst-2", "--data-dir",
                         sst2, "--precision", precision, "--max-seq-length", "64"]) == 0
        printed = capsys.readouterr().out
        assert "872 examples" in printed
        accuracy[precision] = float(re.search(r"accuracy (\d\.\d+)", printed).group(1))
    # 120 steps: a model fine-tuned enough (0.81 on an AMD EPYC, stop 20) that the comparison is about int8, not about
    # how many dev sentences a 30-step model leaves on the decision boundary (0.750 vs 0.737 there: 1.3 points)
    assert accuracy["fp32"] > 0.78, accuracy  # fine-tuning worked (chance: 0.51), so the comparison means something
    assert abs(accuracy["int8"] - accuracy["fp32"]) <= 0.01, accuracy
