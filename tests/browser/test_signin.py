"""Sign-in in a real browser: the first admin through the one-time setup code, then each role
landing on its own page, all on a 375 px screen and by keyboard."""

from __future__ import annotations

import re

from browser_support import PASSWORD, LiveServer, shot, sign_in
from playwright.sync_api import Page, expect

from inversa.store import Role


def test_first_admin_by_setup_code_then_sign_in(page: Page, live_server: LiveServer) -> None:
    code = re.search(r"setup code: (\S+)", "".join(live_server.announced))
    assert code is not None, live_server.announced
    page.goto(f"{live_server.url}/setup")
    page.get_by_label("Setup code").fill(code.group(1))
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Name").fill("Ada Admin")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    shot(page, "setup")
    page.get_by_role("button", name=re.compile("Create", re.I)).click()
    expect(page.get_by_role("status")).to_contain_text("admin account was created")
    sign_in(page, live_server, "admin@example.org")
    expect(page).to_have_url(f"{live_server.url}/admin")
    shot(page, "admin-home")


def test_wrong_password_is_named_and_page_fits_a_phone(page: Page, live_server: LiveServer) -> None:
    live_server.user(Role.PATIENT, "pat@example.org")
    sign_in(page, live_server, "pat@example.org", "not the password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    # nothing is wider than the 375 px screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    sign_in(page, live_server, "pat@example.org")
    expect(page).to_have_url(f"{live_server.url}/patient")
    shot(page, "patient-home")
