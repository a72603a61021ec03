"""docs/plugins.md's second example (tests/fixtures/berthub-similarity-plugin), written from the docs alone: a
sentence-pair regression task on berthub's own sequence-classification head, a model name and a command. Installed
into a fresh virtualenv it trains, evaluates, answers pairs in a new process through its own predict hook, publishes
and loads by its name through a hub; after `pip uninstall` every way in names the distribution to install."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parent / "fixtures" / "berthub-similarity-plugin"
DATA = PLUGIN / "data"
DISTRIBUTION = "berthub-similarity-plugin"
NAME, REPO_ID = "similarity-minilm", "berthub-examples/similarity-minilm"  # the plugin's ModelEntry
PAIRS = [("A man is playing the piano.", "A man plays a piano."),
         ("A cat is chasing a mouse.", "The weather is sunny.")]

# A new process, after training: every entry point the plugin gives, used the way the docs show.
_USE = """
import contextlib, io, json, sys
from berthub import BertForTask, pipeline
from berthub.cli import main

run, data, metrics_file, jsonl, pairs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])

def command(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}

model = BertForTask.from_pretrained("similarity-minilm")   # the plugin's name, through the hub
flat = [arg for a, b in pairs for arg in ("--pair", a, b)]
print(json.dumps({
    "evaluate": command("evaluate", "--model", run, "--task", "sentence-similarity", "--data-dir", data,
                        "--output", metrics_file),
    "predict_pairs": command("predict", "--model", "similarity-minilm", *flat),
    "predict_jsonl": command("predict", "--model", run, "--input", jsonl),
    "rank": command("similarity-rank", "--model", "similarity-minilm", "--query", pairs[0][0], pairs[1][1],
                    pairs[0][1]),
    "pipeline": pipeline("similarity-minilm")([{"first": a, "second": b} for a, b in pairs]),
    "builtin": pipeline(run, task="text-classification")({"text": pairs[0][0], "text_pair": pairs[0][1]}),
    "head": [model.head_name, model.config.head_options, model.config.extra.get("problem_type")],
}))
"""

# After `pip uninstall`: each entry point, one line naming what to install.
_GONE = """
import contextlib, io, json, logging, sys
from berthub import BertForTask, pipeline
from berthub.cli import main
from berthub.errors import BerthubError

run, data, pair = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
logging.basicConfig(format="%(message)s")  # the fallback's warning, as a command prints it

def command(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}

def error(call):
    try:
        call()
    except BerthubError as caught:
        return str(caught)
    return None

