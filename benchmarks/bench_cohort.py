"""Cohort throughput: patient-simulated minutes per CPU second at 1, 100 and 10,000 people (100,000
with --full or --sizes), the peak memory of each run, and scaling over 1 and 2 Dask workers.

Run with `python benchmarks/bench_cohort.py` (quick: up to 10,000 people). Each size runs the whole
cohort pipeline (sampling, Person objects, simulate, per-person summaries, one Parquet part file per
chunk) serially in a fresh process, after a warm-up that compiles the kernels, so its peak resident
set size shows whether memory stays flat as the cohort grows. CPU seconds are that process's
(time.process_time); patient minutes count every person attempted, failed or not.

--engine fast (the default) is the whole engine with the beat-averaged circulation (the cohort
default); --engine full uses the pulsatile circulation; --engine spine turns the circulation off
(simulation.options.circulation = false) to measure the spine and muscle engine and the pipeline's
own overhead. The issue's goal: at least 2,000 patient-min/CPU-s for the fast variant.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from inversa.protocol import STANDARD_SESSION_TEXT

QUICK = (1, 100, 10_000)
FULL = (1, 100, 10_000, 100_000)


def _spec(people: int, chunk: int, engine: str) -> Any:
    from inversa.cohort.spec import default_spec_data, validate_spec

    data = default_spec_data()
    data["sampling"].update({"size": people, "chunk_size": min(chunk, people)})
    if engine == "spine":
        data["simulation"] = {"options": {"circulation": False}}
    else:
        data["simulation"] = {"circulation_model": "averaged" if engine == "fast" else "pulsatile"}
    return validate_spec(data)


def _warm(engine: str, protocol: str) -> None:
    """Compile (or load) the kernels: in this process, or on every worker via client.run."""
    from inversa.body import Person
    from inversa.simulation import simulate

    people = [Person(sex="male", age_years=40, height_cm=175, mass_kg=75)] * 2
    model = "averaged" if engine == "fast" else "pulsatile"
    simulate(people, protocol, circulation=engine != "spine", circulation_model=model)


def _disk_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def _serial(people: int, chunk: int, engine: str, protocol: str) -> dict[str, Any]:
    """One size, in this (fresh) process."""
    from inversa.cohort import SerialExecutor, make_scenarios, run_cohort

    spec = _spec(people, chunk, engine)
    scenarios = make_scenarios(protocol)
    minutes = _minutes(protocol)
    _warm(engine, protocol)
    with tempfile.TemporaryDirectory() as tmp:
        c0, w0 = time.process_time(), time.perf_counter()
        summary = run_cohort(spec, scenarios, tmp, executor=SerialExecutor())
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        disk = _disk_mib(Path(tmp))
    return {
        "people": people,
        "engine": engine,
        "chunk_size": spec.sampling.chunk_size,
        "cpu_s": cpu,
        "wall_s": wall,
        "patient_min": people * minutes,
        "patient_min_per_cpu_s": people * minutes / cpu,
        "ok_share": summary.counts.get("ok", 0) / people,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "disk_mib": disk,
    }


def _scaling(people: int, chunk: int, engine: str, protocol: str, workers: int) -> dict[str, Any]:
    """One worker count on a local Dask cluster, kernels compiled on every worker first."""
    from inversa.cohort import DaskExecutor, make_scenarios, run_cohort

    spec = _spec(people, chunk, engine)
    minutes = _minutes(protocol)
    with DaskExecutor(n_workers=workers) as executor, tempfile.TemporaryDirectory() as tmp:
        executor.client.run(_warm, engine, protocol)
        c0, w0 = time.process_time(), time.perf_counter()
        summary = run_cohort(spec, make_scenarios(protocol), tmp, executor=executor)
        wall = time.perf_counter() - w0
        cpu = summary.cpu_s + (time.process_time() - c0)
    return {
        "people": people,
        "engine": engine,
        "workers": workers,
        "wall_s": wall,
        "cpu_s": cpu,
        "patient_min_per_wall_s": people * minutes / wall,
        "patient_min_per_cpu_s": people * minutes / cpu,
        "peak_worker_rss_mib": summary.peak_worker_rss_mib,
    }


def _minutes(protocol: str) -> float:
    from inversa.protocol import Protocol

    return float(Protocol.parse(protocol).timeline().duration_s) / 60.0


def _child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a fresh interpreter (clean peak RSS, clean compile state)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--job", json.dumps(job)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark job {job} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="sizes 1, 100, 10,000 (the default)")
    parser.add_argument("--full", action="store_true", help="sizes 1, 100, 10,000, 100,000")
    parser.add_argument("--sizes", help="comma-separated cohort sizes, e.g. 1,100,10000,100000")
    parser.add_argument("--engine", choices=("fast", "full", "spine"), default="fast")
    parser.add_argument("--protocol", default=STANDARD_SESSION_TEXT, help="protocol text")
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--scaling-size", type=int, help="people for the 1-vs-2-worker runs")
    parser.add_argument(
        "--scaling-chunk-size", type=int, help="chunk size of the scaling runs (default: 1/8 of the people)"
    )
    parser.add_argument("--workers", default="1,2", help="worker counts for scaling ('' skips it)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        job = json.loads(args.job)
        kind = job.pop("kind")
        out = _serial(**job) if kind == "serial" else _scaling(**job)
        print(json.dumps(out))
        return

    if args.sizes is not None:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    else:
        sizes = list(FULL if args.full else QUICK)
    common = {"chunk": args.chunk_size, "engine": args.engine, "protocol": args.protocol}
    print(f"engine: {args.engine}; protocol: {_minutes(args.protocol):.2f} min; chunk size {args.chunk_size}")
    header = ("people", "CPU s", "wall s", "patient-min/CPU-s", "ok share", "peak RSS MiB", "disk MiB")
    print(" ".join(f"{h:>17}" for h in header))
    serial = []
    for n in sizes:
        f = _child({"kind": "serial", "people": n, **common})
        serial.append(f)
        print(
            f"{f['people']:>17,} {f['cpu_s']:>17.2f} {f['wall_s']:>17.2f} "
            f"{f['patient_min_per_cpu_s']:>17,.1f} {f['ok_share']:>17.1%} {f['peak_rss_mib']:>17.0f} "
            f"{f['disk_mib']:>17.2f}",
            flush=True,
        )
    scaling = []
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    if counts:
        n = args.scaling_size or {"spine": 2_000, "fast": 2_000}.get(args.engine, 128)
        chunk = args.scaling_chunk_size or max(1, n // 8)
        print(f"\nscaling over local Dask workers, {n:,} people, chunks of {chunk}")
        header = (
            "workers",
            "wall s",
            "patient-min/wall-s",
            "speed-up",
            "patient-min/CPU-s",
            "worker RSS MiB",
        )
        print(" ".join(f"{h:>18}" for h in header))
        for w in counts:
            f = _child({"kind": "scaling", "people": n, "workers": w, **common, "chunk": chunk})
            scaling.append(f)
            speedup = scaling[0]["wall_s"] / f["wall_s"]
            print(
                f"{w:>18} {f['wall_s']:>18.2f} {f['patient_min_per_wall_s']:>18,.1f} {speedup:>18.2f} "
                f"{f['patient_min_per_cpu_s']:>18,.1f} {f['peak_worker_rss_mib']:>18.0f}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"serial": serial, "scaling": scaling}, indent=1), encoding="utf-8"
        )


if __name__ == "__main__":
    main()
