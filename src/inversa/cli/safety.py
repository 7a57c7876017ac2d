"""`inversa screen`, `inversa limits` and `inversa plan`: safety before inversion, personal limits, programs.

``screen``: the safety screening, from an answers file or question by question. The JSON output is a
contract: ``{"decision", "findings": [{"item", "class", "reason", "source", ...}], "screening_version",
...}``. Any completed screening exits 0 whatever the decision.

``limits``: the steepest angle and longest hold the engine predicts to keep eye pressure, heart-level mean
arterial pressure and eye-level arterial pressure within limits. JSON contract: ``{"max_angle_deg",
"max_hold_min", "binding_constraint", "predicted": {"intraocular_pressure_mmhg",
"mean_arterial_pressure_mmhg", "head_arterial_pressure_mmhg"}, "return_rest_min", ...}``.

``plan``: a progressive program within those limits (optionally adapted to session reports). JSON
contract: ``{"sessions": [{"day", "protocol", "max_angle_deg", "hold_min", ...}], ...}``; ``--format ics``
writes an iCalendar file.

Bad input raises InputError (one line, exit status 2 from the main entry point). When no limits or no
program can be given (the screening forbids inversion, or the limits leave no room for a program) the
reason is written as one ``error:`` line and the exit status is 1.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, NoReturn, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.panel import Panel
from rich.prompt import Prompt
from rich.table import Table
from rich.text import Text

from inversa.body import Person
from inversa.cli.common import (
    AgeOption,
    HeightOption,
    HoursOption,
    InputError,
    MassOption,
    RestingBpOption,
    RestingHrOption,
    RestingIopOption,
    SexOption,
    person_from_options,
)
from inversa.programs import (
    STYLES,
    Program,
    ProgramError,
    ProgramSettings,
    SessionLimits,
    SessionReport,
    adapt,
    generate_program,
    to_ical,
)
from inversa.safety import (
    Decision,
    FindingClass,
    ItemType,
    LimitCriteria,
    PersonalLimits,
    ScreeningAnswerError,
    ScreeningError,
    ScreeningResult,
    cleared_eye_findings,
    compute_limits,
    is_expired,
    load_questionnaire,
    parse_answer,
    screen,
    template,
)
from inversa.safety.limits import (
    CONSTRAINTS,
    DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG,
    DEFAULT_IOP_LIMIT_MMHG,
    DEFAULT_MAP_LIMIT_MMHG,
    SERIES,
)
from inversa.safety.screening import VERSION_KEY, AnswerValue
from inversa.simulation import SimulationError

__all__ = ["ask_answers", "limits_cmd", "plan_cmd", "screen_cmd"]


class ScreenFormat(StrEnum):
    table = "table"
    json = "json"


DECISION_WORDS = {
    Decision.OK: "OK: nothing in your answers rules inversion out. Table makers still ask for a licensed "
    "physician's approval before you start.",
    Decision.CAUTION: "CAUTION: inversion is allowed with the warnings below; watch for them and come up at "
    "the first sign of trouble.",
    Decision.NEEDS_CLEARANCE: "NEEDS CLEARANCE: do not invert until a clinician has documented clearance "
    "for each item marked 'clear'.",
    Decision.BLOCKED: "BLOCKED: do not invert.",
}
_STYLE = {
    Decision.OK: "bold green",
    Decision.CAUTION: "bold yellow",
    Decision.NEEDS_CLEARANCE: "bold yellow",
    Decision.BLOCKED: "bold red",
}


def _read_answers(path: Path) -> dict[str, Any]:
    """The answers file as a JSON object, or an InputError naming --answers."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--answers: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"--answers: {path} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--answers: {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"--answers: {path} must hold a JSON object of item: answer")
    return data


def _prompt_hint(key: str) -> str:
    it = load_questionnaire().item(key)
    if it.type is ItemType.YES_NO:
        return "yes/no"
    if it.type is ItemType.CHOICE:
        return f"1-{len(it.choices)} or the word"
    return f"{it.unit}, empty if none" if it.nullable else it.unit


