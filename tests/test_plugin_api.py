"""The plugin API is a promise (docs/plugins.md, "Stable API"; README, "Versions and the plugin API").

The Stable API table is held to the code; every public name of berthub 0.1.0 still imports from its
0.1.0 path (with a FutureWarning where the module moved) or is listed in CHANGELOG.md as removed; and the
example plugin exactly as it was released with 0.1.0, taken from git history, runs its whole walkthrough
against this berthub in a fresh virtualenv with FutureWarnings only.

tests/fixtures/api-0.1.0.json holds 0.1.0's public names: for each module of berthub/ at the release
commit (RELEASE_0_1_0) outside `server`, `commands` and `cli` (the application, not an API), the names
its top level defines that do not start with "_", and those of its `__all__`.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import re
import subprocess
import sys
import tarfile
import warnings
from io import BytesIO
from pathlib import Path

import pytest

from berthub import _moved
from berthub.plugins import HeadFacts, ModelEntry
from berthub.tasks import Task

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
DOC = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
CHANGELOG = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
SNAPSHOT = json.loads((FIXTURES / "api-0.1.0.json").read_text(encoding="utf-8"))
RELEASE_0_1_0 = SNAPSHOT["commit"]
FACES = ("berthub", "berthub.plugins", "berthub.tasks", "berthub.model", "berthub.tokenizer", "berthub.training",
         "berthub.inference")


def _stable_api() -> dict[str, list[str]]:
    section = DOC.split("## Stable API", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(berthub[\w.]*)` \| (.+) \|$", section, flags=re.M)
    return {module: re.findall(r"`(\w+)`", names) for module, names in rows}


def _first_column(header: str, after: str = "") -> list[str]:
    """The backticked names in the first column of the docs/plugins.md table whose header row starts with
    `header` (the first such table after the text `after`)."""
    table = (DOC.split(after, 1)[1] if after else DOC).split(f"\n| {header}", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [name for row in table for name in re.findall(r"`(\w+)", row.split("|")[1])]


def _removed_since_0_1_0() -> set[str]:
    section = CHANGELOG.split("### Removed since 0.1.0", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `(berthub\.[\w.]+)`", section, flags=re.M))


def test_the_stable_api_table_is_what_the_code_exports():
    api = _stable_api()
    assert set(FACES) <= set(api), "every room's face is a module plugins may import"
    for module, names in api.items():
        imported = importlib.import_module(module)
        assert [n for n in names if not hasattr(imported, n)] == [], module
        if hasattr(imported, "__all__"):  # a face: the table lists exactly what it exports
            assert sorted(names) == sorted(imported.__all__), module


def test_the_shapes_a_plugin_registers_are_documented_field_by_field():
    assert _first_column("`HeadFacts` field") == [f.name for f in dataclasses.fields(HeadFacts)]
    assert _first_column("`ModelEntry` field") == [f.name for f in dataclasses.fields(ModelEntry)]
    documented = set(_first_column("member", after="### 3. Write the task"))
    assert set(Task.__annotations__) | {m for m in vars(Task) if not m.startswith("_")} <= documented


def test_every_public_name_of_0_1_0_imports_from_its_0_1_0_path_or_is_listed_as_removed():
    removed, missing, present = _removed_since_0_1_0(), [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for module, names in SNAPSHOT["modules"].items():
            imported = importlib.import_module(module)
            for name in names:
                listed = f"{module}.{name}" in removed
                if hasattr(imported, name) == listed:
                    (present if listed else missing).append(f"{module}.{name}")
    assert missing == [], "0.1.0 names gone without a CHANGELOG.md entry under 'Removed since 0.1.0'"
    assert present == [], "CHANGELOG.md lists as removed names that still import"
    assert removed <= {f"{m}.{n}" for m, names in SNAPSHOT["modules"].items() for n in names}


_OLD_PATHS = """
import json, sys, warnings
found = {}
for old in sys.argv[1:]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        space = {}
        exec(compile(f"import {old} as module", __file__, "exec"), space)  # an import statement in this file
        module = space["module"]
    found[old] = [[str(w.message), w.filename, type(w.message).__name__] for w in caught]
    found[old].append(module.__spec__.name if module.__spec__ else None)
