"""Run a cohort: evaluate every chunk of people, write one Parquet part file per chunk, resume.

The evaluator is any picklable top-level function ``(chunk, context) -> ChunkOutput``; the default,
``engine_evaluator``, turns sampled rows into ``Person`` objects and parameter overrides, runs
``simulate`` and reduces each series to per-person columns ``<series>__<stat>`` (level series as
``<series>[<level>]__<stat>``). Failures never stop a run: each person gets a status code and reason.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from inversa.body import LEVELS
from inversa.cohort.executor import SerialExecutor
from inversa.cohort.sampling import CohortSampler, SampleChunk, SampleSource, n_chunks
from inversa.cohort.spec import Catalog, CohortSpec, OutputSettings, SimulationSettings, spec_hash

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads

    from inversa.cohort.executor import Executor
    from inversa.protocol import Protocol

__all__ = [
    "INVALID_PERSON",
    "NON_FINITE_OUTPUT",
    "OK",
    "SIMULATION_FAILED",
    "STATUSES",
    "ChunkOutput",
    "ChunkReport",
    "ChunkTask",
    "EvalContext",
    "Evaluator",
    "RunError",
    "RunSummary",
    "Scenario",
    "engine_evaluator",
    "make_scenarios",
    "open_results",
    "read_manifest",
    "read_results",
    "run_chunk",
    "run_cohort",
    "run_source",
    "summarise_series",
]

OK = "ok"
INVALID_PERSON = "invalid_person"
SIMULATION_FAILED = "simulation_failed"
NON_FINITE_OUTPUT = "non_finite_output"
STATUSES: tuple[str, ...] = (OK, INVALID_PERSON, SIMULATION_FAILED, NON_FINITE_OUTPUT)

#: Columns every part file starts with; sampled variables and outputs follow.
KEY_COLUMNS: tuple[str, ...] = ("person_id", "scenario", "angle_deg", "status", "reason")
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
PARTS = "parts"
FORMAT_VERSION = 1
ANGLE_PLACEHOLDER = "{angle}"
#: Series left out of the default outputs: the same for everybody.
_NOT_PERSONAL = frozenset({"angle_deg"})
_MAX_REASON = 500


class RunError(ValueError):
    """A run that cannot start or go on (bad options, a different run in the folder)."""


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    """One protocol every person runs; ``angle_deg`` is set for an angle sweep."""

    label: str
    protocol: str
    angle_deg: float | None = None


def _canonical(text: str) -> str:
    from inversa.protocol import Protocol

    return Protocol.parse(text).to_text()


def make_scenarios(protocol: str, angles: Sequence[float] | None = None) -> list[Scenario]:
    """One scenario for a protocol, or one per angle when the protocol holds ``{angle}``.

    Raises ProtocolError (naming the step) for bad protocol text, RunError for bad angles.
    """
    if not angles:
        if ANGLE_PLACEHOLDER in protocol:
            raise RunError("--protocol: it holds {angle}: give the angles with --angles")
        return [Scenario("protocol", _canonical(protocol))]
    if ANGLE_PLACEHOLDER not in protocol:
        raise RunError("--angles: the protocol must hold {angle} where each angle goes")
    if len(set(angles)) != len(angles):
        raise RunError("--angles: each angle once")
    out = []
    for a in sorted(angles):
        if not -90.0 <= a <= 90.0:
            raise RunError(f"--angles: {a:g} deg is outside the table's range [-90, 90]")
        out.append(
            Scenario(f"angle={a:g}", _canonical(protocol.replace(ANGLE_PLACEHOLDER, f"{a:g}")), float(a))
        )
    return out


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalContext:
    """What an evaluator needs besides the sample: the scenario and the run's settings.

    ``person_fields`` are the sampled variables the model's Person takes, ``parameters`` those
    passed as per-person parameter overrides; other sampled variables are covariates (stored only).
    """

    scenario: Scenario
    person_fields: tuple[str, ...]
    parameters: tuple[str, ...]
    simulation: SimulationSettings
    outputs: OutputSettings


@dataclass
class ChunkOutput:
    """An evaluator's answer for one chunk and scenario: per-person output columns (NaN where a person
    has no result), optional per-person status and reason, and the patient-time simulated."""

    columns: dict[str, NDArray[np.float64]]
    status: list[str] | None = None
    reason: list[str] | None = None
    simulated_s: float = 0.0
    missing: tuple[str, ...] = ()


Evaluator = Callable[[SampleChunk, EvalContext], ChunkOutput]


def summarise_series(
    series: Mapping[str, NDArray[np.float64]], outputs: OutputSettings
) -> tuple[dict[str, NDArray[np.float64]], tuple[str, ...]]:
    """Reduce [people, time] or [people, time, level] series to per-person columns.

    Returns the columns and the requested series that were not there.
    """
    wanted = outputs.series if outputs.series is not None else [s for s in series if s not in _NOT_PERSONAL]
    missing = tuple(s for s in wanted if s not in series)
    cols: dict[str, NDArray[np.float64]] = {}
    for name in wanted:
        if name not in series:
            continue
        data = np.asarray(series[name], dtype=float)
        blocks: list[tuple[str, NDArray[np.float64]]] = []
        if data.ndim == 3 and data.shape[2] == len(LEVELS):
            blocks = [(f"{name}[{lvl}]", data[:, :, LEVELS.index(lvl)]) for lvl in outputs.levels]
        elif data.ndim == 2:
            blocks = [(name, data)]
        for prefix, block in blocks:
            for stat in outputs.stats:
                if stat == "max":
                    v = block.max(axis=1)
                elif stat == "min":
                    v = block.min(axis=1)
                elif stat == "end":
                    v = block[:, -1]
                elif stat == "start":
                    v = block[:, 0]
                else:
                    v = block.mean(axis=1)
                cols[f"{prefix}__{stat}"] = np.ascontiguousarray(v, dtype=float)
    return cols, missing


@lru_cache(maxsize=32)
def _protocol(text: str) -> Protocol:
    from inversa.protocol import Protocol

    return Protocol.parse(text)


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def engine_evaluator(chunk: SampleChunk, ctx: EvalContext) -> ChunkOutput:
    """The real engine: Person per row (invalid ones marked), overrides per row, one ``simulate``."""
    from inversa.body import Person, PersonError
    from inversa.simulation import simulate

    n = len(chunk)
    status = [OK] * n
    reason = [""] * n
    people: list[Person] = []
    keep: list[int] = []
    for i in range(n):
        fields = {f: _py(chunk.columns[f][i]) for f in ctx.person_fields}
        try:
            people.append(Person.create(**fields))
            keep.append(i)
        except PersonError as exc:
            status[i] = INVALID_PERSON
            reason[i] = str(exc)
    if not people:
        return ChunkOutput({}, status, reason)
    idx = np.asarray(keep, dtype=np.intp)
    overrides = {p: np.asarray(chunk.columns[p][idx], dtype=float) for p in ctx.parameters}
    protocol = _protocol(ctx.scenario.protocol)
    sim = ctx.simulation
    options: dict[str, Any] = dict(sim.options)  # checked against simulate's signature by the spec
    result = simulate(
        people,
        protocol,
        overrides=overrides,
        dt_s=sim.dt_s,
        record_interval_s=sim.record_interval_s,
        method=sim.method,
        circulation_model=sim.circulation_model,
        chunk_size=max(1, len(people)),
        **{"on_error": "mark", **options},
    )
    for k, why in result.failures.items():  # the others in the batch keep their results
        status[keep[k]] = SIMULATION_FAILED
        reason[keep[k]] = why[:_MAX_REASON]
    summary, missing = summarise_series(result.series, ctx.outputs)
    columns: dict[str, NDArray[np.float64]] = {}
    for name, values in summary.items():
        full = np.full(n, np.nan)
        full[idx] = values
        columns[name] = full
    duration = protocol.timeline().duration_s
    return ChunkOutput(columns, status, reason, simulated_s=duration * len(people), missing=missing)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text[:_MAX_REASON]


def _check_output(out: ChunkOutput, n: int) -> None:
    for name, values in out.columns.items():
        if np.shape(values) != (n,):
            raise ValueError(f"evaluator column {name!r} has shape {np.shape(values)}, expected ({n},)")
    for label, seq in (("status", out.status), ("reason", out.reason)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"evaluator {label} has {len(seq)} entries for {n} people")
    if out.status is not None:
        bad = sorted(set(out.status) - set(STATUSES))
        if bad:
            raise ValueError(f"evaluator returned unknown status {bad[0]!r}")


def _merge(a: ChunkOutput, na: int, b: ChunkOutput, nb: int) -> ChunkOutput:
    names = list(dict.fromkeys([*a.columns, *b.columns]))
    columns = {
        k: np.concatenate([a.columns.get(k, np.full(na, np.nan)), b.columns.get(k, np.full(nb, np.nan))])
        for k in names
    }
    return ChunkOutput(
        columns,
        (a.status or [OK] * na) + (b.status or [OK] * nb),
        (a.reason or [""] * na) + (b.reason or [""] * nb),
        a.simulated_s + b.simulated_s,
        tuple(dict.fromkeys([*a.missing, *b.missing])),
    )


def _evaluate(evaluator: Evaluator, chunk: SampleChunk, ctx: EvalContext) -> ChunkOutput:
    out = evaluator(chunk, ctx)
    _check_output(out, len(chunk))
    return out


def evaluate_robust(evaluator: Evaluator, chunk: SampleChunk, ctx: EvalContext) -> ChunkOutput:
    """Evaluate a chunk; when it raises, evaluate its people one by one, so only those who fail are
    marked ``simulation_failed`` (with the exception as reason) and everyone else keeps a result.

    One by one rather than by halving: the engine's cost is per person (a batch that fails has run
    to its end), so a failing chunk costs at most twice its normal time.
    """
    try:
        return _evaluate(evaluator, chunk, ctx)
    except Exception as exc:
        n = len(chunk)
        if n <= 1:
            return ChunkOutput({}, [SIMULATION_FAILED] * n, [_describe(exc)] * n)
    merged = ChunkOutput({}, [], [])
    for i in range(n):
        one = chunk.take(slice(i, i + 1))
        try:
            out = _evaluate(evaluator, one, ctx)
        except Exception as exc:
            out = ChunkOutput({}, [SIMULATION_FAILED], [_describe(exc)])
        merged = _merge(merged, i, out, 1)
    return merged


# --------------------------------------------------------------------------- chunk task


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs for one chunk; it writes ``parts_dir/part-<index>.parquet``."""

    chunk: SampleChunk
    scenarios: tuple[Scenario, ...]
    person_fields: tuple[str, ...]
    parameters: tuple[str, ...]
    simulation: SimulationSettings
    outputs: OutputSettings
    evaluator: Evaluator
    parts_dir: str


