"""A fresh virtualenv holding berthub and its dependencies but no berthub plugin, for install tests.

Re-installing torch into every test venv would take minutes, so the new venv's site-packages gets a
symlink to every entry of the running environment's site-packages except those of berthub plugin
distributions (berthub-glue, berthub-tf, ...; berthub itself stays). The result is what
`pip install berthub` leaves behind: pip then installs and uninstalls plugins into the new venv
with its own interpreter, and nothing outside it changes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sysconfig
import venv
from pathlib import Path

# site-packages entries of plugin distributions: dist-info folders, editable .pth files and finders
_PLUGIN_ENTRY = re.compile(r"^(__editable__[._]_?)?berthub[-_][a-z]", re.IGNORECASE)


class FreshVenv:
    """A venv under `root`; `run` executes its python, `pip` runs its pip."""

    def __init__(self, root: Path) -> None:
        self.root = root
        venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
        self.python = root / "bin" / "python"
        self.site_packages = Path(self.run("-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
        source = Path(sysconfig.get_path("purelib"))
        for entry in source.iterdir():
            if not _PLUGIN_ENTRY.match(entry.name) and not (self.site_packages / entry.name).exists():
                (self.site_packages / entry.name).symlink_to(entry)

    def run(self, *args: str, check: bool = True, cwd: Path | None = None) -> str:
        """Run the venv's python with `args`; returns stdout (stderr folded in on failure)."""
        done = self.completed(*args, check=check, cwd=cwd)
        return done.stdout + ("" if done.returncode == 0 else done.stderr)

    def completed(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run the venv's python with `args`; the finished process, its stdout and stderr kept apart."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        done = subprocess.run([str(self.python), *args], capture_output=True, text=True, env=env, cwd=cwd,
                              timeout=600)
        if check and done.returncode:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def pip(self, *args: str) -> str:
        """pip of this venv, offline and without build isolation (setuptools comes from the parent env)."""
        return self.run("-m", "pip", *args, "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
                        "--disable-pip-version-check")

    def uninstall(self, distribution: str) -> str:
        return self.run("-m", "pip", "uninstall", "--yes", "--quiet", "--disable-pip-version-check", distribution)

    def berthub(self, *args: str, check: bool = True) -> str:
        """`berthub ARGS` inside the venv."""
        return self.run("-m", "berthub", *args, check=check)


def hub_venv(root: Path, hub_server, monkeypatch) -> FreshVenv:
    """A FreshVenv under `root/venv` whose commands push to and load from `hub_server` (tests/hubserver.py),
    with a cache of its own under `root/cache`."""
    for key, value in hub_server.client_env({}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BERTHUB_CACHE", str(root / "cache"))
    return FreshVenv(root / "venv")
