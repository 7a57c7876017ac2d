"""Clinician pages: the flagged patient list, a patient's detail, program and ceiling, clearing a
finding, the PDF report and the FHIR export, with their access rules and audit rows.

Data is made through the store (as the patient's phone or the command line would), then read
through the pages with a signed-in clinician. Each test gets its own database and app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from inversa.outcomes.nof1 import plan_schedule
from inversa.programs import ProgramSettings, SessionLimits, generate_program
from inversa.protocol import Protocol
from inversa.safety import screen
from inversa.store import CLI_ACTOR, Actor, Role, SessionRecord, Store
from inversa.web import create_app
from inversa.web.clinician_pages import RULES, compute_flags, local_today, missed_sessions
from inversa.web.config import Settings
from inversa.web.serve import set_password

FAST = Settings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
LIMITS = {
    "max_angle_deg": 50.0,
    "max_hold_min": 6.0,
    "return_rest_min": 2.0,
    "binding_constraint": "intraocular_pressure",
}


@dataclass
class Env:
    client: TestClient
    store: Store


@pytest.fixture
def env(db_url: str) -> Iterator[Env]:
    app = create_app(db_url, settings=FAST, secret_key=b"c" * 32, announce=lambda _: None)
    with TestClient(app, follow_redirects=False) as client:
        yield Env(client, app.state.inversa.store)


def user(env: Env, role: Role, email: str) -> int:
    uid = env.store.create_user(CLI_ACTOR, email, email.split("@")[0].title(), role)
    set_password(env.store, email, PASSWORD, FAST)
    return uid


def token(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_INPUT.search(page.text)
    assert match is not None
    return match.group(1)


def sign_in(client: TestClient, email: str) -> None:
    client.cookies.clear()
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token(client, "/login")}
    )
    assert response.status_code == 303, response.text


# ------------------------------------------------------------------------------ data through the store
def answers(**changes: Any) -> dict[str, Any]:
    """Screening answers of a person with nothing to report, with ``changes``."""
    base: dict[str, Any] = {
        "hypertension": "none",
        "systolic_bp_mmhg": 120,
        "diastolic_bp_mmhg": 78,
        "osteoporosis": "none",
        "recent_surgery_weeks": None,
        "height_cm": 175,
        "mass_kg": 75,
    }
    from inversa.safety import load_questionnaire

    for item in load_questionnaire().items:
        if item.type.value == "yes_no":
            base[item.key] = "no"
    return base | changes


def save_screening(store: Store, pid: int, screened: date | None = None, **changes: Any) -> int:
    result = screen(answers(**changes), today=screened or local_today())
    expires = datetime.combine(result.expires_on, time.min, tzinfo=UTC)
    return store.save_screening(
        Actor(pid, Role.PATIENT),
        pid,
        result.screening_version,
        dict(result.answers),
        result.decision.value,
        [f.to_dict() for f in result.findings],
        expires,
    )


def save_plan(
    store: Store, pid: int, start: date, weeks: int = 3, adaptations: list[Any] | None = None
) -> dict[str, Any]:
    program = generate_program(SessionLimits(**LIMITS), ProgramSettings(start_date=start, weeks=weeks))
    plan = {**program.to_dict(), "limits": LIMITS, "adaptations": adaptations or []}
    store.save_program(Actor(pid, Role.PATIENT), pid, plan, 60.0, None)
    return plan


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12)).astimezone()


def log(store: Store, pid: int, day: date, symptoms: tuple[str, ...] = (), n: int = 0) -> None:
    start = noon(day) + timedelta(minutes=n)
    record = SessionRecord(
        client_id=f"s-{pid}-{day.isoformat()}-{n}",
        started_at=start,
        ended_at=start + timedelta(minutes=8),
        angle_trace=[(float(t), min(30.0, t / 2.0)) for t in range(0, 420, 5)],
        heart_rate_trace=[(float(t), 70.0 + (t % 40) / 10.0) for t in range(0, 420, 5)],
        symptoms=list(symptoms),
        pain_before=5,
        pain_after=4,
    )
    store.log_session(Actor(pid, Role.PATIENT), pid, record)


def log_plan(store: Store, pid: int, plan: dict[str, Any], skip: int = 0) -> list[date]:
    """Log a session on every passed planned day but the last ``skip``; returns the skipped days."""
    days = sorted({date.fromisoformat(s["day"]) for s in plan["sessions"]} - {local_today()})
    passed = [d for d in days if d < local_today()]
    kept, skipped = passed[: len(passed) - skip], passed[len(passed) - skip :]
    for d in kept:
        log(store, pid, d)
    return skipped


def peg(store: Store, pid: int, days_ago: int, value: int) -> None:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    store.add_questionnaire(Actor(pid, Role.PATIENT), pid, "peg", [value, value, value], when)


def with_profile_and_experiment(store: Store, pid: int) -> None:
    """Body data, and a personal experiment of 2 pairs of 7-day blocks with a daily pain diary."""
    me = Actor(pid, Role.PATIENT)
    store.set_profile(
        me,
        pid,
        sex="female",
        birth_year=1970,
        height_cm=165.0,
        mass_kg=62.0,
        resting_systolic_mmhg=124.0,
        resting_diastolic_mmhg=79.0,
        resting_heart_rate_bpm=66.0,
    )
    schedule = plan_schedule(local_today() - timedelta(days=29), pairs=2, block_days=7, seed=3)
    store.save_experiment(me, pid, schedule.to_dict())
    for day, condition in schedule.days.items():
        if day < local_today():
            pain = 3 if condition == "inversion" else 5
            store.add_questionnaire(me, pid, "nrs", [pain], noon(day))


def program(store: Store, pid: int) -> dict[str, Any]:
    found = store.active_program(CLI_ACTOR, pid)
    assert found is not None
    return found


def screening(store: Store, pid: int) -> dict[str, Any]:
    found = store.latest_screening(CLI_ACTOR, pid)
    assert found is not None
    return found


@dataclass
class Clinic:
    env: Env
    carol: int  # the clinician
    dave: int  # another clinician, linked to nobody here
    ids: dict[str, int]


def healthy(store: Store, pid: int) -> dict[str, Any]:
    save_screening(store, pid)
    plan = save_plan(store, pid, local_today() - timedelta(days=10))
    log_plan(store, pid, plan)
    peg(store, pid, 30, 5)
    peg(store, pid, 1, 4)
    return plan


@pytest.fixture
def clinic(env: Env) -> Clinic:
    store = env.store
    carol = user(env, Role.CLINICIAN, "carol@example.org")
    dave = user(env, Role.CLINICIAN, "dave@example.org")
    ids = {
        name: user(env, Role.PATIENT, f"{name}@example.org") for name in ("hana", "mia", "sam", "wes", "noa")
    }
    for pid in ids.values():
        store.link(CLI_ACTOR, carol, pid)
    healthy(store, ids["hana"])
    # mia: two planned days missed
    save_screening(store, ids["mia"])
    log_plan(store, ids["mia"], save_plan(store, ids["mia"], local_today() - timedelta(days=10)), skip=2)
    # sam: stopped a session yesterday (and had dizziness before)
    healthy(store, ids["sam"])
    log(store, ids["sam"], local_today() - timedelta(days=1), ("stop_now", "dizziness"), n=1)
    with_profile_and_experiment(store, ids["sam"])
    # wes: PEG worse by 3 points
    healthy(store, ids["wes"])
    peg(store, ids["wes"], 0, 7)
    # noa: no screening at all, no program
    return Clinic(env, carol, dave, ids)


def patient_blocks(html: str) -> dict[str, str]:
    """The list page's entries by patient name, in page order."""
    out: dict[str, str] = {}
    for block in html.split('<li class="patient')[1:]:
        name = re.search(r'<a href="/clinician/patients/\d+">([^<]+)</a>', block)
        assert name is not None
        out[name.group(1)] = block
    return out


