// Model vs market page: the median IV error per days-to-expiry bucket, one line per underlying
// and delta bucket, drawn by uPlot from the page's JSON (#mc-chart-data); the tables are HTML.
import { loadChartLibrary, MISSING_LIBRARY } from "./charts.js";

const COLORS = ["#3fa7ff", "#3ecf8e", "#f5b942", "#ff6b6b", "#b48cff", "#5fd3d3", "#d8dee6", "#ff9f5a"];
const AXIS = { stroke: "#8a96a3", grid: { stroke: "#2a333d", width: 1 }, ticks: { stroke: "#2a333d" } };
const HEIGHT = 300;

const el = document.getElementById("mc-chart");
const note = document.getElementById("mc-chart-note");
const chart = JSON.parse(document.getElementById("mc-chart-data").textContent);

function say(text) {
  note.textContent = text;
  note.classList.remove("hidden");
}

function options(width) {
  const labels = chart.x_labels;
  const series = chart.series.map((s, i) => ({
    label: s.label,
    stroke: COLORS[i % COLORS.length],
    width: 1.5,
    dash: s.label.startsWith("ETH") ? [6, 4] : undefined,
    spanGaps: true,
    value: (u, v) => (v == null ? "–" : `${v >= 0 ? "+" : ""}${v.toFixed(2)}`),
  }));
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: false, range: [-0.3, labels.length - 0.7] } },
    series: [{ label: "DTE (days)", value: (u, v) => (v == null ? "–" : labels[v]) }, ...series],
    axes: [
      { ...AXIS, splits: () => labels.map((_, i) => i), values: (u, splits) => splits.map((i) => labels[i] ?? "") },
      { ...AXIS, size: 60, label: "vol points" },
    ],
  };
}

async function draw() {
  if (!chart.series.length) {
    say("No model IV to chart: the model side could not run (see the warnings below).");
    return;
  }
  const uPlot = await loadChartLibrary();
  if (!uPlot) {
    say(MISSING_LIBRARY);
    return;
  }
  const x = chart.x_labels.map((_, i) => i);
  const data = [x, ...chart.series.map((s) => s.values)];
  const width = Math.max(el.clientWidth || 0, 320);
  const plot = new uPlot(options(width), data, el);
  new ResizeObserver(() => {
    if (el.clientWidth > 0) plot.setSize({ width: el.clientWidth, height: HEIGHT });
  }).observe(el);
  el.dataset.series = String(chart.series.length);
}

draw();
