"""The README's first command, on a smaller budget: the demo's whole flow must keep working."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_publishes_loads_fine_tunes_pushes_and_classifies(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BERTHUB_", "HF_"))}
    env["HF_HOME"] = str(tmp_path / "hf-home")  # an empty home: nothing may come from another cache
    done = subprocess.run([sys.executable, str(REPO / "demo" / "demo.py"), "--quick", "--train-examples", "256",
                           "--output", str(tmp_path / "demo")], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    loads = r"(cold cache|warm cache|offline): loaded 'all-minilm-l6-v2' in [\d.]+s, ([\d.]+) MiB"
    downloaded = {label: float(mib) for label, mib in re.findall(loads, out)}
    assert downloaded["cold cache"] > 80 and downloaded["warm cache"] == 0 and downloaded["offline"] == 0
    accuracy = float(re.search(r"SST-2 dev accuracy\s+([\d.]+)", out).group(1))
    assert 0.55 < accuracy <= 1.0  # above the majority class (0.509) after a few steps on real sentences
    assert len(re.findall(r"^   (positive|negative) ", out, re.MULTILINE)) == 4
    assert (tmp_path / "demo" / "sst2" / "training.png").is_file()
    assert not list((tmp_path / "hf-home").rglob("*.safetensors"))  # the demo used its own cache only
