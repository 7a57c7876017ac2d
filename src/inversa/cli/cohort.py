"""`inversa cohort`: sample a virtual cohort, run it on a protocol, report margins, and sensitivity.

Bad input raises InputError (one line, exit status 2 from the main entry point); a cluster that
cannot be started or reached is exit status 1. Results live in the --out folder: a manifest,
Parquet part files (one per chunk) and JSON summaries, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from inversa.cli.common import InputError

if TYPE_CHECKING:
    from inversa.cohort.executor import DaskExecutor, SerialExecutor
    from inversa.cohort.run import ChunkReport, Scenario
    from inversa.cohort.spec import CohortSpec

__all__ = ["cohort_app"]

cohort_app = typer.Typer(
    help="Virtual cohorts: sample people, run them on a protocol, report safety margins and sensitivity.",
    no_args_is_help=True,
)
console = Console() if sys.stdout.isatty() else Console(width=140)
err_console = Console(stderr=True)

SpecArg = Annotated[
    str, typer.Argument(help="cohort spec, YAML or JSON (or the word 'default')", show_default=False)
]
OutOpt = Annotated[Path, typer.Option("--out", help="output folder", show_default=False)]
SeedOpt = Annotated[int | None, typer.Option("--seed", min=0, help="override sampling.seed")]
SizeOpt = Annotated[int | None, typer.Option("--size", min=1, help="override sampling.size (people)")]
MethodOpt = Annotated[str | None, typer.Option("--method", help="override sampling.method: sobol or lhs")]
ChunkOpt = Annotated[int | None, typer.Option("--chunk-size", min=1, help="override sampling.chunk_size")]
ProtocolOpt = Annotated[
    str | None, typer.Option("--protocol", help="protocol text; {angle} marks the angle of an --angles sweep")
]
ProtocolFileOpt = Annotated[
    Path | None, typer.Option("--protocol-file", help="file holding the protocol text")
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", min=0, help="local Dask workers (default: one per core); 0 runs in this process"
    ),
]
SchedulerOpt = Annotated[
    str | None, typer.Option("--scheduler", help="existing Dask scheduler, e.g. tcp://HOST:8786")
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="replace a different run in --out")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="progress bar on the terminal")]

_SCHEDULER = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


def _spec(
    source: str,
    seed: int | None = None,
    size: int | None = None,
    method: str | None = None,
    chunk_size: int | None = None,
) -> CohortSpec:
    from inversa.cohort.spec import SpecError, load_spec, validate_spec

    if method is not None and method not in ("sobol", "lhs"):
        raise InputError(f"--method: must be sobol or lhs, got {method!r}")
    try:
        spec = load_spec(source)
        changes = {
            k: v
            for k, v in {"seed": seed, "size": size, "method": method, "chunk_size": chunk_size}.items()
            if v is not None
        }
        if changes:
            data = spec.model_dump(mode="json", exclude_none=True)
            data["sampling"].update(changes)
            spec = validate_spec(data)
    except SpecError as exc:
        if exc.field == "spec":
            raise InputError(f"SPEC: {exc.detail}") from None
        raise InputError(f"{source}: {exc}") from None
    return spec


def _protocol_text(protocol: str | None, protocol_file: Path | None) -> str:
    if (protocol is None) == (protocol_file is None):
        raise InputError("give exactly one of --protocol TEXT or --protocol-file FILE")
    if protocol_file is not None:
        try:
            return protocol_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--protocol-file: cannot read {protocol_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InputError(f"--protocol-file: {protocol_file} is not UTF-8 text") from None
    assert protocol is not None
    return protocol


def _angles(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(a) for a in text.replace(" ", "").split(",") if a]
    except ValueError:
        raise InputError(
            f"--angles: expected numbers separated by commas, e.g. 15,30,45; got {text!r}"
        ) from None
    if not values:
        raise InputError("--angles: give at least one angle")
    return values


def _scenarios(protocol: str, angles: list[float] | None) -> list[Scenario]:
    from inversa.cohort.run import RunError, make_scenarios
    from inversa.protocol import ProtocolError

    try:
        return make_scenarios(protocol, angles)
    except ProtocolError as exc:
        raise InputError(f"--protocol: {exc}") from None
    except RunError as exc:
        raise InputError(str(exc)) from None


def _executor(workers: int | None, scheduler: str | None) -> SerialExecutor | DaskExecutor:
    from inversa.cohort.executor import ExecutorError, make_executor

    if workers is not None and scheduler is not None:
        raise InputError("--workers and --scheduler: give one or the other")
    if scheduler is not None and not _SCHEDULER.match(scheduler):
        raise InputError(f"--scheduler: expected an address like tcp://HOST:8786, got {scheduler!r}")
    try:
        return make_executor(workers, scheduler)
    except ExecutorError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None


@contextmanager
def _progress(
    enabled: bool, what: str
) -> Iterator[tuple[Callable[[int, int], None], Callable[[ChunkReport], None]]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    show = enabled and err_console.is_terminal
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not show,
    ) as bar:
        task = bar.add_task(what, total=None)

        def on_start(total: int, done: int) -> None:
            bar.update(task, total=total, completed=done)

        def on_chunk(report: ChunkReport) -> None:
            bar.advance(task)

        yield on_start, on_chunk


def _counts_table(counts: dict[str, dict[str, int]], title: str) -> Table:
    from inversa.cohort.run import STATUSES

    table = Table(title=title)
    table.add_column("scenario")
    for s in STATUSES:
        table.add_column(s, justify="right")
    for label, c in counts.items():
        table.add_row(label, *(str(c.get(s, 0)) for s in STATUSES))
    return table


def _run(
    kind: Literal["cohort", "sensitivity"],
    spec: CohortSpec,
    scenarios: list[Scenario],
    out: Path,
    workers: int | None,
    scheduler: str | None,
    overwrite: bool,
    progress: bool,
    source: Any = None,
    extra: dict[str, Any] | None = None,
) -> Any:
    from inversa.cohort.run import RunError, run_source
    from inversa.cohort.sampling import CohortSampler

    executor = _executor(workers, scheduler)
    try:
        with executor, _progress(progress, "chunks") as (on_start, on_chunk):
            return run_source(
                source if source is not None else CohortSampler(spec),
                spec,
                scenarios,
                out,
                executor=executor,
                overwrite=overwrite,
                kind=kind,
                extra=extra,
                on_start=on_start,
                on_chunk=on_chunk,
            )
    except RunError as exc:
        raise InputError(str(exc)) from None


@cohort_app.command("sample")
def sample_cmd(
    spec: SpecArg,
    out: OutOpt,
    seed: SeedOpt = None,
    size: SizeOpt = None,
    method: MethodOpt = None,
    chunk_size: ChunkOpt = None,
) -> None:
    """Sample the cohort to DIR/sample.parquet (reproducible: same spec and seed, same people)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from inversa.cohort.sampling import write_sample

    cohort = _spec(spec, seed, size, method, chunk_size)
    path = write_sample(cohort, out)
    table = pq.read_table(path)
    summary = Table(
        title=f"{cohort.name}: {table.num_rows} people "
        f"({cohort.sampling.method}, seed {cohort.sampling.seed})"
    )
    for col in ("variable", "mean / shares", "sd", "min", "max"):
        summary.add_column(col)
    for name in cohort.variables:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            values = col.to_pylist()
            shares = {v: values.count(v) / len(values) for v in sorted(set(values))}
            summary.add_row(name, ", ".join(f"{k} {v:.1%}" for k, v in shares.items()), "", "", "")
        else:
            v = np.asarray(col.to_numpy(zero_copy_only=False), dtype=float)
            summary.add_row(name, f"{v.mean():.4g}", f"{v.std():.3g}", f"{v.min():.4g}", f"{v.max():.4g}")
    console.print(summary)
    console.print(f"sample written to {path}")


