"""Prove a conversion: every written tensor equals, bit for bit, the variable it came from.

`verify(output_dir)` re-reads the checkpoint (or SavedModel) named in conversion_report.json,
applies the recorded reshape (Model Garden's per-head kernels) and transposition, and compares bytes
(not values with a tolerance: a faithful conversion is exact).
It also checks the accounting: every checkpoint variable is mapped, skipped or ignored, and every
tensor in model.safetensors comes from the mapping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from berthub_tf.convert import REPORT_NAME, WEIGHTS_NAME
from berthub_tf.errors import MissingFileError, WeightsError
from berthub_tf.formats import open_source


@dataclass(frozen=True)
class Row:
    target: str
    source: str
    shape: tuple[int, ...]
    transposed: bool
    identical: bool
    max_abs_diff: float


@dataclass
class Verification:
    rows: list[Row]
    unaccounted: list[str]  # checkpoint variables neither mapped, skipped nor ignored
    extra_tensors: list[str]  # tensors in model.safetensors that the mapping does not explain
    reader: str

    @property
    def ok(self) -> bool:
        return all(r.identical for r in self.rows) and not self.unaccounted and not self.extra_tensors

    def table(self) -> str:
        """A fixed-width table, one row per tensor, then a summary line."""
        width = max([len(r.target) for r in self.rows] + [6])
        lines = [f"{'tensor':<{width}}  {'from':<58}  {'shape':<14}  T  result"]
        for r in self.rows:
            result = "identical" if r.identical else f"DIFFERENT (max |diff| {r.max_abs_diff:.3g})"
            shape = "x".join(map(str, r.shape)) or "scalar"
            flag = "T" if r.transposed else " "
            lines.append(f"{r.target:<{width}}  {r.source:<58}  {shape:<14}  {flag}  {result}")
        same = sum(r.identical for r in self.rows)
        lines.append(f"{same}/{len(self.rows)} tensors identical to the checkpoint (read with the {self.reader} "
                     f"reader); {len(self.unaccounted)} variables unaccounted for; "
                     f"{len(self.extra_tensors)} unexplained tensors")
        for name in self.unaccounted:
            lines.append(f"  unaccounted variable: {name}")
        for name in self.extra_tensors:
            lines.append(f"  unexplained tensor: {name}")
        return "\n".join(lines)


def verify(output_dir: str | Path, checkpoint: str | Path | None = None, *, reader: str = "auto") -> Verification:
    """Compare `output_dir`'s tensors with `checkpoint` (a prefix or SavedModel folder; default: the one
    its report names)."""
    from safetensors import safe_open

    folder = Path(output_dir)
    report_path = folder / REPORT_NAME
    if not report_path.is_file():
        raise MissingFileError(f"'{folder}' has no {REPORT_NAME}; verify works on directories written by berthub-tf.")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    source = open_source(checkpoint or report["source"]["checkpoint"], reader).checkpoint
    rows = []
    with safe_open(str(folder / WEIGHTS_NAME), framework="np") as handle:
        written = set(handle.keys())
        for entry in report["mapping"]:
            if entry["target"] not in written:
                raise WeightsError(f"'{entry['target']}' is in the report but not in {folder / WEIGHTS_NAME}.")
            rows.append(_compare(entry, source.read(entry["source"]), handle.get_tensor(entry["target"])))
    accounted = {e["source"] for e in report["mapping"]} | {e["name"] for e in report["skipped"] + report["ignored"]}
    return Verification(
        rows=rows,
        unaccounted=sorted(set(source.variables) - accounted),
        extra_tensors=sorted(written - {e["target"] for e in report["mapping"]}),
        reader=source.kind,
    )


def _compare(entry: dict, original: np.ndarray, written: np.ndarray) -> Row:
    if "reshaped" in entry and original.size == int(np.prod(entry["reshaped"])):
        original = original.reshape(entry["reshaped"])
    expected = np.ascontiguousarray(original.T if entry["transposed"] else original)
    identical = (expected.dtype == written.dtype and expected.shape == written.shape
                 and expected.tobytes() == np.ascontiguousarray(written).tobytes())
    diff = 0.0
    if not identical and expected.shape == written.shape:
        diff = float(np.max(np.abs(expected.astype(np.float64) - written.astype(np.float64)), initial=0.0))
    elif not identical:
        diff = float("inf")
    source = entry.get("variable", entry["source"])  # TF2: the Keras name reads better than the object path
    return Row(entry["target"], source, tuple(written.shape), entry["transposed"], identical, diff)
