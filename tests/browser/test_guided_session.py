"""The guided session in a real browser on a 375 px phone screen.

The tilt comes from DevTools sensor overrides, set before the page subscribes: the accelerometer
(``devicemotion``), the gravity sensor (``GravitySensor``) and the orientation override
(``deviceorientation.beta``), one per test, so each reading path is exercised. A fake heart-rate
strap comes from Chromium's Bluetooth emulation (service 0x180D, characteristic 0x2A37 with its
0x2902 descriptor); no command pushes an unsolicited notification, so the page's handler is driven
by the ``readValue()`` it makes after subscribing. Chromium needs experimental web-platform
features for that, so this module launches its own browser (the shared fixtures' flags stay as
they are); ``context`` and ``page`` from conftest.py use it.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, LiveServer, shot, sign_in
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, Playwright, expect

from inversa.store import CLI_ACTOR, Role
from test_web_clinician import save_screening

G = 9.80665
HEART_RATE_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"
CCC_DESCRIPTOR = "00002902-0000-1000-8000-00805f9b34fb"
STRAP_ADDRESS = "0A:1B:2C:3D:4E:5F"
# short enough to run in real time: ramp, hold, return, rest
SHORT_PROTOCOL = "\n".join(
    [
        "lie flat for 4 s",
        "tilt to 20 deg over 6 s",
        "hold at 20 deg for 14 s",
        "tilt to 0 deg over 6 s",
        "lie flat for 4 s",
    ]
)


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Chromium with Web Bluetooth emulation available (replaces the shared fixture here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    args = [
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--enable-experimental-web-platform-features",
        "--enable-features=WebBluetooth",
    ]
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    yield browser
    browser.close()


# ------------------------------------------------------------------------------------------ helpers
class Tilt:
    """Emulated tilt of a phone lying screen up with its top toward the head end of the bed."""

    def __init__(self, context: BrowserContext, page: Page, kind: str) -> None:
        self.cdp = context.new_cdp_session(page)
        self.kind = kind
        if kind in ("accelerometer", "gravity"):
            self.cdp.send("Emulation.setSensorOverrideEnabled", {"enabled": True, "type": kind})
        self.set(0.0)

    def set(self, angle_deg: float) -> None:
        """Head-down ``angle_deg``: the phone's top edge goes down by that much."""
        a = math.radians(angle_deg)
        if self.kind == "orientation":
            self.cdp.send(
                "DeviceOrientation.setDeviceOrientationOverride", {"alpha": 0, "beta": -angle_deg, "gamma": 0}
            )
            return
        reading = {"xyz": {"x": 0.0, "y": -G * math.sin(a), "z": G * math.cos(a)}}
        self.cdp.send("Emulation.setSensorOverrideReadings", {"type": self.kind, "reading": reading})


