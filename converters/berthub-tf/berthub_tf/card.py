"""What the model card of a converted model says: where it came from, provably (file hashes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from berthub_tf.convert import REPORT_NAME
from berthub_tf.formats import SAVED_MODEL, TF1, TF2

# How the card names each source format (the TF1 wording is the one cards have always had).
_SOURCES = {TF1: "Google TensorFlow BERT checkpoint", TF2: "Google TF2 (Model Garden) BERT checkpoint",
            SAVED_MODEL: "TF Hub / Kaggle SavedModel"}


def card_facts(output_dir: Path) -> dict[str, Any]:
    """Facts for `berthub.push(..., card=...)` (berthub.sources.publish.CardFacts), from conversion_report.json."""
    report = json.loads((Path(output_dir) / REPORT_NAME).read_text(encoding="utf-8"))
    checkpoint = Path(report["source"]["checkpoint"]).name
    source = _SOURCES[report.get("format", TF1)]  # reports of berthub-tf 0.1 name no format
    files = "\n".join(f"| `{f['name']}` | {f['bytes']:,} | `{f['sha256']}` |" for f in report["source"]["files"])
    activation = ""
    if "hidden_act" in report:
        activation = f"\n- hidden_act `{report['hidden_act']['value']}`: {report['hidden_act']['reason']}."
    description = f"""A {report['architecture']} converted from the {source} `{checkpoint}` \
by {report['converter']}.

| source file | bytes | sha256 |
|---|---|---|
{files}

- {len(report['mapping'])} tensors mapped from Google's variable names to berthub/transformers names (dense
  kernels transposed); the full mapping is in `{REPORT_NAME}`.
- {len(report['skipped'])} variables skipped (optimizer state, step counters: listed in `{REPORT_NAME}`); \
{len(report['ignored'])} ignored on request.
- Read with the {report['reader']} reader; {report['checksums']}.{activation}

The directory is also a transformers BERT checkpoint (same config keys and tensor names)."""
    return {
        "converted_from": f"{source} {checkpoint}",
        "description": description,
        "task": report["head"],
        "tags": ["converted-from-tensorflow"],
    }
