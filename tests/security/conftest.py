"""Fixtures of the security suite: a second hub started with small, explicit limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubserver import HubServer, running_hub

LIMITS = ("--max-request-size", "4KiB", "--max-commit-size", "64KiB", "--max-card-size", "8KiB")


@pytest.fixture(scope="session")
def limited_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """`berthub serve` with 4 KiB request bodies, 64 KiB commits and 8 KiB cards."""
    with running_hub(tmp_path_factory.mktemp("limited") / "root", extra_args=LIMITS) as hub:
        yield hub
