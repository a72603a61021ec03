"""Pre-training under two torchrun launches acting as two nodes gives the weights of one process.

Each launch is what one machine of a cluster runs (`--nnodes 2 --node-rank K`, c10d rendezvous on one
endpoint), here both on 127.0.0.1 with one CPU process each (gloo).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pretraining_support import VOCAB, tiny_model
from safetensors.torch import load_file


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train_args(model: Path, data: Path, output: Path, batch_size: int) -> list[str]:
    return ["-m", "berthub", "train", "--model", str(model), "--task", "pretraining", "--data-dir", str(data),
            "--output-dir", str(output), "--batch-size", str(batch_size), "--max-steps", "3", "--learning-rate", "1e-3",
            "--warmup", "0", "--adam-epsilon", "1e-3", "--max-seq-length", "64", "--limit-train", "64", "--no-eval",
            "--device", "cpu", "--no-progress", "--seed", "1"]


@pytest.mark.timeout(300)
def test_two_nodes_update_like_one_process_with_the_same_global_batch(instances_dir, tmp_path):
    from berthub.tokenization import BertTokenizer

    model = tmp_path / "tiny"
    tiny_model("google-pretraining").save_pretrained(model)
    BertTokenizer(str(VOCAB)).save_pretrained(model)
    subprocess.run([sys.executable, *_train_args(model, instances_dir, tmp_path / "one", 8)], check=True,
                   capture_output=True)
    port = _free_port()
    launches = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank),
         "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
         "--rdzv-id", "two-nodes-test", *_train_args(model, instances_dir, tmp_path / "two", 4)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    for launch in launches:
        output, _ = launch.communicate(timeout=240)
        assert launch.returncode == 0, output[-3000:]
    one = load_file(tmp_path / "one" / "last" / "model.safetensors")
    two = load_file(tmp_path / "two" / "last" / "model.safetensors")
    assert one.keys() == two.keys()
    assert max((one[k] - two[k]).abs().max().item() for k in one) <= 1e-6
    start = load_file(model / "model.safetensors")
    assert max((one[k] - start[k]).abs().max().item() for k in one) > 1e-3  # it did train
