"""Every code block of README.md and docs/*.md works as written.

Python blocks run in document order, each in a fresh namespace, in a working folder of their own
document (so a block may read what an earlier block of the same page saved), with the shipped data/
linked into it and berthub pointed at a local `berthub serve` that holds the real MiniLM under every
registry name ("bert-base-uncased" & co.). Shell blocks: every `berthub ...` command line (also
after `VAR=value`, `torchrun ... -m berthub` or `python -m berthub`) must exist, i.e.
`berthub WORDS --help` exits 0, WORDS being the line's words before its first option.

A marker on the line right before a fence changes what is done with the block:

    <!-- docs-test: needs <what>[, <what> ...] -->  run it on stand-ins for user files (STAND_INS below):
        tf-checkpoint DIR   a Google TF release folder (bert_model.ckpt.*, bert_config.json, vocab.txt) made
                            from MiniLM by `berthub convert to-tf`
        glue DIR            DIR/train.tsv, dev.tsv: the first rows of the shipped data/glue/<last part of DIR>
        model-dir DIR       a saved model directory (MiniLM: config.json, model.safetensors, vocab.txt)
        hub URL             the block's hub at URL is the test hub (URL replaced, BERTHUB_TOKEN set)
        example-plugin      tests/fixtures/berthub-example-plugin registered as if pip-installed
        classifier-dir DIR  a berthub sequence classifier folder (MiniLM + a 2-label head named negative/positive),
                            as `berthub train` leaves in runs/.../best, unless an earlier block already made DIR
        transformers-classifier DIR  a 3-label MNLI-style classifier saved by transformers' save_pretrained
        pretraining-data DIR  instances written by `berthub pretraining-data` from shipped SST-2 sentences
      A need with no stand-in yet is skipped with its name, after the block is checked to compile.
    <!-- docs-test: excerpt PATH -->  an abridged excerpt of the repo file PATH: it must parse, and every
        class and function it shows must exist in PATH under the same name.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import DATA, REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
MARKER = re.compile(r"^<!--\s*docs-test:\s*(needs|excerpt)\s+(.+?)\s*-->\s*$")
GLUE_ROWS = {"train": 8, "dev": 4}


@dataclass
class Block:
    document: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    needs: list[list[str]] = field(default_factory=list)  # each need: kind, then its arguments
    excerpt: str | None = None

    @property
    def id(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"


def read_blocks(document: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with the docs-test marker of the line before each."""
    lines = document.read_text(encoding="utf-8").split("\n")
    blocks, index = [], 0
    while index < len(lines):
        fence = re.match(r"^(```+)\s*([\w+-]*)", lines[index])
        if not fence:
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].startswith(fence.group(1))), len(lines))
        block = Block(document, index + 1, fence.group(2).lower(), "\n".join(lines[index + 1:end]) + "\n")
        marker = MARKER.match(lines[index - 1].strip()) if index else None
        if marker and marker.group(1) == "needs":
            block.needs = [need.split() for need in marker.group(2).split(",") if need.strip()]
        elif marker:
            block.excerpt = marker.group(2)
        blocks.append(block)
        index = end + 1
    return blocks


BLOCKS = [block for document in DOCUMENTS for block in read_blocks(document)]
PYTHON = [b for b in BLOCKS if b.language in ("python", "py")]
SHELL = [b for b in BLOCKS if b.language in SHELL_LANGUAGES]


# -- shell blocks: every berthub command exists ----------------------------------------------------


def berthub_commands(code: str) -> list[list[str]]:
    """The `berthub` invocations of a shell block, each as its words before the first option."""
    commands = []
    for line in re.sub(r"\\\n", " ", code).split("\n"):
        line = re.sub(r"(^|\s)#.*$", "", line.strip().removeprefix("$ "))
        for segment in re.split(r"\|\||&&|[|;]", line):
            try:
                words = shlex.split(segment)
            except ValueError:
                words = segment.split()
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words = words[1:]
            if words[:1] == ["berthub"]:
                rest = words[1:]
            elif "-m" in words and words[words.index("-m") + 1:words.index("-m") + 2] == ["berthub"]:
                rest = words[words.index("-m") + 2:]
            else:
                continue
            stop = next((i for i, w in enumerate(rest) if w.startswith(("-", "[", "...")) or w == "…"), len(rest))
            commands.append(rest[:stop])
    return commands


SHELL_COMMANDS = sorted({tuple(c) for b in SHELL for c in berthub_commands(b.code)})


@pytest.mark.parametrize("words", SHELL_COMMANDS, ids=" ".join)
def test_every_berthub_command_in_the_docs_exists(words):
    from berthub.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), pytest.raises(SystemExit) as stop:
        main([*words, "--help"])
    assert stop.value.code == 0, f"`berthub {' '.join(words)} --help` failed:\n{out.getvalue()}"
    assert "usage: berthub" in out.getvalue()