class FakeStrap:
    """A heart-rate strap through Chromium's Bluetooth emulation; ``pump`` answers the page."""

    def __init__(self, browser: Browser, page_cdp: CDPSession, bpm: int) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.answered_prompts: set[str] = set()
        self.bpm = bpm
        self.reads = 0
        self.bt = browser.new_browser_cdp_session()  # the domain lives on the browser target
        self.page_cdp = page_cdp
        for name in (
            "gattOperationReceived",
            "characteristicOperationReceived",
            "descriptorOperationReceived",
        ):
            self.bt.on(f"BluetoothEmulation.{name}", lambda e, n=name: self.events.append((n, e)))
        page_cdp.on("DeviceAccess.deviceRequestPrompted", lambda e: self.events.append(("prompt", e)))
        page_cdp.send("DeviceAccess.enable")
        self.bt.send("BluetoothEmulation.enable", {"state": "powered-on", "leSupported": True})
        self.bt.send(
            "BluetoothEmulation.simulatePreconnectedPeripheral",
            {
                "address": STRAP_ADDRESS,
                "name": "Chest strap",
                "manufacturerData": [],
                "knownServiceUuids": [HEART_RATE_SERVICE],
            },
        )
        service = self.bt.send(
            "BluetoothEmulation.addService", {"address": STRAP_ADDRESS, "serviceUuid": HEART_RATE_SERVICE}
        )
        characteristic = self.bt.send(
            "BluetoothEmulation.addCharacteristic",
            {
                "serviceId": service["serviceId"],
                "characteristicUuid": HEART_RATE_MEASUREMENT,
                "properties": {"notify": True, "read": True},
            },
        )
        self.bt.send(
            "BluetoothEmulation.addDescriptor",
            {"characteristicId": characteristic["characteristicId"], "descriptorUuid": CCC_DESCRIPTOR},
        )

    def pump(self, page: Page, done: Callable[[], bool], timeout_s: float = 15) -> None:
        deadline = datetime.now() + timedelta(seconds=timeout_s)
        while not done():
            assert datetime.now() < deadline, f"the strap exchange did not finish: {self.events}"
            page.wait_for_timeout(100)
            while self.events:
                name, event = self.events.pop(0)
                self._answer(name, event)

    def _answer(self, name: str, event: dict[str, Any]) -> None:
        if name == "prompt":
            if event["id"] in self.answered_prompts or not event["devices"]:
                return  # the prompt is announced again as devices are found: choose once
            self.answered_prompts.add(event["id"])
            self.page_cdp.send(
                "DeviceAccess.selectPrompt", {"id": event["id"], "deviceId": event["devices"][0]["id"]}
            )
        elif name == "gattOperationReceived":
            self.bt.send(
                "BluetoothEmulation.simulateGATTOperationResponse",
                {"address": event["address"], "type": event["type"], "code": 0},
            )
        elif name == "characteristicOperationReceived":
            answer: dict[str, Any] = {
                "characteristicId": event["characteristicId"],
                "type": event["type"],
                "code": 0,
            }
            if event["type"] == "read":
                self.reads += 1
                # flags 0x06: 8-bit rate, contact supported and detected
                answer["data"] = base64.b64encode(bytes([0x06, self.bpm])).decode()
            self.bt.send("BluetoothEmulation.simulateCharacteristicOperationResponse", answer)
        else:
            self.bt.send(
                "BluetoothEmulation.simulateDescriptorOperationResponse",
                {"descriptorId": event["descriptorId"], "type": event["type"], "code": 0},
            )


def short_plan() -> dict[str, Any]:
    """A program as the store keeps it, with one short session today."""
    today = datetime.now().astimezone().date().isoformat()
    session = {
        "day": today,
        "index_in_day": 1,
        "week": 1,
        "style": "continuous",
        "protocol": SHORT_PROTOCOL,
        "max_angle_deg": 20.0,
        "hold_min": 14 / 60,
        "hold_s": 14,
        "duration_min": 34 / 60,
    }
    limits = {
        "max_angle_deg": 30.0,
        "max_hold_min": 3.0,
        "return_rest_min": 0.0,
        "binding_constraint": "intraocular_pressure",
    }
    return {
        "sessions": [session],
        "ceiling_angle_deg": 30.0,
        "notes": [],
        "limits": limits,
        "adaptations": [],
    }


def patient_with_program(server: LiveServer, email: str) -> int:
    pid = server.user(Role.PATIENT, email)
    save_screening(server.store, pid)  # screened clear: the page guides no session without it
    server.store.save_program(CLI_ACTOR, pid, short_plan(), target_angle_deg=20, ceiling_angle_deg=30)
    return pid


def grant_wake_lock(browser: Browser, origin: str) -> None:
    cdp = browser.new_browser_cdp_session()
    cdp.send(
        "Browser.setPermission",
        {"permission": {"name": "screen-wake-lock"}, "setting": "granted", "origin": origin},
    )


def open_session_page(page: Page, server: LiveServer, email: str) -> None:
    sign_in(page, server, email)
    page.goto(f"{server.url}/patient/session")
    expect(page.get_by_role("heading", name="Session on the table")).to_be_visible()