@cohort_app.command("run")
def run_cmd(
    spec: SpecArg,
    out: OutOpt,
    protocol: ProtocolOpt = None,
    protocol_file: ProtocolFileOpt = None,
    angles: Annotated[
        str | None, typer.Option("--angles", help="run the protocol at each angle, e.g. 15,30,45,60,90")
    ] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    seed: SeedOpt = None,
    size: SizeOpt = None,
    method: MethodOpt = None,
    chunk_size: ChunkOpt = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Run every person of the cohort on the protocol; results stream to DIR/parts/*.parquet."""
    cohort = _spec(spec, seed, size, method, chunk_size)
    scenarios = _scenarios(_protocol_text(protocol, protocol_file), _angles(angles))
    summary = _run("cohort", cohort, scenarios, out, workers, scheduler, overwrite, progress)
    console.print(_counts_table(summary.counts_by_scenario, f"{cohort.name}: status per scenario"))
    if summary.missing_series:
        console.print(f"series not produced by this engine: {', '.join(summary.missing_series)}")
    rate = summary.simulated_min / summary.cpu_s if summary.cpu_s > 0 else float("nan")
    console.print(
        f"{summary.n_chunks - summary.skipped_chunks} chunks run, {summary.skipped_chunks} already done; "
        f"{summary.simulated_min:,.0f} patient-min in {summary.wall_s:.1f} s wall "
        f"({rate:,.0f} patient-min per CPU-s); {summary.executor}"
    )
    console.print(f"results in {out} (report: inversa cohort report {out})")


@cohort_app.command("report")
def report_cmd(
    directory: Annotated[Path, typer.Argument(help="folder of a cohort run", show_default=False)],
    limit: Annotated[
        list[str] | None,
        typer.Option(
            "--limit", help="safe condition 'SERIES__STAT <= VALUE' (repeatable; replaces the defaults)"
        ),
    ] = None,
    max_share: Annotated[
        float, typer.Option("--max-share", min=0.0, max=1.0, help="largest tolerated share outside a limit")
    ] = 0.05,
    age_bands: Annotated[str, typer.Option("--age-bands", help="age band edges in years")] = "18,40,60",
    point: Annotated[
        bool,
        typer.Option("--point-estimate", help="judge the safe angle by the share, not its upper 95% bound"),
    ] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="report file (default DIR/report.html)")
    ] = None,
) -> None:
    """Safety margins by subgroup, the largest safe angle, sensitivity; writes an HTML report."""
    from inversa.cohort.analysis import DEFAULT_LIMITS, Limit, largest_safe_angles
    from inversa.cohort.report import build_report
    from inversa.cohort.run import RunError

    try:
        limits = [Limit.parse(t) for t in limit] if limit else list(DEFAULT_LIMITS)
    except ValueError as exc:
        raise InputError(f"--limit: {exc}") from None
    try:
        edges = [float(e) for e in age_bands.split(",") if e.strip()]
    except ValueError:
        raise InputError(f"--age-bands: expected numbers separated by commas, got {age_bands!r}") from None
    if not edges or edges != sorted(set(edges)):
        raise InputError("--age-bands: give increasing ages, e.g. 18,40,60")
    if out_file is not None and out_file.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out: {out_file} must end in .html")
    try:
        report = build_report(directory, limits=limits, max_share=max_share, age_edges=edges, path=out_file)
    except RunError as exc:
        raise InputError(f"DIR: {exc}") from None
    console.print(_counts_table(report.counts_by_scenario, "status per scenario"))
    for note in report.margins.notes():
        console.print(note, markup=False)
    table = Table(title="Share outside any limit (all people), 95% Wilson interval")
    for col in ("scenario", "n", "outside", "share", "95% interval"):
        table.add_column(col)
    for r in report.margins.rows:
        if r.limit == "any" and r.group == "all":
            table.add_row(
                r.scenario, str(r.n), str(r.n_exceed), f"{r.share:.1%}", f"{r.ci_low:.1%}-{r.ci_high:.1%}"
            )
    if table.row_count:
        console.print(table)
    safe = (
        report.safe_angles
        if not point
        else largest_safe_angles(report.margins, max_share, conservative=False)
    )
    if safe:
        st = Table(title=f"Largest safe angle ({safe[0].basis})")
        for col in ("group", "subgroup", "angle (deg)", "note"):
            st.add_column(col)
        for a in safe:
            st.add_row(a.group, a.subgroup, "none" if a.angle_deg is None else f"{a.angle_deg:g}", a.note)
        console.print(st)
    console.print(f"report written to {report.path}")


@cohort_app.command("sensitivity")
def sensitivity_cmd(
    spec: SpecArg,
    out: OutOpt,
    protocol: ProtocolOpt = None,
    protocol_file: ProtocolFileOpt = None,
    variable: Annotated[
        list[str] | None,
        typer.Option("--variable", help="input to vary (repeatable; default: every free variable)"),
    ] = None,
    output: Annotated[
        list[str] | None,
        typer.Option("--output", help="output column (repeatable; default: every *__max column)"),
    ] = None,
    n: Annotated[
        int, typer.Option("--n", min=2, help="base sample size N (a power of 2); N x (d + 2) runs")
    ] = 256,
    seed: SeedOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Global sensitivity: Sobol' indices (SALib) of chosen outputs over chosen inputs, with 95% CIs."""
    from dataclasses import asdict

    from inversa.cohort.analysis import SaltelliSource, SensitivityError, sobol_indices
    from inversa.cohort.run import open_results
    from inversa.cohort.sampling import CohortSampler

    cohort = _spec(spec, seed)
    scenarios = _scenarios(_protocol_text(protocol, protocol_file), None)
    chosen = list(variable) if variable else list(CohortSampler(cohort).free)
    try:
        source = SaltelliSource(cohort, chosen, n, cohort.sampling.seed)
    except SensitivityError as exc:
        raise InputError(str(exc)) from None
    _run(
        "sensitivity",
        cohort,
        scenarios,
        out,
        workers,
        scheduler,
        overwrite,
        progress,
        source,
        {"sensitivity": source.describe()},
    )
    names = open_results(out).schema.names
    outputs = list(output) if output else [c for c in names if c.endswith("__max")]
    unknown = [o for o in outputs if o not in names]
    from inversa.cohort.run import read_results

    table = read_results(out, columns=["person_id", *[o for o in outputs if o in names]])
    results = sobol_indices(table, chosen, outputs, seed=cohort.sampling.seed)
    doc = {
        "variables": chosen,
        "n_base": n,
        "seed": cohort.sampling.seed,
        "results": [asdict(r) for r in results],
    }
    (out / "sensitivity.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    for r in results:
        if not r.available:
            console.print(f"{r.output}: {r.note}", markup=False)
            continue
        t = Table(title=f"Sobol' indices of {r.output} (95% half-widths)")
        for col in ("variable", "S1", "+/-", "ST", "+/-"):
            t.add_column(col)
        for v in sorted(r.st, key=lambda k: -r.st[k]):
            t.add_row(v, f"{r.s1[v]:.3f}", f"{r.s1_conf[v]:.3f}", f"{r.st[v]:.3f}", f"{r.st_conf[v]:.3f}")
        console.print(t)
    if unknown:
        console.print(f"not in this run's outputs: {', '.join(unknown)}", markup=False)
    console.print(f"indices written to {out / 'sensitivity.json'} (report: inversa cohort report {out})")


@cohort_app.command("default-spec")
def default_spec_cmd(
    out: Annotated[Path | None, typer.Option("--out", help="write to this file instead of stdout")] = None,
) -> None:
    """Print the default adult cohort spec (YAML) with its sources, as a starting point."""
    from inversa.cohort.spec import default_spec_data, spec_to_yaml

    text = spec_to_yaml(default_spec_data())
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        err_console.print(f"spec written to {out}")