@dataclass(frozen=True)
class ChunkReport:
    """What came back from one chunk: counts and costs (the rows themselves are on disk)."""

    index: int
    people: int
    rows: int
    counts: dict[str, int]
    simulated_min: float
    cpu_s: float
    wall_s: float
    peak_rss_mib: float
    missing_series: tuple[str, ...] = ()
    failure_reasons: tuple[str, ...] = ()


def part_name(index: int) -> str:
    """File name of chunk ``index``'s part file."""
    return f"part-{index:05d}.parquet"


def _table(
    chunk: SampleChunk, scenario: Scenario, out: ChunkOutput, outputs_first: Sequence[str]
) -> tuple[pa.Table, list[str], list[str]]:
    import pyarrow as pa

    n = len(chunk)
    status = list(out.status or [OK] * n)
    reason = list(out.reason or [""] * n)
    names = list(dict.fromkeys([*outputs_first, *out.columns]))
    values = {k: np.asarray(out.columns[k], dtype=float) for k in names if k in out.columns}
    for i in range(n):
        if status[i] != OK:
            continue
        bad = [k for k, v in values.items() if not np.isfinite(v[i])]
        if bad:
            status[i] = NON_FINITE_OUTPUT
            reason[i] = ("non-finite output: " + ", ".join(bad[:5]))[:_MAX_REASON]
    ok = np.array([s == OK for s in status], dtype=bool)
    arrays: dict[str, Any] = {
        "person_id": pa.array(chunk.ids, pa.int64()),
        "scenario": pa.array([scenario.label] * n, pa.string()),
        "angle_deg": pa.array([scenario.angle_deg] * n, pa.float64()),
        "status": pa.array(status, pa.string()),
        "reason": pa.array(reason, pa.string()),
    }
    for name, col in chunk.columns.items():
        arrays[name] = pa.array(col)
    for name, v in values.items():
        arrays[name] = pa.array(v, pa.float64(), mask=~ok)
    return pa.table(arrays), status, reason