print(json.dumps(found))
"""


def test_each_moved_path_warns_once_naming_its_new_home_and_the_line_that_imported_it(tmp_path):
    script = tmp_path / "old_imports.py"
    script.write_text(_OLD_PATHS, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), *_moved.MOVED], capture_output=True, text=True, check=True)
    for old, caught in json.loads(done.stdout).items():
        *warned, spec_name = caught
        assert len(warned) == 1, (old, warned)
        message, filename, kind = warned[0]
        assert kind == "FutureWarning" and _moved.MOVED[old][0] in message and "0.3" in message, message
        assert filename == str(script), f"the warning for {old} points at {filename}, not the importing line"
        single = len(_moved.MOVED[old]) == 1 and old not in _moved.RENAMED
        assert spec_name == (_moved.MOVED[old][0] if single else old), old  # a module that moved keeps its own spec


def test_a_moved_path_with_one_home_is_that_module_and_renamed_names_resolve():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import berthub.pipelines as old
        from berthub.publish import resolve_endpoint
        from berthub.registry import ModelEntry as OldEntry

        import berthub.inference.pipelines as new
        from berthub.sources.settings import hub_endpoint
    assert old is new and OldEntry is ModelEntry and resolve_endpoint is hub_endpoint
    with pytest.raises(AttributeError, match="CHANGELOG.md"):
        importlib.import_module("berthub.download").download_archive  # noqa: B018


def test_renamed_names_of_surviving_modules_warn_and_answer():
    from berthub.inference.int8 import quantize_int8
    from berthub.training import optim, precision

    with pytest.warns(FutureWarning, match="AdamWeightDecay"):
        assert optim.BertAdam is optim.AdamWeightDecay
    with pytest.warns(FutureWarning, match="SCHEDULE_NAMES"):
        assert optim.SCHEDULES is optim.SCHEDULE_NAMES
    with pytest.warns(FutureWarning, match="berthub.inference.int8"):
        assert precision.quantize_int8 is quantize_int8


# -- the 0.1.0 example plugin, from git history, in a fresh virtualenv -------------------------------------------

# Predict in a new process with the model loaded by the name the legacy plugin registers (through the hub).
_PREDICT_BY_NAME = """
import json, sys, torch
from berthub import BertForTask, BertTokenizer
from berthub.tasks import collate, get_task, model_inputs, target_kinds, unbatch

name, data = sys.argv[1:3]
task = get_task("example-review-topics", threshold=0.4)
model, tokenizer = BertForTask.from_pretrained(name), BertTokenizer.from_pretrained(name)
examples = task.read(data, "dev")
features = task.features(examples, tokenizer, 64)
with torch.no_grad():
    outputs = unbatch(model(**model_inputs(collate(features, kinds=target_kinds(task)))))
print(json.dumps({"labels": model.labels, "answers": task.predict(examples, features, outputs)}))
"""


def _from_release(*git_args: str) -> bytes:
    """What `git <git_args>` prints about the 0.1.0 release commit; fails the test, saying why, without history."""
    done = subprocess.run(["git", "-C", str(REPO), *git_args], capture_output=True)
    if done.returncode:
        pytest.fail(f"git history lacks the 0.1.0 release commit {RELEASE_0_1_0} ({done.stderr.decode().strip()}); "
                    "run the suite from a full clone (git fetch --unshallow)")
    return done.stdout


def _release_files(subdir: str, target: Path) -> Path:
    """`subdir` of the repo as it was at the 0.1.0 release commit, extracted under `target`."""
    with tarfile.open(fileobj=BytesIO(_from_release("archive", "--format=tar", RELEASE_0_1_0, subdir))) as archive:
        archive.extractall(target, filter="data")
    return target / subdir


def _release_constant(path: str, name: str) -> str:
    """The string constant `name` of the repo file `path` as it was at the 0.1.0 release commit."""
    tree = ast.parse(_from_release("show", f"{RELEASE_0_1_0}:{path}").decode())
    return next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and [getattr(target, "id", None) for target in node.targets] == [name])


def _unexpected_warnings(stderr: str) -> list[str]:
    """Warning lines that are not FutureWarnings, raised from berthub or a plugin's code."""
    lines = [line for line in stderr.splitlines() if re.search(r"\w+Warning: ", line)]
    return [line for line in lines if "FutureWarning" not in line and "berthub" in line]


