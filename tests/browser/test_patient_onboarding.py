"""A patient's first visit in a real browser on a 375 px phone: details, the safety screening,
personal limits from the engine (computing in the background, the page polling with htmx), the
program; then a PEG questionnaire, and the progress page with its charts (uPlot canvases) and the
engine's picture of the next session. Keyboard and clicks, no console error, no CSP violation."""

from __future__ import annotations

import re

from browser_support import LiveServer, shot, sign_in
from playwright.sync_api import Page, expect

from inversa.store import Role


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_onboarding_diary_and_progress(page: Page, live_server: LiveServer) -> None:
    live_server.user(Role.PATIENT, "onboard@example.org")
    sign_in(page, live_server, "onboard@example.org")
    expect(page.get_by_role("heading", name="Questionnaires due")).to_be_visible()

    # the set-up overview leads to step 1
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My set-up").click()
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(f"{live_server.url}/patient/setup/profile")

    # step 1: a wrong value is named, then fixed (by keyboard)
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Year of birth").fill("1972")
    page.get_by_label("Height").fill("500")
    page.get_by_label("Weight").fill("84")
    page.get_by_label("Weight").press("Enter")
    expect(page.locator("#e-height_cm")).to_contain_text("230")
    fits_the_phone(page)
    shot(page, "patient-profile-error")
    page.get_by_label("Height").fill("176")
    page.get_by_label("Height").press("Enter")

    # step 2: the screening, every question answered
    expect(page).to_have_url(f"{live_server.url}/patient/setup/screening")
    groups = page.locator("form.screening fieldset.radios")
    count = groups.count()
    assert count > 30
    first_no = groups.nth(0).locator('input[value="no"]')
    first_no.focus()
    page.keyboard.press("Space")  # a radio is chosen with the keyboard
    expect(first_no).to_be_checked()
    for n in range(1, count):
        groups.nth(n).locator('input[value="no"], input[value="none"]').first.check()
    page.get_by_label(re.compile(r"upper \(systolic\) number")).fill("122")
    page.get_by_label(re.compile(r"lower \(diastolic\) number")).fill("78")
    expect(page.get_by_label(re.compile(r"Your height"))).to_have_value("176")  # from step 1
    shot(page, "patient-screening-form")
    page.get_by_role("button", name="See my result").click()
    expect(page.locator("#decision")).to_contain_text("OK")
    shot(page, "patient-screening-result")

    # step 3: the engine works in the background; htmx polls until the limits are there
    page.get_by_role("button", name=re.compile("work out my personal limits", re.I)).click()
    expect(page.locator("#max-angle")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("table")).to_contain_text("eye pressure")
    fits_the_phone(page)
    shot(page, "patient-limits")

    # step 4: the program within those limits
    page.get_by_role("link", name="Next: plan my program").click()
    page.get_by_label("Oscillating", exact=False).check()
    page.get_by_role("button", name="Plan my program").click()
    expect(page.locator("#program-weeks")).to_be_visible()
    limit = float(page.locator("#program").inner_text().split("your personal limits are ")[1].split("°")[0])
    angles = [
        float(t.rstrip("°")) for t in page.locator("#program-weeks tbody td:nth-child(3)").all_inner_texts()
    ]
    assert angles and max(angles) <= limit
    shot(page, "patient-program")

    # the PEG questionnaire: 0-10 scales as labelled radio buttons
    page.goto(f"{live_server.url}/patient/diary")
    page.get_by_role("link", name=re.compile("PEG-3")).click()
    for n, value in ((1, "7"), (2, "8"), (3, "6")):
        page.locator(f"#f-item_{n}").get_by_label(value, exact=True).check()
    fits_the_phone(page)
    shot(page, "patient-peg")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#saved-score")).to_have_text("7")
    expect(page.locator("#saved")).to_contain_text("severe pain and interference")
    shot(page, "patient-diary-saved")

    # progress: the pain chart is drawn, and the engine's picture of the next session arrives
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Progress").click()
    expect(page.locator("#chart-pain canvas")).to_have_count(1)
    expect(page.locator("#session-picture canvas")).to_have_count(5, timeout=120_000)
    expect(page.locator("#session-picture")).to_contain_text("Eye pressure (IOP): up to")
    fits_the_phone(page)
    shot(page, "patient-progress")
