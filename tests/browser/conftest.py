"""Browser tests: the real app served by uvicorn on a free port, driven by Playwright through
Debian's Chromium (``/usr/bin/chromium``; never a downloaded browser).

Each test module gets its own SQLite database and server. ``shot(page, name)`` saves a
full-page screenshot under ``out/screenshots/`` as a test artefact. Chromium must be installed
(``.ci/run`` and ``make test`` install the Debian package when it is missing): without it these
tests fail with that message rather than skipping.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from browser_support import CHROMIUM, FAST, LiveServer
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from inversa.web import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("browser") / "inversa.sqlite"
    announced: list[str] = []
    app = create_app(f"sqlite:///{db}", settings=FAST, secret_key=b"b" * 32, announce=announced.append)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app.state.inversa.store, announced)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    args = ["--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream"]
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (cookies, IndexedDB) sized like a 375 px wide phone."""
    ctx = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, has_touch=True)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    # a script error or a CSP violation is a bug even when the flow still worked
    assert not [e for e in errors if not _expected_console_error(e)], errors


def _expected_console_error(text: str) -> bool:
    """Network failures are expected in the offline test; nothing else is."""
    return "net::ERR_INTERNET_DISCONNECTED" in text or "Failed to load resource" in text
