"""Helpers for the browser tests (imported by the tests; the fixtures live in conftest.py)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page

from inversa.store import CLI_ACTOR, Role, Store
from inversa.web.config import Settings
from inversa.web.serve import set_password

CHROMIUM = os.environ.get("INVERSA_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
FAST = Settings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
PASSWORD = "correct horse battery"


@dataclass
class LiveServer:
    """A running app: its base URL, its store, and the text it announced (the setup code)."""

    url: str
    store: Store
    announced: list[str]

    def user(self, role: Role, email: str, password: str | None = PASSWORD) -> int:
        """Create an account (as the local operator) with a password; returns its id."""
        uid = self.store.create_user(CLI_ACTOR, email, email.split("@")[0].title(), role)
        if password is not None:
            set_password(self.store, email, password, FAST)
        return uid


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact (out/screenshots/NAME.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, server: LiveServer, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, by keyboard as a user without a mouse would."""
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    page.wait_for_load_state("networkidle")
