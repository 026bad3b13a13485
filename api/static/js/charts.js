// Run charts drawn by uPlot (installed from the npm registry by `make`, served under /vendor/uplot):
// equity vs HODL (USD and coin), the underwater curve, and spot with the trade markers.
// The curves arrive thinned by the server (GET /api/backtests/{id}/equity?points=N).
const UPLOT_JS = "/vendor/uplot/uPlot.esm.js";
const UPLOT_CSS = "/vendor/uplot/uPlot.min.css";
export const MISSING_LIBRARY =
  "Charts unavailable: the uPlot library is not installed (web/node_modules is missing). " +
  "Run `make run` (it installs it with npm ci) and reload.";

const COLORS = {
  equity: "#3fa7ff", hodl: "#8a96a3", coin: "#3ecf8e", hodlCoin: "#5d6b78", spot: "#d8dee6",
  sell: "#f5b942", take_profit: "#3ecf8e", assigned: "#ff6b6b",
};
const MARKERS = [
  { kind: "sell", label: "Call sold" },
  { kind: "take_profit", label: "Take profit" },
  { kind: "assigned", label: "Assigned (ITM expiry)" },
];
const HEIGHTS = { equity: 280, drawdown: 170, spot: 240 };
const AXIS = { stroke: "#8a96a3", grid: { stroke: "#2a333d", width: 1 }, ticks: { stroke: "#2a333d" } };
const SYNC = "thetadesk-run"; // one cursor across the three charts

let library = null;

// Load uPlot once; resolve to null (and never throw) when the asset is missing.
export function loadChartLibrary() {
  library ??= import(UPLOT_JS).then(
    (mod) => {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = UPLOT_CSS;
      document.head.appendChild(link);
      return mod.default;
    },
    () => null,
  );
  return library;
}

const money = (digits) => (u, v) => (v == null ? "–" : v.toLocaleString("en-US", {
  minimumFractionDigits: digits, maximumFractionDigits: digits,
}));

function line(label, stroke, scale, digits, extra = {}) {
  return { label, stroke, scale, width: 1.5, value: money(digits), points: { show: false }, ...extra };
}

function markerSeries({ kind, label }) {
  return {
    label, scale: "usd", stroke: COLORS[kind], fill: COLORS[kind], width: 0, value: money(0),
    paths: () => null, points: { show: true, size: 8, width: 1, stroke: COLORS[kind], fill: COLORS[kind] },
  };
}

function options(kind, width) {
  const base = {
    width, height: HEIGHTS[kind], cursor: { sync: { key: SYNC } }, legend: { live: true },
    scales: { x: { time: true } },
  };
  if (kind === "equity") {
    return {
      ...base,
      series: [
        {},
        line("Equity (USD)", COLORS.equity, "usd", 2),
        line("HODL (USD)", COLORS.hodl, "usd", 2, { dash: [6, 4] }),
        line("Equity (coin)", COLORS.coin, "coin", 6),
        line("HODL (coin)", COLORS.hodlCoin, "coin", 6, { dash: [2, 3] }),
      ],
      axes: [{ ...AXIS }, { ...AXIS, scale: "usd", size: 70 },
        { ...AXIS, scale: "coin", side: 1, size: 60, grid: { show: false } }],
    };
  }
  if (kind === "drawdown") {
    return {
      ...base,
      series: [
        {},
        line("Drawdown (%)", COLORS.assigned, "pct", 2, { fill: "rgba(255,107,107,0.18)" }),
        line("HODL drawdown (%)", COLORS.hodl, "pct", 2, { dash: [6, 4] }),
      ],
      scales: { ...base.scales, pct: { range: (u, min) => [Math.min(min, -1), 0] } },
      axes: [{ ...AXIS }, { ...AXIS, scale: "pct", size: 70 }],
    };
  }
  return {
    ...base,
    series: [{}, line("Spot (USD)", COLORS.spot, "usd", 2, { spanGaps: true }),
      ...MARKERS.map(markerSeries)],
    axes: [{ ...AXIS }, { ...AXIS, scale: "usd", size: 70 }],
  };
}

