"""Every boolean flag of every `berthub` command says in its help what passing it does, and `berthub plugins`
shows the model names each `berthub.models` entry point adds."""

from __future__ import annotations

import argparse
import importlib
import re
import uuid

import pytest

from berthub.cli import build_parser, main
from berthub.sources import registry

# Help that starts like this describes turning something off.
_NEGATIVE = re.compile(r"^(do not|don't|no |never|without|skip|disable|hide)", re.IGNORECASE)


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, parser) for the parser and every sub-command below it."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))


def _boolean_flags():
    for words, parser in _commands(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                yield pytest.param(words, parser, action, id=" ".join(words + (action.option_strings[-1],)))


def _parsed(parser: argparse.ArgumentParser, extra: list[str]) -> argparse.Namespace:
    """Parse `extra` with every required option filled by a placeholder, as the command line would."""
    args = []
    for action in parser._actions:
        if action.required and action.option_strings:
            args += [action.option_strings[-1], "x"]
        elif not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            args.append("x")
    return parser.parse_args(args + extra)


@pytest.mark.parametrize(("words", "parser", "action"), list(_boolean_flags()))
def test_every_boolean_flag_help_describes_what_passing_it_does(words, parser, action):
    flag = action.option_strings[-1]
    off, on = getattr(_parsed(parser, []), action.dest), getattr(_parsed(parser, [flag]), action.dest)
    assert off != on, f"{flag} changes nothing"
    negated = flag.startswith("--no-")
    # `--no-X` either switches X off (X: True -> False) or switches a `no_X` setting on.
    if negated:
        plain = flag[len("--no-"):].replace("-", "_")
        assert (action.dest, on) in ((plain, False), ("no_" + plain, True)), f"{flag} sets {action.dest}={on}"
    else:
        assert on is True, f"{flag} sets {action.dest}={on}, its name says it turns something on"
    help_text = action.help or ""
    assert bool(_NEGATIVE.match(help_text)) == negated, f"{' '.join(words)} {flag}: help {help_text!r}"


def test_the_two_flags_that_said_the_opposite_now_say_what_they_do():
    train = dict(_commands(build_parser()))[("train",)]
    helps = {a.option_strings[-1]: a.help for a in train._actions if a.option_strings}
    assert helps["--no-group-by-length"].startswith("do not group examples of similar length")
    assert helps["--no-progress"] == "do not show a progress bar"


def test_plugins_lists_the_model_names_of_each_models_entry_point(tmp_path, monkeypatch, capsys):
    tag = uuid.uuid4().hex[:8]
    info = tmp_path / "acme_models-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-models\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[berthub.models]\nacme-berts = acme_{tag}:ENTRIES\n"
                                           f"acme-broken = acme_{tag}:MISSING\n")
    (tmp_path / f"acme_{tag}.py").write_text(
        "from berthub.sources.registry import ModelEntry\n"
        "ENTRIES = [ModelEntry('acme-bert-tiny', repo_id='acme/bert-tiny'),\n"
        "           ModelEntry('acme-bert-small', repo_id='acme/bert-small')]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    registry.reload()
    try:
        assert main(["plugins", "--kind", "models"]) == 0
    finally:
        registry.reload()
    out = capsys.readouterr().out
    assert re.search(r"acme-berts +acme-models 0\.1\.0 .*\n +model names: acme-bert-tiny, acme-bert-small\n", out)
    assert re.search(r"google-bert +berthub .*\n +model names: bert-base-uncased, bert-large-uncased,", out)
    assert "bert-large-uncased-whole-word-masking-finetuned-squad" in out  # names are never split
    assert re.search(r"acme-broken +acme-models 0\.1\.0 .*\n +model names: none usable \(it failed to load", out)


@pytest.mark.parametrize("argv", [["plugins"], ["--help"]], ids=" ".join)
def test_a_command_whose_reader_closed_the_pipe_ends_quietly(argv):
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before berthub writes a byte: every write meets a closed pipe
    try:
        done = subprocess.run([sys.executable, "-m", "berthub", *argv], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.stderr == "" and done.returncode in (0, 141)  # 141: stopped by SIGPIPE, as `yes | head` is
