"""Each shipped plugin is a plain pip distribution: `pip install ./plugins/<name>` (or ./converters/<name>)
makes `berthub plugins` list its names, and uninstalling it removes them, in a fresh virtualenv and with no
change to berthub."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SHIPPED = {  # distribution: (folder, entry-point group, names)
    "berthub-glue": ("plugins", "datasets", ["cola", "sst-2", "mrpc", "sts-b", "qqp", "mnli", "mnli-mm", "qnli",
                                             "rte", "wnli"]),
    "berthub-squad": ("plugins", "datasets", ["squad-v1.1", "squad-v2.0"]),
    "berthub-ner": ("plugins", "datasets", ["wnut17", "conll-ner"]),
    "berthub-tf": ("converters", "converters", ["tf", "to-tf"]),
    "berthub-pretraining": ("plugins", "commands", ["pretraining-data"]),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from fresh_venv import FreshVenv

    return FreshVenv(tmp_path_factory.mktemp("plugins-venv") / "venv")


def _listed(listing: str, name: str, distribution: str) -> bool:
    pattern = rf"^  {re.escape(name)} +{re.escape(distribution)} \d+\.\d+\.\d+ "  # any release of it
    return re.search(pattern, listing, re.MULTILINE) is not None


@pytest.mark.slow
@pytest.mark.parametrize("distribution", sorted(SHIPPED))
def test_pip_install_registers_the_plugin_and_uninstall_removes_it(env, tmp_path, distribution):
    folder, kind, names = SHIPPED[distribution]
    assert not any(_listed(env.berthub("plugins"), n, distribution) for n in names)

    source = shutil.copytree(REPO / folder / distribution, tmp_path / distribution,
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    env.pip("install", str(source))
    listing = env.berthub("plugins", "--kind", kind, "--check")  # imports each: exits 1 if any fails
    assert all(_listed(listing, n, distribution) for n in names), listing
    assert sum(line.endswith(" ok") for line in listing.splitlines()) == len(names)

    env.uninstall(distribution)
    listing = env.berthub("plugins", "--kind", kind)
    assert not any(_listed(listing, n, distribution) for n in names)