def _write_atomic(table: pa.Table, final: Path) -> None:
    import pyarrow.parquet as pq

    tmp = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, str(tmp))
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def run_chunk(task: ChunkTask) -> ChunkReport:
    """Evaluate one chunk for every scenario and write its part file (atomically)."""
    import pyarrow as pa

    c0, w0 = time.process_time(), time.perf_counter()
    tables: list[pa.Table] = []
    counts: Counter[str] = Counter()
    failures: dict[str, None] = {}
    missing: dict[str, None] = {}
    simulated_s = 0.0
    names: list[str] = []
    for scenario in task.scenarios:
        ctx = EvalContext(scenario, task.person_fields, task.parameters, task.simulation, task.outputs)
        out = evaluate_robust(task.evaluator, task.chunk, ctx)
        table, status, reason = _table(task.chunk, scenario, out, names)
        names = list(dict.fromkeys([*names, *out.columns]))
        tables.append(table)
        counts.update(status)
        for s, r in zip(status, reason, strict=True):
            if s == SIMULATION_FAILED and len(failures) < 3:
                failures.setdefault(r, None)
        missing.update(dict.fromkeys(out.missing))
        simulated_s += out.simulated_s
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    _write_atomic(table, Path(task.parts_dir) / part_name(task.chunk.index))
    return ChunkReport(
        index=task.chunk.index,
        people=len(task.chunk),
        rows=table.num_rows,
        counts=dict(counts),
        simulated_min=simulated_s / 60.0,
        cpu_s=time.process_time() - c0,
        wall_s=time.perf_counter() - w0,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        missing_series=tuple(missing),
        failure_reasons=tuple(failures),
    )


