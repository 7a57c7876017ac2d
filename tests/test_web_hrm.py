"""The Bluetooth heart-rate (0x2A37) parsers, Python and JavaScript, on the same byte fixtures."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from inversa.web.hrm import HrmParseError, parse_heart_rate_measurement, parse_hex

ROOT = Path(__file__).resolve().parent
FIXTURES_PATH = ROOT / "fixtures" / "hrm_fixtures.json"
RUNNER = ROOT / "fixtures" / "hrm_runner.mjs"
HRM_JS = ROOT.parent / "src" / "inversa" / "web" / "static" / "hrm.js"
FIXTURES: list[dict[str, Any]] = json.loads(FIXTURES_PATH.read_text(encoding="utf-8"))["fixtures"]
GOOD = [f for f in FIXTURES if "expected" in f]
BAD = [f for f in FIXTURES if "error" in f]


def test_fixtures_cover_every_flag_and_failure() -> None:
    covered = 0
    for fixture in GOOD:
        covered |= parse_hex(fixture["hex"])[0]
    assert covered & 0x1F == 0x1F  # every defined flag bit is exercised
    assert {"empty", "truncated", "malformed"} <= {f["error"].split()[0] for f in BAD}


def _same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual.keys() == expected.keys()
    for key, want in expected.items():
        if key == "rrIntervalsMs":
            assert actual[key] == pytest.approx(want, abs=1e-9)
        else:
            assert actual[key] == want, key


@pytest.mark.parametrize("fixture", GOOD, ids=[f["name"] for f in GOOD])
def test_python_parser_decodes_fixture(fixture: dict[str, Any]) -> None:
    _same(parse_heart_rate_measurement(parse_hex(fixture["hex"])).as_json(), fixture["expected"])


@pytest.mark.parametrize("fixture", BAD, ids=[f["name"] for f in BAD])
def test_python_parser_rejects_malformed_packet(fixture: dict[str, Any]) -> None:
    with pytest.raises(HrmParseError) as err:
        parse_heart_rate_measurement(parse_hex(fixture["hex"]))
    assert fixture["error"] in str(err.value)


def test_python_parser_takes_any_bytes_like_value() -> None:
    raw = parse_hex("16 50 00 03 55 03")
    results = {parse_heart_rate_measurement(v) for v in (raw, bytearray(raw), memoryview(b"xx" + raw)[2:])}
    assert len(results) == 1
    (result,) = results
    assert result.heart_rate_bpm == 80 and result.contact_detected is True
    assert result.rr_intervals_ms == (750.0, 833.0078125)


def test_parse_hex_names_bad_text() -> None:
    assert parse_hex("10:48-00 04") == b"\x10\x48\x00\x04"
    with pytest.raises(HrmParseError, match="not hex bytes"):
        parse_hex("zz")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: JS parser not run")
def test_javascript_parser_matches_fixtures_and_python() -> None:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, str(RUNNER), str(HRM_JS), str(FIXTURES_PATH)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = {r["name"]: r for r in json.loads(done.stdout)}
    assert len(results) == len(FIXTURES)
    for fixture in GOOD:
        _same(results[fixture["name"]]["result"], fixture["expected"])
    for fixture in BAD:
        got = results[fixture["name"]]
        assert got.get("parseError") is True, got
        assert fixture["error"] in got["error"]
        with pytest.raises(HrmParseError) as err:  # the two parsers say exactly the same
            parse_heart_rate_measurement(parse_hex(fixture["hex"]))
        assert got["error"] == str(err.value)
