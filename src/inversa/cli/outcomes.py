"""Commands for outcomes: questionnaire scoring, trends, the n-of-1 experiment, report and export."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from inversa.cli.common import DatabaseOption, InputError, open_store
from inversa.cli.records import patient_id
from inversa.store import CLI_ACTOR, Store

__all__ = ["export_cmd", "nof1_app", "nof1_result", "questionnaire_app", "report_cmd", "trends_cmd"]

questionnaire_app = typer.Typer(help="Score validated questionnaires as published.", no_args_is_help=True)
nof1_app = typer.Typer(help="A personal experiment: is inversion helping me?", no_args_is_help=True)


@questionnaire_app.command("score")
def questionnaire_score(
    instrument: Annotated[str, typer.Option(help="peg, rmdq, startback, odi or nrs")],
    answers: Annotated[str, typer.Option(help="JSON list in the instrument's item order")],
    output_format: Annotated[str, typer.Option("--format", help="json or table")] = "json",
) -> None:
    """Score one set of answers (ODI needs INVERSA_ODI_LICENSED=1)."""
    from inversa.outcomes import LicenceError, QuestionnaireError, parse_answers_json, score

    if output_format not in ("json", "table"):
        raise InputError(f"--format: must be json or table, got {output_format!r}")
    try:
        result = score(instrument, parse_answers_json(answers))
    except LicenceError as exc:
        raise InputError(f"--instrument: {exc}") from None
    except QuestionnaireError as exc:
        flag = "--instrument" if str(exc).startswith("unknown instrument") else "--answers"
        raise InputError(f"{flag}: {exc}") from None
    if output_format == "json":
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        print(f"{result.instrument}: {result.score} ({result.interpretation}); complete: {result.complete}")
        for k, v in result.subscores.items():
            print(f"  {k}: {v}")


def _date(text: str | None, flag: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag}: expected a date like 2026-11-25, got {text!r}") from None


def _range(start: str | None, end: str | None) -> tuple[dt.datetime, dt.datetime]:
    d0, d1 = _date(start, "--from"), _date(end, "--to")
    # days are the operator's local calendar days, turned into UTC instants for the store
    lo = dt.datetime.combine(d0 or dt.date(1900, 1, 1), dt.time.min).astimezone().astimezone(dt.UTC)
    hi = dt.datetime.combine(d1 or dt.date.today(), dt.time.max).astimezone().astimezone(dt.UTC)
    if hi < lo:
        raise InputError("--to: must not be before --from")
    return lo, hi


def trends_cmd(
    patient: Annotated[str, typer.Option(help="patient's email")],
    start: Annotated[str | None, typer.Option("--from", help="first day (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day (YYYY-MM-DD)")] = None,
    database_url_opt: DatabaseOption = None,
) -> None:
    """Change from baseline per questionnaire against its meaningful change (JSON)."""
    from inversa.outcomes.trends import session_pain_summary, trends

    lo, hi = _range(start, end)
    store = open_store(database_url_opt)
    pid = patient_id(store, patient)
    responses = store.questionnaires(CLI_ACTOR, pid, start=lo, end=hi)
    sessions = store.sessions(CLI_ACTOR, pid, start=lo, end=hi)
    out = {
        "from": lo.date().isoformat(),
        "to": hi.date().isoformat(),
        "questionnaires": {k: v.to_dict() for k, v in trends(responses).items()},
        "sessions": session_pain_summary(sessions).to_dict(),
    }
    sys.stdout.write(json.dumps(out) + "\n")


@nof1_app.command("plan")
def nof1_plan(
    patient: Annotated[str, typer.Option(help="patient's email")],
    start: Annotated[str, typer.Option("--start", help="first day (YYYY-MM-DD)")],
    pairs: Annotated[int, typer.Option(help="pairs of blocks (1-12)")] = 3,
    block_days: Annotated[int, typer.Option("--block-days", help="days per block (3-28)")] = 7,
    seed: Annotated[int | None, typer.Option(help="random seed (default: a fresh one, printed)")] = None,
    database_url_opt: DatabaseOption = None,
) -> None:
    """Plan randomised blocks with and without inversion, and save the plan."""
    from inversa.outcomes.nof1 import Nof1Error, plan_schedule

    first = _date(start, "--start")
    assert first is not None
    try:
        chosen_seed = secrets.randbelow(2**31) if seed is None else seed
        schedule = plan_schedule(first, pairs=pairs, block_days=block_days, seed=chosen_seed)
    except Nof1Error as exc:
        raise InputError(f"--{str(exc).split(' ')[0].replace('_', '-').rstrip(':')}: {exc}") from None
    store = open_store(database_url_opt)
    store.save_experiment(CLI_ACTOR, patient_id(store, patient), schedule.to_dict())
    sys.stdout.write(json.dumps(schedule.to_dict()) + "\n")


def nof1_result(store: Store, pid: int, reason: str | None = None) -> dict[str, Any] | None:
    """Analyse the latest experiment with the daily NRS entries logged during it (None if none)."""
    from inversa.outcomes.nof1 import Schedule, analyse, diary_from_responses

    saved = store.latest_experiment(CLI_ACTOR, pid, reason)
    if saved is None:
        return None
    schedule = Schedule.from_dict(saved)
    diary = diary_from_responses(
        schedule, store.questionnaires(CLI_ACTOR, pid, instrument="nrs", reason=reason)
    )
    if not diary:
        return {
            "status": "not_enough_data",
            "summary": "No daily pain (NRS) has been logged during the experiment yet: log one each day "
            "with `inversa log questionnaire --instrument nrs`.",
            "effect_mean": None,
        }
    return analyse(diary, schedule=schedule).to_dict()


@nof1_app.command("analyse")
def nof1_analyse(
    patient: Annotated[str, typer.Option(help="patient's email")],
    database_url_opt: DatabaseOption = None,
) -> None:
    """Analyse the latest experiment from the daily pain entries (`log questionnaire --instrument nrs`)."""
    store = open_store(database_url_opt)
    result = nof1_result(store, patient_id(store, patient))
    if result is None:
        raise InputError("--patient: no personal experiment planned yet (`inversa nof1 plan`)")
    sys.stdout.write(json.dumps(result) + "\n")


def report_cmd(
    patient: Annotated[str, typer.Option(help="patient's email")],
    out: Annotated[Path, typer.Option("--out", help="PDF file to write")],
    start: Annotated[str | None, typer.Option("--from", help="first day (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day (YYYY-MM-DD)")] = None,
    sections: Annotated[
        str | None,
        typer.Option(help="comma-separated: summary,pain,function,sessions,symptoms,screening,nof1"),
    ] = None,
    database_url_opt: DatabaseOption = None,
) -> None:
    """Write a PDF report for a clinician over a date range."""
    from inversa.exports import ReportSections, write_pdf_report

    if out.suffix.lower() != ".pdf":
        raise InputError(f"--out: the report is a PDF: {out} must end in .pdf")
    try:
        chosen = ReportSections.parse(sections.split(",")) if sections else ReportSections()
    except ValueError as exc:
        raise InputError(f"--sections: {exc}") from None
    lo, hi = _range(start, end)
    store = open_store(database_url_opt)
    pid = patient_id(store, patient)
    record = store.patient_record(CLI_ACTOR, pid, lo, hi, purpose="report")
    nof1 = nof1_result(store, pid) if chosen.nof1 else None
    write_pdf_report(record, out, lo, hi, chosen, nof1)
    print(f"report written to {out}")


def export_cmd(
    patient: Annotated[str, typer.Option(help="patient's email")],
    export_format: Annotated[
        str, typer.Option("--format", help="csv (a zip of tables) or fhir (R4 Bundle JSON)")
    ],
    out: Annotated[Path | None, typer.Option("--out", help="file to write (fhir: default stdout)")] = None,
    database_url_opt: DatabaseOption = None,
) -> None:
    """Export everything the person owns."""
    from inversa.exports import build_bundle, check_bundle, export_csv_zip

    if export_format not in ("csv", "fhir"):
        raise InputError(f"--format: must be csv or fhir, got {export_format!r}")
    store = open_store(database_url_opt)
    pid = patient_id(store, patient)
    record = store.patient_record(CLI_ACTOR, pid)
    if export_format == "csv":
        path = export_csv_zip(record, out or Path(f"inversa-export-{pid}.zip"))
        print(f"export written to {path}")
        return
    bundle = build_bundle(record)
    check_bundle(bundle)
    text = json.dumps(bundle, indent=1)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        from inversa.exports.csv_export import private_output

        with private_output(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
        print(f"FHIR bundle written to {out}")