# --------------------------------------------------------------------------- the run


@dataclass
class RunSummary:
    """A finished run: status counts over the whole folder, and this session's costs."""

    out_dir: Path
    n_chunks: int
    skipped_chunks: int
    counts: dict[str, int]
    counts_by_scenario: dict[str, dict[str, int]]
    simulated_min: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_worker_rss_mib: float = 0.0
    missing_series: list[str] = field(default_factory=list)
    executor: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "n_chunks": self.n_chunks,
            "skipped_chunks": self.skipped_chunks,
            "counts": self.counts,
            "counts_by_scenario": self.counts_by_scenario,
            "simulated_min": self.simulated_min,
            "cpu_s": self.cpu_s,
            "wall_s": self.wall_s,
            "peak_worker_rss_mib": self.peak_worker_rss_mib,
            "missing_series": self.missing_series,
            "executor": self.executor,
        }


def _evaluator_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _versions() -> dict[str, str]:
    import scipy

    from inversa import __version__

    return {"inversa": __version__, "numpy": np.__version__, "scipy": scipy.__version__}


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    """The run's manifest, or RunError when the folder holds no run."""
    path = Path(out_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{out_dir}: no cohort run here ({MANIFEST} is missing)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: cannot read the manifest: {exc}") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: the manifest is not a JSON object")
    return data


_IGNORED_IN_COMPARISON = frozenset({"created_utc"})


def _prepare(out: Path, manifest: dict[str, Any], overwrite: bool) -> None:
    parts = out / PARTS
    path = out / MANIFEST
    if path.exists():
        old = read_manifest(out)
        keys = sorted(
            k
            for k in set(old) | set(manifest)
            if k not in _IGNORED_IN_COMPARISON and old.get(k) != manifest.get(k)
        )
        if keys and not overwrite:
            raise RunError(
                f"--out: {out} holds a different run (differs in: {', '.join(keys)}); "
                "use --overwrite to replace it, or another folder"
            )
        if keys:
            shutil.rmtree(parts, ignore_errors=True)
            for name in (SUMMARY, "sensitivity.json"):
                (out / name).unlink(missing_ok=True)
        else:
            return
    elif parts.exists() and any(parts.iterdir()):
        if not overwrite:
            raise RunError(f"--out: {parts} holds files but no {MANIFEST}; use --overwrite or another folder")
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps({**manifest, "created_utc": datetime.now(UTC).isoformat()}, indent=1))
    os.replace(tmp, path)


