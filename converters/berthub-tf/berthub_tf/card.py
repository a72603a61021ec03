"""What the model card of a converted model says: where it came from, provably (file hashes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from berthub_tf.convert import REPORT_NAME


def card_facts(output_dir: Path) -> dict[str, Any]:
    """Facts for `berthub.push(..., card=...)` (berthub.sources.publish.CardFacts), from conversion_report.json."""
    report = json.loads((Path(output_dir) / REPORT_NAME).read_text(encoding="utf-8"))
    checkpoint = Path(report["source"]["checkpoint"]).name
    files = "\n".join(f"| `{f['name']}` | {f['bytes']:,} | `{f['sha256']}` |" for f in report["source"]["files"])
    description = f"""A {report['architecture']} converted from the Google TensorFlow BERT checkpoint `{checkpoint}` \
by {report['converter']}.

| source file | bytes | sha256 |
|---|---|---|
{files}

- {len(report['mapping'])} tensors mapped from Google's variable names to berthub/transformers names (dense
  kernels transposed); the full mapping is in `{REPORT_NAME}`.
- {len(report['skipped'])} optimizer variables skipped (Adam slots, global_step); {len(report['ignored'])} ignored \
on request.
- Read with the {report['reader']} reader; {report['checksums']}.

The directory is also a transformers BERT checkpoint (same config keys and tensor names)."""
    return {
        "converted_from": f"Google TF checkpoint {checkpoint}",
        "description": description,
        "task": report["head"],
        "tags": ["converted-from-tensorflow"],
    }
