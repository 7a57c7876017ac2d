"""Virtual cohorts: spec validation, reproducible sampling, per-person status, resume, Dask = serial,
safety margins, Sobol' indices, the report and the `inversa cohort` commands.

Most tests use cheap fake evaluators (top-level functions below, so Dask workers can unpickle them);
a few run the real engine on a few people and a 30-s protocol.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.dataset as pads
import pytest
import typer

from inversa.cohort import (
    INVALID_PERSON,
    NON_FINITE_OUTPUT,
    OK,
    SIMULATION_FAILED,
    Catalog,
    ChunkOutput,
    CohortSampler,
    DaskExecutor,
    EvalContext,
    Limit,
    RunError,
    SaltelliSource,
    SampleChunk,
    SerialExecutor,
    SpecError,
    largest_safe_angles,
    load_spec,
    make_scenarios,
    read_results,
    run_cohort,
    run_source,
    safety_margins,
    sobol_indices,
    validate_spec,
    wilson_interval,
)
from inversa.cohort.report import build_report
from inversa.cohort.spec import ParameterInfo, default_spec_data, engine_catalog, spec_to_yaml

SHORT = "start at 0 deg\nhold at 30 deg for 30 s"
SWEEP = "start at 0 deg\ntilt to {angle} deg over 5 s\nhold at {angle} deg for 30 s"
DASK_TIMEOUT_S = 120.0


# --------------------------------------------------------------------------- fakes (picklable)


def toy_evaluator(chunk: SampleChunk, ctx: EvalContext) -> ChunkOutput:
    """A cheap stand-in for the circulation model: pressures rise with the head-down angle."""
    angle = 30.0 if ctx.scenario.angle_deg is None else ctx.scenario.angle_deg
    c = chunk.columns
    iop = c["resting_iop_mmhg"] * (1.0 + angle / 90.0)
    mean_ap = c["resting_systolic_mmhg"] / 3.0 + 2.0 * c["resting_diastolic_mmhg"] / 3.0 + 0.2 * angle
    return ChunkOutput(
        {
            "intraocular_pressure_mmhg__max": iop,
            "mean_arterial_pressure_mmhg__max": mean_ap,
            "head_arterial_pressure_mmhg__max": mean_ap + 0.3 * angle,
            "mass_ratio__max": c["mass_kg"] / c["height_cm"],
        },
        simulated_s=60.0 * len(chunk),
    )


def fragile_evaluator(chunk: SampleChunk, ctx: EvalContext) -> ChunkOutput:
    """Raises for the whole chunk when anyone is over 70; NaN for anyone over 110 kg."""
    age = np.asarray(chunk.columns["age_years"], dtype=float)
    if np.any(age > 70):
        raise RuntimeError("solver blew up for an old person")
    mass = np.asarray(chunk.columns["mass_kg"], dtype=float)
    return ChunkOutput({"y__max": np.where(mass > 110, np.nan, mass)})


def ishigami_evaluator(chunk: SampleChunk, ctx: EvalContext) -> ChunkOutput:
    """The Ishigami function (a = 7, b = 0.1) of parameters x1, x2, x3."""
    x1, x2, x3 = (np.asarray(chunk.columns[k], dtype=float) for k in ("x1", "x2", "x3"))
    y = np.sin(x1) + 7.0 * np.sin(x2) ** 2 + 0.1 * x3**4 * np.sin(x1)
    return ChunkOutput({"y__max": y})


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return engine_catalog()


def spec_data(size: int = 64, chunk: int = 16, **sampling: Any) -> dict[str, Any]:
    data = default_spec_data()
    data["sampling"].update({"size": size, "chunk_size": chunk, **sampling})
    return data


def minimal(**extra: Any) -> dict[str, Any]:
    """A small valid spec body."""
    data: dict[str, Any] = {
        "person": {
            "sex": {"dist": "categorical", "probabilities": {"male": 0.5, "female": 0.5}},
            "age_years": {"dist": "uniform", "low": 20, "high": 60},
            "height_cm": {"dist": "normal", "mean": 170, "sd": 8},
            "mass_kg": {"dist": "lognormal", "mean": 75, "sd": 12},
        }
    }
    data.update(extra)
    return data


# --------------------------------------------------------------------------- spec


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["person"]["age_years"].update(mode=3), "person.age_years.mode"),
        (lambda d: d["person"]["height_cm"].update(sd=-1), "person.height_cm.sd"),
        (lambda d: d["person"].update(age_years={"dist": "gamma"}), "person.age_years"),
        (lambda d: d["person"].update(heigth_cm={"dist": "fixed", "value": 1}), "person.heigth_cm"),
        (lambda d: d["person"].pop("mass_kg"), "person.mass_kg"),
        (
            lambda d: d["person"].update(age_years={"dist": "uniform", "low": 5, "high": 1}),
            "person.age_years",
        ),
        (
            lambda d: d["person"].update(
                sex={"dist": "categorical", "probabilities": {"male": 0.5, "x": 0.4}}
            ),
            "person.sex.probabilities",
        ),
        (
            lambda d: d["person"].update(
                sex={"dist": "categorical", "probabilities": {"male": 0.5, "other": 0.5}}
            ),
            "person.sex",
        ),
        (
            lambda d: d.update(parameters={"not_a_parameter": {"dist": "uniform", "low": 0, "high": 1}}),
            "parameters.not_a_parameter",
        ),
        (
            lambda d: d.update(parameters={"disc_area_mm2.L4-L5": {"dist": "parameter_range"}}),
            "parameters.disc_area_mm2.L4-L5",
        ),
        (
            lambda d: d.update(parameters={"minimum_nucleus_pressure_mpa": {"dist": "parameter_range"}}),
            "parameters.minimum_nucleus_pressure_mpa",
        ),
        (
            lambda d: d["person"].update(
                mass_kg={"by": "sex", "cases": {"male": {"dist": "fixed", "value": 80}}}
            ),
            "person.mass_kg.cases",
        ),
        (lambda d: d["person"].update(mass_kg={"by": "age_years", "cases": {}}), "person.mass_kg.by"),
        (
            lambda d: d.update(
                correlation={"variables": ["age_years", "height_cm"], "matrix": [[1, 0.5], [0.4, 1]]}
            ),
            "correlation.matrix[1][0]",
        ),
        (
            lambda d: d.update(
                correlation={
                    "variables": ["age_years", "height_cm", "mass_kg"],
                    "matrix": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]],
                }
            ),
            "correlation.matrix",
        ),
        (
            lambda d: d.update(
                correlation={"variables": ["age_years", "waist_cm"], "matrix": [[1, 0], [0, 1]]}
            ),
            "correlation.variables[1]",
        ),
        (lambda d: d.update(sampling={"method": "halton"}), "sampling.method"),
        (lambda d: d.update(outputs={"levels": ["L9-L10"]}), "outputs.levels"),
        (lambda d: d.update(simulation={"options": {"warp_speed": 9}}), "simulation.options.warp_speed"),
    ],
)
def test_spec_errors_name_the_field(change: Any, field: str, catalog: Catalog) -> None:
    data = minimal()
    change(data)
    with pytest.raises(SpecError) as info:
        validate_spec(data, catalog)
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(field)


def test_default_spec_is_valid_and_every_person_variable_has_a_source(catalog: Catalog) -> None:
    spec = validate_spec(default_spec_data(catalog), catalog)
    for name, marginal in spec.person.items():
        assert marginal.source, name
    # parameter ranges resolve to uniform distributions that name their parameter set
    friction = spec.parameters["bed_friction_coefficient"]
    assert friction.dist == "uniform" and friction.low == 0.3 and friction.high == 0.62  # type: ignore[union-attr]
    assert "spine" in (friction.source or "")


def test_spec_files_yaml_and_json(tmp_path: Path, catalog: Catalog) -> None:
    data = spec_data()
    (tmp_path / "c.yaml").write_text(spec_to_yaml(data))
    (tmp_path / "c.json").write_text(json.dumps(data))
    a = load_spec(tmp_path / "c.yaml", catalog)
    b = load_spec(tmp_path / "c.json", catalog)
    assert a == b
    (tmp_path / "bad.yaml").write_text("person: [1, 2\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(tmp_path / "bad.yaml", catalog)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml", catalog)


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("method", ["sobol", "lhs"])
def test_sampling_is_reproducible_and_independent_of_chunking(method: str, catalog: Catalog) -> None:
    spec = validate_spec(spec_data(size=300, chunk=64, method=method, seed=7), catalog)
    a = CohortSampler(spec).sample()
    b = CohortSampler(validate_spec(spec_data(size=300, chunk=64, method=method, seed=7), catalog)).sample()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    other = CohortSampler(
        validate_spec(spec_data(size=300, chunk=64, method=method, seed=8), catalog)
    ).sample()
    assert not np.array_equal(a["age_years"], other["age_years"])
    # different chunk sizes, chunks streamed with some skipped, or random access: the same people
    rechunked = CohortSampler(validate_spec(spec_data(size=300, chunk=37, method=method, seed=7), catalog))
    streamed = list(rechunked.iter_chunks(skip={1, 3}))
    assert [c.index for c in streamed] == [0, 2, *range(4, 9)]
    for chunk in [*streamed, rechunked.chunk(3)]:
        for k, col in chunk.columns.items():
            np.testing.assert_array_equal(col, a[k][chunk.ids])


def test_marginals_and_correlations_are_roughly_right(catalog: Catalog) -> None:
    spec = validate_spec(spec_data(size=4096, chunk=512), catalog)
    s = CohortSampler(spec).sample()
    male = s["sex"] == "male"
    assert abs(male.mean() - 0.49) < 0.02
    assert abs(s["height_cm"][male].mean() - 175.4) < 0.5
    assert abs(s["height_cm"][~male].mean() - 161.7) < 0.5
    assert abs(s["height_cm"][male].std() - 7.5) < 0.6
    assert 85 < s["mass_kg"][male].mean() < 92 and 73 < s["mass_kg"][~male].mean() < 80
    assert s["mass_kg"].max() <= 136 and s["height_cm"].min() >= 142
    assert abs(s["resting_iop_mmhg"].mean() - 15.5) < 0.2
    assert abs(s["resting_iop_mmhg"].std() - 2.6) < 0.2
    assert s["age_years"].min() >= 18 and s["age_years"].max() <= 85
    r = np.corrcoef(s["resting_systolic_mmhg"], s["resting_diastolic_mmhg"])[0, 1]
    assert abs(r - 0.65) < 0.05
    r = np.corrcoef(s["age_years"], s["resting_systolic_mmhg"])[0, 1]
    assert abs(r - 0.45) < 0.06
    r = np.corrcoef(s["height_cm"][male], s["mass_kg"][male])[0, 1]
    assert abs(r - 0.45) < 0.07
    friction = s["bed_friction_coefficient"]
    assert friction.min() >= 0.3 and friction.max() <= 0.62 and abs(friction.mean() - 0.46) < 0.01


# --------------------------------------------------------------------------- runs


def test_fake_run_statuses_and_parquet_read_back(tmp_path: Path, catalog: Catalog) -> None:
    spec = validate_spec(spec_data(size=96, chunk=16), catalog)
    summary = run_cohort(spec, make_scenarios(SHORT), tmp_path, evaluator=fragile_evaluator, catalog=catalog)
    table = read_results(tmp_path, sort=True)
    assert table.num_rows == 96 and summary.n_chunks == 6
    status = np.array(table.column("status").to_pylist())
    age = table.column("age_years").to_numpy()
    mass = table.column("mass_kg").to_numpy()
    assert np.all(status[age > 70] == SIMULATION_FAILED)  # isolated person by person
    assert np.all(status[(age <= 70) & (mass > 110)] == NON_FINITE_OUTPUT)
    assert np.all(status[(age <= 70) & (mass <= 110)] == OK)
    assert {SIMULATION_FAILED, NON_FINITE_OUTPUT, OK} <= set(status.tolist())
    reasons = np.array(table.column("reason").to_pylist())
    assert all("solver blew up" in r for r in reasons[status == SIMULATION_FAILED])
    assert all("y__max" in r for r in reasons[status == NON_FINITE_OUTPUT])
    y = table.column("y__max")
    assert y.null_count == int(np.sum(status != OK))
    assert summary.counts == {k: int(v) for k, v in zip(*np.unique(status, return_counts=True), strict=True)}
    # the part files are an ordinary pyarrow dataset, one file per chunk
    dataset = pads.dataset(tmp_path / "parts", format="parquet")
    assert len(dataset.files) == 6 and dataset.count_rows() == 96
    assert {"person_id", "scenario", "status", "reason", "sex", "bed_friction_coefficient"} <= set(
        dataset.schema.names
    )
    assert json.loads((tmp_path / "manifest.json").read_text())["source"]["seed"] == 20261125


def test_restart_skips_finished_chunks_and_manifest_must_match(tmp_path: Path, catalog: Catalog) -> None:
    spec = validate_spec(spec_data(size=80, chunk=16), catalog)
    scen = make_scenarios(SHORT)
    run_cohort(spec, scen, tmp_path, evaluator=toy_evaluator, catalog=catalog)
    first = read_results(tmp_path, sort=True)
    (tmp_path / "parts" / "part-00002.parquet").unlink()
    ran: list[int] = []
    again = run_cohort(
        spec, scen, tmp_path, evaluator=toy_evaluator, catalog=catalog, on_chunk=lambda r: ran.append(r.index)
    )
    assert ran == [2] and again.skipped_chunks == 4
    assert read_results(tmp_path, sort=True).equals(first)
    other = validate_spec(spec_data(size=80, chunk=16, seed=1), catalog)
    with pytest.raises(RunError, match=r"different run .*spec"):
        run_cohort(other, scen, tmp_path, evaluator=toy_evaluator, catalog=catalog)
    run_cohort(other, scen, tmp_path, evaluator=toy_evaluator, catalog=catalog, overwrite=True)
    assert not read_results(tmp_path, sort=True).equals(first)


def test_real_engine_marks_invalid_people_and_keeps_going(tmp_path: Path, catalog: Catalog) -> None:
    data = spec_data(size=12, chunk=6)
    data["person"]["age_years"] = {"dist": "uniform", "low": 8, "high": 30, "source": "test"}
    data["outputs"] = {
        "series": ["traction_force_n", "stature_change_mm", "intraocular_pressure_mmhg", "no_such"]
    }
    spec = validate_spec(data, catalog)
    summary = run_cohort(spec, make_scenarios(SHORT), tmp_path, catalog=catalog)
    table = read_results(tmp_path, sort=True)
    status = np.array(table.column("status").to_pylist())
    age = table.column("age_years").to_numpy()
    assert any(age < 16) and np.all(status[age < 16] == INVALID_PERSON)
    # the others run; the engine may refuse someone (e.g. resting values it cannot calibrate to),
    # which marks that person only
    assert set(status[age >= 16]) <= {OK, SIMULATION_FAILED} and np.sum(status == OK) >= 3
    reason = np.array(table.column("reason").to_pylist())
    assert all("age_years must be between 16" in r for r in reason[age < 16])
    assert all(reason[status == SIMULATION_FAILED]) and not any(reason[status == OK])
    assert (
        "traction_force_n[L4-L5]__max" in table.column_names
        and "stature_change_mm__end" in table.column_names
    )
    assert "no_such" in summary.missing_series
    assert summary.simulated_min == pytest.approx(int(np.sum(status == OK)) * 30 / 60)


@pytest.fixture(scope="module")
def two_workers() -> Iterator[DaskExecutor]:
    executor = DaskExecutor(n_workers=2, timeout_s=DASK_TIMEOUT_S)
    try:
        yield executor
    finally:
        executor.close()


def test_two_worker_dask_run_equals_serial_run(
    tmp_path: Path, catalog: Catalog, two_workers: DaskExecutor
) -> None:
    assert two_workers.workers == 2
    # a cheap fake model, an angle sweep, 10 chunks
    spec = validate_spec(spec_data(size=150, chunk=15), catalog)
    scen = make_scenarios(SWEEP, [20, 40, 60])
    run_cohort(
        spec, scen, tmp_path / "serial", evaluator=toy_evaluator, catalog=catalog, executor=SerialExecutor()
    )
    run_cohort(spec, scen, tmp_path / "dask", evaluator=toy_evaluator, catalog=catalog, executor=two_workers)
    serial = read_results(tmp_path / "serial", sort=True)
    assert serial.num_rows == 450
    assert read_results(tmp_path / "dask", sort=True).equals(serial)
    # and the real engine on a few people
    real = validate_spec(spec_data(size=6, chunk=2), catalog)
    run_cohort(real, make_scenarios(SHORT), tmp_path / "rs", catalog=catalog)
    run_cohort(real, make_scenarios(SHORT), tmp_path / "rd", catalog=catalog, executor=two_workers)
    a, b = read_results(tmp_path / "rs", sort=True), read_results(tmp_path / "rd", sort=True)
    assert a.column("status").to_pylist().count(OK) >= 3
    assert a.equals(b)


# --------------------------------------------------------------------------- analyses


def test_wilson_interval_matches_known_values() -> None:
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(5, 10)
    assert (float(lo), float(hi)) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = wilson_interval(0, 0)
    assert math.isnan(float(lo)) and math.isnan(float(hi))


def test_limits_parse_and_reject_bad_text() -> None:
    lim = Limit.parse("intraocular_pressure_mmhg__max <= 30")
    assert (lim.column, lim.op, lim.value) == ("intraocular_pressure_mmhg__max", "<=", 30.0)
    assert Limit.parse("traction_force_n[L4-L5]__max<800").safe(
        np.array([700.0, 900.0, np.nan])
    ).tolist() == [
        True,
        False,
        False,
    ]
    for bad in ("iop <= 30", "x__max == 3", "x__max <= abc"):
        with pytest.raises(ValueError, match="SERIES__STAT"):
            Limit.parse(bad)


def test_margins_by_subgroup_with_intervals_and_missing_outputs() -> None:
    n = 400
    rng = np.random.default_rng(1)
    sbp = rng.uniform(100, 160, n)
    table = {
        "scenario": np.array(["protocol"] * n, dtype=object),
        "angle_deg": np.full(n, np.nan),
        "status": np.array([OK] * (n - 10) + [SIMULATION_FAILED] * 10, dtype=object),
        "sex": np.array(["male", "female"] * (n // 2), dtype=object),
        "age_years": rng.uniform(18, 80, n),
        "resting_systolic_mmhg": sbp,
        "resting_diastolic_mmhg": np.full(n, 70.0),
        "intraocular_pressure_mmhg__max": np.where(sbp > 150, 35.0, 20.0),
    }
    report = safety_margins(table)
    assert [lim.column for lim in report.unavailable] == [
        "head_arterial_pressure_mmhg__max",
        "mean_arterial_pressure_mmhg__max",
    ]
    assert all("output not available in this run" in note for note in report.notes())
    rows = {(r.group, r.subgroup, r.limit): r for r in report.rows}
    all_any = rows[("all", "all", "any")]
    assert all_any.n == n - 10 and all_any.n_excluded == 10
    ok = np.arange(n) < n - 10
    assert all_any.n_exceed == int(np.sum(ok & (sbp > 150)))
    assert all_any.ci_low < all_any.share < all_any.ci_high
    stage2 = rows[("resting BP band", "stage 2 (>=140 or >=90)", "intraocular_pressure_mmhg__max <= 30")]
    normal = rows[("resting BP band", "normal (<120/<80)", "any")]
    assert stage2.share > 0.3 and normal.n_exceed == 0 and normal.ci_high > 0
    assert {r.subgroup for r in report.rows if r.group == "age band"} <= {"18-40", "40-60", "60+"}
    assert {r.subgroup for r in report.rows if r.group == "sex"} == {"male", "female"}


def test_largest_safe_angle_per_subgroup(tmp_path: Path, catalog: Catalog) -> None:
    spec = validate_spec(spec_data(size=600, chunk=200), catalog)
    run_cohort(
        spec,
        make_scenarios(SWEEP, [15, 30, 45, 60, 75, 90]),
        tmp_path,
        evaluator=toy_evaluator,
        catalog=catalog,
    )
    margins = safety_margins(read_results(tmp_path))
    safe = {(a.group, a.subgroup): a for a in largest_safe_angles(margins, max_share=0.05)}
    everyone = safe[("all", "all")]
    # toy IOP = resting IOP x (1 + angle/90): with resting IOP about 15.5 +/- 2.6 mmHg, 30 mmHg is
    # passed by a few percent at 60 deg and by most people at 90 deg
    assert everyone.angle_deg is not None and 30 <= everyone.angle_deg <= 60
    stage2 = safe[("resting BP band", "stage 2 (>=140 or >=90)")]
    normal = safe[("resting BP band", "normal (<120/<80)")]
    assert (stage2.angle_deg or 0) <= (normal.angle_deg or 0)
    point = largest_safe_angles(margins, max_share=0.05, conservative=False)
    assert {(a.group, a.subgroup): a.angle_deg for a in point}[("all", "all")] >= everyone.angle_deg  # type: ignore[operator]


def test_sobol_indices_of_the_ishigami_function(tmp_path: Path) -> None:
    params = {
        name: ParameterInfo(name, "test", 0.0, -math.pi, math.pi, "1", "Ishigami & Homma 1990")
        for name in ("x1", "x2", "x3")
    }
    catalog = Catalog(person_fields=("sex",), covariates=(), parameters=params)
    spec = validate_spec(
        {
            "person": {"sex": {"dist": "fixed", "value": "female"}},
            "parameters": {k: {"dist": "parameter_range"} for k in params},
            "sampling": {"chunk_size": 4096},
        },
        catalog,
    )
    source = SaltelliSource(spec, ["x1", "x2", "x3"], 2048, seed=3)
    run_source(source, spec, make_scenarios(SHORT), tmp_path, evaluator=ishigami_evaluator, catalog=catalog)
    (res,) = sobol_indices(read_results(tmp_path), ["x1", "x2", "x3"], ["y__max"], seed=3)
    # analytical values (a = 7, b = 0.1)
    s1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
    st = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}
    for k in s1:
        assert res.s1[k] == pytest.approx(s1[k], abs=0.05), k
        assert res.st[k] == pytest.approx(st[k], abs=0.05), k
        assert 0 < res.st_conf[k] < 0.1
    (missing,) = sobol_indices(read_results(tmp_path), ["x1", "x2", "x3"], ["iop__max"])
    assert not missing.available and "not available" in missing.note


def test_report_is_self_contained_html(tmp_path: Path, catalog: Catalog) -> None:
    spec = validate_spec(spec_data(size=64, chunk=32), catalog)
    run_cohort(spec, make_scenarios(SWEEP, [30, 60]), tmp_path, evaluator=toy_evaluator, catalog=catalog)
    report = build_report(
        tmp_path, limits=[*map(Limit.parse, ["intraocular_pressure_mmhg__max <= 30", "x__max <= 1"])]
    )
    text = report.path.read_text()
    assert text.startswith("<!doctype html>") and "data:image/png;base64," in text
    assert "Safety margins" in text and "Largest safe angle" in text
    assert "x__max &lt;= 1: output not available in this run" in text
    margins = json.loads((tmp_path / "margins.json").read_text())
    assert margins["unavailable"][0]["limit"] == "x__max <= 1" and margins["largest_safe_angles"]


# --------------------------------------------------------------------------- command line


def cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """Run `inversa cohort ...` through the real entry point's error handling."""
    import inversa.cli.main as main_module
    from inversa.cli.cohort import cohort_app

    app = typer.Typer(pretty_exceptions_enable=False)
    app.add_typer(cohort_app, name="cohort")
    monkeypatch.setattr(main_module, "app", app)
    try:
        main_module.main(["cohort", *argv])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *names: str) -> None:
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for name in names:
        assert name in lines[0], (name, lines[0])


