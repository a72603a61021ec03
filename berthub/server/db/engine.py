"""The hub's database: an engine from a URL, transactions, migrations at start, the change counter.

`Database.open(url)` connects (SQLite under `--root` by default, any SQLAlchemy URL otherwise, e.g.
`postgresql+psycopg://user@host/berthub`) and brings the schema to the newest migration with Alembic
(the migrations ship inside the package, so an installed berthub migrates its own database).
Migrations run under a lock, so several workers or replicas starting at once migrate once: a file lock
beside a SQLite database, `pg_advisory_lock` on PostgreSQL (replicas on several machines share it).

`read()` and `write()` hand out connections inside a transaction. On SQLite a write transaction
starts with BEGIN IMMEDIATE: it takes the write lock before its first read, so two processes writing
at once queue (busy timeout) instead of one failing with "database is locked".

`rows(statement)` runs a read on the hot path (which commit a revision names, on every download): on
SQLite through a connection per thread that reads the newest committed data, with the statement compiled
once, in microseconds; elsewhere through the pool. `generation()` reads the counter every change to
accounts bumps (schema.accounts_state) the same way, so the server may check it on every request.

`secret()` is the hub's signing key (upload URLs, CSRF tokens, Xet tokens), made once and kept in the
database, so every replica signs and checks alike.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock
from sqlalchemy import create_engine, event, insert, inspect, select, text
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.sql import Executable

from berthub.errors import ConfigError
from berthub.server.db import schema
from berthub.server.errors import HubError, InsufficientStorage, StorageUnavailable
from berthub.sources.settings import DATABASE_FILE

BUSY_TIMEOUT_S = 30
MIGRATIONS = "berthub.server.db:migrations"  # Alembic's "package:folder" spelling
MIGRATION_LOCK_KEY = 0x6265727468756221  # pg_advisory_lock's key for berthub's migrations ("berthub!")
_NAMED = sqlite_dialect.dialect(paramstyle="named")  # compiles statements for sqlite3's named parameters


def default_url(root: str | Path) -> str:
    """The database of a hub with no `--database`: a SQLite file under its root."""
    return f"sqlite:///{Path(root).resolve() / DATABASE_FILE}"


class Database:
    """One engine and what the hub needs of it; safe to share between threads."""

    def __init__(self, engine: Engine, lock_path: Path | None = None) -> None:
        self.engine = engine
        self.sqlite_path = engine.url.database if engine.dialect.name == "sqlite" else None
        self._lock_path = lock_path
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._compiled: dict[int, tuple[Executable, str, dict[str, Any]]] = {}

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Connect to `url` and, with `migrate`, upgrade its schema to the newest migration."""
        try:
            engine = create_engine(make_url(url), connect_args=_connect_args(url), **_pool_options(url))
        except (ArgumentError, ImportError) as error:
            raise ConfigError(f"Cannot use database {_safe(url)}: {error}. Give a SQLAlchemy URL such as "
                              "sqlite:///hub.db or postgresql+psycopg://user@host/berthub.") from None
        lock = None
        if engine.dialect.name == "sqlite":
            if not engine.url.database or engine.url.database == ":memory:":
                raise ConfigError(f"Database {url!r}: SQLite needs a file (sqlite:///path/to/hub.db), "
                                  "which every worker process shares.")
            _sqlite_transactions(engine)
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
            lock = Path(engine.url.database + ".migrate.lock")
        database = cls(engine, lock)
        if migrate:
            database.migrate()
        return database

    def revision(self) -> str | None:
        """The migration the database is at; None for an empty database."""
        try:
            with self.engine.connect() as connection:
                if not inspect(connection).has_table("alembic_version"):
                    return None
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as error:
            raise ConfigError(f"Cannot open database {_safe(str(self.engine.url))}: {error.orig}.") from None

    def migrate(self) -> None:
        """Upgrade to the newest migration (Alembic is imported only when there is one to run)."""
        if self.revision() == schema.HEAD:
            return
        with self._migration_lock():
            if self.revision() == schema.HEAD:  # another worker migrated while we waited
                return
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", MIGRATIONS)
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """One migrating process at a time: a file lock beside SQLite, an advisory lock on PostgreSQL
        (held by its own connection, so it covers replicas on other machines too)."""
        if self._lock_path is not None:
            with filelock.FileLock(self._lock_path):
                yield
        elif self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                    connection.commit()
        else:
            yield

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection, connection.begin():
            yield connection

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that changes data; it commits when the block ends without an exception."""
        with self.engine.connect().execution_options(berthub_write=True) as connection, connection.begin():
            yield connection

    def rows(self, statement: Executable, **params: Any) -> list[tuple]:
        """The rows of a read-only `statement` (bound parameters by name), as plain tuples."""
        if self.sqlite_path is None:  # autocommit: one round trip, no BEGIN / COMMIT around a single read
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                return [tuple(row) for row in connection.execute(statement, params)]
        compiled = self._compiled.get(id(statement))
        if compiled is None or compiled[0] is not statement:
            done = statement.compile(dialect=_NAMED)
            compiled = self._compiled[id(statement)] = (statement, str(done), dict(done.params))
        return self._reader().execute(compiled[1], {**compiled[2], **params}).fetchall()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection to the SQLite file (autocommit: each SELECT sees the newest
        committed data)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.sqlite_path, check_same_thread=False, isolation_level=None,
                                         timeout=BUSY_TIMEOUT_S)
            with self._readers_lock:
                self._readers.append(connection)
            self._local.connection = connection
        return connection

    def ping(self) -> None:
        """Raise unless the database answers a query."""
        self.rows(_PING)

    def generation(self) -> int:
        """The accounts change counter (schema.accounts_state)."""
        return int(self.rows(_GENERATION)[0][0])

    def secret(self) -> bytes:
        """The hub's signing key, made by whichever process asks first (every replica gets the same)."""
        found = self.rows(_SECRET)
        if not found:
            try:
                with self.write() as connection:
                    connection.execute(insert(schema.hub_settings).values(name="secret", value=secrets.token_hex(32)))
            except IntegrityError:
                pass  # another process made it first: use theirs
            found = self.rows(_SECRET)
        return found[0][0].encode()

    def adopt_secret(self, value: str) -> None:
        """Keep `value` as the hub's signing key unless it has one (a root from before the database kept it
        in a file: its upload links and CSRF tokens stay valid)."""
        with contextlib.suppress(IntegrityError), self.write() as connection:
            connection.execute(insert(schema.hub_settings).values(name="secret", value=value))

    @property
    def cheap_reads(self) -> bool:
        """Whether rows() and generation() are cheap enough for the event loop (no network round trip)."""
        return self.sqlite_path is not None

    def close(self) -> None:
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        self._local = threading.local()
        self.engine.dispose()