# ------------------------------------------------------------------------------------------ the list
def test_flags_for_each_condition_and_none_for_a_healthy_patient(clinic: Clinic) -> None:
    client = clinic.env.client
    sign_in(client, "carol@example.org")
    page = client.get("/clinician")
    assert page.status_code == 200
    blocks = patient_blocks(page.text)
    assert set(blocks) == {"Hana", "Mia", "Sam", "Wes", "Noa"}
    assert "No flags" in blocks["Hana"] and "data-kind" not in blocks["Hana"]
    assert 'data-kind="missed_sessions"' in blocks["Mia"] and "2 of " in blocks["Mia"]
    assert 'data-kind="symptoms"' in blocks["Sam"] and "stop now" in blocks["Sam"]
    assert 'data-kind="worse_score"' in blocks["Wes"] and "PEG went from 5 to 7" in blocks["Wes"]
    assert "meaningful change of 1" in blocks["Wes"]
    assert 'data-kind="screening_missing"' in blocks["Noa"] and "No safety screening" in blocks["Noa"]
    for name in ("Mia", "Sam", "Wes"):
        assert "data-kind" in blocks[name] and blocks[name].count("data-kind") == 1, name
    # most urgent first: the stopped session, then no screening, then a worse score, missed sessions
    assert list(blocks) == ["Sam", "Noa", "Wes", "Mia", "Hana"]
    assert "How the flags are set" in page.text


