// Charts for the patient pages: uPlot glue. No inline script: the data come from
// <script type="application/json"> blocks (data-chart="ID") or from a JSON route (data-chart-src).
//
// A chart spec: {"title", "unit", "kind": "time" | "minutes", "series": [{"label", "points": [[x, y], ...]}]}
// or, with one shared x: {"x": [...], "series": [{"label", "values": [...]}]}. Series may name a
// "scale" (their unit) to get an axis of their own; "range": [lo, hi] fixes the y axis of the
// others. Time x values are unix seconds.
(function () {
  "use strict";

  var COLORS = ["#0a4a8c", "#a4000f", "#1d6b2f", "#6b3fa0", "#8a5a00", "#00606b"];
  var HEIGHT = 240;
  var DAY = 86400;
  var plots = [];

  function widthOf(el) {
    return Math.max(260, Math.floor(el.getBoundingClientRect().width || el.clientWidth || 320));
  }

  // [x, y1, y2, ...] with nulls where a series has no value at an x.
  function aligned(spec) {
    var series = spec.series;
    if (spec.x) {
      return [spec.x].concat(series.map(function (s) { return s.values; }));
    }
    var tables = series.map(function (s) {
      var pts = s.points.slice().sort(function (a, b) { return a[0] - b[0]; });
      return [pts.map(function (p) { return p[0]; }), pts.map(function (p) { return p[1]; })];
    });
    return uPlot.join(tables);
  }

  function render(el, spec) {
    var shown = spec.series.filter(function (s) { return (s.points || s.values || []).length > 0; });
    if (shown.length === 0) {
      return null;
    }
    spec = Object.assign({}, spec, { series: shown });
    var scales = { x: { time: spec.kind === "time" } };
    if (spec.kind === "time") {
      // a few days at least, so that one answer is not drawn across years
      // (uPlot widens a single point to 1000 days before asking, so look at the data themselves)
      scales.x.range = function (u, min, max) {
        var xs = u.data[0];
        var lo = xs[0];
        var hi = xs[xs.length - 1];
        if (hi - lo >= 6 * DAY) { return [min, max]; }
        var mid = (lo + hi) / 2;
        return [mid - 3.5 * DAY, mid + 3.5 * DAY];
      };
    }
    var axes = [{ label: spec.kind === "minutes" ? "minutes" : "" }];
    var seen = {};
    var series = [{ label: spec.kind === "minutes" ? "min" : "date" }];
    shown.forEach(function (s, i) {
      var scale = s.scale || spec.unit || "y";
      if (!(scale in seen)) {
        seen[scale] = true;
        scales[scale] = spec.range && !s.scale ? { auto: false, range: spec.range } : { auto: true };
        var axis = { scale: scale, label: s.scale || spec.unit || "" };
        if (axes.length > 1) {
          axis.side = 1;
          axis.grid = { show: false };
        }
        axes.push(axis);
      }
      series.push({
        label: s.label,
        scale: scale,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        spanGaps: true,
        points: { show: !spec.x, size: 7 }
      });
    });
    var opts = {
      title: spec.title, width: widthOf(el), height: HEIGHT, scales: scales, axes: axes, series: series,
      legend: { show: shown.length > 1 }
    };
    var plot = new uPlot(opts, aligned(spec), el);
    plots.push({ plot: plot, el: el });
    return plot;
  }

  function fromBlocks() {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var block = document.getElementById(el.getAttribute("data-chart"));
      if (!block) {
        return;
      }
      try {
        render(el, JSON.parse(block.textContent));
      } catch (err) {
        el.textContent = "The chart could not be drawn: " + err.message;
      }
    });
  }

  function say(box, text) {
    var status = box.querySelector("[data-status]");
    if (!status) {
      status = document.createElement("p");
      status.setAttribute("data-status", "");
      status.setAttribute("role", "status");
      box.appendChild(status);
    }
    status.textContent = text;
    return status;
  }

  function fmt(v) {
    return v === null || v === undefined ? "–" : String(Math.round(v * 10) / 10);
  }

  function summary(data) {
    var list = document.createElement("ul");
    list.className = "peaks";
    var lines = [];
    var p = data.peaks;
    if (p.traction_force_n) {
      lines.push(p.traction_force_n.title + ": " + fmt(p.traction_force_n.min) + " to " + fmt(p.traction_force_n.max) +
        " N (below 0: the disc is still compressed, above 0: pulled apart)");
    }
    if (p.disc_height_change_mm) {
      lines.push(p.disc_height_change_mm.title + ": " + fmt(p.disc_height_change_mm.min) + " to " +
        fmt(p.disc_height_change_mm.max) + " mm");
    }
    if (p.heart_rate_bpm) { lines.push(p.heart_rate_bpm.title + ": " + fmt(p.heart_rate_bpm.min) + " to " + fmt(p.heart_rate_bpm.max) + " bpm"); }
    if (p.intraocular_pressure_mmhg) {
      var iop = p.intraocular_pressure_mmhg.title + ": up to " + fmt(p.intraocular_pressure_mmhg.max) + " mmHg";
      if (data.iop_limit_mmhg) { iop += " (your limit " + fmt(data.iop_limit_mmhg) + " mmHg)"; }
      lines.push(iop);
    }
    lines.push("Whole session: " + fmt(data.minutes) + " min");
    lines.forEach(function (t) {
      var li = document.createElement("li");
      li.textContent = t;
      list.appendChild(li);
    });
    return list;
  }

  function fromRoute(box) {
    var src = box.getAttribute("data-chart-src");
    var tries = 0;
    function poll() {
      tries += 1;
      fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (res) {
          return res.json().then(function (body) { return { code: res.status, body: body }; });
        })
        .then(function (r) {
          if (r.code === 202 || r.body.status === "computing") {
            if (tries < 120) {
              say(box, "The engine is simulating your session… (" + tries + ")");
              window.setTimeout(poll, 1500);
            } else {
              say(box, "The simulation is taking too long. Reload the page to try again.");
            }
            return;
          }
          if (r.body.status !== "done") {
            say(box, r.body.message || "No picture of the next session.");
            return;
          }
          say(box, "Predicted for a body like yours; not a measurement.");
          box.appendChild(summary(r.body));
          r.body.charts.forEach(function (spec) {
            var fig = document.createElement("div");
            fig.className = "chart";
            fig.setAttribute("role", "img");
            fig.setAttribute("aria-label", spec.title + " over the session");
            box.appendChild(fig);
            render(fig, spec);
          });
        })
        .catch(function (err) {
          say(box, "The picture could not be loaded: " + err.message);
        });
    }
    poll();
  }

  var resizeTimer = null;
  function onResize() {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () {
      plots.forEach(function (p) { p.plot.setSize({ width: widthOf(p.el), height: HEIGHT }); });
    }, 150);
  }

  function start() {
    if (typeof uPlot === "undefined") {
      return;
    }
    fromBlocks();
    document.querySelectorAll("[data-chart-src]").forEach(fromRoute);
    window.addEventListener("resize", onResize);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
