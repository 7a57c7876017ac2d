"""Plot a simulation result: angle, traction and disc height, pressure, stature, muscles and, when
the circulation ran, heart rate, blood pressure and eye pressure."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from inversa.body import LEVELS
from inversa.simulation import Result

__all__ = ["figure_for", "plot_result", "write_html_report"]


def figure_for(result: Result, person: int = 0) -> Figure:
    """A six-panel figure of one person's session (eight with the circulation), time in minutes."""
    t = result.time_s / 60.0
    s = {k: v[person] for k, v in result.series.items()}
    circulation = "heart_rate_bpm" in s
    n = 8 if circulation else 6
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.2 * n), sharex=True, constrained_layout=True)
    ax = axes[0]
    ax.plot(t, s["angle_deg"], color="black")
    ax.set_ylabel("angle (deg)\n+ head-down")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylim(-95, 95)
    for k, lvl in enumerate(LEVELS):
        axes[1].plot(t, s["traction_force_n"][:, k], label=lvl)
        axes[2].plot(t, s["disc_height_change_mm"][:, k], label=lvl)
        axes[3].plot(t, s["intradiscal_pressure_mpa"][:, k], label=lvl)
    axes[1].set_ylabel("axial force (N)\n+ traction")
    axes[1].axhline(0, color="grey", lw=0.5)
    axes[1].legend(ncol=6, fontsize=7, loc="lower center")
    axes[2].set_ylabel("disc height\nchange (mm)")
    axes[3].set_ylabel("intradiscal\npressure (MPa)")
    axes[4].plot(t, s["stature_change_mm"], color="tab:purple")
    axes[4].set_ylabel("stature\nchange (mm)")
    axes[5].plot(t, s["paraspinal_activation_pct_mvc"], label="paraspinal activation (% MVC)")
    axes[5].plot(t, s["muscle_stress_relaxation_pct"], label="stress relaxation (%)")
    axes[5].legend(fontsize=8)
    if circulation:
        ax = axes[6]
        ax.fill_between(t, s["diastolic_bp_mmhg"], s["systolic_bp_mmhg"], color="tab:red", alpha=0.2)
        ax.plot(t, s["mean_arterial_pressure_mmhg"], color="tab:red", label="arterial pressure (mean, band)")
        ax.plot(t, s["heart_rate_bpm"], color="tab:blue", label="heart rate (bpm)")
        ax.set_ylabel("heart level\n(mmHg, bpm)")
        ax.legend(fontsize=8)
        ax = axes[7]
        ax.plot(t, s["intraocular_pressure_mmhg"], color="tab:green", label="eye pressure (IOP)")
        ax.plot(t, s["head_venous_pressure_mmhg"], color="tab:olive", label="head venous pressure")
        ax.set_ylabel("eye level\n(mmHg)")
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("time (min)")
    p = result.people[person]
    fig.suptitle(
        f"{p.sex.value}, {p.age_years:g} y, {p.height_cm:g} cm, {p.mass_kg:g} kg, "
        f"{p.hours_upright_h:g} h upright"
    )
    return fig


def plot_result(result: Result, path: str | Path, person: int = 0) -> Path:
    """Write the figure as PNG, or as a self-contained HTML report when the name ends in .html."""
    path = Path(path)
    if path.suffix.lower() in {".html", ".htm"}:
        return write_html_report(result, path, person)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = figure_for(result, person)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_html_report(result: Result, path: str | Path, person: int = 0) -> Path:
    """A single HTML file: the figure (embedded PNG), the step table and the sources."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = figure_for(result, person)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    img = base64.b64encode(buf.getvalue()).decode("ascii")
    rows = result.step_table(person)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{v:.3g}</td>" if isinstance(v, float) else f"<td>{html.escape(str(v))}</td>"
            for v in r.values()
        )
        + "</tr>"
        for r in rows
    )
    cites = "".join(f"<li>{html.escape(c)}</li>" for c in result.citations)
    path.write_text(
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        "<title>Inversa session report</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "td,th{padding:2px 6px;border-bottom:1px solid #ddd;font-size:90%}</style>"
        "<h1>Inversa: simulated session</h1>"
        "<p>What the model predicts happens in the body. It is not a promise of relief: the "
        "evidence that traction helps back pain is weak (Cochrane 2013).</p>"
        f"<img alt='session figure' src='data:image/png;base64,{img}' style='width:100%'>"
        f"<h2>Steps (L4-L5)</h2><table><tr>{head}</tr>{body}</table>"
        f"<h2>Sources</h2><ol>{cites}</ol></html>",
        encoding="utf-8",
    )
    return path