def test_cli_sample_run_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(
        ["sample", "default", "--out", str(tmp_path / "s"), "--size", "32", "--seed", "5"],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert (tmp_path / "s" / "sample.parquet").exists() and "32 people" in out
    spec = tmp_path / "c.yaml"
    spec.write_text(spec_to_yaml(spec_data(size=8, chunk=4)))
    run = [
        "run",
        str(spec),
        "--protocol",
        SHORT,
        "--out",
        str(tmp_path / "r"),
        "--workers",
        "0",
        "--no-progress",
    ]
    code, out, err = cli(run, capsys, monkeypatch)
    assert code == 0, err
    assert "ok" in out and "2 chunks run" in out
    code, out, err = cli(run, capsys, monkeypatch)
    assert code == 0 and "0 chunks run, 2 already done" in out
    code, out, err = cli(["report", str(tmp_path / "r")], capsys, monkeypatch)
    assert code == 0, err
    assert (tmp_path / "r" / "report.html").exists()
    assert "output not available in this run" in out or "Share outside any limit" in out


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (
            [
                "run",
                "SPEC",
                "--protocol",
                SHORT,
                "--out",
                "OUT",
                "--workers",
                "2",
                "--scheduler",
                "tcp://h:8786",
            ],
            ("--workers", "--scheduler"),
        ),
        (["run", "SPEC", "--protocol", SHORT, "--out", "OUT", "--scheduler", "h8786"], ("--scheduler",)),
        (
            ["run", "SPEC", "--protocol", "hold at 200 deg for 1 min", "--out", "OUT", "--workers", "0"],
            ("--protocol",),
        ),
        (["run", "SPEC", "--protocol", SWEEP, "--out", "OUT", "--workers", "0"], ("--angles",)),
        (["run", "SPEC", "--protocol", SHORT, "--out", "OUT", "--angles", "10,x"], ("--angles",)),
        (
            ["run", "BAD", "--protocol", SHORT, "--out", "OUT", "--workers", "0"],
            ("person.height_cm.cases.male.sd",),
        ),
        (["run", "MISSING", "--protocol", SHORT, "--out", "OUT"], ("SPEC", "cannot read")),
        (["sample", "SPEC", "--out", "OUT", "--method", "random"], ("--method",)),
        (["report", "OUT"], ("no cohort run",)),
        (["report", "OUT", "--limit", "iop < 3"], ("--limit",)),
        (["sensitivity", "SPEC", "--protocol", SHORT, "--out", "OUT", "--n", "100"], ("--n", "power of 2")),
        (
            ["sensitivity", "SPEC", "--protocol", SHORT, "--out", "OUT", "--variable", "nose_cm"],
            ("--variable",),
        ),
    ],
)
def test_cli_bad_input_is_one_error_line_and_status_2(
    argv: list[str],
    names: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text(spec_to_yaml(spec_data(size=8, chunk=4)))
    bad = spec_data()
    bad["person"]["height_cm"]["cases"]["male"]["sd"] = 0
    (tmp_path / "bad.yaml").write_text(spec_to_yaml(bad))
    subst = {
        "SPEC": str(spec),
        "OUT": str(tmp_path / "out"),
        "BAD": str(tmp_path / "bad.yaml"),
        "MISSING": str(tmp_path / "nope.yaml"),
    }
    code, _, err = cli([subst.get(a, a) for a in argv], capsys, monkeypatch)
    assert code == 2, err
    one_error_line(err, *names)


def test_cli_sensitivity_on_the_spine_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = spec_data(size=8, chunk=8)
    data["simulation"] = {"options": {"circulation": False}}
    spec = tmp_path / "spine.yaml"
    spec.write_text(spec_to_yaml(data))
    out = tmp_path / "sens"
    argv = [
        "sensitivity",
        str(spec),
        "--protocol",
        "start at 0 deg; hold at 60 deg for 20 s",
        "--out",
        str(out),
    ]
    argv += ["--variable", "bed_friction_coefficient", "--variable", "mass_kg", "--n", "16", "--workers", "0"]
    argv += ["--output", "traction_force_n[L4-L5]__max", "--output", "intraocular_pressure_mmhg__max"]
    code, _, err = cli([*argv, "--no-progress"], capsys, monkeypatch)
    assert code == 0, err
    doc = json.loads((out / "sensitivity.json").read_text())
    force, iop = doc["results"]
    assert force["available"] and set(force["st"]) == {"bed_friction_coefficient", "mass_kg"}
    # traction grows with body mass and, at 60 deg, friction holds part of it back: both matter
    assert force["st"]["mass_kg"] > 0.05 and force["st"]["bed_friction_coefficient"] > 0.05
    assert not iop["available"] and "not available" in iop["note"]
    assert len(read_results(out)) == 16 * 4
    code, _, err = cli(["report", str(out)], capsys, monkeypatch)
    assert code == 0, err
    assert "Sobol" in (out / "report.html").read_text()
