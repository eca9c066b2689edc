// Insights: draw the server's numbers (the #chart-data block) as a line chart.
// Chart.js comes from npm at install time (src/trackyard/console/assets).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const canvas = document.getElementById("chart");
  if (typeof Chart === "undefined") {
    canvas.replaceWith(Object.assign(document.createElement("p"), {
      className: "error",
      textContent: "The chart library is not installed: run `make run` (npm ci in src/trackyard/console/assets).",
    }));
    return;
  }
  const palette = ["#3b6ef5", "#e8590c", "#2b9348", "#c2255c", "#7048e8", "#0b7285", "#e67700", "#495057"];
  const chart = new Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: data.datasets.map((d, i) => ({
        label: d.label,
        data: d.data,
        borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
        cubicInterpolationMode: "monotone",  // never overshoots a count
        pointRadius: data.labels.length > 60 ? 0 : 3,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: {mode: "index", intersect: false},
      scales: {y: {beginAtZero: true, ticks: {precision: 0}}},
      plugins: {legend: {position: "bottom"}},
    },
  });
  // For tests and the curious: what the chart draws.
  window.trackyardChart = chart;
})();