def run_source(
    source: SampleSource,
    spec: CohortSpec,
    scenarios: Sequence[Scenario],
    out_dir: str | Path,
    *,
    executor: Executor | None = None,
    evaluator: Evaluator = engine_evaluator,
    catalog: Catalog | None = None,
    overwrite: bool = False,
    kind: str = "cohort",
    extra: Mapping[str, Any] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_chunk: Callable[[ChunkReport], None] | None = None,
) -> RunSummary:
    """Evaluate every chunk of ``source`` not yet on disk in ``out_dir`` and summarise the folder."""
    if not scenarios:
        raise RunError("at least one scenario (protocol) is needed")
    if catalog is None:
        from inversa.cohort.spec import engine_catalog

        catalog = engine_catalog()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    person_fields = tuple(v for v in spec.person if v in catalog.person_fields)
    parameters = tuple(spec.parameters)
    total = n_chunks(source.n_rows, source.chunk_size)
    manifest: dict[str, Any] = json.loads(
        json.dumps(
            {
                "format": FORMAT_VERSION,
                "kind": kind,
                "spec_hash": spec_hash(spec),
                "spec": spec.model_dump(mode="json"),
                "source": source.describe(),
                "n_rows": source.n_rows,
                "chunk_size": source.chunk_size,
                "n_chunks": total,
                "scenarios": [
                    {"label": s.label, "protocol": s.protocol, "angle_deg": s.angle_deg} for s in scenarios
                ],
                "evaluator": _evaluator_name(evaluator),
                "person_fields": list(person_fields),
                "parameters": list(parameters),
                "versions": _versions(),
                **dict(extra or {}),
            }
        )
    )
    _prepare(out, manifest, overwrite)
    parts = out / PARTS
    for stale in parts.glob(".*.tmp"):
        stale.unlink(missing_ok=True)
    done = {k for k in range(total) if (parts / part_name(k)).exists()}
    if on_start is not None:
        on_start(total, len(done))
    tasks = (
        ChunkTask(
            chunk,
            tuple(scenarios),
            person_fields,
            parameters,
            spec.simulation,
            spec.outputs,
            evaluator,
            str(parts),
        )
        for chunk in source.iter_chunks(skip=done)
    )
    own = executor is None
    ex: Executor = executor if executor is not None else SerialExecutor()
    w0 = time.perf_counter()
    summary = RunSummary(out, total, len(done), {}, {}, executor=ex.describe())
    missing: dict[str, None] = {}
    first = True
    reports = ex.map_chunks(run_chunk, tasks)
    try:
        for report in reports:
            everyone_failed = report.counts.get(SIMULATION_FAILED, 0) == report.rows
            if first and report.people >= 2 and everyone_failed and len(report.failure_reasons) == 1:
                # one reason for everybody is a setup fault, not a person: stop and keep nothing
                (parts / part_name(report.index)).unlink(missing_ok=True)
                raise RunError(f"every person of the first chunk failed: {report.failure_reasons[0]}")
            first = False
            summary.simulated_min += report.simulated_min
            summary.cpu_s += report.cpu_s
            summary.peak_worker_rss_mib = max(summary.peak_worker_rss_mib, report.peak_rss_mib)
            missing.update(dict.fromkeys(report.missing_series))
            if on_chunk is not None:
                on_chunk(report)
    finally:
        close = getattr(reports, "close", None)
        if close is not None:
            close()  # cancels chunks still in flight
        if own:
            ex.close()
    summary.wall_s = time.perf_counter() - w0
    summary.missing_series = list(missing)
    status = read_results(out, columns=["scenario", "status"])
    scen = status.column("scenario").to_pylist()
    stat = status.column("status").to_pylist()
    summary.counts = dict(Counter(stat))
    by: dict[str, Counter[str]] = {}
    for sc, st in zip(scen, stat, strict=True):
        by.setdefault(sc, Counter())[st] += 1
    summary.counts_by_scenario = {k: dict(v) for k, v in by.items()}
    tmp = out / f".{SUMMARY}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps(summary.as_dict(), indent=1), encoding="utf-8")
    os.replace(tmp, out / SUMMARY)
    return summary


def run_cohort(
    spec: CohortSpec,
    scenarios: Sequence[Scenario],
    out_dir: str | Path,
    *,
    executor: Executor | None = None,
    evaluator: Evaluator = engine_evaluator,
    catalog: Catalog | None = None,
    overwrite: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_chunk: Callable[[ChunkReport], None] | None = None,
) -> RunSummary:
    """Sample the cohort of ``spec`` chunk by chunk and run every person on every scenario.

    A folder that already holds the same run (same manifest) resumes: finished chunks are skipped.
    """
    return run_source(
        CohortSampler(spec),
        spec,
        scenarios,
        out_dir,
        executor=executor,
        evaluator=evaluator,
        catalog=catalog,
        overwrite=overwrite,
        on_start=on_start,
        on_chunk=on_chunk,
    )


# --------------------------------------------------------------------------- reading back


def open_results(out_dir: str | Path) -> pads.Dataset:
    """The run's part files as one pyarrow dataset (schemas unified: a column missing from a part,
    e.g. outputs of a chunk where everybody failed, reads as null)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = sorted((Path(out_dir) / PARTS).glob("part-*.parquet"))
    if not files:
        raise RunError(f"{out_dir}: no results yet ({PARTS}/part-*.parquet)")
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    return ds.dataset([str(f) for f in files], schema=schema, format="parquet")


def read_results(out_dir: str | Path, columns: Sequence[str] | None = None, sort: bool = False) -> pa.Table:
    """Read results (selected columns) back into memory, optionally sorted by person and scenario."""
    dataset = open_results(out_dir)
    cols = None if columns is None else [c for c in columns if c in dataset.schema.names]
    if sort and cols is not None:
        cols = list(dict.fromkeys(["person_id", "scenario", *cols]))
    table = dataset.to_table(columns=cols)
    if sort:
        table = table.sort_by([("person_id", "ascending"), ("scenario", "ascending")])
    return table
