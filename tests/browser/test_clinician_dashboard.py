"""The clinician's dashboard in a real browser (375 px wide, keyboard first): the flagged patient
list, a patient's detail with a session's angle and heart-rate chart, clearing a screening finding
with a reason, and the PDF report download."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from browser_support import LiveServer, shot, sign_in
from playwright.sync_api import Page, expect

from inversa.safety import screen
from inversa.store import CLI_ACTOR, Actor, Role, SessionRecord
from inversa.web.clinician_pages import local_today

GLAUCOMA = "glaucoma_or_ocular_hypertension"


def _answers() -> dict[str, object]:
    from inversa.safety import load_questionnaire

    out: dict[str, object] = {i.key: "no" for i in load_questionnaire().items if i.type.value == "yes_no"}
    return out | {
        "hypertension": "none",
        "systolic_bp_mmhg": 118,
        "diastolic_bp_mmhg": 76,
        "osteoporosis": "none",
        "recent_surgery_weeks": None,
        "height_cm": 170,
        "mass_kg": 70,
        GLAUCOMA: "yes",
    }


def _patient_with_data(server: LiveServer, clinician: int) -> int:
    store = server.store
    pid = server.user(Role.PATIENT, "rosa@example.org")
    store.link(CLI_ACTOR, clinician, pid)
    me = Actor(pid, Role.PATIENT)
    result = screen(_answers())
    store.save_screening(
        me,
        pid,
        result.screening_version,
        dict(result.answers),
        result.decision.value,
        [f.to_dict() for f in result.findings],
        datetime.combine(result.expires_on, time.min, tzinfo=UTC),
    )
    start = datetime.combine(local_today() - timedelta(days=1), time(18)).astimezone()
    store.log_session(
        me,
        pid,
        SessionRecord(
            client_id="rosa-session-1",
            started_at=start,
            ended_at=start + timedelta(minutes=9),
            angle_trace=[(float(t), min(35.0, t / 3.0)) for t in range(0, 540, 2)],
            heart_rate_trace=[(float(t), 68.0 + (t % 60) / 12.0) for t in range(0, 540, 2)],
            symptoms=["eye_pressure"],
            pain_before=6,
            pain_after=5,
        ),
    )
    return pid


def test_clinician_reviews_clears_and_downloads(page: Page, live_server: LiveServer) -> None:
    carol = live_server.user(Role.CLINICIAN, "carol@example.org")
    calm = live_server.user(Role.PATIENT, "calm@example.org")
    live_server.store.link(CLI_ACTOR, carol, calm)
    pid = _patient_with_data(live_server, carol)

    sign_in(page, live_server, "carol@example.org")
    expect(page).to_have_url(f"{live_server.url}/clinician")
    first = page.locator("li.patient").first
    expect(first.get_by_role("link")).to_have_text("Rosa")  # the flagged patient comes first
    expect(first).to_contain_text("eye pressure")
    expect(first).to_contain_text("Screening needs a decision")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "clinician-list")

    first.get_by_role("link", name="Rosa").click()
    expect(page).to_have_url(f"{live_server.url}/clinician/patients/{pid}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rosa")
    chart = page.locator("details.session[open] .chart")
    expect(chart.locator("canvas")).to_have_count(1)  # uPlot drew the newest session's trace
    expect(chart.locator(".u-legend")).to_contain_text("Heart rate")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "clinician-patient")

    # clearing needs a reason: an empty one is refused with the field named
    form = page.locator(f"#finding-{GLAUCOMA} form")
    form.get_by_role("button", name="Record the decision").click()
    expect(page.locator(f"#e-reason-{GLAUCOMA}")).to_contain_text("a reason is required")
    reason = page.get_by_label("Reason (required)")
    reason.fill("Ophthalmology 2026-11-20: pressures 15/16 mmHg, open angles; cleared for 40 deg.")
    reason.press("Tab")
    page.keyboard.press("Enter")  # the focused "Record the decision" button, by keyboard
    expect(page.get_by_role("status")).to_contain_text("stored with your reason")
    expect(page.locator(f"#finding-{GLAUCOMA}")).to_contain_text("cleared")
    expect(page.locator(f"#finding-{GLAUCOMA} form")).to_have_count(0)
    shot(page, "clinician-cleared")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download the PDF report").click()
    download = info.value
    assert re.fullmatch(rf"inversa-report-{pid}-.+\.pdf", download.suggested_filename)
    path = download.path()
    assert path is not None
    with open(path, "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    assert [a for a in live_server.store.audit_entries(pid) if a["action"] == "report"]