@pytest.mark.slow
def test_the_0_1_0_example_plugin_runs_its_whole_walkthrough_with_only_future_warnings(
        tmp_path, minilm_dir, hub_server, monkeypatch):
    from fresh_venv import hub_venv

    env = hub_venv(tmp_path, hub_server, monkeypatch)
    example = _release_files("tests/fixtures/berthub-example-plugin", tmp_path / "release")
    data = example / "data"
    env.pip("install", str(example), str(FIXTURES / "berthub-legacy-plugin"))
    listing = env.berthub("plugins")
    assert re.search(r"mean-pooled-classification +berthub-example-plugin 0\.1\.0", listing)
    assert "legacy-review-topics" in listing

    walkthrough = _release_constant("tests/test_plugins_example.py", "_USE_BY_NAME")  # 0.1.0's script, unchanged
    used = env.completed("-c", walkthrough, str(minilm_dir), str(data), str(tmp_path / "out"))
    result = json.loads(used.stdout)
    assert result["head_module"] == "berthub_example.head" and result["same"] and result["loss"] > 0
    assert result["saved"] == ["mean-pooled-classification", {"num_labels": 2, "dropout": 0.1, "multi_label": False}]
    assert "declares berthub 0.1's `attribute` and `targets`" in used.stderr  # the head is adapted, with its fix
    assert "facts = HeadFacts(attribute='mean_pooled_classifier'" in used.stderr
    assert _unexpected_warnings(used.stderr) == []

    run = tmp_path / "run"
    trained = env.completed("-m", "berthub", "train", "--model", str(minilm_dir), "--task", "example-review-topics",
                            "--task-option", "threshold=0.4", "--data-dir", str(data), "--output-dir", str(run),
                            "--batch-size", "8", "--epochs", "1", "--no-progress",
                            "--push", "legacy-plugin/review-topics")
    assert _unexpected_warnings(trained.stderr) == []
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 3 and list(json.loads((run / "best" / "config.json").read_text())["id2label"].values()) \
        == ["battery", "durability", "performance", "price", "service", "usability"]
    scored = env.berthub("evaluate", "--model", str(run / "best"), "--task", "example-review-topics",
                         "--data-dir", str(data))
    assert f"f1 {summary['best_metrics']['f1']:.4f}" in scored

    # A new process loads it by the name the legacy plugin registers (its ModelEntry from berthub.registry).
    predicted = env.completed("-c", _PREDICT_BY_NAME, "legacy-review-topics", str(data))
    answers = json.loads(predicted.stdout)
    assert answers["labels"][0] == "battery" and len(answers["answers"]) == 8
    assert "berthub.registry moved to berthub.sources.registry" in predicted.stderr
    assert _unexpected_warnings(predicted.stderr) == []

    # The legacy plugin's broken dataset breaks only itself.
    broken = env.run("-c", "from berthub.tasks import get_task; get_task('legacy-broken')", check=False)
    assert "berthub-legacy-plugin" in broken and "ModuleNotFoundError" in broken
    assert env.completed("-m", "berthub", "plugins", "--check", check=False).returncode == 1

    env.uninstall("berthub-example-plugin")
    missing = env.run("-c", "from berthub.tasks import get_task; get_task('example-reviews')", check=False)
    assert "No dataset named 'example-reviews' is registered" in missing
    orphan = env.run("-c", "from berthub import BertForTask; BertForTask.from_pretrained('legacy-review-topics')",
                     check=False)
    assert orphan.rstrip().endswith("pip install berthub-example-plugin")