print(json.dumps({
    "predict_task": command("predict", "--model", run, "--task", "sentence-similarity", "--pair", *pair),
    "evaluate": command("evaluate", "--model", run, "--task", "sentence-similarity", "--data-dir", data),
    "rank": command("similarity-rank", "--model", run, "--query", "a", "b"),
    "pipeline": error(lambda: pipeline(run, task="sentence-similarity")),
    "by_name": error(lambda: BertForTask.from_pretrained("similarity-minilm")),
}))
"""


@pytest.mark.slow
def test_a_plugin_reusing_a_builtin_head_trains_answers_publishes_and_names_its_distribution_once_gone(
        tmp_path, minilm_dir, hub_server, monkeypatch):
    from fresh_venv import hub_venv

    env = hub_venv(tmp_path, hub_server, monkeypatch)
    source = shutil.copytree(PLUGIN, tmp_path / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env.pip("install", str(source))
    listing = env.berthub("plugins")
    for name in ("sentence-similarity", "similarity-models", "similarity-rank"):
        assert re.search(rf"{name} +{DISTRIBUTION} 0\.2\.0", listing), listing
    assert NAME in listing

    run = tmp_path / "run"
    env.berthub("train", "--model", str(minilm_dir), "--task", "sentence-similarity", "--data-dir", str(DATA),
                "--output-dir", str(run), "--batch-size", "8", "--epochs", "1", "--learning-rate", "1e-4",
                "--no-progress", "--push", REPO_ID)
    config = json.loads((run / "best" / "config.json").read_text())
    assert (config["berthub_head"], config["berthub_head_options"]) == ("sequence-classification", {"num_labels": 1})
    assert (config["problem_type"], config["num_labels"]) == ("regression", 1) and "id2label" not in config
    training = json.loads((run / "best" / "training.json").read_text())
    assert training["task_distribution"] == DISTRIBUTION

    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps({"first": a, "second": b}) + "\n" for a, b in PAIRS), encoding="utf-8")
    used = json.loads(env.run("-c", _USE, str(run / "best"), str(DATA), str(tmp_path / "metrics.json"), str(jsonl),
                              json.dumps(PAIRS)))
    assert [used[k]["code"] for k in ("evaluate", "predict_pairs", "predict_jsonl", "rank")] == [0, 0, 0, 0], used
    # evaluate --output: the metrics unrounded, equal to what training measured on the same dev set
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["task"] == "sentence-similarity" and written["examples"] == 8
    assert written["metrics"] == pytest.approx(training["metrics"], abs=1e-6)
    assert f"pearson {written['metrics']['pearson']:.4f}" in used["evaluate"]["out"]
    # the task's own hook answers pairs (--pair, its own JSONL fields, the pipeline by name): scores on 0-5
    answers = [json.loads(line) for line in used["predict_pairs"]["out"].splitlines()]
    assert answers == [json.loads(line) for line in used["predict_jsonl"]["out"].splitlines()] == used["pipeline"]
    assert len(answers) == 2 and all(isinstance(a, float) and 0.0 <= a <= 5.0 for a in answers)
    assert used["predict_pairs"]["err"] == ""  # no fallback: nothing to warn about
    # the built-in pipeline asked by name answers the same pair with the raw value, no placeholder label
    assert set(used["builtin"]) == {"score"} and used["builtin"]["score"] == pytest.approx(answers[0], abs=1e-5)
    ranked = [line.split("  ", 1) for line in used["rank"]["out"].splitlines()]
    assert sorted(s for _, s in ranked) == sorted([PAIRS[1][1], PAIRS[0][1]])
    assert [float(score) for score, _ in ranked] == sorted((float(score) for score, _ in ranked), reverse=True)
    assert used["head"] == ["sequence-classification", {"num_labels": 1}, "regression"]
    card = env.run("-c", "import sys; from huggingface_hub import hf_hub_download as get; "
                   "print(open(get(sys.argv[1], 'README.md')).read())", REPO_ID)
    assert "pipeline_tag: text-classification" in card and "Output: one regression value" in card
    assert "LABEL_0" not in card and f"pip install {DISTRIBUTION}" not in card.split("To score it")[0]

    env.uninstall(DISTRIBUTION)
    gone = json.loads(env.run("-c", _GONE, str(run / "best"), str(DATA), json.dumps(PAIRS[0])))
    install = f"pip install {DISTRIBUTION}"
    for key in ("predict_task", "evaluate", "rank"):
        assert gone[key]["code"] == 2 and gone[key]["out"] == "", (key, gone[key])
        assert gone[key]["err"].count("\n") == 1 and gone[key]["err"].rstrip().endswith(install), (key, gone[key])
    assert "The command 'similarity-rank' comes from the plugin distribution" in gone["rank"]["err"]
    assert gone["pipeline"].endswith(install) and "\n" not in gone["pipeline"]
    assert gone["by_name"] == (f"The model name '{NAME}' (hub repo {REPO_ID}) comes from the plugin distribution "
                               f"'{DISTRIBUTION}', which is not installed: {install}")
    # without --task, the built-in head still answers, and says why not through the task and what to install
    fallback = env.completed("-m", "berthub", "predict", "--model", str(run / "best"), "--pair", *PAIRS[0])
    assert set(json.loads(fallback.stdout)) == {"score"}
    assert fallback.stderr.count("\n") == 1 and fallback.stderr.rstrip().endswith(install), fallback.stderr
