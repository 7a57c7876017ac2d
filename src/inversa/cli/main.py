"""`inversa`: simulate a session, validate the engine, run the demo, list parameters.

Bad input never shows a traceback: every error is one line on stderr and a non-zero exit
(2 for bad input, 1 for a failure while running).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from inversa import __version__
from inversa.body import LEVELS, Person, PersonError, Sex
from inversa.cli.cohort import cohort_app
from inversa.cli.common import (
    AgeOption,
    DatabaseOption,
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
from inversa.cli.outcomes import export_cmd, nof1_app, questionnaire_app, report_cmd, trends_cmd
from inversa.cli.records import db_app, log_app, patient_app, user_app
from inversa.cli.safety import limits_cmd, plan_cmd, screen_cmd
from inversa.exports.fhir import FhirError
from inversa.outcomes import QuestionnaireError
from inversa.outcomes.nof1 import Nof1Error
from inversa.parameters import ParameterError, available_parameter_sets, load_parameter_set
from inversa.protocol import STANDARD_SESSION_TEXT, Protocol, ProtocolError
from inversa.simulation import Result, SimulationError, simulate
from inversa.store import AccessDeniedError, ConflictError, NotFoundError, StoreError

app = typer.Typer(
    name="inversa",
    help="Inversion therapy understood, safe and measured: a physiology engine for a person on a table.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(patient_app, name="patient")
app.add_typer(log_app, name="log")
app.add_typer(questionnaire_app, name="questionnaire")
app.add_typer(nof1_app, name="nof1")
app.add_typer(cohort_app, name="cohort")
app.command("screen")(screen_cmd)
app.command("limits")(limits_cmd)
app.command("plan")(plan_cmd)
app.command("trends")(trends_cmd)
app.command("report")(report_cmd)
app.command("export")(export_cmd)
console = Console() if sys.stdout.isatty() else Console(width=140)
err_console = Console(stderr=True)


PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".html", ".htm")


def _plot_path(path: Path | None) -> Path | None:
    """Check the figure's file type before any work is done, so a typo loses nothing."""
    if path is not None and path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"--plot: {path} must end in one of {', '.join(PLOT_SUFFIXES)}")
    return path


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _protocol(text: str | None, file: Path | None) -> Protocol:
    if (text is None) == (file is None):
        raise InputError("give exactly one of --protocol TEXT or --protocol-file FILE")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--protocol-file: cannot read {file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InputError(f"--protocol-file: {file} is not UTF-8 text") from None
    assert text is not None
    try:
        return Protocol.parse(text)
    except ProtocolError as exc:
        raise InputError(f"--protocol: {exc}") from None


def _print_table(result: Result) -> None:
    p = result.people[0]
    console.print(
        f"[bold]Inversa {__version__}[/bold]: {p.sex.value}, {p.age_years:g} y, {p.height_cm:g} cm, "
        f"{p.mass_kg:g} kg, {p.hours_upright_h:g} h upright; "
        f"{result.time_s[-1] / 60:.1f} min simulated"
    )
    table = Table(title="Per step, at L4-L5 (force + traction / - compression)")
    has_circulation = "heart_rate_bpm" in result.series
    circulation_columns = (
        [("peak eye\npressure (mmHg)", "right"), ("heart rate\n(bpm)", "right"), ("mean BP\n(mmHg)", "right")]
        if has_circulation
        else []
    )
    for col, justify in (
        ("step", "left"),
        ("end angle\n(deg)", "right"),
        ("peak force\n(N)", "right"),
        ("disc change\n(mm)", "right"),
        ("pressure\n(MPa)", "right"),
        ("stature\nchange (mm)", "right"),
        ("activation\n(% MVC)", "right"),
        ("relaxation\n(%)", "right"),
        *circulation_columns,
    ):
        table.add_column(col, justify=justify, min_width=26 if col == "step" else None)  # type: ignore[arg-type]
    for r in result.step_table():
        table.add_row(
            r["step"],
            f"{r['end_angle_deg']:.0f}",
            f"{r['peak_traction_n']:.0f}",
            f"{r['end_disc_change_mm']:+.2f}",
            f"{r['end_pressure_mpa']:.2f}",
            f"{r['end_stature_change_mm']:+.2f}",
            f"{r['end_activation_pct_mvc']:.1f}",
            f"{r['end_relaxation_pct']:.0f}",
            *(
                [
                    f"{r['peak_iop_mmhg']:.0f}",
                    f"{r['end_heart_rate_bpm']:.0f}",
                    f"{r['end_mean_arterial_pressure_mmhg']:.0f}",
                ]
                if has_circulation
                else []
            ),
        )
    console.print(table)
    peak = result.series["traction_force_n"][0].max(axis=0)
    console.print(
        "Peak traction by level (N): "
        + ", ".join(f"{lvl} {v:.0f}" for lvl, v in zip(LEVELS, peak, strict=True))
    )
    console.print(
        "[dim]Model predictions, not a promise of relief: evidence that traction eases back pain is "
        "weak (Cochrane 2013). Sources: `--format json` lists every citation.[/dim]"
    )


@app.command("simulate")
def simulate_cmd(
    sex: SexOption,
    age: AgeOption,
    height_cm: HeightOption,
    mass_kg: MassOption,
    hours_upright: HoursOption = 8.0,
    protocol: Annotated[
        str | None, typer.Option("--protocol", help="protocol text, steps separated by ';'")
    ] = None,
    protocol_file: Annotated[
        Path | None, typer.Option("--protocol-file", help="file holding the protocol text")
    ] = None,
    resting_bp: RestingBpOption = None,
    resting_hr: RestingHrOption = None,
    resting_iop: RestingIopOption = None,
    mu: Annotated[float | None, typer.Option("--mu", help="bed friction coefficient (default 0.5)")] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="table, json or csv")
    ] = OutputFormat.table,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="write a figure: .png, .svg, .pdf, or .html for a report")
    ] = None,
    pulsatile: Annotated[
        bool,
        typer.Option(
            "--pulsatile", help="keep the within-beat trace (every 10 ms) under 'pulsatile' in JSON"
        ),
    ] = False,
) -> None:
    """Simulate one person on a tilt protocol: spine, back muscles and circulation."""
    person = person_from_options(
        sex, age, height_cm, mass_kg, hours_upright, resting_bp, resting_hr, resting_iop
    )
    proto = _protocol(protocol, protocol_file)
    plot = _plot_path(plot)
    overrides: dict[str, Any] = {}
    if mu is not None:
        if not (0.0 <= mu <= 2.0):
            raise InputError(f"--mu: bed friction coefficient must be between 0 and 2, got {mu:g}")
        overrides["bed_friction_coefficient"] = mu
    result = simulate(person, proto, overrides=overrides, pulsatile_trace=pulsatile)
    if output_format is OutputFormat.json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    elif output_format is OutputFormat.csv:
        sys.stdout.write(result.to_csv())
    else:
        _print_table(result)
    if plot is not None:
        from inversa.report import plot_result

        written = plot_result(result, plot)
        err_console.print(f"figure written to {written}")


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port", min=1, max=65535)] = 8000,
    database_url: DatabaseOption = None,
) -> None:
    """Run the web app: pages and the JSON API (/api/v1) on the record store."""
    from inversa.web import serve

    try:
        serve(host, port, database_url)
    except ValueError as exc:  # e.g. an INVERSA_SECRET_KEY that is too short
        raise InputError(str(exc)) from None


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="folder for the report")] = Path("out"),
) -> None:
    """Simulate the standard 60-degree session for a default adult; print and write a report."""
    from inversa.report import plot_result

    person = Person(sex=Sex.MALE, age_years=40, height_cm=175, mass_kg=75)
    proto = Protocol.parse(STANDARD_SESSION_TEXT)
    console.print("[bold]Standard 60-degree session[/bold]:")
    console.print(proto.to_text())
    result = simulate(person, proto)
    _print_table(result)
    out.mkdir(parents=True, exist_ok=True)
    html = plot_result(result, out / "demo_report.html")
    png = plot_result(result, out / "demo_session.png")
    (out / "demo_session.json").write_text(json.dumps(result.to_dict()), encoding="utf-8")
    (out / "demo_session.csv").write_text(result.to_csv(), encoding="utf-8")
    console.print(f"report: {html}  figure: {png}  data: {out / 'demo_session.json'}, .csv")