def test_the_docs_have_berthub_commands_and_python_blocks():  # the parser found what is there
    assert ("convert", "tf") in SHELL_COMMANDS and ("serve",) in SHELL_COMMANDS
    assert any("BertTokenizer.from_pretrained" in b.code for b in PYTHON if b.document.name == "README.md")


# -- python blocks run -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs_env(named_models, tmp_path_factory):
    """berthub pointed at the hub of named MiniLMs (fresh cache), and a root for one working folder per page."""
    return named_models, tmp_path_factory.mktemp("docs")


def _workdir(root: Path, document: Path) -> Path:
    folder = root / document.stem
    if not folder.exists():
        folder.mkdir()
        (folder / "data").symlink_to(DATA, target_is_directory=True)
    return folder


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_block_runs(block, docs_env, minilm_dir, monkeypatch):
    if block.excerpt is not None:
        _check_excerpt(block)
        return
    hub, root = docs_env
    workdir = _workdir(root, block.document)
    code = compile(block.code, block.id, "exec")  # a syntax error fails even a block that needs files
    unknown = [need for need in block.needs if need[0] not in STAND_INS]
    if unknown:
        pytest.skip(f"{block.id} needs {', '.join(' '.join(n) for n in unknown)}: no stand-in in tests/test_docs.py")
    source = block.code
    for kind, *arguments in block.needs:
        source = STAND_INS[kind](Context(workdir, hub, minilm_dir, monkeypatch), arguments, source)
    code = compile(source, block.id, "exec")
    monkeypatch.chdir(workdir)
    exec(code, {"__name__": "__main__"})


def _check_excerpt(block: Block) -> None:
    path = REPO / block.excerpt
    assert path.is_file(), f"{block.id}: excerpt of {block.excerpt}, which does not exist"
    shown = _definitions(ast.parse(block.code, block.id))
    defined = _definitions(ast.parse(path.read_text(encoding="utf-8")))
    missing = [name for name in shown if not any(d == name or d.endswith("." + name) for d in defined)]
    assert shown and not missing, f"{block.id} shows {missing}, which {block.excerpt} does not define"


def _definitions(tree: ast.AST, prefix: str = "") -> list[str]:
    names = []
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(prefix + node.name)
            if isinstance(node, ast.ClassDef):
                names += _definitions(node, f"{prefix}{node.name}.")
    return names


# -- stand-ins for the user's files -------------------------------------------------------------------


@dataclass
class Context:
    workdir: Path
    hub: object  # tests/hubserver.py HubServer
    minilm_dir: Path
    monkeypatch: pytest.MonkeyPatch


def _model_dir(context: Context, arguments: list[str], source: str) -> str:
    target = context.workdir / arguments[0]
    if not target.exists():
        target.mkdir(parents=True)
        for name in ("config.json", "model.safetensors", "vocab.txt"):
            shutil.copyfile(context.minilm_dir / name, target / name)
    return source


def _tf_checkpoint(context: Context, arguments: list[str], source: str) -> str:
    pytest.importorskip("tensorflow", reason="the TF checkpoint stand-in is written with TensorFlow")
    target = context.workdir / arguments[0]
    if not target.exists():
        subprocess.run([sys.executable, "-m", "berthub", "convert", "to-tf", str(context.minilm_dir),
                        "--output", str(target / "bert_model.ckpt")], check=True, capture_output=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    return source


def _glue(context: Context, arguments: list[str], source: str) -> str:
    target = context.workdir / arguments[0]
    shipped = DATA / "glue" / Path(arguments[0]).name
    assert shipped.is_dir(), f"no shipped GLUE data for {arguments[0]}; data/glue has {os.listdir(DATA / 'glue')}"
    target.mkdir(parents=True, exist_ok=True)
    dev = (shipped / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    train = (shipped / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True) \
        if (shipped / "train.tsv").is_file() else [dev[0], *dev[GLUE_ROWS["dev"] + 1:]]  # dev rows not in dev
    (target / "train.tsv").write_text("".join(train[: GLUE_ROWS["train"] + 1]), encoding="utf-8")
    (target / "dev.tsv").write_text("".join(dev[: GLUE_ROWS["dev"] + 1]), encoding="utf-8")
    return source


def _hub(context: Context, arguments: list[str], source: str) -> str:
    assert arguments and arguments[0] in source, f"the block does not mention the hub URL {arguments}"
    context.monkeypatch.setenv("BERTHUB_TOKEN", context.hub.token)
    return source.replace(arguments[0].rstrip("/"), context.hub.endpoint)


def _example_plugin(context: Context, arguments: list[str], source: str) -> str:
    """Entry points of tests/fixtures/berthub-example-plugin visible as if it were pip-installed."""
    import tomllib

    plugin = REPO / "tests" / "fixtures" / "berthub-example-plugin"
    project = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    info = context.workdir / "site" / f"berthub_example_plugin-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items())
        for group, entries in project["entry-points"].items()))
    context.monkeypatch.syspath_prepend(str(plugin))
    context.monkeypatch.syspath_prepend(str(info.parent))
    return source