_GENERATION = select(schema.accounts_state.c.generation).where(schema.accounts_state.c.id == 1)
_PING = select(text("1"))
_SECRET = select(schema.hub_settings.c.value).where(schema.hub_settings.c.name == "secret")


def bump_generation(connection: Connection) -> None:
    """Record, in the caller's transaction, that accounts changed (every server drops its cache)."""
    table = schema.accounts_state
    connection.execute(table.update().where(table.c.id == 1).values(generation=table.c.generation + 1))


def database_error(error: OperationalError, what: str) -> HubError:
    """The answer to a request the database refused: 507 when its disk is full (SQLite's SQLITE_FULL,
    PostgreSQL's disk_full), 503 otherwise (unreachable, locked for longer than the busy timeout)."""
    orig = error.orig
    if getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or getattr(orig, "sqlstate", None) == "53100":
        return InsufficientStorage(f"{what}: the disk of the hub's accounts database is full; nothing was changed. "
                                   "Retry once the operator has freed space.")
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    return StorageUnavailable(f"{what}: the hub could not use its accounts database ({reason}); nothing was "
                              "changed. Retry later; if this persists, the operator should check the database.")


def _connect_args(url: str) -> dict:
    return {"timeout": BUSY_TIMEOUT_S} if url.startswith("sqlite") else {}


def _pool_options(url: str) -> dict:
    """A server process runs up to 40 requests' database reads at once (the thread pool): a pool that
    keeps that many connections instead of opening and closing them under load."""
    return {} if url.startswith("sqlite") else {"pool_size": 20, "max_overflow": 40, "pool_pre_ping": True}


def _sqlite_transactions(engine: Engine) -> None:
    """pysqlite's own transaction handling defers BEGIN until a write; take it over (SQLAlchemy's recipe)
    so reads begin plainly and writes begin IMMEDIATE, and turn on foreign keys and WAL."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("berthub_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)