def test_screening_expired_expiring_and_waiting_for_clearance(env: Env) -> None:
    store = env.store
    carol = user(env, Role.CLINICIAN, "carol@example.org")
    names = ("old", "soon", "wait", "busy")
    old, soon, waiting, busy = (user(env, Role.PATIENT, f"{n}@example.org") for n in names)
    for pid in (old, soon, waiting, busy):
        store.link(CLI_ACTOR, carol, pid)
    save_screening(store, old, local_today() - timedelta(days=120))
    log(store, old, local_today() - timedelta(days=2))
    save_screening(store, soon, local_today() - timedelta(days=80))
    save_screening(store, waiting, glaucoma_or_ocular_hypertension="yes")
    save_screening(store, busy, heart_disease="yes")
    log(store, busy, local_today() - timedelta(days=3))
    sign_in(env.client, "carol@example.org")
    blocks = patient_blocks(env.client.get("/clinician").text)
    assert 'data-kind="screening_missing_inverting"' in blocks["Old"] and "expired" in blocks["Old"]
    assert "badge-urgent" in blocks["Old"]
    assert 'data-kind="screening_expiring"' in blocks["Soon"] and "expires in 10 days" in blocks["Soon"]
    assert 'data-kind="screening_needs_decision"' in blocks["Wait"] and "glaucoma" in blocks["Wait"]
    assert "badge-high" in blocks["Wait"]
    assert 'data-kind="screening_blocks_inverting"' in blocks["Busy"] and "heart disease" in blocks["Busy"]
    assert "badge-urgent" in blocks["Busy"] and "logged in the last two weeks" in blocks["Busy"]
    assert list(blocks)[:2] == ["Busy", "Old"] and list(blocks)[-1] == "Soon"


def test_missed_sessions_counts_only_passed_planned_days() -> None:
    today = date(2026, 11, 25)
    plan = [{"day": d} for d in ("2026-11-20", "2026-11-20", "2026-11-23", "2026-11-25", "2026-12-01")]
    done = {date(2026, 11, 20): 1}
    from collections import Counter

    missed = missed_sessions(plan, Counter(done), today, today - timedelta(days=RULES.recent_days))
    assert missed == [(date(2026, 11, 20), 1), (date(2026, 11, 23), 1)]  # today and later are not missed
    assert missed_sessions(plan, Counter(done), today, date(2026, 11, 21)) == [(date(2026, 11, 23), 1)]


