"""Where the database lives, how to connect, and how to bring its schema up to date.

The embedded default is a SQLite file under the user's data directory; INVERSA_DATABASE_URL
chooses another (PostgreSQL is supported and tested). SQLite runs with foreign keys on, a
write-ahead log and full synchronous commits, so a killed process never leaves half a write.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "StoreError",
    "current_revision",
    "database_url",
    "default_database_path",
    "head_revision",
    "make_engine",
    "session_scope",
    "upgrade",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class StoreError(RuntimeError):
    """The database cannot be reached or is not at the expected schema revision."""


def default_database_path() -> Path:
    """The embedded database file: $XDG_DATA_HOME/inversa/inversa.sqlite3 (or ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "inversa" / "inversa.sqlite3"


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else INVERSA_DATABASE_URL, else the embedded SQLite file."""
    chosen = url or os.environ.get("INVERSA_DATABASE_URL")
    if not chosen:
        chosen = f"sqlite:///{default_database_path()}"
    if chosen.startswith("sqlite:///") and chosen != "sqlite:///:memory:":
        _private_file(Path(chosen.removeprefix("sqlite:///")))
    if chosen.startswith("postgresql://") or chosen.startswith("postgres://"):
        chosen = "postgresql+psycopg://" + chosen.split("://", 1)[1]
    return chosen


def _private_file(path: Path) -> None:
    """Medical data: create the database folder 0700 and the file 0600 (other users cannot read)."""
    created = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if created:
        path.parent.chmod(0o700)
    if not path.exists():
        path.touch(mode=0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """An engine for the chosen database, configured for durability."""
    resolved = database_url(url)
    if resolved.startswith("sqlite"):
        if resolved.startswith("sqlite:///") and resolved != "sqlite:///:memory:":
            Path(resolved.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(resolved, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(resolved, pool_pre_ping=True)


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (data is kept: every migration is written by hand)."""
    current = current_revision(engine)
    if current is not None and current not in known_revisions():
        raise StoreError(
            f"the database's schema revision {current} is newer than this Inversa: upgrade Inversa"
        )
    command.upgrade(_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def known_revisions() -> set[str]:
    """Every schema revision this version of Inversa can migrate from."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config(create_engine("sqlite://")))
    return {rev.revision for rev in script.walk_revisions()}


def head_revision() -> str:
    """The newest schema revision this version of Inversa knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(create_engine("sqlite://"))).get_current_head()
    assert head is not None
    return head


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