def calibrate(page: Page) -> None:
    page.get_by_role("button", name="Zero here (bed flat)").click()
    expect(page.locator("#tilt-status")).to_contain_text("zeroed")


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


# ------------------------------------------------------------------------------------------- tests
def test_complete_guided_session_with_tilt_and_strap(
    browser: Browser, context: BrowserContext, page: Page, live_server: LiveServer
) -> None:
    pid = patient_with_program(live_server, "tilda@example.org")
    grant_wake_lock(browser, live_server.url)
    tilt = Tilt(context, page, "accelerometer")  # devicemotion, overridden before the page subscribes
    strap = FakeStrap(browser, tilt.cdp, bpm=72)
    open_session_page(page, live_server, "tilda@example.org")
    expect(page.get_by_text("Your next planned session")).to_be_visible()
    fits_the_phone(page)
    shot(page, "guided-plan")

    page.get_by_label("Pain now, before the session").select_option("5")
    tilt.set(0.0)
    calibrate(page)
    expect(page.locator("#preview-angle")).to_have_text("0°")
    tilt.set(10.0)  # the preview follows the bed before the start
    expect(page.locator("#preview-angle")).to_have_text("10°")
    tilt.set(0.0)
    shot(page, "guided-calibration")

    page.get_by_role("button", name="Connect heart-rate strap").click()
    strap.pump(page, lambda: strap.reads > 0 and "72" in page.locator("#hr-status").inner_text())
    expect(page.locator("#hr-status")).to_contain_text("Strap: 72 beats per minute")

    page.get_by_role("button", name="Start the session").click()
    expect(page.locator("#live")).to_be_visible()
    expect(page.locator("#now-text")).to_have_text("lie flat for 4 s")
    expect(page.locator("#hr")).to_have_text("72")
    assert page.locator("#total").get_attribute("data-awake") == "yes"  # wake lock held

    # the ramp: the displayed angle follows the bed
    expect(page.locator("#now-text")).to_have_text("tilt to 20 deg over 6 s", timeout=8000)
    tilt.set(10.0)
    expect(page.locator("#actual")).to_have_text("10°")
    page.wait_for_timeout(1200)  # at least one 1 Hz sample at 10 deg
    tilt.set(20.0)
    expect(page.locator("#now-text")).to_have_text("hold at 20 deg for 14 s", timeout=10000)
    expect(page.locator("#actual")).to_have_text("20°")
    expect(page.locator("#target")).to_have_text("20°")
    expect(page.locator("#warning")).to_be_hidden()
    page.get_by_label("Pulse typed by hand").fill("80")
    page.get_by_role("button", name="Add pulse").click()
    expect(page.locator("#hr")).to_have_text("80")
    shot(page, "guided-holding-at-target")

    tilt.set(27.0)  # 7 deg past the target: more than the 5 deg tolerance
    expect(page.locator("#warning")).to_contain_text("Past the target")
    shot(page, "guided-warning-past-target")
    tilt.set(33.0)  # past the 30 deg ceiling
    expect(page.locator("#warning")).to_contain_text("Past your ceiling")
    page.wait_for_timeout(1200)
    shot(page, "guided-warning-past-ceiling")
    tilt.set(20.0)
    expect(page.locator("#warning")).to_be_hidden()
    page.get_by_role("button", name="Turn display upside down").click()
    expect(page.locator("#board")).to_have_class(re.compile("flipped"))
    page.get_by_role("button", name="Turn display upside down").click()

    expect(page.locator("#now-text")).to_have_text("tilt to 0 deg over 6 s", timeout=15000)
    tilt.set(8.0)
    page.wait_for_timeout(1500)
    tilt.set(0.0)
    expect(page.locator("#finish")).to_be_visible(timeout=15000)
    page.get_by_label("Pain now, after the session").select_option("3")
    page.get_by_label("Notes").fill("Felt a stretch in the lower back.")
    page.get_by_role("button", name="Save the session").click()
    expect(page.locator("#sync")).to_contain_text("Uploaded")
    shot(page, "guided-uploaded")

    stored = live_server.store.sessions(CLI_ACTOR, pid)
    assert len(stored) == 1
    session = stored[0]
    assert session["planned_protocol"] == SHORT_PROTOCOL
    assert session["pain_before"] == 5 and session["pain_after"] == 3
    assert session["notes"].startswith("Felt a stretch")
    angles = [v for _, v in session["angle_trace"]]
    times = [t for t, _ in session["angle_trace"]]
    assert len(angles) >= 25  # about one a second over the 34 s
    assert times == sorted(times) and all(b - a >= 0.5 for a, b in pairwise(times))
    assert max(angles) == pytest.approx(33.0, abs=0.7)  # Chrome rounds readings to 0.1 m/s2
    assert 20.0 in [round(a) for a in angles] and 10.0 in [round(a) for a in angles]
    assert angles[0] == pytest.approx(0.0, abs=0.7)
    bpm = [v for _, v in session["heart_rate_trace"]]
    assert bpm == [72, 80]
    page.goto(f"{live_server.url}/patient")
    expect(page.get_by_role("cell", name="none")).to_be_visible()  # listed, with no symptoms


