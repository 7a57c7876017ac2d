"""The `inversa` command line: outputs, files, and one clean error line for every bad input.

Most tests call ``main(argv)`` in-process (fast); a few run the real entry point in a subprocess.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from inversa.cli.main import main

PERSON = ["--sex", "male", "--age", "40", "--height-cm", "175", "--mass-kg", "75"]
SHORT = "lie flat for 1 min; tilt to 60 deg over 10 s; hold at 60 deg for 20 s"  # 90 s
CONTRACT = {
    "angle_deg",
    "traction_force_n",
    "disc_height_change_mm",
    "intradiscal_pressure_mpa",
    "stature_change_mm",
    "paraspinal_activation_pct_mvc",
    "muscle_stress_relaxation_pct",
}
LEVELS = {"T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit status, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def simulate_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code, out, err = run(["simulate", *PERSON, "--format", "json", *argv], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def assert_one_error_line(err: str, *names: str) -> None:
    assert "Traceback" not in err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    for name in names:
        assert name in lines[0], (name, lines[0])


# --------------------------------------------------------------------------- simulate outputs


def test_simulate_prints_a_step_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["simulate", *PERSON, "--protocol", SHORT], capsys)
    assert code == 0, err
    assert "Traceback" not in err
    assert "Per step, at L4-L5" in out
    assert "hold at 60 deg for 20 s" in out
    assert "Peak traction by level (N)" in out
    assert all(level in out for level in LEVELS)
    assert "1.5 min simulated" in out


CIRCULATION_KEYS = (
    "heart_rate_bpm",
    "systolic_bp_mmhg",
    "diastolic_bp_mmhg",
    "mean_arterial_pressure_mmhg",
    "head_arterial_pressure_mmhg",
    "head_venous_pressure_mmhg",
    "intraocular_pressure_mmhg",
    "central_venous_pressure_mmhg",
    "stroke_volume_ml",
    "cardiac_output_l_min",
    "leg_blood_volume_ml",
    "thoracic_blood_volume_ml",
    "plasma_volume_change_ml",
    "total_blood_volume_ml",
)


def test_simulate_json_follows_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    data = simulate_json(["--protocol", SHORT], capsys)
    assert {"inversa_version", "person", "protocol", "time_s", "series", "steps", "citations"} <= set(data)
    time_s = data["time_s"]
    assert isinstance(time_s, list) and len(time_s) == 91 and time_s[-1] == 90.0
    series = data["series"]
    assert isinstance(series, dict) and set(series) >= CONTRACT
    for name in ("traction_force_n", "disc_height_change_mm", "intradiscal_pressure_mpa"):
        assert set(series[name]) == LEVELS
        assert all(len(values) == len(time_s) for values in series[name].values())
    for name in ("angle_deg", "stature_change_mm", "paraspinal_activation_pct_mvc"):
        assert len(series[name]) == len(time_s)
    assert series["angle_deg"][-1] == 60.0
    assert data["person"] == {
        "sex": "male",
        "age_years": 40.0,
        "height_cm": 175.0,
        "mass_kg": 75.0,
        "hours_upright_h": 8.0,
        "resting_systolic_mmhg": None,
        "resting_diastolic_mmhg": None,
        "resting_heart_rate_bpm": None,
        "resting_iop_mmhg": None,
    }
    for name in CIRCULATION_KEYS:
        assert len(series[name]) == len(time_s), name
        assert all(math.isfinite(v) for v in series[name]), name
    steps = data["steps"]
    assert isinstance(steps, list) and [s["text"] for s in steps] == [
        "lie flat for 1 min",
        "tilt to 60 deg over 10 s",
        "hold at 60 deg for 20 s",
    ]
    assert all(set(s["end_values"]) >= CONTRACT for s in steps)
    citations = data["citations"]
    assert isinstance(citations, list) and citations and all(isinstance(c, str) and c for c in citations)


def test_simulate_csv_has_one_row_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["simulate", *PERSON, "--protocol", SHORT, "--format", "csv"], capsys)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][0] == "time_s"
    assert "traction_force_n[L4-L5]" in rows[0] and "stature_change_mm" in rows[0]
    assert len(rows) == 91 + 1
    assert [float(r[0]) for r in rows[1:]] == [float(t) for t in range(91)]
    assert float(rows[-1][rows[0].index("angle_deg")]) == 60.0


def test_protocol_file_gives_the_same_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "session.txt"
    file.write_text("# a short session\n" + SHORT.replace("; ", "\n") + "\n", encoding="utf-8")
    from_file = simulate_json(["--protocol-file", str(file)], capsys)
    from_text = simulate_json(["--protocol", SHORT], capsys)
    assert from_file["series"] == from_text["series"]
    assert from_file["protocol"] == from_text["protocol"]


def test_mu_sets_the_bed_friction(capsys: pytest.CaptureFixture[str]) -> None:
    default = simulate_json(["--protocol", SHORT], capsys)
    frictionless = simulate_json(["--protocol", SHORT, "--mu", "0"], capsys)
    sticky = simulate_json(["--protocol", SHORT, "--mu", "2"], capsys)

    def gravity_pct(data: dict[str, object]) -> float:
        series = data["series"]
        assert isinstance(series, dict)
        return float(series["gravity_traction_pct_cranial_weight"][-1])

    s, c = math.sin(math.radians(60)), math.cos(math.radians(60))
    assert gravity_pct(frictionless) == pytest.approx(100 * s, abs=1e-5)
    assert gravity_pct(default) == pytest.approx(100 * (s - 0.5 * c), abs=1e-5)
    assert gravity_pct(sticky) == 0.0  # 60 deg is below atan(2) = 63.4 deg: friction holds


def test_hours_upright_changes_the_starting_discs(capsys: pytest.CaptureFixture[str]) -> None:
    early = simulate_json(["--protocol", "lie flat for 5 s", "--hours-upright", "1"], capsys)
    late = simulate_json(["--protocol", "lie flat for 5 s", "--hours-upright", "12.5"], capsys)
    assert early["person"]["hours_upright_h"] == 1.0  # type: ignore[index]
    assert late["person"]["hours_upright_h"] == 12.5  # type: ignore[index]
    early_mm = early["series"]["disc_height_mm"]["L4-L5"][0]  # type: ignore[index]
    late_mm = late["series"]["disc_height_mm"]["L4-L5"][0]  # type: ignore[index]
    assert early_mm > late_mm


def test_plot_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "figs" / "out.png"
    code, _, err = run(["simulate", *PERSON, "--protocol", SHORT, "--plot", str(target)], capsys)
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(target) in err and "Traceback" not in err


def test_plot_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.html"
    code, _, err = run(
        ["simulate", *PERSON, "--protocol", SHORT, "--plot", str(target), "--format", "json"], capsys
    )
    assert code == 0, err
    page = target.read_text(encoding="utf-8")
    assert "<img" in page and "data:image/png;base64," in page
    assert "hold at 60 deg for 20 s" in page
    assert "de Leva" in page


# --------------------------------------------------------------------------- bad input


def person(**changes: str) -> list[str]:
    """The adult's options with some values changed (an empty string drops the option)."""
    values = {"sex": "male", "age": "40", "height-cm": "175", "mass-kg": "75", **changes}
    return [arg for key, value in values.items() if value for arg in (f"--{key}", value)]


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (person(sex="x"), ["--sex", "'x'"]),
        (person(sex="unknown"), ["--sex", "male", "female"]),
        (person(age="12"), ["--age", "16", "100"]),
        (person(age="101"), ["--age", "16", "100"]),
        (person(**{"height-cm": "300"}), ["--height-cm", "120", "230"]),
        (person(**{"mass-kg": "10"}), ["--mass-kg", "30", "250"]),
        ([*PERSON, "--hours-upright", "30"], ["--hours-upright", "0", "24"]),
        (person(age="forty"), ["--age"]),
        (person(age="nan"), ["--age"]),
        (person(**{"mass-kg": ""}), ["--mass-kg"]),
    ],
)
def test_bad_person_is_one_error_line(
    argv: list[str], names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["simulate", *argv, "--protocol", "lie flat for 5 s"], capsys)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, *names)


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--protocol", "lie flat for 1 min; wobble for 2 s"], ["--protocol", 'step 2 "wobble for 2 s"']),
        (
            ["--protocol", "lie flat for 1 min; tilt to 60 deg over 1 s"],
            ["--protocol", '"tilt to 60 deg over 1 s"', "30 deg/s"],
        ),
        (["--protocol", "hold at 95 deg for 1 min"], ["--protocol", "95"]),
        (["--protocol", ""], ["--protocol", "empty"]),
        ([], ["exactly one of --protocol", "--protocol-file"]),
        (["--protocol-file", "does/not/exist.txt"], ["--protocol-file", "does/not/exist.txt"]),
        (["--protocol", "lie flat for 5 s", "--mu", "-1"], ["--mu", "0", "2"]),
        (["--protocol", "lie flat for 5 s", "--mu", "nan"], ["--mu"]),
        (["--protocol", "lie flat for 5 s", "--format", "xml"], ["--format", "xml"]),
        (["--protocol", "lie flat for 5 s", "--colour", "red"], ["--colour"]),
    ],
)
def test_bad_protocol_or_option_is_one_error_line(
    argv: list[str], names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["simulate", *PERSON, *argv], capsys)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, *names)


