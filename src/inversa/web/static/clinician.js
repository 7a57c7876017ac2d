// Session charts on the clinician's patient page: each open <details data-trace="ID"> gets a uPlot
// chart of the angle (deg, left axis) and heart rate (bpm, right axis) over the session (minutes),
// read from the <script type="application/json" id="ID"> block the server put in the page. Charts
// are drawn when a session is opened, so a long list costs nothing until it is used.
(function () {
  "use strict";
  var drawn = [];

  function sizeOf(holder) {
    return { width: Math.max(260, Math.floor(holder.clientWidth || 320)), height: 220 };
  }

  function draw(details) {
    if (details.dataset.drawn === "1" || typeof window.uPlot === "undefined") return;
    var block = document.getElementById(details.dataset.trace);
    var holder = details.querySelector(".chart");
    if (!block || !holder) return;
    var d = JSON.parse(block.textContent);
    var hasHr = d.hr && d.hr.length > 0;
    var series = [
      { label: "Minutes" },
      { label: "Angle (deg)", scale: "deg", stroke: "#0a4a8c", width: 2, spanGaps: true },
    ];
    var axes = [
      { label: "minutes" },
      { scale: "deg", label: "deg head-down" },
    ];
    var data = [d.t, d.angle];
    if (hasHr) {
      series.push({ label: "Heart rate (bpm)", scale: "bpm", stroke: "#a4000f", width: 1.5, dash: [6, 3], spanGaps: true });
      axes.push({ scale: "bpm", label: "bpm", side: 1, grid: { show: false } });
      data.push(d.hr);
    }
    var size = sizeOf(holder);
    var opts = {
      width: size.width,
      height: size.height,
      scales: { x: { time: false } },
      series: series,
      axes: axes,
    };
    details.dataset.drawn = "1";
    drawn.push({ chart: new window.uPlot(opts, data, holder), holder: holder });
  }

  function init() {
    var all = document.querySelectorAll("details[data-trace]");
    for (var i = 0; i < all.length; i++) {
      var details = all[i];
      details.addEventListener("toggle", function (event) {
        if (event.currentTarget.open) draw(event.currentTarget);
      });
      if (details.open) draw(details);
    }
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) window.clearTimeout(pending);
      pending = window.setTimeout(function () {
        drawn.forEach(function (c) { c.chart.setSize(sizeOf(c.holder)); });
      }, 150);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