// Spot on its thinned instants plus one instant per marker, each series null where it has no value.
function spotData(curve) {
  const byTime = new Map();
  const row = (t) => {
    if (!byTime.has(t)) byTime.set(t, [t, null, null, null, null]);
    return byTime.get(t);
  };
  curve.time_s.forEach((t, i) => { row(t)[1] = curve.spot_usd[i]; });
  for (const m of curve.markers) {
    row(m.time_s)[2 + MARKERS.findIndex((k) => k.kind === m.kind)] = m.price_usd;
  }
  const rows = [...byTime.values()].sort((a, b) => a[0] - b[0]);
  return [0, 1, 2, 3, 4].map((col) => rows.map((r) => r[col]));
}

function chartData(kind, curve) {
  if (kind === "equity") {
    return [curve.time_s, curve.equity_usd, curve.hodl_usd, curve.equity_coin, curve.hodl_coin];
  }
  if (kind === "drawdown") return [curve.time_s, curve.drawdown_pct, curve.hodl_drawdown_pct];
  return spotData(curve);
}

const charts = new Map(); // kind -> { plot, el, observer }

function widthOf(el) {
  return Math.max(el.clientWidth || el.parentElement.clientWidth || 0, 320);
}

// Draw (or redraw in place) the three charts of ``curve`` into ``targets`` ({equity, drawdown, spot}).
export async function renderRunCharts(curve, targets) {
  const uPlot = await loadChartLibrary();
  if (!uPlot) return false;
  for (const [kind, el] of Object.entries(targets)) {
    const data = chartData(kind, curve);
    let entry = charts.get(kind);
    if (entry && entry.el !== el) {
      destroyChart(kind);
      entry = undefined;
    }
    if (entry) {
      entry.plot.setData(data);
    } else {
      charts.set(kind, { ...mount(uPlot, options(kind, widthOf(el)), data, el), el });
    }
    el.dataset.points = String(curve.points);
    el.dataset.markers = String(curve.markers.length);
    el.dataset.runId = curve.run_id ?? "";
    el.dataset.live = String(curve.live);
  }
  return true;
}

// A new chart in ``el`` that follows the element's width.
function mount(uPlot, opts, data, el) {
  el.replaceChildren();
  const plot = new uPlot(opts, data, el);
  const observer = new ResizeObserver(() => {
    if (el.clientWidth > 0) plot.setSize({ width: el.clientWidth, height: opts.height });
  });
  observer.observe(el);
  return { plot, observer };
}

const returnCharts = new Map(); // element -> { plot, observer }

// A strategy's return against HODL (% of USD) on one time axis: a sweep's walk-forward, its test
// windows chained out of sample (GET /api/sweeps/{id}/walk-forward).
export async function renderReturnChart(el, curve) {
  const uPlot = await loadChartLibrary();
  if (!uPlot) return false;
  const old = returnCharts.get(el);
  if (old) {
    old.observer.disconnect();
    old.plot.destroy();
  }
  const opts = {
    width: widthOf(el), height: HEIGHTS.equity, legend: { live: true }, scales: { x: { time: true } },
    series: [
      {},
      line("Walk-forward, out of sample (USD %)", COLORS.equity, "pct", 2),
      line("HODL (USD %)", COLORS.hodl, "pct", 2, { dash: [6, 4] }),
    ],
    axes: [{ ...AXIS }, { ...AXIS, scale: "pct", size: 70 }],
  };
  const data = [curve.time_s, curve.strategy_return_pct_usd, curve.hodl_return_pct_usd];
  returnCharts.set(el, mount(uPlot, opts, data, el));
  el.dataset.points = String(curve.points);
  return true;
}

function destroyChart(kind) {
  const entry = charts.get(kind);
  if (!entry) return;
  entry.observer.disconnect();
  entry.plot.destroy();
  charts.delete(kind);
}

// Remove every chart (the run shown was deleted).
export function clearRunCharts(targets) {
  for (const [kind, el] of Object.entries(targets)) {
    destroyChart(kind);
    el.replaceChildren();
    for (const key of ["points", "markers", "runId", "live"]) delete el.dataset[key];
  }
}
