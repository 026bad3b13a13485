// Sweeps tab, a finished sweep: the winner with its deflated Sharpe ratio and PBO, a heatmap of
// any metric over two axes (an HTML table coloured red to green, other axes reduced), the
// walk-forward (sweep_walkforward.js) and the sorted results. A click on a heatmap cell or a
// results row opens that configuration's full run: the server starts it as an ordinary backtest
// (or finds it in the run history) and the Backtesting tab shows it (results.js opens a run when
// the backtest status turns finished).
import { formatNumber, getJson, postJson } from "./format.js";
import { renderWarnings } from "./trust.js";
import { renderWalkForward } from "./sweep_walkforward.js";

const PAGE_SIZE = 50;
const METRICS = new Map(
  JSON.parse(document.getElementById("metric-labels").textContent).map((m) => [m.key, m]),
);
// the metric columns of the results table after the axes (the objective comes first)
const TABLE_METRICS = [
  "num_trades", "total_return_pct_usd", "final_pnl_vs_hodl", "max_drawdown_pct", "sharpe",
  "sortino", "win_rate_pct", "premium_collected_usd", "assignments",
];
const WINNER_METRICS = ["total_return_pct_usd", "final_pnl_vs_hodl", "max_drawdown_pct", "sharpe", "num_trades"];

const $ = (id) => document.getElementById(id);
const view = {
  metrics: [], // GET /api/sweeps/fields: every metric, with whether larger is better
  sweepId: null, // the sweep shown
  summary: null,
  axes: [],
  sort: null,
  desc: false,
  offset: 0,
  total: 0,
  heatSeq: 0, // answers to older requests than the last are dropped
  resultsSeq: 0,
};

export function showError(message) {
  $("sw-error").textContent = message || "";
  $("sw-error").classList.toggle("hidden", !message);
}

export const metricLabel = (key) => (METRICS.get(key) || { label: key }).label;
export const formatMetric = (key, value) => formatNumber(value, METRICS.get(key) || { decimals: 4 });
export const formatValue = (v) => (v === null || v === undefined ? "–" : String(v));

function describe(s) {
  const b = s.spec.base;
  const period = `${String(b.start).slice(0, 10)} → ${String(b.end).slice(0, 10)}`;
  const underlying = b.underlying || (s.spec.axes.underlying || []).join("/"); // or an axis
  return `${underlying} · ${period} · ${b.timeframe || "1h"} bars · ` +
    `${s.counts.configurations} configurations · sweep ${s.sweep_id}`;
}

export function option(select, value, text, chosen) {
  const opt = document.createElement("option");
  opt.value = value;
  opt.textContent = text;
  opt.selected = value === chosen;
  select.appendChild(opt);
}

function fillHeatControls(summary) {
  const metric = $("sw-heat-metric");
  metric.replaceChildren();
  for (const m of view.metrics) option(metric, m.name, metricLabel(m.name), summary.objective);
  const [x, y] = [$("sw-heat-x"), $("sw-heat-y")];
  x.replaceChildren();
  y.replaceChildren();
  view.axes.forEach((a) => option(x, a, a, view.axes[0]));
  option(y, "", "— (one row)", view.axes[1] || "");
  view.axes.forEach((a) => option(y, a, a, view.axes[1] || ""));
}

function dl(target, facts) {
  target.replaceChildren();
  for (const [label, text, testid, cls] of facts) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    if (text instanceof Node) dd.appendChild(text);
    else dd.textContent = text;
    if (testid) dd.dataset.testid = testid;
    if (cls) dd.className = cls;
    target.append(dt, dd);
  }
}

function openButton(row, text = "Open full run") {
  const b = document.createElement("button");
  b.className = "small";
  b.textContent = text;
  b.dataset.testid = "sw-open-row";
  b.addEventListener("click", () => openRow(row));
  return b;
}

function renderWinner(summary) {
  const best = summary.best && summary.best[0];
  $("sw-winner-note").textContent = `(best ${metricLabel(summary.objective)}` +
    `${summary.maximize ? ", larger is better" : ", smaller is better"})`;
  if (!best) {
    dl($("sw-winner"), [["Winner", "no configuration has a value of the objective"]]);
    return;
  }
  const facts = view.axes.map((a) => [a, formatValue(best[a]), `sw-winner-${a}`]);
  facts.push([metricLabel(summary.objective), formatMetric(summary.objective, best[summary.objective]), "sw-winner-objective"]);
  for (const key of WINNER_METRICS) {
    if (key !== summary.objective) facts.push([metricLabel(key), formatMetric(key, best[key])]);
  }
  facts.push(["Full run", openButton(best.row)]);
  dl($("sw-winner"), facts);
}

