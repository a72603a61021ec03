"""What authorisation costs the hub per request, in process (CPU microseconds, best of rounds).

The decision it informs: who a token is takes a few database queries; the hub caches the answer per
process and checks the accounts generation (one row) on every request that carries a token, so a
revoked token is refused at once. Measured here, on the SQLite database `berthub serve` uses:

- the generation check alone (`Database.generation`),
- a full token lookup (`Accounts.caller_for_token`: token, scopes, memberships, grants), what every
  request would pay without the cache,
- HEAD /resolve of a public repo (the hot path of every cached load) with no token, a token-file (hub
  admin) token, an account token (cache hit + generation check), and an account token while another
  process keeps changing accounts (every request misses the cache: the worst case).

Usage: python bench/hub_auth_cost.py [--requests 1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hub_request_cost import _call, _fill

REPO_ID = "bench/all-MiniLM-L6-v2"


def _best(function: Callable[[], object], requests: int, rounds: int) -> float:
    for _ in range(100):
        function()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            function()
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from berthub.server.accounts.store import Accounts, digest
    from berthub.server.app import create_app
    from berthub.server.cache import BoundedCache
    from berthub.server.db.engine import Database, default_url
    from berthub.server.http import ServerConfig

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "hub"
        _fill(root)
        app = create_app(ServerConfig(root=root, tokens={"file-token": "admin"}))
        database = Database.open(default_url(root))
        accounts = Accounts(database)
        accounts.add_user("bench-user")
        accounts.add_org("bench", admin="bench-user")
        token = accounts.create_token("bench-user", "t", "write")
        loop = asyncio.new_event_loop()

        def head(repo_id: str, bearer: str | None, churn: bool = False) -> Callable[[], None]:
            headers = [(b"authorization", f"Bearer {bearer}".encode())] if bearer else []

            def request() -> None:
                if churn:  # what another process changing accounts does: the cached answer is gone
                    app.state.hub.auth.cache = BoundedCache()
                loop.run_until_complete(_call(app, "HEAD", f"/{repo_id}/resolve/main/config.json", headers))
            return request

        rows = [
            ("generation check (Database.generation)", database.generation),
            ("full token lookup (Accounts.caller_for_token)", lambda: accounts.caller_for_token(digest(token))),
            ("HEAD /resolve, public repo, no token", head(REPO_ID, None)),
            ("HEAD /resolve, public repo, token-file token", head(REPO_ID, "file-token")),
            ("HEAD /resolve, public repo, account token (cached)", head(REPO_ID, token)),
            ("HEAD /resolve, public repo, account token, cache dropped every request", head(REPO_ID, token, True)),
        ]
        print(f"CPU microseconds per call, best of {args.rounds} x {args.requests}")
        print("| what | us |\n|---|---:|")
        for label, function in rows:
            print(f"| {label} | {_best(function, args.requests, args.rounds):.1f} |")
        database.close()


if __name__ == "__main__":
    main()