def test_offline_session_is_kept_and_uploaded_once(
    context: BrowserContext, page: Page, live_server: LiveServer
) -> None:
    pid = patient_with_program(live_server, "olga@example.org")
    tilt = Tilt(context, page, "gravity")  # the GravitySensor path
    open_session_page(page, live_server, "olga@example.org")
    calibrate(page)
    page.get_by_role("button", name="Start the session").click()
    expect(page.locator("#now-text")).to_have_text("tilt to 20 deg over 6 s", timeout=8000)
    tilt.set(15.0)
    expect(page.locator("#actual")).to_have_text("15°")
    page.wait_for_timeout(1200)  # at least one 1 Hz sample at 15 deg
    context.set_offline(True)  # the connection drops mid-session
    tilt.set(20.0)
    expect(page.locator("#finish")).to_be_visible(timeout=40000)
    page.get_by_label("Pain now, after the session").select_option("2")
    page.get_by_role("button", name="Save the session").click()
    expect(page.locator("#sync")).to_contain_text("saved on this phone")
    shot(page, "guided-offline-pending")
    assert live_server.store.sessions(CLI_ACTOR, pid) == []

    # a reload while the server is still unreachable: the session is still there, pending
    uploads: list[str] = []
    page.on(
        "request",
        lambda r: (
            uploads.append(r.url)
            if r.method == "POST" and r.url.endswith(f"/patients/{pid}/sessions")
            else None
        ),
    )
    context.route(re.compile(r".*/api/v1/.*"), lambda route: route.abort("internetdisconnected"))
    context.set_offline(False)
    page.reload()
    expect(page.locator("#sync")).to_contain_text("1 session(s) saved on this phone, not uploaded yet")
    expect(page.locator("#resume")).to_be_hidden()  # finished, so nothing to resume
    assert live_server.store.sessions(CLI_ACTOR, pid) == []
    context.unroute(re.compile(r".*/api/v1/.*"))

    # back online: the `online` event uploads it, exactly once
    context.set_offline(True)
    context.set_offline(False)
    expect(page.locator("#sync")).to_contain_text("Uploaded")
    shot(page, "guided-offline-uploaded")
    stored = live_server.store.sessions(CLI_ACTOR, pid)
    assert len(stored) == 1 and stored[0]["pain_after"] == 2
    assert any(abs(v - 15.0) < 0.7 for _, v in stored[0]["angle_trace"])
    posts = len(uploads)
    page.reload()  # a later page load finds nothing left to send
    expect(page.locator("#prepare")).to_be_visible()
    page.wait_for_timeout(1500)
    assert len(uploads) == posts
    assert len(live_server.store.sessions(CLI_ACTOR, pid)) == 1