def ask_answers() -> dict[str, AnswerValue]:
    """Ask every question on the terminal (prompts on stderr, so stdout stays clean for JSON); an
    invalid answer is explained and asked again. End of input aborts."""
    q = load_questionnaire()
    ask = Console(stderr=True, highlight=False, soft_wrap=True)
    answers: dict[str, AnswerValue] = {}
    ask.print(Text(f"{q.title} (version {q.version}): {len(q.items)} questions."))
    for n, it in enumerate(q.items, start=1):
        ask.print(Text(f"\n{n}/{len(q.items)}. {it.question}"))
        for i, choice in enumerate(it.choices, start=1):
            ask.print(Text(f"   {i}) {choice.value}: {choice.label}"))
        while True:
            try:
                text = Prompt.ask(
                    Text(f"   answer ({_prompt_hint(it.key)})"), console=ask, show_default=False
                )
            except EOFError:
                raise typer.Abort() from None
            try:
                answers[it.key] = parse_answer(it.key, text, given=answers)
                break
            except ScreeningAnswerError as exc:
                ask.print(Text(f"   {exc}; please answer again."))
    return {VERSION_KEY: q.version, **answers}


def _print_table(result: ScreeningResult, console: Console) -> None:
    """The result for a person: red flags first and prominent, then the decision, findings and dates."""
    if result.seek_care_now:
        console.print(
            Panel("\n".join(result.seek_care_now), title="SEEK CARE NOW", style="bold red", expand=False)
        )
    console.print(f"[{_STYLE[result.decision]}]{DECISION_WORDS[result.decision]}[/]")
    if result.findings:
        table = Table(title="Findings")
        for col in ("item", "class", "reason", "source"):
            table.add_column(col)
        for f in result.findings:
            cls = f.finding_class.value
            if f.effective_class is not None:
                verb = "cleared" if f.effective_class is FindingClass.CLEARED else "set to caution"
                cls += f" ({verb} by {f.cleared_by}, {f.cleared_at:%Y-%m-%d}: {f.clearance_reason})"
            table.add_row(f.item, cls, f.reason, f.source)
        console.print(table)
    console.print(
        f"Screening {result.screening_version} of {result.screened_on}; expires on {result.expires_on}. "
        "Screen again sooner if any answer changes; blood pressure is checked again before every session."
    )


def _emit(text_or_result: str | ScreeningResult, out: Path | None, output_format: ScreenFormat) -> None:
    """Write JSON text, or a result as a table or JSON, to --out or stdout."""
    if isinstance(text_or_result, ScreeningResult) and output_format is ScreenFormat.table:
        if out is None:
            _print_table(text_or_result, Console() if sys.stdout.isatty() else Console(width=140))
            return
        with _open_out(out) as fh:
            _print_table(text_or_result, Console(file=fh, width=140, color_system=None))
        return
    text = (
        json.dumps(text_or_result.to_dict()) + "\n"
        if isinstance(text_or_result, ScreeningResult)
        else text_or_result
    )
    if out is None:
        sys.stdout.write(text)
        return
    with _open_out(out) as fh:
        fh.write(text)


def _open_out(out: Path) -> TextIO:
    try:
        return out.open("w", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out: cannot write {out}: {exc.strerror}") from None


def screen_cmd(
    answers: Annotated[
        Path | None,
        typer.Option("--answers", help="JSON file of answers (see --print-template); without it, ask each"),
    ] = None,
    output_format: Annotated[
        ScreenFormat, typer.Option("--format", help="table (for people) or json (a contract)")
    ] = ScreenFormat.table,
    print_template: Annotated[
        bool, typer.Option("--print-template", help="write an answers file to fill in, then stop")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="write to this file instead of stdout")] = None,
) -> None:
    """Safety screening before inversion: decision (ok, caution, needs_clearance, blocked) and findings."""
    if print_template:
        if answers is not None:
            raise InputError("--print-template: give either --print-template or --answers, not both")
        _emit(json.dumps(template(), indent=2) + "\n", out, output_format)
        return
    given = _read_answers(answers) if answers is not None else ask_answers()
    try:
        result = screen(given)
    except ScreeningAnswerError as exc:
        raise InputError(f"{'--answers: ' if answers is not None else ''}{exc}") from None
    _emit(result, out, output_format)


# ------------------------------------------------------------------------------ person and limit options