// The overfitting statistics of the summary's ``statistics`` block: each a percentage and the
// line that says what it means (a statistic the data cannot support is null with its reason).
function renderStats(summary) {
  const stats = summary.statistics;
  const pct = (v) => (v === null || v === undefined ? "n/a" : `${formatNumber(v * 100, { decimals: 0 })} %`);
  if (!stats) {
    dl($("sw-stats"), [["Statistics", "not computed for this sweep", "sw-stats-none"]]);
    return;
  }
  const { deflated_sharpe: dsr, pbo } = stats;
  dl($("sw-stats"), [
    ["Deflated Sharpe ratio", statLine(pct(dsr.dsr), dsr.explanation), "sw-dsr"],
    ["Prob. of backtest overfitting", statLine(pct(pbo.pbo), pbo.explanation), "sw-pbo"],
  ]);
}

function statLine(value, explanation) {
  const span = document.createElement("span");
  const strong = document.createElement("strong");
  strong.textContent = value;
  const text = document.createElement("span");
  text.className = "muted";
  text.textContent = explanation ? ` — ${explanation}` : "";
  span.append(strong, text);
  return span;
}

export async function openSweep(sweepId) {
  const { ok, body } = await getJson(`/api/sweeps/${sweepId}`);
  if (!ok) {
    showError(body.error || "the sweep could not be read");
    return;
  }
  Object.assign(view, {
    sweepId, summary: body, axes: Object.keys(body.spec.axes), sort: body.objective,
    desc: body.maximize, offset: 0,
  });
  $("sw-result").classList.remove("hidden");
  $("sw-result").dataset.sweepId = sweepId;
  $("sw-result-title").textContent = describe(body);
  const tag = $("sw-result-tag");
  tag.textContent = body.data.synthetic ? "SYNTHETIC" : body.data.source;
  tag.className = `badge ${body.data.synthetic ? "running" : "finished"}`;
  renderWarnings($("sw-warnings"), body.data.warnings);
  renderWinner(body);
  renderStats(body);
  fillHeatControls(body);
  await Promise.all([loadHeatmap(), loadResults(), renderWalkForward(body, view.axes)]);
}

// ---- heatmap ---------------------------------------------------------------------------------
// Red (worst) through yellow to green (best) over the finite values of the map.
function heatColor(value, map) {
  if (value === null || map.min === null) return "";
  const span = map.max - map.min;
  let t = span > 0 ? (value - map.min) / span : 1;
  if (!map.maximize) t = 1 - t;
  return `hsl(${Math.round(120 * t)}, 60%, 30%)`;
}

function renderHeatmap(map) {
  const table = $("sw-heatmap");
  table.replaceChildren();
  table.dataset.metric = map.metric;
  table.dataset.reduce = map.reduce;
  const head = document.createElement("tr");
  const corner = document.createElement("th");
  corner.textContent = map.y ? `${map.y} \\ ${map.x}` : map.x;
  head.appendChild(corner);
  for (const xv of map.x_values) {
    const th = document.createElement("th");
    th.textContent = formatValue(xv);
    head.appendChild(th);
  }
  table.appendChild(head);
  const yValues = map.y ? map.y_values : [null];
  yValues.forEach((yv, i) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = map.y ? formatValue(yv) : metricLabel(map.metric);
    tr.appendChild(th);
    map.x_values.forEach((xv, j) => {
      const td = document.createElement("td");
      const value = map.values[i][j];
      const row = map.rows[i][j];
      td.textContent = formatMetric(map.metric, value);
      td.dataset.testid = "sw-cell";
      td.dataset.value = value === null ? "" : String(value);
      td.style.background = heatColor(value, map);
      td.title = `${map.x} = ${formatValue(xv)}${map.y ? `, ${map.y} = ${formatValue(yv)}` : ""}: ` +
        `${map.reduce} of ${map.counts[i][j]} configuration(s)` +
        (row === null ? "" : `; click to open row ${row}`);
      if (row !== null) {
        td.dataset.row = String(row);
        td.classList.add("clickable");
        td.addEventListener("click", () => openRow(row));
      }
      tr.appendChild(td);
    });
    table.appendChild(tr);
  });
}