def test_an_improving_score_raises_no_flag() -> None:
    now = datetime.now(UTC)
    record = {
        "sessions": [],
        "programs": [],
        "screenings": [],
        "overrides": [],
        "questionnaires": [
            {"instrument": "peg", "score": 7.0, "recorded_at": (now - timedelta(days=20)).isoformat()},
            {"instrument": "peg", "score": 3.0, "recorded_at": now.isoformat()},
            {"instrument": "rmdq", "score": 10.0, "recorded_at": (now - timedelta(days=20)).isoformat()},
            {"instrument": "rmdq", "score": 14.0, "recorded_at": now.isoformat()},  # 4 < 5 points
        ],
    }
    assert [f.kind for f in compute_flags(record, now)] == ["screening_missing"]


def test_pages_are_for_clinicians_only(clinic: Clinic) -> None:
    client = clinic.env.client
    pid = clinic.ids["hana"]
    assert client.get("/clinician").headers["location"].startswith("/login")
    sign_in(client, "hana@example.org")
    for path in ("/clinician", f"/clinician/patients/{pid}", f"/clinician/patients/{pid}/fhir.json"):
        assert client.get(path).status_code == 403, path


# ------------------------------------------------------------------------------------------ detail
def test_detail_shows_the_whole_picture(clinic: Clinic) -> None:
    client = clinic.env.client
    pid = clinic.ids["sam"]
    sign_in(client, "carol@example.org")
    page = client.get(f"/clinician/patients/{pid}")
    assert page.status_code == 200, page.text
    html = page.text
    for text in (
        "Sam",
        "Screening",
        "OK: nothing rules inversion out",
        "Personal limits",
        "50 deg",
        "Planned sessions",
        "Sessions",
        "PEG",
        "Personal experiment",
        "stopped the session",
    ):
        assert text in html, text
    assert re.search(r'<script type="application/json" id="trace-\d+">\{"angle": \[', html)
    assert 'data-trace="trace-' in html and "/static/clinician.js" in html
    assert "<script>" not in html and " style=" not in html and "onclick" not in html
    assert ">missed<" not in html  # Sam did every planned session
    assert "124/79 mmHg" in html and "female" in html
    assert re.search(r'class="answer answer-(benefit|inconclusive|not_enough_data)"', html)
    assert "Blocks, in random order" in html and "NRS" in html
    mia = client.get(f"/clinician/patients/{clinic.ids['mia']}").text
    assert mia.count(">missed<") == 2


