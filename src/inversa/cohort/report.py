"""A self-contained HTML report of a cohort run: status counts, sampled distributions, outputs,
safety margins, the largest safe angle per subgroup and Sobol' indices (figures as embedded PNG)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import uuid
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from inversa.cohort.analysis import (
    DEFAULT_AGE_EDGES,
    DEFAULT_LIMITS,
    Limit,
    MarginReport,
    SafeAngle,
    largest_safe_angles,
    margin_columns,
    safety_margins,
)
from inversa.cohort.run import open_results, read_manifest

__all__ = ["CohortReport", "build_report"]

SENSITIVITY_FILE = "sensitivity.json"
_MAX_HIST = 16


@dataclass
class CohortReport:
    """What the report found: where it was written, status counts, margins, safe angles."""

    path: Path
    kind: str
    counts_by_scenario: dict[str, dict[str, int]]
    margins: MarginReport
    safe_angles: list[SafeAngle] = field(default_factory=list)
    sensitivity: dict[str, Any] | None = None


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    with warnings.catch_warnings():  # crowded small panels: layout falls back, the figure is fine
        warnings.filterwarnings("ignore", "constrained_layout not applied", UserWarning)
        fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig: Figure, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{_png(fig)}'>"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "<td>-</td>" if math.isnan(v) else f"<td>{v:.3g}</td>"
        return f"<td>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _numeric(values: Any) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    arr = np.asarray(values)
    if arr.dtype.kind in "fiu":
        return np.asarray(arr, dtype=float)
    return None


def _histograms(cols: dict[str, Any], names: Sequence[str], title: str) -> Figure | None:
    names = [n for n in names if n in cols][:_MAX_HIST]
    if not names:
        return None
    ncol = 4
    nrow = math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.4 * nrow), constrained_layout=True, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        num = _numeric(cols[name])
        if num is None:
            counts = Counter(str(v) for v in cols[name])
            ax.bar(list(counts), list(counts.values()), color="tab:gray")
        else:
            finite = num[np.isfinite(num)]
            if finite.size:
                ax.hist(finite, bins=30, color="tab:blue", alpha=0.8)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(title)
    return fig


def _correlation(cols: dict[str, Any], names: Sequence[str]) -> Figure | None:
    nums = [(n, _numeric(cols[n])) for n in names if n in cols]
    nums2 = [(n, v) for n, v in nums if v is not None and np.nanstd(v) > 0]
    if len(nums2) < 2:
        return None
    mat = np.corrcoef(np.vstack([v for _, v in nums2]))
    fig, ax = plt.subplots(
        figsize=(1.0 + 0.45 * len(nums2), 0.6 + 0.45 * len(nums2)), constrained_layout=True
    )
    im = ax.imshow(mat, vmin=-1, vmax=1, cmap="RdBu_r")
    labels = [n for n, _ in nums2]
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.7)
    ax.set_title("Pearson correlation of sampled variables", fontsize=9)
    return fig


def _output_hists(cols: dict[str, Any], outputs: Sequence[str], limits: Sequence[Limit]) -> Figure | None:
    outputs = [o for o in outputs if o in cols][:8]
    if not outputs:
        return None
    scen = np.asarray(cols["scenario"], dtype=object)
    labels = list(dict.fromkeys(scen.tolist()))[:8]
    ok = np.asarray(cols["status"], dtype=object) == "ok"
    ncol = 2
    nrow = math.ceil(len(outputs) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.8 * nrow), constrained_layout=True, squeeze=False)
    for ax, name in zip(axes.flat, outputs, strict=False):
        vals = np.asarray(cols[name], dtype=float)
        for lab in labels:
            v = vals[(scen == lab) & ok & np.isfinite(vals)]
            if v.size:
                ax.hist(v, bins=30, alpha=0.5, label=str(lab))
        for lim in limits:
            if lim.column == name:
                ax.axvline(lim.value, color="red", lw=1.2, ls="--", label=f"limit {lim.op} {lim.value:g}")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
        if len(labels) > 1 or any(lim.column == name for lim in limits):
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(outputs) :]:
        ax.axis("off")
    fig.suptitle("Outputs of people with status ok")
    return fig


def _angle_plot(margins: MarginReport) -> Figure | None:
    rows = [r for r in margins.rows if r.limit == "any" and r.angle_deg is not None]
    if not rows:
        return None
    groups = list(dict.fromkeys(r.group for r in rows))
    fig, axes = plt.subplots(
        1, len(groups), figsize=(4 * len(groups), 3.4), constrained_layout=True, squeeze=False
    )
    for ax, group in zip(axes.flat, groups, strict=True):
        subs = list(dict.fromkeys(r.subgroup for r in rows if r.group == group))
        for sub in subs:
            rr = sorted(
                (r for r in rows if r.group == group and r.subgroup == sub), key=lambda r: r.angle_deg or 0
            )
            x = np.array([r.angle_deg for r in rr], dtype=float)
            y = np.array([r.share for r in rr], dtype=float)
            lo = np.array([r.ci_low for r in rr], dtype=float)
            hi = np.array([r.ci_high for r in rr], dtype=float)
            below = np.nan_to_num(np.maximum(y - lo, 0.0))
            above = np.nan_to_num(np.maximum(hi - y, 0.0))
            ax.errorbar(x, 100 * y, yerr=[100 * below, 100 * above], marker="o", ms=3, capsize=2, label=sub)
        ax.set_title(group, fontsize=9)
        ax.set_xlabel("angle (deg, head-down)")
        ax.set_ylabel("% outside a limit")
        ax.legend(fontsize=6)
    fig.suptitle("Share of people outside any limit, by angle (95 % Wilson intervals)")
    return fig


def _sensitivity_plot(sens: dict[str, Any]) -> Figure | None:
    results = [r for r in sens.get("results", []) if r.get("available")][:8]
    if not results:
        return None
    fig, axes = plt.subplots(
        len(results), 1, figsize=(10, 2.6 * len(results)), constrained_layout=True, squeeze=False
    )
    for ax, r in zip(axes.flat, results, strict=True):
        names = list(r["st"])
        x = np.arange(len(names))
        ax.bar(
            x - 0.2,
            [r["s1"][n] for n in names],
            0.4,
            yerr=[r["s1_conf"][n] for n in names],
            label="S1",
            capsize=2,
        )
        ax.bar(
            x + 0.2,
            [r["st"][n] for n in names],
            0.4,
            yerr=[r["st_conf"][n] for n in names],
            label="ST",
            capsize=2,
        )
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=7)
        ax.set_title(r["output"], fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("Sobol' indices (first order S1, total ST) with 95 % intervals")
    return fig


def _read_columns(out_dir: Path, names: Sequence[str]) -> dict[str, Any]:
    dataset = open_results(out_dir)
    present = [n for n in dict.fromkeys(names) if n in dataset.schema.names]
    table = dataset.to_table(columns=present)
    cols: dict[str, Any] = {}
    for name in present:
        col = table.column(name)
        import pyarrow as pa

        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            cols[name] = col.to_numpy(zero_copy_only=False).astype(float)
        else:
            cols[name] = np.asarray(col.to_pylist(), dtype=object)
    return cols


def build_report(
    out_dir: str | Path,
    *,
    limits: Sequence[Limit] = DEFAULT_LIMITS,
    max_share: float = 0.05,
    age_edges: Sequence[float] = DEFAULT_AGE_EDGES,
    path: str | Path | None = None,
) -> CohortReport:
    """Analyse the run in ``out_dir`` and write ``report.html`` (and ``margins.json``) there."""
    out = Path(out_dir)
    manifest = read_manifest(out)
    spec = manifest.get("spec", {})
    variables = [*spec.get("person", {}), *spec.get("parameters", {})]
    schema_names = open_results(out).schema.names
    outputs = [n for n in schema_names if "__" in n]
    shown = [lim.column for lim in limits if lim.column in schema_names]
    shown += [o for o in outputs if o.endswith("__max") and o not in shown][: max(0, 8 - len(shown))]
    wanted = [*margin_columns(limits), "person_id", *variables, *shown]
    cols = _read_columns(out, wanted)
    scen = np.asarray(cols["scenario"], dtype=object)
    status = np.asarray(cols["status"], dtype=object)
    counts: dict[str, dict[str, int]] = {}
    for s, st in zip(scen.tolist(), status.tolist(), strict=True):
        counts.setdefault(str(s), {})
        counts[str(s)][str(st)] = counts[str(s)].get(str(st), 0) + 1

    population = manifest.get("kind", "cohort") == "cohort"
    margins = safety_margins(cols, limits, age_edges) if population else MarginReport([], list(limits))
    safe = largest_safe_angles(margins, max_share)
    sens_path = out / SENSITIVITY_FILE
    sens = json.loads(sens_path.read_text(encoding="utf-8")) if sens_path.exists() else None

    first = scen == (scen[0] if scen.size else None)
    sample_cols = {k: np.asarray(v)[first] for k, v in cols.items() if k in variables}
    parts: list[str] = []
    title = f"Inversa cohort report: {spec.get('name', 'cohort')}"
    source = manifest.get("source", {})
    parts.append(f"<h1>{html.escape(title)}</h1>")
    parts.append(
        "<p>Model predictions for a virtual cohort, not measurements. Person distributions are "
        "approximate summaries of survey data (see docs/cohorts.md); limits are Inversa defaults unless "
        "given.</p>"
    )
    parts.append(
        _table(
            ["run", "value"],
            [
                ["kind", manifest.get("kind", "")],
                ["people (rows of the design)", manifest.get("n_rows", "")],
                ["sampling", json.dumps(source)],
                ["spec hash", manifest.get("spec_hash", "")],
                ["evaluator", manifest.get("evaluator", "")],
                ["versions", json.dumps(manifest.get("versions", {}))],
            ],
        )
    )
    parts.append("<h2>Scenarios and status</h2>")
    scen_rows = []
    for s in manifest.get("scenarios", []):
        c = counts.get(s["label"], {})
        scen_rows.append([s["label"], s["protocol"].replace("\n", "; "), *(c.get(k, 0) for k in _STATUSES)])
    parts.append(_table(["scenario", "protocol", *_STATUSES], scen_rows))
    reasons = Counter(
        str(r) for r in _read_columns(out, ["reason", "status"]).get("reason", []) if r
    ).most_common(5)
    if reasons:
        parts.append("<p>Most common reasons:</p>" + _table(["reason", "rows"], [[r, n] for r, n in reasons]))

    parts.append("<h2>Sampled people and parameters</h2>")
    fig = _histograms(sample_cols, variables, "Sampled variables (first scenario)")
    if fig is not None:
        parts.append(_img(fig, "sampled variables"))
    fig = _correlation(sample_cols, list(spec.get("person", {})))
    if fig is not None:
        parts.append(_img(fig, "correlations"))

    parts.append("<h2>Outputs</h2>")
    fig = _output_hists(cols, shown, limits)
    parts.append(_img(fig, "outputs") if fig is not None else "<p>No outputs (no person evaluated ok).</p>")

    parts.append("<h2>Safety margins</h2>")
    parts.append(
        "<p>Share of people (status ok) outside each limit, with Wilson 95 % intervals. "
        "'any' counts a person outside at least one available limit.</p>"
    )
    parts.append(
        _table(
            ["limit", "source"],
            [[lim.text, lim.source or "given on the command line"] for lim in limits],
        )
    )
    if not population:
        parts.append(
            "<p class='note'>This run is a sensitivity design, not a population sample: no margins.</p>"
        )
    for note in margins.notes():
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    if margins.rows:
        parts.append(
            _table(
                [
                    "scenario",
                    "group",
                    "subgroup",
                    "limit",
                    "n",
                    "excluded",
                    "outside",
                    "share",
                    "95% low",
                    "95% high",
                ],
                [
                    [
                        r.scenario,
                        r.group,
                        r.subgroup,
                        r.limit,
                        r.n,
                        r.n_excluded,
                        r.n_exceed,
                        r.share,
                        r.ci_low,
                        r.ci_high,
                    ]
                    for r in margins.rows
                ],
            )
        )
    fig = _angle_plot(margins)
    if fig is not None:
        parts.append(_img(fig, "share outside limits by angle"))
    if safe:
        parts.append(
            f"<h2>Largest safe angle per subgroup</h2><p>Criterion: {html.escape(safe[0].basis)}.</p>"
        )
        parts.append(
            _table(
                ["group", "subgroup", "largest safe angle (deg)", "note"],
                [
                    [a.group, a.subgroup, "none" if a.angle_deg is None else f"{a.angle_deg:g}", a.note]
                    for a in safe
                ],
            )
        )
    if sens is not None:
        parts.append("<h2>Global sensitivity (Sobol' indices)</h2>")
        parts.append(
            f"<p>Saltelli design, N = {sens.get('n_base')} base samples over "
            f"{html.escape(', '.join(sens.get('variables', [])))}; other variables at their medians.</p>"
        )
        fig = _sensitivity_plot(sens)
        if fig is not None:
            parts.append(_img(fig, "sobol indices"))
        rows = []
        for r in sens.get("results", []):
            if not r.get("available"):
                rows.append([r["output"], "-", "-", "-", "-", "-", r.get("note", "")])
                continue
            for v in r["st"]:
                rows.append([r["output"], v, r["s1"][v], r["s1_conf"][v], r["st"][v], r["st_conf"][v], ""])
        parts.append(_table(["output", "variable", "S1", "S1 +/-", "ST", "ST +/-", "note"], rows))

    target = Path(path) if path is not None else out / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:75em;margin:auto}img{max-width:100%}"
        "td,th{padding:2px 6px;border-bottom:1px solid #ddd;font-size:85%;text-align:left}"
        ".note{color:#a33}</style>" + "".join(parts) + "</html>"
    )
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(doc, encoding="utf-8")
    os.replace(tmp, target)
    margins_doc = {
        **margins.as_dict(),
        "largest_safe_angles": [asdict(a) for a in safe],
        "max_share": max_share,
    }
    (out / "margins.json").write_text(json.dumps(margins_doc, indent=1), encoding="utf-8")
    return CohortReport(target, str(manifest.get("kind", "cohort")), counts, margins, safe, sens)


_STATUSES = ("ok", "invalid_person", "simulation_failed", "non_finite_output")
