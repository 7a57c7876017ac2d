"""Engine throughput: patient-simulated minutes per CPU second.

Two parts. The coupled model (spine, muscles and the pulsatile circulation at a 2-ms step, including
each person's calibration and settling) at 1, 100 and 1,000 people, with the wall time of one
person's 10-minute session; then the spine and muscle model alone (circulation off) at 1, 100 and
10,000 people and its NumPy reference path.

Run with `make bench` (or `python benchmarks/bench_engine.py`). Times are CPU seconds of this
process (time.process_time) after a warm-up that compiles the kernels; memory is the peak resident
set size of the process. The protocol is the standard 60-degree session (about 10 minutes).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from inversa.body import Person, Sex
from inversa.protocol import STANDARD_SESSION_TEXT, Protocol
from inversa.simulation import simulate


@dataclass
class Figure:
    people: int
    model: str
    method: str
    record_interval_s: float
    simulated_min_per_person: float
    cpu_s: float
    wall_s: float
    patient_min_per_cpu_s: float
    peak_rss_mib: float


def _people(n: int, seed: int = 1) -> list[Person]:
    rng = np.random.default_rng(seed)
    return [
        Person(
            sex=Sex.MALE if rng.random() < 0.5 else Sex.FEMALE,
            age_years=float(rng.uniform(20, 80)),
            height_cm=float(rng.uniform(150, 195)),
            mass_kg=float(rng.uniform(50, 110)),
            hours_upright_h=float(rng.uniform(0, 14)),
        )
        for _ in range(n)
    ]


def measure(n: int, model: str, method: str, record_interval_s: float, repeats: int) -> Figure:
    protocol = Protocol.parse(STANDARD_SESSION_TEXT)
    people = _people(n)
    minutes = protocol.timeline().duration_s / 60.0
    best_cpu, best_wall = float("inf"), float("inf")
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        simulate(
            people,
            protocol,
            method=method,  # type: ignore[arg-type]
            record_interval_s=record_interval_s,
            circulation=model == "coupled",
        )
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return Figure(
        n, model, method, record_interval_s, minutes, best_cpu, best_wall, n * minutes / best_cpu, rss
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--quick", action="store_true", help="skip the 1,000- and 10,000-person runs")
    args = parser.parse_args()
    simulate(_people(2), STANDARD_SESSION_TEXT)  # warm-up: compile (or load) the kernels
    plan = [
        (1, "coupled", "compiled", 1.0, 5),
        (100, "coupled", "compiled", 1.0, 1),
        (1, "spine", "compiled", 1.0, 5),
        (100, "spine", "compiled", 1.0, 3),
        (1, "spine", "numpy", 1.0, 2),
        (100, "spine", "numpy", 1.0, 1),
    ]
    if not args.quick:
        plan.insert(2, (1000, "coupled", "compiled", 10.0, 1))
        # 10,000 people at 1 Hz would hold ~2.5 GB of series; a 10-s record keeps the run in memory
        plan.append((10_000, "spine", "compiled", 10.0, 1))
    figures = [measure(*p) for p in plan]
    header = ("people", "model", "method", "record s", "CPU s", "wall s", "patient-min/CPU-s", "peak RSS MiB")
    widths = (7, 8, 9, 8, 8, 8, 18, 13)
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for f in figures:
        print(
            f"{f.people:>7} {f.model:>8} {f.method:>9} {f.record_interval_s:>8g} {f.cpu_s:>8.3f} "
            f"{f.wall_s:>8.3f} {f.patient_min_per_cpu_s:>18,.0f} {f.peak_rss_mib:>13.0f}"
        )
    one = figures[0]
    print(
        f"one person, 10-min session, all three mechanisms: {one.wall_s:.2f} s wall "
        f"({one.simulated_min_per_person:.1f} simulated min); goal < 2 s"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump([asdict(f) for f in figures], fh, indent=1)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