def test_clinician_cannot_open_another_clinicians_patient(clinic: Clinic) -> None:
    client, store = clinic.env.client, clinic.env.store
    pid = clinic.ids["hana"]
    sign_in(client, "dave@example.org")
    assert "Hana" not in client.get("/clinician").text
    for path in (
        f"/clinician/patients/{pid}",
        f"/clinician/patients/{pid}/report.pdf",
        f"/clinician/patients/{pid}/fhir.json",
        "/clinician/patients/999999",
        "/clinician/patients/abc",
        "/clinician/patients/99999999999999999999999",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "%PDF" not in response.text and "Hana" not in response.text
    csrf = token(client, "/clinician")
    for path, data in (
        (f"/clinician/patients/{pid}/program", {"target_angle_deg": "30", "ceiling_angle_deg": "30"}),
        (
            f"/clinician/patients/{pid}/findings",
            {"screening_id": "1", "item": "x", "new_class": "cleared", "reason": "r"},
        ),
    ):
        assert client.post(path, data=data | {"csrf_token": csrf}).status_code == 404, path
    denied = [a for a in store.audit_entries(pid) if a["action"] == "denied" and a["actor_id"] == clinic.dave]
    assert len(denied) >= 5
    assert program(store, pid)["ceiling_angle_deg"] is None  # nothing changed


# ------------------------------------------------------------------------------------- program edit
def _post(client: TestClient, pid: int, what: str, data: dict[str, str]) -> Any:
    csrf = token(client, f"/clinician/patients/{pid}")
    return client.post(f"/clinician/patients/{pid}/{what}", data=data | {"csrf_token": csrf})


def _peak(protocol_text: str) -> float:
    timeline = Protocol.parse(protocol_text).timeline()
    return float(max(timeline.angle_deg([t * 0.5 for t in range(int(timeline.duration_s * 2) + 1)])))


def test_program_edit_regenerates_within_limits_and_ceiling(clinic: Clinic) -> None:
    client, store = clinic.env.client, clinic.env.store
    pid = clinic.ids["hana"]
    before = program(store, pid)
    sign_in(client, "carol@example.org")
    response = _post(client, pid, "program", {"target_angle_deg": "25", "ceiling_angle_deg": "25"})
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith("done=program-regenerated#program")
    after = program(store, pid)
    assert after["id"] != before["id"]
    assert (after["target_angle_deg"], after["ceiling_angle_deg"]) == (25.0, 25.0)
    sessions = after["plan"]["sessions"]
    assert [s["day"] for s in sessions] == [s["day"] for s in before["plan"]["sessions"]]  # same days
    assert max(s["max_angle_deg"] for s in before["plan"]["sessions"]) == 30.0  # weeks at 20, 25, 30
    assert [s["max_angle_deg"] for s in sessions if s["week"] == 3] == [25.0] * 5
    assert all(_peak(s["protocol"]) <= 25.0 + 1e-9 for s in sessions)
    assert "program-regenerated" not in client.get(response.headers["location"]).text
    # a ceiling above the personal limit: the plan still stops at the limit (50 deg)
    assert (
        _post(client, pid, "program", {"target_angle_deg": "80", "ceiling_angle_deg": "85"}).status_code
        == 303
    )
    plan = program(store, pid)["plan"]
    assert max(s["max_angle_deg"] for s in plan["sessions"]) <= LIMITS["max_angle_deg"]
    assert any("personal limit" in n for n in plan["notes"])


def test_program_edit_keeps_an_adapted_plan_and_caps_it(env: Env) -> None:
    store = env.store
    carol = user(env, Role.CLINICIAN, "carol@example.org")
    pid = user(env, Role.PATIENT, "pat@example.org")
    store.link(CLI_ACTOR, carol, pid)
    before = save_plan(
        store, pid, local_today() - timedelta(days=3), weeks=6, adaptations=[{"action": "hold"}]
    )
    sign_in(env.client, "carol@example.org")
    response = _post(env.client, pid, "program", {"target_angle_deg": "30", "ceiling_angle_deg": "32"})
    assert response.status_code == 303 and "program-capped" in response.headers["location"]
    after = program(store, pid)["plan"]
    assert after["adaptations"] == [{"action": "hold"}]
    for old, new in zip(before["sessions"], after["sessions"], strict=True):
        assert new["day"] == old["day"] and new["hold_s"] == old["hold_s"]
        assert new["max_angle_deg"] == min(old["max_angle_deg"], 32.0)
        assert _peak(new["protocol"]) <= 32.0 + 1e-9
        if old["max_angle_deg"] <= 32.0:
            assert new["protocol"] == old["protocol"]
    assert "ceiling of 32 deg" in after["notes"][-1]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"target_angle_deg": "40", "ceiling_angle_deg": "30"},
            "target_angle_deg",
            "must not be above the ceiling",
        ),
        (
            {"target_angle_deg": "30", "ceiling_angle_deg": "95"},
            "ceiling_angle_deg",
            "less than or equal to 90",
        ),
        ({"target_angle_deg": "abc", "ceiling_angle_deg": "30"}, "target_angle_deg", "valid number"),
        ({"target_angle_deg": "nan", "ceiling_angle_deg": "30"}, "target_angle_deg", "finite number"),
        ({"ceiling_angle_deg": "30"}, "target_angle_deg", "valid number"),
    ],
)
def test_program_edit_names_the_bad_field(
    clinic: Clinic, data: dict[str, str], field: str, message: str
) -> None:
    client, store = clinic.env.client, clinic.env.store
    pid = clinic.ids["hana"]
    before = program(store, pid)["id"]
    sign_in(client, "carol@example.org")
    response = _post(client, pid, "program", data)
    assert response.status_code == 400
    error = re.search(rf'<p class="error" id="e-{field}">([^<]+)</p>', response.text)
    assert error is not None and message in error.group(1), response.text[-3000:]
    assert program(store, pid)["id"] == before


