"""Everything a person owns as CSV: one file per kind of record, zipped, with a column guide."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["export_csv_zip", "private_output", "record_tables"]


@contextmanager
def private_output(path: Path) -> Iterator[Path]:
    """Write to a temporary file readable by the owner only (0600), then rename it into place; on any
    error the partial file is removed, so no half-written medical data is left behind."""
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell; text that a spreadsheet would run as a formula is prefixed with ' (numbers stay)."""
    if isinstance(value, (list, dict)):
        value = json.dumps(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def record_tables(record: Mapping[str, Any]) -> dict[str, str]:
    """CSV text per table: profile, sessions, traces, questionnaires, screenings, programs, experiments."""
    sessions = record.get("sessions", [])
    angle_rows = [
        {"session_client_id": s["client_id"], "time_s": t, "angle_deg": a}
        for s in sessions
        for t, a in s.get("angle_trace") or []
    ]
    hr_rows = [
        {"session_client_id": s["client_id"], "time_s": t, "heart_rate_bpm": b}
        for s in sessions
        for t, b in s.get("heart_rate_trace") or []
    ]
    profile = record.get("profile") or {}
    return {
        "profile.csv": _table([{**record["patient"], **profile}], [*record["patient"], *profile]),
        "sessions.csv": _table(
            sessions,
            [
                "client_id",
                "started_at",
                "ended_at",
                "planned_protocol",
                "pain_before",
                "pain_after",
                "symptoms",
                "notes",
            ],
        ),
        "session_angle_trace.csv": _table(angle_rows, ["session_client_id", "time_s", "angle_deg"]),
        "session_heart_rate_trace.csv": _table(hr_rows, ["session_client_id", "time_s", "heart_rate_bpm"]),
        "questionnaires.csv": _table(
            record.get("questionnaires", []),
            ["recorded_at", "instrument", "score", "subscores", "complete", "answers"],
        ),
        "screenings.csv": _table(
            record.get("screenings", []),
            ["created_at", "expires_at", "screening_version", "decision", "findings"],
        ),
        "screening_overrides.csv": _table(
            record.get("overrides", []),
            ["created_at", "screening_id", "item", "new_class", "reason", "clinician_id"],
        ),
        "programs.csv": _table(
            record.get("programs", []),
            ["created_at", "active", "target_angle_deg", "ceiling_angle_deg", "plan"],
        ),
        "nof1_experiments.csv": _table(record.get("experiments", []), ["id", "schedule"]),
    }


_GUIDE = """Inversa export: everything stored for one person.
Times are ISO 8601 in UTC. Angles are degrees past horizontal, positive head-down (flat 0, hanging 90,
standing -90). Pain is NRS 0-10. Traces are seconds since the session start. Cells holding lists or
objects are JSON.
"""


def export_csv_zip(record: Mapping[str, Any], path: str | Path) -> Path:
    """Write the zip; it is written to a temporary name and renamed, so a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = record_tables(record)
    with private_output(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("README.txt", _GUIDE)
        for name, text in tables.items():
            zf.writestr(name, text)
    return path
