"""Short claims, in the hub's database, that one server process does a piece of work for all of them.

A mirror asked for the same file by 16 clients through 2 replicas must download it from its upstream
once: each asker tries `acquire("mirror-file:<sha256>")`; the one that gets it downloads (renewing the
claim while it works) and releases it, the others wait for the result. A claim whose holder died (kill
-9, a lost machine) expires after its time to live, and another process takes it over.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from berthub.server.db import schema
from berthub.server.db.engine import Database

_leases = schema.leases


class Leases:
    def __init__(self, database: Database) -> None:
        self.db = database
        self.owner = f"{socket.gethostname()[:20]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"

    def acquire(self, name: str, ttl_s: float) -> bool:
        """Whether this process now holds `name` (for `ttl_s` seconds unless renewed)."""
        now = time.time()
        try:
            with self.db.write() as connection:
                connection.execute(insert(_leases).values(name=name, owner=self.owner, expires_at=int(now + ttl_s)))
            return True
        except IntegrityError:
            pass
        with self.db.write() as connection:  # taken: ours only if its holder let it expire
            return connection.execute(update(_leases).where(_leases.c.name == name, _leases.c.expires_at < int(now))
                                      .values(owner=self.owner, expires_at=int(now + ttl_s))).rowcount == 1

    def renew(self, name: str, ttl_s: float) -> None:
        with self.db.write() as connection:
            connection.execute(update(_leases).where(_leases.c.name == name, _leases.c.owner == self.owner)
                               .values(expires_at=int(time.time() + ttl_s)))

    def release(self, name: str) -> None:
        with self.db.write() as connection:
            connection.execute(delete(_leases).where(_leases.c.name == name, _leases.c.owner == self.owner))

    def held(self, name: str) -> bool:
        """Whether some process holds `name` now."""
        with self.db.read() as connection:
            expires = connection.execute(select(_leases.c.expires_at).where(_leases.c.name == name)).scalar()
        return expires is not None and expires >= int(time.time())