def test_program_edit_needs_csrf_and_a_program(clinic: Clinic) -> None:
    client = clinic.env.client
    sign_in(client, "carol@example.org")
    pid = clinic.ids["hana"]
    data = {"target_angle_deg": "30", "ceiling_angle_deg": "30"}
    assert client.post(f"/clinician/patients/{pid}/program", data=data).status_code == 403
    response = _post(client, clinic.ids["noa"], "program", data)
    assert response.status_code == 400 and "no program yet" in response.text


# ---------------------------------------------------------------------------------- clear a finding
@pytest.fixture
def screened(env: Env) -> tuple[Env, int, int]:
    carol = user(env, Role.CLINICIAN, "carol@example.org")
    pid = user(env, Role.PATIENT, "pat@example.org")
    env.store.link(CLI_ACTOR, carol, pid)
    sid = save_screening(env.store, pid, glaucoma_or_ocular_hypertension="yes", height_cm=205)
    sign_in(env.client, "carol@example.org")
    return env, pid, sid


def test_clearing_a_finding_needs_a_reason_and_is_stored(screened: tuple[Env, int, int]) -> None:
    env, pid, sid = screened
    item = "glaucoma_or_ocular_hypertension"
    page = env.client.get(f"/clinician/patients/{pid}").text
    assert f'id="f-reason-{item}"' in page
    assert "Blocked" in page and "Cannot be overridden: a clinician cannot change the size" in page
    assert 'id="f-reason-height_cm"' not in page
    empty = _post(
        env.client,
        pid,
        "findings",
        {"screening_id": str(sid), "item": item, "new_class": "cleared", "reason": "  "},
    )
    assert empty.status_code == 400
    assert re.search(rf'id="e-reason-{item}">a reason is required', empty.text)
    assert screening(env.store, pid)["overrides"] == []
    reason = "Eye exam 2026-11-20: pressures 15/16 mmHg, normal discs"
    done = _post(
        env.client,
        pid,
        "findings",
        {"screening_id": str(sid), "item": item, "new_class": "cleared", "reason": reason},
    )
    assert done.status_code == 303, done.text
    overrides = screening(env.store, pid)["overrides"]
    assert [(o["item"], o["new_class"], o["reason"]) for o in overrides] == [(item, "cleared", reason)]
    shown = env.client.get(done.headers["location"]).text
    assert "stored with your reason" in shown and reason in shown
    assert "Blocked" in shown  # the height still blocks: clearing one finding does not clear the other
    audit = [a for a in env.store.audit_entries(pid) if a["entity"] == "screening_override"]
    assert audit and audit[-1]["reason"] == reason and audit[-1]["actor_id"] is not None
    again = _post(
        env.client,
        pid,
        "findings",
        {"screening_id": str(sid), "item": item, "new_class": "caution", "reason": "again"},
    )
    assert again.status_code == 400 and re.search(
        r'role="alert">Item glaucoma\S+ was already overridden', again.text
    )


