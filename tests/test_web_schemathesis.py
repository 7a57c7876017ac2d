"""Property-based fuzzing of the JSON API from its own OpenAPI document (schemathesis): every
operation, with generated valid and invalid parameters and bodies, sent with a patient's, a
clinician's and an admin's bearer token, must never answer with a server error (5xx).

The run is bounded (a few examples per operation, no deadline) to stay near half a minute. Before
each generated request the three accounts are made active again and get fresh tokens, so that a
generated "disable this account" or "log out" does not blind the rest of the run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from inversa.store import CLI_ACTOR, Actor, Role, SessionRecord, Store
from inversa.web import accounts, create_app
from inversa.web.app import prepare_database
from inversa.web.auth import WebContext, start_session
from inversa.web.config import Settings

FAST = Settings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)


@dataclass
class Api:
    app: Any
    ctx: WebContext
    ids: dict[str, int]

    def tokens(self) -> dict[str, str]:
        """Fresh bearer tokens for the three accounts, each made active again first."""
        out = {}
        for name, uid in self.ids.items():
            accounts.set_active(self.ctx.store.engine, CLI_ACTOR, uid, True)
            out[name] = start_session(self.ctx, accounts.user_info(self.ctx.store.engine, uid), "api")[0]
        return out


# schemathesis builds its tests when the module is imported, so the app exists from then on; its
# database (a file in a private temporary folder) is filled by the module fixture below
_DIR = tempfile.TemporaryDirectory(prefix="inversa-fuzz-")
APP = create_app(
    f"sqlite:///{Path(_DIR.name) / 'inversa.sqlite3'}",
    settings=FAST,
    secret_key=b"f" * 32,
    announce=lambda _: None,
)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    ctx: WebContext = APP.state.inversa
    store: Store = ctx.store
    prepare_database(store)  # the ASGI transport does not run the lifespan
    ids = {
        "patient": store.create_user(CLI_ACTOR, "pat@example.org", "Pat", Role.PATIENT),
        "clinician": store.create_user(CLI_ACTOR, "cli@example.org", "Cli", Role.CLINICIAN),
        "admin": store.create_user(CLI_ACTOR, "adm@example.org", "Adm", Role.ADMIN),
    }
    store.link(CLI_ACTOR, ids["clinician"], ids["patient"])
    me = Actor(ids["patient"], Role.PATIENT)
    start = datetime.now(UTC) - timedelta(days=1)
    store.log_session(
        me,
        ids["patient"],
        SessionRecord(
            client_id="fuzz-session-1",
            started_at=start,
            ended_at=start + timedelta(minutes=5),
            angle_trace=[(0.0, 0.0), (60.0, 30.0), (240.0, 30.0)],
            heart_rate_trace=[(0.0, 70.0), (120.0, 74.0)],
            symptoms=["dizziness"],
            pain_before=4,
            pain_after=3,
        ),
    )
    store.add_questionnaire(me, ids["patient"], "peg", [4, 5, 6], start)
    yield Api(APP, ctx, ids)
    store.engine.dispose()
    _DIR.cleanup()


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_yields_a_server_error(case: Any, api: Api) -> None:
    for token in api.tokens().values():
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=[not_a_server_error])


def test_the_schema_covers_the_api() -> None:
    """The fuzzing above is only as wide as the spec: it must list the records routes."""
    paths = {result.ok().path for result in schema.get_all_operations() if hasattr(result, "ok")}
    for path in ("/api/v1/patients/{patient_id}/sessions", "/api/v1/patients/{patient_id}/questionnaires"):
        assert path in paths
