"""pytorch-pretrained-BERT 0.6's BertAdam: berthub.optimization's against the 0.6.2 package's own.

Both optimize the real all-MiniLM-L6-v2 parameters (22.7M, 101 tensors) with the same random
gradients, 0.6's defaults (warmup_linear, warmup 0.1, per-parameter clipping at 1.0, weight decay
0.01). Reported: milliseconds per optimizer step (median over interleaved rounds) and the largest
parameter difference after the steps (the two must compute the same update).

Usage: python bench/bertadam06.py [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from common import minilm_dir


def _run(cls, start: list[torch.Tensor], grads: list[list[torch.Tensor]]) -> tuple[float, list[torch.Tensor]]:
    params = [torch.nn.Parameter(p.clone()) for p in start]
    optimizer = cls(params, lr=5e-5, warmup=0.1, t_total=len(grads))
    elapsed = 0.0
    for step_grads in grads:
        for param, grad in zip(params, step_grads, strict=True):
            param.grad = grad.clone()
        began = time.perf_counter()
        optimizer.step()
        elapsed += time.perf_counter() - began
    return elapsed / len(grads) * 1000, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="This overload of add_ is deprecated")  # inside 0.6.2
    from pytorch_pretrained_bert.optimization import BertAdam as Reference

    from berthub.modeling import BertModel
    from berthub.optimization import BertAdam

    torch.manual_seed(0)
    start = [p.detach() for p in BertModel.from_pretrained(minilm_dir()).parameters()]
    grads = [[torch.randn_like(p) * 0.01 for p in start] for _ in range(args.steps)]
    times: dict[str, list[float]] = {"berthub.optimization.BertAdam": [], "pytorch_pretrained_bert 0.6.2": []}
    for _ in range(args.repeats):
        ours_ms, ours = _run(BertAdam, start, grads)
        theirs_ms, theirs = _run(Reference, start, grads)
        times["berthub.optimization.BertAdam"].append(ours_ms)
        times["pytorch_pretrained_bert 0.6.2"].append(theirs_ms)
    difference = max(float((a - b).detach().abs().max()) for a, b in zip(ours, theirs, strict=True))
    reference = statistics.median(times["pytorch_pretrained_bert 0.6.2"])
    print(f"BertAdam step on all-MiniLM-L6-v2 ({sum(p.numel() for p in start) / 1e6:.1f}M parameters, "
          f"{len(start)} tensors), {torch.get_num_threads()} threads, {args.steps} steps, "
          f"median of {args.repeats} interleaved rounds")
    print(f"{'case':34} {'ms/step':>8} {'vs 0.6.2':>9}  runs")
    for case, values in times.items():
        median = statistics.median(values)
        runs = " ".join(f"{v:.1f}" for v in values)
        print(f"{case:34} {median:8.1f} {reference / median:8.2f}x  {runs}")
    print(f"largest parameter difference after {args.steps} steps: {difference:.2e}")


if __name__ == "__main__":
    main()
