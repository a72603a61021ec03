"""Without TensorFlow, conversion falls back to the numpy reader and gives the same model file."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.tf

# `sys.modules["tensorflow"] = None` makes every `import tensorflow` fail, as when it is not installed.
_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.modules["tensorflow"] = None
    from berthub_tf import convert, to_tf
    from berthub_tf.errors import TensorFlowMissingError
    prefix, config, out = sys.argv[1:4]
    convert(prefix, config, out)
    try:
        to_tf(out, out + "-tf/bert_model.ckpt")
        to_tf_error = None
    except TensorFlowMissingError as error:
        to_tf_error = str(error)
    print(json.dumps({"to_tf_error": to_tf_error}))
""")


def test_conversion_without_tensorflow_uses_the_pure_reader_and_matches(releases, converted, tmp_path):
    out = tmp_path / "no-tf"
    release = releases.squad
    run = subprocess.run([sys.executable, "-c", _SCRIPT, str(release.prefix), str(release.config), str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads((out / "conversion_report.json").read_text())["reader"] == "pure"
    assert (out / "model.safetensors").read_bytes() == (converted["squad"] / "model.safetensors").read_bytes()
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert "needs TensorFlow" in result["to_tf_error"] and "berthub-tf[tensorflow]" in result["to_tf_error"]
