"""Progressive inversion programs: plan weeks of sessions within personal limits, adapt, export.

- :func:`generate_program` turns :class:`SessionLimits` (from the physiology engine) and
  :class:`ProgramSettings` (defaults from the table manuals; a clinician may set target and ceiling) into a
  :class:`Program` whose every session is a runnable :class:`~inversa.protocol.Protocol`.
- :func:`adapt` applies a :class:`SessionReport` (pain, symptoms, completion) to the rest of a program:
  step forward, hold, step back or pause.
- :func:`to_ical` writes the program as an iCalendar file.
"""

from inversa.programs.adapt import (
    ACTIONS,
    SYMPTOMS,
    Action,
    Adaptation,
    Decision,
    SessionReport,
    Symptom,
    adapt,
    decide,
)
from inversa.programs.ical import to_ical
from inversa.programs.plan import (
    STYLES,
    PlannedSession,
    Program,
    ProgramError,
    ProgramSettings,
    SessionLimits,
    Style,
    build_session_protocol,
    generate_program,
)

__all__ = [
    "ACTIONS",
    "STYLES",
    "SYMPTOMS",
    "Action",
    "Adaptation",
    "Decision",
    "PlannedSession",
    "Program",
    "ProgramError",
    "ProgramSettings",
    "SessionLimits",
    "SessionReport",
    "Style",
    "Symptom",
    "adapt",
    "build_session_protocol",
    "decide",
    "generate_program",
    "to_ical",
]
