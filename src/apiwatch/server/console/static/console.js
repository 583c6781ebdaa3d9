// apiwatch console: draws the uPlot charts from the JSON the console serves, and redraws them
// every 30 s. No inline script anywhere: the page's Content-Security-Policy forbids it.
"use strict";
(function () {
  var COLOURS = ["#2563eb", "#dc2626", "#d97706", "#7c3aed"];
  var SEVERITY = { critical: "#7f1d1d", high: "#dc2626", medium: "#d97706", low: "#2563eb",
                   informational: "#6b7280" };

  function markers(list) {
    // A uPlot plugin: a vertical line where each incident starts, coloured by severity.
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.lineWidth = 2;
      list.forEach(function (m) {
        var x = u.valToPos(m.t, "x", true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { return; }
        ctx.strokeStyle = SEVERITY[m.severity] || "#6b7280";
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
      });
      ctx.restore();
    }] } };
  }

  var cache = {};
  function load(url) {
    if (!cache[url]) {
      cache[url] = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(url + ": " + r.status); } return r.json(); });
    }
    return cache[url];
  }

  function draw(el, data) {
    var names = el.dataset.series.split(",");
    var labels = (el.dataset.labels || el.dataset.series).split(",");
    var series = [{}];
    var columns = [data.t];
    names.forEach(function (name, i) {
      series.push({ label: labels[i] || name, stroke: COLOURS[i % COLOURS.length], width: 1.5 });
      columns.push(data[name]);
    });
    var width = Math.max(el.clientWidth || 0, 300);
    var opts = { width: width, height: 180, series: series, plugins: [markers(data.incidents || [])],
                 scales: { x: { time: true } }, legend: { show: true } };
    el.textContent = "";
    el.chart = new uPlot(opts, columns, el);
    var total = 0;
    names.forEach(function (name) { data[name].forEach(function (v) { total += v; }); });
    el.dataset.rendered = String(data.t.length);
    el.dataset.total = String(total);
  }

  function drawAll() {
    cache = {};
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      load(el.dataset.chart).then(function (data) { draw(el, data); }).catch(function (err) {
        el.dataset.error = String(err);
        el.textContent = "The chart could not be loaded.";
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll();
    if (document.querySelector("[data-chart]")) { setInterval(drawAll, 30000); }
  });
})();
