"""The guided session page (``GET /patient/session``): who may open it, the planned steps it hands
its script, the free-session fallback and its caps, and the upload the phone makes through the
idempotent sessions API (stored once however often it is sent; a bad field is named)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inversa.programs.plan import ProgramSettings, SessionLimits, generate_program
from inversa.protocol import Protocol
from inversa.store import CLI_ACTOR, SYMPTOMS, Role, SessionRecord, Store
from inversa.web import create_app
from inversa.web.config import Settings
from inversa.web.guided import CONSERVATIVE_ANGLE_DEG
from inversa.web.serve import set_password
from test_web_clinician import save_screening

FAST = Settings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
CSRF_META = re.compile(r'name="csrf-token" content="([0-9a-f]+)"')
DATA_BLOCK = re.compile(r'<script type="application/json" id="guided-data">(.*?)</script>', re.S)


@dataclass
class Env:
    client: TestClient
    store: Store


@pytest.fixture
def env(db_url: str) -> Iterator[Env]:
    app = create_app(db_url, settings=FAST, secret_key=b"g" * 32, announce=lambda _: None)
    with TestClient(app, follow_redirects=False) as client:
        yield Env(client, app.state.inversa.store)


def make_user(env: Env, role: Role, email: str, screened: bool = True) -> int:
    """An account; a patient is screened clear (today) unless ``screened`` is False."""
    uid = env.store.create_user(CLI_ACTOR, email, email.split("@")[0].title(), role)
    set_password(env.store, email, PASSWORD, FAST)
    if role is Role.PATIENT and screened:
        save_screening(env.store, uid)
    return uid


def login(env: Env, email: str) -> None:
    page = env.client.get("/login")
    token = CSRF_INPUT.search(page.text)
    assert token is not None
    answer = env.client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text


def page_data(html: str) -> dict[str, Any]:
    block = DATA_BLOCK.search(html)
    assert block is not None, html[:2000]
    data: dict[str, Any] = json.loads(block.group(1))
    return data


LIMITS = {
    "max_angle_deg": 40.0,
    "max_hold_min": 3.0,
    "return_rest_min": 3.0,
    "binding_constraint": "intraocular_pressure",
}


def stored_plan(start: date, weeks: int = 2) -> dict[str, Any]:
    """A plan exactly as ``inversa plan --format json`` stores it (without running the slow model)."""
    limits = SessionLimits(**LIMITS)
    program = generate_program(limits, ProgramSettings(start_date=start, weeks=weeks, start_angle_deg=20))
    return program.to_dict() | {"limits": dict(LIMITS), "adaptations": []}


# ------------------------------------------------------------------------------------------ access
def test_anonymous_is_sent_to_sign_in(env: Env) -> None:
    answer = env.client.get("/patient/session")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/patient/session"


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.ADMIN])
def test_other_roles_get_403(env: Env, role: Role) -> None:
    make_user(env, role, "someone@example.org")
    login(env, "someone@example.org")
    answer = env.client.get("/patient/session")
    assert answer.status_code == 403
    assert "not for your account" in answer.text
    assert "guided-data" not in answer.text


# ------------------------------------------------------------------------------------------ plans
def test_next_planned_session_steps_are_on_the_page(env: Env) -> None:
    pid = make_user(env, Role.PATIENT, "ana@example.org")
    today = datetime.now().astimezone().date()
    plan = stored_plan(today - timedelta(days=3))
    env.store.save_program(CLI_ACTOR, pid, plan, target_angle_deg=30, ceiling_angle_deg=35)
    login(env, "ana@example.org")
    answer = env.client.get("/patient/session")
    assert answer.status_code == 200, answer.text
    html = answer.text
    # CSP: the only script without src is the JSON data block, and nothing carries inline style
    assert " style=" not in html and "<style" not in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    data = page_data(html)
    expected = next(s for s in plan["sessions"] if s["day"] >= today.isoformat())
    assert data["source"] == "program"
    assert data["protocol"] == expected["protocol"]
    assert data["patient_id"] == pid and data["upload_url"] == f"/api/v1/patients/{pid}/sessions"
    steps = data["steps"]
    assert [s["text"] for s in steps] == expected["protocol"].splitlines()
    assert steps[0]["start_s"] == 0
    assert all(a["end_s"] == b["start_s"] for a, b in pairwise(steps))
    assert steps[-1]["end_s"] == pytest.approx(expected["duration_min"] * 60)
    hold = next(s for s in steps if s["kind"] == "hold")
    assert hold["to_deg"] == expected["max_angle_deg"]
    assert hold["end_s"] - hold["start_s"] == expected["hold_s"]
    first_tilt = next(s for s in steps if s["kind"] == "tilt" and s["to_deg"] > 0)
    assert first_tilt["from_deg"] == 0 and first_tilt["to_deg"] == expected["max_angle_deg"]
    # the planned angle at each second, from the same timeline the simulation uses
    trace = data["target_trace"]
    assert len(trace) == int(steps[-1]["end_s"]) + 1
    assert max(trace) == expected["max_angle_deg"] and trace[0] == -90
    # caps: the clinician's 35 deg beats the plan's 40; the rest after a symptom is the limits' 3 min
    assert data["ceiling_angle_deg"] == 35
    assert data["return_rest_s"] == 180
    assert data["tolerance_deg"] == 5
    assert [s["value"] for s in data["symptoms"]] == list(SYMPTOMS)
    assert f"planned for <strong>{expected['day']}</strong>" in html
    for label in ("Dizzy", "Headache", "Eye pressure", "Nausea", "Stop now"):
        assert f">{label}</button>" in html


def test_a_session_done_today_moves_to_the_next(env: Env) -> None:
    pid = make_user(env, Role.PATIENT, "ana@example.org")
    today = datetime.now().astimezone().date()
    plan = stored_plan(today)
    env.store.save_program(CLI_ACTOR, pid, plan)
    login(env, "ana@example.org")
    first = page_data(env.client.get("/patient/session").text)
    assert (
        first["protocol"] == plan["sessions"][0]["protocol"]
        and plan["sessions"][0]["day"] == today.isoformat()
    )
    now = datetime.now(UTC)
    done = SessionRecord(
        client_id="done-today-1",
        started_at=now - timedelta(minutes=10),
        ended_at=now - timedelta(minutes=3),
        planned_protocol=plan["sessions"][0]["protocol"],
    )
    env.store.log_session(CLI_ACTOR, pid, done)
    html = env.client.get("/patient/session").text
    assert f"planned for <strong>{plan['sessions'][1]['day']}</strong>" in html


def test_no_program_offers_a_conservative_free_session(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    login(env, "ana@example.org")
    answer = env.client.get("/patient/session")
    assert answer.status_code == 200
    assert "You have no program yet" in answer.text and "conservative 20 deg" in answer.text
    data = page_data(answer.text)
    assert data["source"] == "free"
    assert data["ceiling_angle_deg"] == CONSERVATIVE_ANGLE_DEG
    assert max(data["target_trace"]) == CONSERVATIVE_ANGLE_DEG
    Protocol.parse(data["protocol"])  # a valid protocol the API will accept
    rest = [s for s in data["steps"] if s["kind"] == "lie_flat"]
    assert rest[-1]["end_s"] - rest[-1]["start_s"] == 120  # the programs' 2-min rest before standing
    # asking for more than the cap is a 400 that names the field, never a steeper session
    steep = env.client.get("/patient/session?angle=25&hold=1")
    assert steep.status_code == 400
    assert 'id="e-angle"' in steep.text and "between 5 and 20 deg" in steep.text
    assert max(page_data(steep.text)["target_trace"]) <= CONSERVATIVE_ANGLE_DEG
    long_hold = env.client.get("/patient/session?angle=15&hold=5")
    assert long_hold.status_code == 400 and 'id="e-hold"' in long_hold.text
    junk = env.client.get("/patient/session?angle=abc&hold=1")
    assert junk.status_code == 400 and 'id="e-angle"' in junk.text
    gentle = env.client.get("/patient/session?angle=12&hold=1.5")
    assert gentle.status_code == 200
    data = page_data(gentle.text)
    hold = next(s for s in data["steps"] if s["kind"] == "hold")
    assert hold["to_deg"] == 12 and hold["end_s"] - hold["start_s"] == 90


def test_program_in_the_past_caps_the_free_session_by_its_limits(env: Env) -> None:
    pid = make_user(env, Role.PATIENT, "ana@example.org")
    plan = stored_plan(date(2020, 1, 6), weeks=1)
    env.store.save_program(CLI_ACTOR, pid, plan)
    login(env, "ana@example.org")
    answer = env.client.get("/patient/session")
    assert answer.status_code == 200
    assert "lies in the past" in answer.text
    data = page_data(answer.text)
    assert data["source"] == "free"
    assert data["ceiling_angle_deg"] == min(plan["ceiling_angle_deg"], LIMITS["max_angle_deg"])
    assert data["return_rest_s"] == 180
    # the default free session repeats the last planned angle, not more
    assert max(data["target_trace"]) == plan["sessions"][-1]["max_angle_deg"]
    too_steep = env.client.get(f"/patient/session?angle={data['ceiling_angle_deg'] + 1}&hold=1")
    assert too_steep.status_code == 400 and 'id="e-angle"' in too_steep.text
    # with limits stored, the hold may reach the personal limit (3 min) but not beyond
    assert env.client.get("/patient/session?angle=20&hold=3").status_code == 200
    assert env.client.get("/patient/session?angle=20&hold=3.5").status_code == 400


# ------------------------------------------------------------------------------------------ upload
def _payload(client_id: str, protocol: str) -> dict[str, Any]:
    """What outbox.js sends: the store's SessionRecord."""
    start = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    return {
        "client_id": client_id,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(seconds=40)).isoformat(),
        "planned_protocol": protocol,
        "angle_trace": [[0, 0.2], [1, 1.5], [2, 6.0], [3, 12.1]],
        "heart_rate_trace": [[0, 70], [2, 72]],
        "symptoms": ["dizziness"],
        "pain_before": 4,
        "pain_after": 3,
        "notes": "Symptoms: dizziness at 0:03 (12 deg).",
    }