def test_symptom_leads_to_guided_return_and_rest(
    context: BrowserContext, page: Page, live_server: LiveServer
) -> None:
    pid = patient_with_program(live_server, "sami@example.org")
    tilt = Tilt(context, page, "orientation")  # the deviceorientation.beta fallback
    page.clock.install()  # the rest lasts minutes: let the test move the clock
    open_session_page(page, live_server, "sami@example.org")
    calibrate(page)
    page.get_by_role("button", name="Start the session").click()
    page.clock.run_for(5000)
    expect(page.locator("#now-text")).to_have_text("tilt to 20 deg over 6 s")
    tilt.set(18.0)
    page.clock.run_for(1000)
    expect(page.locator("#actual")).to_have_text("18°")
    page.get_by_role("button", name="Dizzy").click()
    page.clock.run_for(500)
    expect(page.locator("#return")).to_be_visible()
    expect(page.locator("#return-text")).to_contain_text("Bring the table back to flat")
    expect(page.locator("#countdown")).to_have_text("2:00")  # the programs' minimum rest
    shot(page, "guided-symptom-return")

    tilt.set(4.0)  # near horizontal, held for 3 s, starts the rest
    page.clock.run_for(4000)
    expect(page.locator("#return-text")).to_contain_text("Stay lying flat for 2 minutes")
    page.clock.run_for(30_000)
    expect(page.locator("#countdown")).to_have_text(re.compile(r"1:[23]\d"))
    expect(page.get_by_role("button", name="Rest done")).to_be_hidden()
    shot(page, "guided-symptom-rest")
    page.clock.run_for(95_000)
    page.get_by_role("button", name="Rest done: go to the last questions").click()
    page.get_by_label("Pain now, after the session").select_option("4")
    page.get_by_role("button", name="Save the session").click()
    expect(page.locator("#sync")).to_contain_text("Uploaded")
    stored = live_server.store.sessions(CLI_ACTOR, pid)
    assert len(stored) == 1
    session = stored[0]
    assert session["symptoms"] == ["dizziness"]
    assert "dizziness at 0:0" in session["notes"] and "(18 deg)" in session["notes"]
    assert "Stopped early" in session["notes"]
    # the trace holds the return and the rest near flat
    assert session["angle_trace"][-1][1] == pytest.approx(4.0, abs=0.7)
    assert (
        datetime.fromisoformat(session["ended_at"]) - datetime.fromisoformat(session["started_at"])
    ).total_seconds() > 120


def test_reload_mid_session_offers_resume_then_finish(
    context: BrowserContext, page: Page, live_server: LiveServer
) -> None:
    pid = patient_with_program(live_server, "rita@example.org")
    tilt = Tilt(context, page, "accelerometer")
    open_session_page(page, live_server, "rita@example.org")
    calibrate(page)
    page.get_by_role("button", name="Start the session").click()
    expect(page.locator("#now-text")).to_have_text("tilt to 20 deg over 6 s", timeout=8000)
    tilt.set(12.0)
    expect(page.locator("#actual")).to_have_text("12°")
    page.wait_for_timeout(1200)
    page.reload()  # the tab was reloaded by mistake: the recording is still on the phone
    expect(page.locator("#resume")).to_be_visible()
    expect(page.locator("#resume-text")).to_contain_text("angle readings")
    tilt.set(12.0)  # DevTools drops the reading on reload; a real phone keeps reporting it
    page.get_by_role("button", name="Resume it").click()
    expect(page.locator("#live")).to_be_visible()
    expect(page.locator("#actual")).to_have_text("12°")  # the calibration survived the reload
    page.reload()
    page.get_by_role("button", name="Finish it now").click()
    page.get_by_label("Pain now, after the session").select_option("1")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # by keyboard: pain, notes, then the save button
    expect(page.locator("#sync")).to_contain_text("Uploaded")
    stored = live_server.store.sessions(CLI_ACTOR, pid)
    assert len(stored) == 1
    assert "Stopped early: the page was closed before the end" in stored[0]["notes"]
    assert any(abs(v - 12.0) < 0.7 for _, v in stored[0]["angle_trace"])