def _classifier_dir(context: Context, arguments: list[str], source: str) -> str:
    from berthub import BertForSequenceClassification, BertTokenizer
    from berthub.model.labels import with_labels

    target = context.workdir / arguments[0]
    if not (target / "config.json").is_file():
        model = BertForSequenceClassification.from_pretrained(str(context.minilm_dir), num_labels=2)
        model.config = with_labels(model.config, ["negative", "positive"])
        model.save_pretrained(target)
        BertTokenizer.from_pretrained(str(context.minilm_dir)).save_pretrained(target)
    return source


def _transformers_classifier(context: Context, arguments: list[str], source: str) -> str:
    transformers = pytest.importorskip("transformers")
    target = context.workdir / arguments[0]
    if not target.exists():
        labels = {0: "contradiction", 1: "entailment", 2: "neutral"}
        model = transformers.BertForSequenceClassification.from_pretrained(
            context.minilm_dir, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
        model.save_pretrained(target)
        shutil.copyfile(context.minilm_dir / "vocab.txt", target / "vocab.txt")
    return source


def _pretraining_data(context: Context, arguments: list[str], source: str) -> str:
    target = context.workdir / arguments[0]
    if not (target / "index.json").is_file():
        lines = (DATA / "glue" / "SST-2" / "dev.tsv").read_text(encoding="utf-8").split("\n")[1:61]
        sentences = [line.split("\t")[0] for line in lines if line]
        documents = ["\n".join(sentences[i:i + 6]) for i in range(0, len(sentences), 6)]
        corpus = context.workdir / "corpus.txt"
        corpus.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
        subprocess.run([sys.executable, "-m", "berthub", "pretraining-data", "--input", str(corpus), "--vocab",
                        str(context.minilm_dir / "vocab.txt"), "--do-lower-case", "--output", str(target),
                        "--dupe-factor", "1"], check=True, capture_output=True)
    return source


STAND_INS: dict[str, Callable[[Context, list[str], str], str]] = {
    "tf-checkpoint": _tf_checkpoint,
    "glue": _glue,
    "model-dir": _model_dir,
    "hub": _hub,
    "example-plugin": _example_plugin,
    "classifier-dir": _classifier_dir,
    "transformers-classifier": _transformers_classifier,
    "pretraining-data": _pretraining_data,
}


# -- the reader itself ----------------------------------------------------------------------------------


def test_berthub_command_lines_are_found_after_variables_torchrun_and_continuations():
    code = ("BERTHUB_SERVER_TOKEN=s3cret berthub serve --root ./hub-data   # comment\n"
            "torchrun --nproc-per-node 2 -m berthub train ...\n"
            "berthub cache ls | rm NAME | verify\n"
            "berthub convert tf --checkpoint a/b \\\n    --config c.json\n"
            "pip install berthub-tf && python -m berthub models\n")
    assert berthub_commands(code) == [["serve"], ["train"], ["cache", "ls"], ["convert", "tf"], ["models"]]


def test_an_unknown_command_fails_its_help_check():
    with pytest.raises(AssertionError, match="berthub no-such-command --help` failed"):
        test_every_berthub_command_in_the_docs_exists(["no-such-command"])


def test_markers_on_the_line_before_a_fence_are_read(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n<!-- docs-test: needs tf-checkpoint release, glue glue/SST-2 -->\n```python\nx = 1\n```\n"
                    "<!-- docs-test: excerpt berthub/cli.py -->\n```python\ndef main(argv): ...\n```\n"
                    "```\nplain\n```\n")
    first, second, third = read_blocks(page)
    assert (first.line, first.language, first.needs, first.code) == (3, "python", [["tf-checkpoint", "release"],
                                                                                 ["glue", "glue/SST-2"]], "x = 1\n")
    assert (second.excerpt, second.needs, third.language, third.code) == ("berthub/cli.py", [], "", "plain\n")


def test_an_excerpt_showing_a_function_its_file_lacks_fails(tmp_path):
    block = Block(REPO / "README.md", 1, "python", "def main(argv): ...\ndef no_such_function(): ...\n",
                  excerpt="berthub/cli.py")
    with pytest.raises(AssertionError, match="no_such_function"):
        _check_excerpt(block)