def test_a_session_uploaded_twice_is_stored_once_and_listed(env: Env) -> None:
    pid = make_user(env, Role.PATIENT, "ana@example.org")
    login(env, "ana@example.org")
    html = env.client.get("/patient/session").text
    data = page_data(html)
    meta = CSRF_META.search(html)
    assert meta is not None
    body = _payload("guided-1234abcd", data["protocol"])
    headers = {"X-CSRF-Token": meta.group(1)}
    first = env.client.post(data["upload_url"], json=body, headers=headers)
    again = env.client.post(data["upload_url"], json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and again.json()["created"] is False
    stored = env.store.sessions(CLI_ACTOR, pid)
    assert len(stored) == 1
    assert [list(p) for p in stored[0]["angle_trace"]] == body["angle_trace"]
    assert stored[0]["symptoms"] == ["dizziness"] and stored[0]["pain_after"] == 3
    home = env.client.get("/patient").text
    assert "2026-11-25 08:00 UTC" in home and "dizziness" in home
    # without the page's token the cookie alone cannot write
    assert env.client.post(data["upload_url"], json=body | {"client_id": "guided-other-1"}).status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pain_after": 11}, "pain_after"),
        ({"angle_trace": [[0, 0.0], [1, 95.0]]}, "angle_trace"),
        ({"heart_rate_trace": [[0, 300]]}, "heart_rate_trace"),
        ({"symptoms": ["fainting"]}, "symptoms"),
        ({"client_id": "short"}, "client_id"),
        ({"ended_at": "2026-11-25T07:00:00Z"}, "ended_at"),
    ],
)
def test_a_bad_upload_is_refused_naming_the_field(env: Env, change: dict[str, Any], field: str) -> None:
    pid = make_user(env, Role.PATIENT, "ana@example.org")
    login(env, "ana@example.org")
    html = env.client.get("/patient/session").text
    meta = CSRF_META.search(html)
    assert meta is not None
    body = _payload("guided-bad-0001", page_data(html)["protocol"]) | change
    answer = env.client.post(
        f"/api/v1/patients/{pid}/sessions", json=body, headers={"X-CSRF-Token": meta.group(1)}
    )
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"][0]["loc"]
    assert env.store.sessions(CLI_ACTOR, pid) == []


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        (None, "Complete your screening first"),
        ({"diabetic_retinopathy": "yes"}, "clearance"),
        ({"heart_disease": "yes"}, "do not invert"),
    ],
)
def test_no_session_without_a_screening_that_allows_it(
    env: Env, changes: dict[str, str] | None, said: str
) -> None:
    pid = make_user(env, Role.PATIENT, "ana@example.org", screened=False)
    if changes is not None:
        save_screening(env.store, pid, **changes)
    login(env, "ana@example.org")
    page = env.client.get("/patient/session")
    assert page.status_code == 200
    assert said in page.text
    assert "guided.js" not in page.text and 'id="plan"' not in page.text
