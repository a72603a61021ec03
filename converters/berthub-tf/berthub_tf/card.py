"""The model card (README.md) of a converted model: what it came from, provably."""

from __future__ import annotations

import json
from pathlib import Path

from berthub_tf.convert import REPORT_NAME


def model_card(output_dir: Path, repo_id: str) -> str:
    """Markdown naming the source checkpoint files (with sha256), the converter and the mapping summary."""
    report = json.loads((Path(output_dir) / REPORT_NAME).read_text(encoding="utf-8"))
    files = "\n".join(f"| `{f['name']}` | {f['bytes']:,} | `{f['sha256']}` |" for f in report["source"]["files"])
    skipped = len(report["skipped"])
    return f"""---
library_name: berthub
tags: [bert, converted-from-tensorflow]
---
# {repo_id}

{report['architecture']} converted from a Google TensorFlow BERT checkpoint by {report['converter']}.

## Source
Converted from the TensorFlow checkpoint `{Path(report['source']['checkpoint']).name}`:

| file | bytes | sha256 |
|---|---|---|
{files}

## Conversion
- {len(report['mapping'])} tensors mapped from Google's variable names to berthub/transformers names
  (dense kernels transposed); the full mapping is in `{REPORT_NAME}`.
- {skipped} optimizer variables skipped (Adam slots, global_step); {len(report['ignored'])} ignored on request.
- Read with the {report['reader']} reader; {report['checksums']}.

Load it with `berthub.{report['architecture']}.from_pretrained("{repo_id}")`; it is also a transformers
BERT checkpoint.
"""