def test_protocol_text_and_file_together_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "session.txt"
    file.write_text("lie flat for 5 s\n", encoding="utf-8")
    code, out, err = run(
        ["simulate", *PERSON, "--protocol", "lie flat for 5 s", "--protocol-file", str(file)], capsys
    )
    assert code == 2
    assert out == ""
    assert_one_error_line(err, "exactly one of --protocol", "--protocol-file")


def test_unreadable_protocol_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["simulate", *PERSON, "--protocol-file", str(tmp_path)], capsys)  # a folder
    assert code == 2
    assert_one_error_line(err, "--protocol-file", str(tmp_path))


def test_unknown_command_and_parameter_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["frobnicate"], capsys)
    assert code == 2
    assert_one_error_line(err, "frobnicate")
    code, _, err = run(["parameters", "nope"], capsys)
    assert code == 2
    assert_one_error_line(err, "nope", "spine")


# --------------------------------------------------------------------------- other commands


def test_validate_json_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "validation.md"
    code, out, err = run(["validate", "--no-report", "--report", str(report), "--format", "json"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert {"id", "measured", "simulated", "passed"} <= set(row)
        assert isinstance(row["passed"], bool)
        assert isinstance(row["measured"], int | float) and isinstance(row["simulated"], int | float)
    assert len({row["id"] for row in rows}) == len(rows)
    assert not report.exists()


def test_demo_writes_its_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "demo"
    code, out, err = run(["demo", "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert "Standard 60-degree session" in out
    names = {"demo_report.html", "demo_session.png", "demo_session.json", "demo_session.csv"}
    assert names <= {p.name for p in out_dir.iterdir()}
    assert (out_dir / "demo_session.png").read_bytes()[:4] == b"\x89PNG"
    assert "<img" in (out_dir / "demo_report.html").read_text(encoding="utf-8")
    data = json.loads((out_dir / "demo_session.json").read_text(encoding="utf-8"))
    assert set(data["series"]) >= CONTRACT
    lines = (out_dir / "demo_session.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("time_s,") and len(lines) == len(data["time_s"]) + 1


def test_parameters_lists_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["parameters", "spine"], capsys)
    assert code == 0, err
    for key in ("bed_friction_coefficient", "compressive_modulus_mpa", "creep_slow_tau_s"):
        assert key in out
    assert "activation_lying_pct_mvc" not in out  # a muscle key
    code, out, _ = run(["parameters"], capsys)
    assert code == 0
    for key in ("activation_lying_pct_mvc", "bed_friction_coefficient", "reference_stature_mm.male"):
        assert key in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from inversa import __version__

    code, out, _ = run(["version"], capsys)
    assert code == 0 and out.strip() == __version__


# --------------------------------------------------------------------------- the real entry point


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inversa.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_entry_point_simulates_to_json(tmp_path: Path) -> None:
    proc = cli("simulate", *PERSON, "--protocol", SHORT, "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    assert set(data["series"]) >= CONTRACT and len(data["time_s"]) == 91


def test_entry_point_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    proc = cli("simulate", "--sex", "male", "--age", "12", "--height-cm", "175", "--mass-kg", "75",
               "--protocol", "lie flat for 5 s", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_error_line(proc.stderr, "--age", "16", "100")


def test_entry_point_without_arguments_shows_help(tmp_path: Path) -> None:
    proc = cli(cwd=tmp_path)
    assert "Traceback" not in proc.stderr
    assert "error:" not in proc.stderr
    assert "simulate" in proc.stdout + proc.stderr


def test_protocol_file_that_is_not_text_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "binary.txt"
    file.write_bytes(b"\xff\xfe\x00lie")
    code, out, err = run(["simulate", *PERSON, "--protocol-file", str(file)], capsys)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, "--protocol-file", "UTF-8")


@pytest.mark.parametrize("name", ["figure.txt", "figure"])
def test_unsupported_plot_file_is_refused_before_any_output(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / name
    code, out, err = run(
        ["simulate", *PERSON, "--protocol", "lie flat for 5 s", "--format", "json", "--plot", str(target)],
        capsys,
    )
    assert code == 2
    assert out == ""  # nothing printed, nothing half-written
    assert_one_error_line(err, "--plot", ".png", ".html")
    assert not any(tmp_path.iterdir())