def test_findings_that_cannot_be_cleared_are_refused(screened: tuple[Env, int, int]) -> None:
    env, pid, sid = screened
    glaucoma = "glaucoma_or_ocular_hypertension"
    for data, where in (
        (
            {"screening_id": str(sid), "item": "height_cm", "new_class": "cleared", "reason": "tall"},
            "cannot be overridden",
        ),
        (
            {"screening_id": str(sid), "item": glaucoma, "new_class": "block", "reason": "x"},
            f'id="e-new_class-{glaucoma}"',
        ),
        (
            {"screening_id": str(sid + 50), "item": glaucoma, "new_class": "cleared", "reason": "x"},
            "reload the page",
        ),
        ({"screening_id": "x", "item": glaucoma, "new_class": "cleared", "reason": "x"}, "reload the page"),
        (
            {"screening_id": str(sid), "item": "pregnancy", "new_class": "cleared", "reason": "x"},
            "no finding",
        ),
    ):
        response = _post(env.client, pid, "findings", data)
        assert response.status_code == 400, data
        assert where in response.text, data
    assert screening(env.store, pid)["overrides"] == []


# ------------------------------------------------------------------------------- report and export
def test_pdf_report_is_a_pdf_and_audited(clinic: Clinic) -> None:
    client, store = clinic.env.client, clinic.env.store
    pid = clinic.ids["sam"]
    sign_in(client, "carol@example.org")
    start, end = (local_today() - timedelta(days=30)).isoformat(), local_today().isoformat()
    response = client.get(f"/clinician/patients/{pid}/report.pdf", params={"start": start, "end": end})
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"%PDF")
    assert response.headers["content-type"] == "application/pdf"
    assert f"inversa-report-{pid}-{start}-{end}.pdf" in response.headers["content-disposition"]
    reports = [a for a in store.audit_entries(pid) if a["action"] == "report"]
    assert len(reports) == 1 and reports[0]["actor_id"] == clinic.carol
    few = client.get(
        f"/clinician/patients/{pid}/report.pdf", params=[("sections", "pain"), ("sections", "sessions")]
    )
    assert few.status_code == 200 and few.content.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-13-01"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"end": "0001-01-01"}, "end"),
        ({"start": "2026-11-20", "end": "2026-11-10"}, "end"),
        ({"sections": "everything"}, "sections"),
    ],
)
def test_report_names_a_bad_parameter(clinic: Clinic, params: dict[str, str], field: str) -> None:
    client = clinic.env.client
    sign_in(client, "carol@example.org")
    response = client.get(f"/clinician/patients/{clinic.ids['sam']}/report.pdf", params=params)
    assert response.status_code == 400
    assert f"{field}: " in response.text
    detail = client.get(f"/clinician/patients/{clinic.ids['sam']}", params=params)
    assert detail.status_code in (200, 400)  # the page shows its default dates and names the field
    if field in ("start", "end"):
        assert detail.status_code == 400 and f'id="e-{field}"' in detail.text


def test_fhir_export_validates_and_holds_only_this_patient(clinic: Clinic) -> None:
    client, store = clinic.env.client, clinic.env.store
    pid = clinic.ids["wes"]
    sign_in(client, "carol@example.org")
    response = client.get(f"/clinician/patients/{pid}/fhir.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    patients = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 1 and patients[0]["identifier"][0]["value"] == str(pid)
    patient_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    text = response.text
    for other in ("Hana", "Mia", "Noa", "hana@", "sam@", "mia@"):
        assert other not in text
    subjects = set(re.findall(r'"subject": \{\s*"reference": "([^"]+)"', text))
    assert subjects == {patient_url}
    assert sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Procedure") > 0
    exports = [a for a in store.audit_entries(pid) if a["action"] == "export"]
    assert len(exports) == 1 and exports[0]["actor_id"] == clinic.carol


def test_every_clinician_read_is_audited(clinic: Clinic) -> None:
    client, store = clinic.env.client, clinic.env.store
    pid = clinic.ids["hana"]
    sign_in(client, "carol@example.org")
    before = len(store.audit_entries(pid))
    client.get("/clinician")
    client.get(f"/clinician/patients/{pid}")
    reads = [a for a in store.audit_entries(pid)[before:] if a["actor_id"] == clinic.carol]
    assert {(a["action"], a["entity"]) for a in reads} >= {("read", "patient_record"), ("read", "program")}
    assert len([a for a in reads if a["entity"] == "patient_record"]) == 2
