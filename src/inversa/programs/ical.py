"""Export a program as an iCalendar file (RFC 5545), so the sessions land in a person's calendar.

Written by hand because the format is small: content lines ``NAME:value`` ending in CRLF, TEXT values
escaped (backslash, semicolon, comma, newline as ``\\n``), and lines longer than 75 octets folded by a
CRLF followed by one space, never inside a UTF-8 character. Times are written in UTC (``...Z``): a local
time zone is converted with its daylight-saving rules, which avoids having to embed a VTIMEZONE.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from inversa.programs.plan import PlannedSession, Program

__all__ = ["MAX_LINE_OCTETS", "PRODID", "escape_text", "fold_line", "to_ical"]

PRODID = "-//Inversa//Inversion program//EN"
#: Content lines are folded so no physical line exceeds this many octets (CRLF not counted).
MAX_LINE_OCTETS = 75
_UTC_FORMAT = "%Y%m%dT%H%M%SZ"


def escape_text(value: str) -> str:
    """Escape a TEXT value: ``\\`` ``;`` ``,`` get a backslash, line breaks become ``\\n``."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold_line(line: str) -> str:
    """Fold one content line into physical lines of at most 75 octets, joined by CRLF + space."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    limit = MAX_LINE_OCTETS
    for char in line:
        octets = len(char.encode("utf-8"))
        if size + octets > limit:
            pieces.append("".join(current))
            current, size, limit = [], 0, MAX_LINE_OCTETS - 1  # continuation lines start with a space
        current.append(char)
        size += octets
    pieces.append("".join(current))
    return "\r\n ".join(pieces)


def _time_zone(tz: str) -> ZoneInfo:
    """The named IANA time zone, or a ValueError naming it."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        hint = "use an IANA name such as 'UTC' or 'Europe/Berlin'"
        raise ValueError(f"unknown time zone {tz!r}; {hint}") from None


def _summary(prefix: str, session: PlannedSession) -> str:
    """Short title: prefix, angle, time at angle and style."""
    hold = session.hold_min
    hold_text = f"{hold:g} min" if hold.is_integer() else f"{session.hold_s} s"
    return f"{prefix}: {session.max_angle_deg:g} deg for {hold_text} ({session.style})"


def _description(session: PlannedSession, per_day: int) -> str:
    """Longer text: where the session sits in the plan, then the protocol to follow."""
    return (
        f"Week {session.week}, session {session.index_in_day} of {per_day} today.\n"
        f"Protocol:\n{session.protocol_text}"
    )


def _lines(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """Folded content lines from (name, already formatted value) pairs."""
    return [fold_line(f"{name}:{value}") for name, value in pairs]


def to_ical(
    program: Program,
    *,
    tz: str = "UTC",
    start_time: time = time(8, 0),
    summary_prefix: str = "Inversion session",
    session_gap: timedelta = timedelta(hours=4),
    stamp: datetime | None = None,
) -> str:
    """The program as one VCALENDAR with one VEVENT per session (CRLF line endings, folded lines).

    Session ``k`` of a day starts at ``start_time + (k - 1) * session_gap`` local time in ``tz``; it ends
    after the protocol's whole duration (rounded up to the second). UIDs derive from the day and the index
    in the day, so re-importing an updated plan replaces the same events. ``stamp`` (DTSTAMP) defaults to
    now. Raises ValueError for an empty program (a calendar needs an event), an unknown time zone, or
    sessions that would run past midnight.
    """
    if not program.sessions:
        raise ValueError("the program has no sessions to put in a calendar")
    zone = _time_zone(tz)
    stamp_utc = (stamp if stamp is not None else datetime.now(UTC)).astimezone(UTC)
    per_day = program.settings.sessions_per_day
    lines = _lines(
        [
            ("BEGIN", "VCALENDAR"),
            ("VERSION", "2.0"),
            ("PRODID", PRODID),
            ("CALSCALE", "GREGORIAN"),
            ("METHOD", "PUBLISH"),
        ]
    )
    for session in program.sessions:
        start_local = datetime.combine(session.day, start_time, tzinfo=zone)
        start_local += (session.index_in_day - 1) * session_gap
        start_utc = start_local.astimezone(UTC)
        end_utc = start_utc + timedelta(seconds=math.ceil(session.duration_s))
        if start_local.date() != session.day or end_utc.astimezone(zone).date() != session.day:
            raise ValueError(
                f"session {session.index_in_day} on {session.day.isoformat()} would run past midnight; "
                "choose an earlier start time or a shorter gap between sessions"
            )
        lines += _lines(
            [
                ("BEGIN", "VEVENT"),
                ("UID", f"inversa-{session.day:%Y%m%d}-{session.index_in_day}@inversa"),
                ("DTSTAMP", stamp_utc.strftime(_UTC_FORMAT)),
                ("DTSTART", start_utc.strftime(_UTC_FORMAT)),
                ("DTEND", end_utc.strftime(_UTC_FORMAT)),
                ("SUMMARY", escape_text(_summary(summary_prefix, session))),
                ("DESCRIPTION", escape_text(_description(session, per_day))),
                ("END", "VEVENT"),
            ]
        )
    lines += _lines([("END", "VCALENDAR")])
    return "\r\n".join(lines) + "\r\n"