@app.command("validate")
def validate_cmd(
    report: Annotated[Path, typer.Option("--report", help="markdown report to regenerate")] = Path(
        "docs/validation.md"
    ),
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="table or json")
    ] = OutputFormat.table,
    no_report: Annotated[bool, typer.Option("--no-report", help="do not write the report")] = False,
) -> None:
    """Run every published validation row; print measured vs simulated and regenerate the report."""
    from inversa.validation import render_markdown, run_all

    outcomes = run_all()
    if output_format is OutputFormat.json:
        sys.stdout.write(json.dumps([o.as_dict() for o in outcomes], indent=1) + "\n")
    else:
        table = Table(title="Inversa validation: model vs published measurements")
        for col in ("id", "quantity", "measured", "simulated", "tolerance", "verdict"):
            table.add_column(col)
        for o in outcomes:
            verdict = "[green]pass[/green]" if o.passed else "[red]MISS[/red]"
            table.add_row(
                o.row.id,
                f"{o.row.quantity} ({o.row.unit})",
                f"{o.row.measured:g}",
                f"{o.simulated:.3g}",
                o.row.tolerance_text(),
                verdict,
            )
        console.print(table)
        n_pass = sum(o.passed for o in outcomes)
        console.print(f"{n_pass} of {len(outcomes)} rows within tolerance")
    if not no_report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(render_markdown(outcomes), encoding="utf-8")
        err_console.print(f"report written to {report}")


@app.command("parameters")
def parameters_cmd(
    name: Annotated[str | None, typer.Argument(help="parameter set; all when omitted")] = None,
) -> None:
    """List parameter values with their units and sources."""
    names = [name] if name else available_parameter_sets()
    for n in names:
        try:
            pset = load_parameter_set(n)
        except ParameterError as exc:
            raise InputError(str(exc)) from None
        table = Table(title=f"{n}: {pset.description}")
        for col in ("key", "value", "unit", "range", "source"):
            table.add_column(col)
        for p in pset.parameters.values():
            rng = "" if p.low is None else f"{p.low:g}-{p.high:g}"
            table.add_row(p.key, f"{p.value:g}", p.unit, rng, p.source)
        console.print(table)


@app.command("version")
def version_cmd() -> None:
    """Print the Inversa version."""
    console.print(__version__)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every input error into one line and an exit status."""
    try:
        app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("error: aborted\n")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown option, bad number, missing value
        message = exc.format_message()
        if message:  # empty when the help was shown because no command was given
            sys.stderr.write(f"error: {message}\n")
        sys.exit(2)
    except (InputError, PersonError, ProtocolError, SimulationError, ParameterError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except (QuestionnaireError, Nof1Error) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except (NotFoundError, ConflictError, AccessDeniedError) as exc:
        sys.stderr.write(f"error: {exc.args[0] if exc.args else exc}\n")
        sys.exit(2)
    except (StoreError, FhirError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    except SQLAlchemyError as exc:  # locked or unreachable database: one line, nothing half-written
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        sys.stderr.write(f"error: database: {exc.__class__.__name__}: {detail}\n")
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:
        sys.stderr.write(f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}\n")
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