IopLimitOption = Annotated[
    float, typer.Option("--iop-limit", help="highest predicted eye pressure allowed, mmHg")
]
MapLimitOption = Annotated[
    float, typer.Option("--map-limit", help="highest predicted mean arterial pressure at heart level, mmHg")
]
HeadLimitOption = Annotated[
    float,
    typer.Option("--head-arterial-limit", help="highest predicted arterial pressure at eye level, mmHg"),
]
EyeClearedOption = Annotated[
    bool,
    typer.Option(
        "--eye-finding-cleared",
        help="a clinician cleared an eye finding of the screening: the stricter eye-pressure limit applies",
    ),
]
ScreeningOption = Annotated[
    Path | None,
    typer.Option(
        "--screening",
        help="the screening: an answers file or the JSON of `inversa screen` (with clinician decisions)",
        show_default=False,
    ),
]

_CRITERIA_FLAGS: Final[dict[str, str]] = {
    "iop_limit_mmhg": "--iop-limit",
    "map_limit_mmhg": "--map-limit",
    "head_arterial_limit_mmhg": "--head-arterial-limit",
}


def _read_json(path: Path, option: str) -> Any:
    """A JSON file's content, or an InputError naming the option."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{option}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{option}: {path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{option}: {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None


def _read_screening(path: Path) -> ScreeningResult:
    """A screening from an answers file (screened today) or from `inversa screen`'s JSON (with any
    clinician decisions); it must be current and allow inversion."""
    data = _read_json(path, "--screening")
    if not isinstance(data, dict):
        raise InputError(f"--screening: {path} must hold a JSON object (answers or a screening result)")
    try:
        result = ScreeningResult.from_dict(data) if "findings" in data else screen(data)
    except ScreeningError as exc:
        raise InputError(f"--screening: {exc}") from None
    today = date.today()
    if is_expired(result, today):
        raise InputError(
            f"--screening: the screening of {result.screened_on} expired on {result.expires_on}; screen again"
        )
    if result.decision in (Decision.BLOCKED, Decision.NEEDS_CLEARANCE):
        open_items = [
            f.item for f in result.findings if f.current_class in (FindingClass.BLOCK, FindingClass.CLEAR)
        ]
        verdict = "blocked" if result.decision is Decision.BLOCKED else "needs clearance"
        _refuse(
            f"the screening's decision is {verdict} ({', '.join(open_items)}): do not invert; "
            "no limits or plan are given"
        )
    return result


def _refuse(message: str) -> NoReturn:
    """No limits or program can be given: one line on stderr, exit status 1.

    SystemExit rather than typer.Exit, because the entry point runs click with standalone_mode=False, where
    click turns typer.Exit into a return value and the status would be lost.
    """
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(1)


def _limits(
    person: Person,
    iop_limit: float,
    map_limit: float,
    head_arterial_limit: float,
    eye_finding_cleared: bool,
    screening: Path | None,
) -> PersonalLimits:
    """Criteria from the options (and the screening), then the engine's limits for the person."""
    eye_items = cleared_eye_findings(_read_screening(screening)) if screening is not None else ()
    try:
        criteria = LimitCriteria(
            iop_limit_mmhg=iop_limit,
            map_limit_mmhg=map_limit,
            head_arterial_limit_mmhg=head_arterial_limit,
            eye_finding_cleared=eye_finding_cleared or bool(eye_items),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise InputError(f"{_CRITERIA_FLAGS.get(name, name)}: {msg}") from None
    try:
        limits = compute_limits(person, criteria)
    except SimulationError as exc:  # the engine cannot reproduce the resting values given
        flag = "--resting-bp" if str(exc).startswith("resting_") else "person"
        raise InputError(f"{flag}: {exc}") from None
    return replace(limits, eye_items_cleared=eye_items)


def _person_words(person: Person) -> str:
    """The person in a few words, with the resting values given."""
    words = f"{person.sex.value}, {person.age_years:g} y, {person.height_cm:g} cm, {person.mass_kg:g} kg"
    if person.resting_systolic_mmhg is not None and person.resting_diastolic_mmhg is not None:
        words += f", resting {person.resting_systolic_mmhg:g}/{person.resting_diastolic_mmhg:g} mmHg"
    if person.resting_heart_rate_bpm is not None:
        words += f", {person.resting_heart_rate_bpm:g} bpm"
    if person.resting_iop_mmhg is not None:
        words += f", eye pressure {person.resting_iop_mmhg:g} mmHg"
    return words


_LIMIT_WORDS: Final[dict[str, str]] = {
    "intraocular_pressure": "eye pressure (IOP)",
    "mean_arterial_pressure": "mean arterial pressure, heart level",
    "head_arterial_pressure": "arterial pressure, eye level",
    "none": "nothing (full inversion allowed)",
}


def _print_limits(limits: PersonalLimits, person: Person, console: Console) -> None:
    """The limits for a person: the numbers first, then the explanation in plain words."""
    console.print(Text(f"Personal limits for {_person_words(person)}", style="bold"))
    summary = Table(show_header=False, box=None)
    summary.add_column(justify="left")
    summary.add_column(justify="right")
    summary.add_row("steepest angle", f"{limits.max_angle_deg:g} deg")
    summary.add_row("longest hold at that angle", f"{limits.max_hold_min:g} min")
    summary.add_row("rest flat before standing (at least)", f"{limits.return_rest_min:g} min")
    summary.add_row("set by", _LIMIT_WORDS[limits.binding_constraint])
    console.print(summary)
    table = Table(title="Predicted at the limit (sustained, mmHg)")
    for col in ("pressure", "predicted", "limit"):
        table.add_column(col, justify="left" if col == "pressure" else "right")
    for c in CONSTRAINTS:
        table.add_row(_LIMIT_WORDS[c], f"{limits.predicted[SERIES[c]]:.1f}", f"{limits.criteria.limit(c):g}")
    console.print(table)
    for line in limits.explanation:
        console.print(Text(f"- {line}"))


class LimitsFormat(StrEnum):
    table = "table"
    json = "json"


def limits_cmd(
    sex: SexOption,
    age: AgeOption,
    height_cm: HeightOption,
    mass_kg: MassOption,
    hours_upright: HoursOption = 8.0,
    resting_bp: RestingBpOption = None,
    resting_hr: RestingHrOption = None,
    resting_iop: RestingIopOption = None,
    iop_limit: IopLimitOption = DEFAULT_IOP_LIMIT_MMHG,
    map_limit: MapLimitOption = DEFAULT_MAP_LIMIT_MMHG,
    head_arterial_limit: HeadLimitOption = DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG,
    eye_finding_cleared: EyeClearedOption = False,
    screening: ScreeningOption = None,
    output_format: Annotated[
        LimitsFormat, typer.Option("--format", help="table (for people) or json (a contract)")
    ] = LimitsFormat.table,
) -> None:
    """Personal limits: the steepest angle and longest hold that keep predicted pressures within limits."""
    person = person_from_options(
        sex, age, height_cm, mass_kg, hours_upright, resting_bp, resting_hr, resting_iop
    )
    limits = _limits(person, iop_limit, map_limit, head_arterial_limit, eye_finding_cleared, screening)
    if output_format is LimitsFormat.json:
        sys.stdout.write(json.dumps(limits.to_dict()) + "\n")
        return
    _print_limits(limits, person, Console() if sys.stdout.isatty() else Console(width=140))


# ------------------------------------------------------------------------------------------------ plan


class PlanFormat(StrEnum):
    table = "table"
    json = "json"
    ics = "ics"


_SETTINGS_FLAGS: Final[dict[str, str]] = {
    "weeks": "--weeks",
    "target_angle_deg": "--target-angle",
    "ceiling_angle_deg": "--ceiling-angle",
    "style": "--style",
    "days_per_week": "--days-per-week",
    "sessions_per_day": "--sessions-per-day",
    "start_date": "--start-date",
}


def _settings(**values: Any) -> ProgramSettings:
    """Program settings from the options; an error names the option."""
    try:
        return ProgramSettings(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        # a cross-field error has no location: it starts with the field it is about
        name = str(err["loc"][0]) if err["loc"] else msg.split(" ", 1)[0]
        raise InputError(f"{_SETTINGS_FLAGS.get(name, '--target-angle')}: {msg}") from None


def _parse_date(text: str | None, option: str) -> date | None:
    """An ISO date (YYYY-MM-DD), or an InputError naming the option."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option}: expected a date as YYYY-MM-DD, got {text!r}") from None


def _apply_reports(
    program: Program, limits: SessionLimits, path: Path
) -> tuple[Program, list[dict[str, Any]]]:
    """Adapt the program to each session report of the file, in order (see inversa.programs.adapt).

    The file holds a JSON list of ``{"day": "YYYY-MM-DD", "index_in_day": 1, "pain_before": 3,
    "pain_after": 2, "symptoms": ["dizziness"], "completed": true}``; ``index_in_day`` defaults to 1.
    """
    data = _read_json(path, "--reports")
    if not isinstance(data, list):
        raise InputError(f"--reports: {path} must hold a JSON list of session reports")
    done: list[dict[str, Any]] = []
    for n, raw in enumerate(data, start=1):
        where = f"--reports: report {n}"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: must be an object with day, completed and optional symptoms and pain")
        fields = dict(raw)
        day = _parse_date(str(fields.pop("day", "")), f"{where}: day")
        index = fields.pop("index_in_day", 1)
        try:
            report = SessionReport(**fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = ".".join(str(p) for p in err["loc"]) or "report"
            raise InputError(f"{where}: {name}: {str(err['msg']).removeprefix('Value error, ')}") from None
        session = next((s for s in program.sessions if s.key == (day, index)), None)
        if session is None:
            raise InputError(
                f"{where}: session {index} on {day} is not in the plan (or not after the sessions already "
                "reported, or the plan is paused)"
            )
        adaptation = adapt(program, session, report, limits)
        program = adaptation.program
        done.append(
            {
                "day": session.day.isoformat(),
                "index_in_day": session.index_in_day,
                "action": adaptation.action,
                "requires_rescreening": adaptation.requires_rescreening,
                "reason": adaptation.reason,
            }
        )
    return program, done


def _print_plan(
    program: Program,
    limits: PersonalLimits,
    person: Person,
    adaptations: list[dict[str, Any]],
    console: Console,
) -> None:
    """The plan for a person: limits in one line, the sessions, then the notes."""
    console.print(Text(f"Inversion plan for {_person_words(person)}", style="bold"))
    console.print(
        Text(
            f"Personal limits: {limits.max_angle_deg:g} deg, {limits.max_hold_min:g} min at that angle, "
            f"rest flat {max(limits.return_rest_min, 2.0):g} min before standing "
            f"(set by {_LIMIT_WORDS[limits.binding_constraint]})."
        )
    )
    for a in adaptations:
        console.print(
            Text(
                f"After session {a['index_in_day']} on {a['day']}: "
                f"{a['action'].replace('_', ' ')}. {a['reason']}"
            )
        )
    table = Table(title="Sessions")
    for col in ("week", "day", "#", "angle (deg)", "time at angle", "style", "whole session (min)"):
        table.add_column(col, justify="left" if col in ("day", "style") else "right")
    for s in program.sessions:
        hold = f"{s.hold_min:g} min" if s.hold_min.is_integer() else f"{s.hold_s} s"
        table.add_row(
            str(s.week),
            f"{s.day:%a %Y-%m-%d}",
            str(s.index_in_day),
            f"{s.max_angle_deg:g}",
            hold,
            s.style,
            f"{s.duration_s / 60.0:.1f}",
        )
    if program.sessions:
        console.print(table)
        console.print(Text(f"Each session, step by step (week 1):\n{program.sessions[0].protocol_text}"))
    else:
        console.print(Text("No sessions are planned.", style="bold"))
    for note in program.notes:
        console.print(Text(f"- {note}"))


def _parse_time(text: str) -> time:
    """A clock time HH:MM, or an InputError naming --start-time."""
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"--start-time: expected a time as HH:MM, e.g. 08:00, got {text!r}") from None


def _check_zone(tz: str) -> str:
    """An IANA time zone name, or an InputError naming --tz."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"--tz: unknown time zone {tz!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None
    return tz


def plan_cmd(
    sex: SexOption,
    age: AgeOption,
    height_cm: HeightOption,
    mass_kg: MassOption,
    hours_upright: HoursOption = 8.0,
    resting_bp: RestingBpOption = None,
    resting_hr: RestingHrOption = None,
    resting_iop: RestingIopOption = None,
    iop_limit: IopLimitOption = DEFAULT_IOP_LIMIT_MMHG,
    map_limit: MapLimitOption = DEFAULT_MAP_LIMIT_MMHG,
    head_arterial_limit: HeadLimitOption = DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG,
    eye_finding_cleared: EyeClearedOption = False,
    screening: ScreeningOption = None,
    weeks: Annotated[int, typer.Option("--weeks", help="weeks of sessions (1-26)")] = 6,
    target_angle: Annotated[
        float, typer.Option("--target-angle", help="angle to work up to, deg (15-90)")
    ] = 60.0,
    ceiling_angle: Annotated[
        float | None,
        typer.Option("--ceiling-angle", help="a clinician's ceiling, deg (15-90)", show_default=False),
    ] = None,
    style: Annotated[str, typer.Option("--style", help=f"session style: {', '.join(STYLES)}")] = "continuous",
    days_per_week: Annotated[int, typer.Option("--days-per-week", help="session days a week (1-7)")] = 5,
    sessions_per_day: Annotated[
        int, typer.Option("--sessions-per-day", help="sessions on a session day (1-3)")
    ] = 1,
    start_date: Annotated[
        str | None,
        typer.Option("--start-date", help="first day, YYYY-MM-DD (default today)", show_default=False),
    ] = None,
    reports: Annotated[
        Path | None,
        typer.Option(
            "--reports",
            help="JSON list of session reports ({day, index_in_day, pain_before, pain_after, symptoms, "
            "completed}) to adapt the plan to, in order",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        PlanFormat, typer.Option("--format", help="table (for people), json (a contract) or ics (a calendar)")
    ] = PlanFormat.table,
    tz: Annotated[str, typer.Option("--tz", help="time zone of the calendar's sessions (ics)")] = "UTC",
    start_time: Annotated[
        str, typer.Option("--start-time", help="first session's time of day, HH:MM (ics)")
    ] = "08:00",
    out: Annotated[Path | None, typer.Option("--out", help="write to this file instead of stdout")] = None,
) -> None:
    """A progressive inversion program within the person's limits, as a table, JSON or a calendar."""
    person = person_from_options(
        sex, age, height_cm, mass_kg, hours_upright, resting_bp, resting_hr, resting_iop
    )
    chosen_style = next((s for s in STYLES if s == style), None)
    if chosen_style is None:
        raise InputError(f"--style: must be one of {', '.join(STYLES)}, got {style!r}")
    # a target or ceiling below the usual 20 deg start (15 at least) starts there instead
    lowest = min(target_angle, ceiling_angle if ceiling_angle is not None else target_angle)
    settings = _settings(
        weeks=weeks,
        target_angle_deg=target_angle,
        ceiling_angle_deg=ceiling_angle,
        start_angle_deg=lowest if 15.0 <= lowest < ProgramSettings().start_angle_deg else None,
        style=chosen_style,
        days_per_week=days_per_week,
        sessions_per_day=sessions_per_day,
        start_date=_parse_date(start_date, "--start-date"),
    )
    clock = _parse_time(start_time)
    zone = _check_zone(tz)
    limits = _limits(person, iop_limit, map_limit, head_arterial_limit, eye_finding_cleared, screening)
    session_limits = limits.to_session_limits()
    try:
        program = generate_program(session_limits, settings)
    except ProgramError as exc:
        _refuse(f"no program: {exc}")
    adaptations: list[dict[str, Any]] = []
    if reports is not None:
        program, adaptations = _apply_reports(program, session_limits, reports)
    if output_format is PlanFormat.ics:
        try:
            text = to_ical(program, tz=zone, start_time=clock)
        except ValueError as exc:
            if not program.sessions:
                _refuse(f"no sessions to put in a calendar: {program.notes[-1] if program.notes else exc}")
            raise InputError(f"--start-time: {exc}") from None
        _write(text, out)
        return
    if output_format is PlanFormat.json:
        data = {
            **program.to_dict(),
            "limits": limits.to_dict(),
            "adaptations": adaptations,
        }
        _write(json.dumps(data) + "\n", out)
        return
    if out is None:
        _print_plan(
            program, limits, person, adaptations, Console() if sys.stdout.isatty() else Console(width=140)
        )
        return
    with _open_out(out) as fh:
        _print_plan(program, limits, person, adaptations, Console(file=fh, width=140, color_system=None))


def _write(text: str, out: Path | None) -> None:
    """Text to --out or stdout (iCalendar keeps its CRLF line ends)."""
    if out is None:
        sys.stdout.write(text)
        return
    try:
        with out.open("w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"--out: cannot write {out}: {exc.strerror}") from None