async function loadHeatmap() {
  if (!view.sweepId) return;
  const params = new URLSearchParams({
    metric: $("sw-heat-metric").value, x: $("sw-heat-x").value, reduce: $("sw-heat-reduce").value,
  });
  if ($("sw-heat-y").value) params.set("y", $("sw-heat-y").value);
  const seq = ++view.heatSeq;
  const { ok, body } = await getJson(`/api/sweeps/${view.sweepId}/heatmap?${params}`);
  if (seq !== view.heatSeq) return; // a newer choice has asked again
  if (ok) renderHeatmap(body);
  else showError(body.error);
}

// ---- results table ---------------------------------------------------------------------------
function columns() {
  const objective = view.summary.objective;
  return [...view.axes, objective, ...TABLE_METRICS.filter((m) => m !== objective)];
}

function renderResultsHead() {
  const head = $("sw-results-head");
  head.replaceChildren();
  for (const col of ["row", ...columns()]) {
    const th = document.createElement("th");
    th.dataset.sort = col;
    th.textContent = view.axes.includes(col) || col === "row" ? col : metricLabel(col);
    if (!view.axes.includes(col)) th.className = "num";
    const active = col === view.sort;
    th.classList.toggle("sorted", active);
    th.dataset.dir = active ? (view.desc ? "desc" : "asc") : "";
    th.addEventListener("click", () => sortBy(col));
    head.appendChild(th);
  }
}

function renderResults(page) {
  renderResultsHead();
  const body = $("sw-results-body");
  body.replaceChildren();
  for (const r of page.rows) {
    const tr = document.createElement("tr");
    tr.dataset.testid = "sw-row";
    tr.dataset.row = String(r.row);
    tr.dataset.runId = r.run_id;
    tr.title = `row ${r.row} · run ${r.run_id}: click to open its full run`;
    const cells = [[String(r.row), "num"]];
    for (const col of columns()) {
      cells.push(view.axes.includes(col) ? [formatValue(r[col]), ""] : [formatMetric(col, r[col]), "num"]);
    }
    for (const [text, cls] of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => openRow(r.row));
    body.appendChild(tr);
  }
  view.total = page.total;
  const last = Math.min(page.offset + page.rows.length, page.total);
  $("sw-results-info").textContent = `configurations ${page.offset + 1}–${last} of ${page.total}`;
  $("sw-results-prev").disabled = page.offset === 0;
  $("sw-results-next").disabled = last >= page.total;
}

async function loadResults() {
  if (!view.sweepId) return;
  const params = new URLSearchParams({ offset: view.offset, limit: PAGE_SIZE, sort: view.sort });
  if (view.desc) params.set("desc", "true");
  const seq = ++view.resultsSeq;
  const { ok, body } = await getJson(`/api/sweeps/${view.sweepId}/results?${params}`);
  if (seq !== view.resultsSeq) return;
  if (ok) renderResults(body);
  else showError(body.error);
}

function sortBy(col) {
  view.desc = view.sort === col ? !view.desc : !view.axes.includes(col) && col !== "row";
  view.sort = col;
  view.offset = 0;
  loadResults();
}

// ---- open one configuration's full run -------------------------------------------------------
export async function openRow(row) {
  const note = $("sw-open-note");
  const { ok, body } = await postJson(`/api/sweeps/${view.sweepId}/rows/${row}/backtest`);
  if (!ok) {
    note.textContent = `row ${row} not opened: ${body.error}`;
    note.className = "err";
    return;
  }
  note.textContent = body.started
    ? `row ${row}: its full run ${body.run_id} is being computed in the Backtesting tab`
    : `row ${row}: run ${body.run_id} opened from the run history`;
  note.className = "muted";
  $("tab-backtest").click();
  if (body.started) await window.refreshBacktestStatus();
  else await window.openRun(body.run_id);
}

export const shownSweep = () => view.sweepId;

// Hide the sweep shown if it is ``sweepId`` (it was deleted).
export function closeSweep(sweepId) {
  if (view.sweepId !== sweepId) return;
  view.sweepId = null;
  $("sw-result").classList.add("hidden");
}

export function initView(metrics) {
  view.metrics = metrics;
  for (const id of ["sw-heat-metric", "sw-heat-x", "sw-heat-y", "sw-heat-reduce"]) {
    $(id).addEventListener("change", loadHeatmap);
  }
  $("sw-results-prev").addEventListener("click", () => {
    view.offset = Math.max(0, view.offset - PAGE_SIZE);
    loadResults();
  });
  $("sw-results-next").addEventListener("click", () => {
    view.offset += PAGE_SIZE;
    loadResults();
  });
}
