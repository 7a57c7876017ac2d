"""Shared checks for the engine tests (kept small: the helpers are plain functions behind fixtures)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from inversa.body import LEVELS
from inversa.physiology.spine_muscle import build_parameters
from inversa.simulation import Result
from inversa.store import make_engine, upgrade
from inversa.store.db import database_url

ForceBalanceCheck = Callable[[Result, dict[str, Any] | None], None]


def _check_force_balance(result: Result, overrides: dict[str, Any] | None) -> None:
    """Every level, every time: traction = cranial weight x gravity fraction - muscle compression,
    and the gravity fraction lies inside the friction cone [sin - mu cos, sin + mu cos]."""
    n = len(LEVELS)
    params = build_parameters(list(result.people), overrides)
    weight = params.block("cranial_weight_n")[:, :n]
    mvc = params.block("mvc_compression_n")[:, :n]
    gravity = result.series["gravity_traction_pct_cranial_weight"] / 100.0
    activation = result.series["paraspinal_activation_pct_mvc"]
    expected = weight[:, None, :] * gravity[:, :, None] - mvc[:, None, :] * activation[:, :, None] / 100.0
    np.testing.assert_allclose(result.series["traction_force_n"], expected, rtol=1e-10, atol=1e-9)

    theta = np.radians(result.series["angle_deg"])
    mu = params.bed_friction_coefficient[:, None]
    lower = np.sin(theta) - mu * np.cos(theta)
    upper = np.sin(theta) + mu * np.cos(theta)
    assert np.all(gravity >= lower - 1e-12)
    assert np.all(gravity <= upper + 1e-12)


@pytest.fixture(scope="session")
def check_force_balance() -> ForceBalanceCheck:
    return _check_force_balance


# ------------------------------------------------------------------------------ record store databases
#
# Store tests always run on SQLite and, when INVERSA_TEST_POSTGRES_URL is set, also on PostgreSQL in a
# throwaway database per test (so nothing is skipped: without the variable the parameter is absent).

POSTGRES_ENV = "INVERSA_TEST_POSTGRES_URL"


def store_backends() -> list[str]:
    """The database backends the store tests run on here."""
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


@contextmanager
def temporary_database(backend: str, directory: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file in ``directory``, or a fresh PostgreSQL database
    (created next to the configured one and dropped, connections and all, afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'inversa-test.sqlite3'}"
        return
    base = make_url(database_url(os.environ[POSTGRES_ENV]))
    name = f"inversa_t_{uuid.uuid4().hex}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=store_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database per test, on each configured backend."""
    with temporary_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store_engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database brought to the newest schema revision."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=store_backends())
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database shared by one test module (for read-only tests of a populated record)."""
    with temporary_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url
