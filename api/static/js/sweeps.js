// Sweeps tab: build a spec (base fields and axes), see its configuration count live, start/stop
// the sweep and watch its progress; then a heatmap of any metric over two axes, the sortable
// results, the winner with its overfitting statistics, the walk-forward view, and past sweeps.
// A click on a heatmap cell or a results row opens that configuration's full run: the server
// starts it as an ordinary backtest (or finds it in the run history) and the Backtesting tab
// shows it (results.js opens a run when the backtest status turns finished).
import { formatNumber, formatTime, getJson } from "./format.js";
import { loadSources, SYNTHETIC_NOTE } from "./sources.js";
import { renderWarnings } from "./trust.js";

const POLL_RUNNING_MS = 1000;
const POLL_IDLE_MS = 5000;
const COUNT_DELAY_MS = 250;
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
const DEFAULT_AXES = [
  ["tp_threshold_pct", "50, 80"],
  ["exit_style", "hold_to_expiry, tp_and_roll"],
];
const FORM_IDS = [
  "sw-underlying", "sw-source", "sw-start", "sw-end", "sw-timeframe", "sw-interval",
  "sw-exit-style", "sw-objective", "sw-walk-forward", "sw-constraints", "sw-add-axis",
];

const $ = (id) => document.getElementById(id);
const state = {
  fields: [], // GET /api/sweeps/fields: the fields an axis may vary
  metrics: [], // ... and the metrics, with whether larger is better
  sources: [],
  running: false,
  pollTimer: null,
  countTimer: null,
  countSeq: 0,
  sawStatus: false,
  lastFinished: null,
  sweepId: null, // the sweep shown
  summary: null,
  axes: [],
  sort: null,
  desc: false,
  offset: 0,
  total: 0,
};

function showError(message) {
  $("sw-error").textContent = message || "";
  $("sw-error").classList.toggle("hidden", !message);
}

const metricLabel = (key) => (METRICS.get(key) || { label: key }).label;
const formatMetric = (key, value) => formatNumber(value, METRICS.get(key) || { decimals: 4 });
const formatValue = (v) => (v === null || v === undefined ? "–" : String(v));

// ---- the spec form -------------------------------------------------------------------------
// "50, 80" -> [50, 80]; "0.15:0.35:0.05" -> {start, stop, step}; "true" -> true; text stays text.
function parseScalar(text) {
  if (text === "true" || text === "false") return text === "true";
  return text !== "" && !Number.isNaN(Number(text)) ? Number(text) : text;
}

export function parseAxis(text) {
  const parts = text.split(":").map((p) => p.trim());
  if (parts.length === 3 && parts.every((p) => p !== "" && !Number.isNaN(Number(p)))) {
    const [start, stop, step] = parts.map(Number);
    return { start, stop, step };
  }
  return text.split(",").map((p) => p.trim()).filter((p) => p !== "").map(parseScalar);
}

function fieldOptions(select, chosen) {
  select.replaceChildren();
  for (const f of state.fields) {
    const opt = document.createElement("option");
    opt.value = f.name;
    opt.textContent = f.name;
    opt.selected = f.name === chosen;
    select.appendChild(opt);
  }
}

function hintFor(name) {
  const f = state.fields.find((x) => x.name === name);
  if (!f) return "";
  if (f.choices) return f.choices.join(", ");
  return f.default === null ? "values" : `default ${f.default}`;
}

function addAxisRow(name, values = "") {
  const tr = document.createElement("tr");
  tr.dataset.testid = "sw-axis-row";
  const select = document.createElement("select");
  select.dataset.testid = "sw-axis-field";
  fieldOptions(select, name);
  const input = document.createElement("input");
  input.dataset.testid = "sw-axis-values";
  input.size = 40;
  input.value = values;
  input.placeholder = hintFor(select.value);
  select.addEventListener("change", () => {
    const f = state.fields.find((x) => x.name === select.value);
    input.placeholder = hintFor(select.value);
    if (f && f.choices && !input.value) input.value = f.choices.join(", ");
    scheduleCount();
  });
  input.addEventListener("input", scheduleCount);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "small";
  remove.textContent = "×";
  remove.title = "remove this axis";
  remove.dataset.testid = "sw-axis-remove";
  remove.addEventListener("click", () => {
    tr.remove();
    scheduleCount();
  });
  for (const el of [select, input, remove]) {
    const td = document.createElement("td");
    td.appendChild(el);
    tr.appendChild(td);
  }
  $("sw-axes-body").appendChild(tr);
}

export function specBody() {
  const axes = {};
  for (const tr of $("sw-axes-body").querySelectorAll("tr")) {
    const name = tr.querySelector("select").value;
    axes[name] = parseAxis(tr.querySelector("input").value);
  }
  const body = {
    base: {
      underlying: $("sw-underlying").value,
      source: $("sw-source").value || "synthetic",
      start: $("sw-start").value,
      end: $("sw-end").value,
      timeframe: $("sw-timeframe").value,
      decision_interval_hours: Number($("sw-interval").value),
      exit_style: $("sw-exit-style").value,
    },
    axes,
    objective: $("sw-objective").value || "sharpe",
  };
  const constraints = $("sw-constraints").value.split(";").map((c) => c.trim()).filter(Boolean);
  if (constraints.length) body.constraints = constraints;
  const wf = $("sw-walk-forward").value.trim();
  if (wf) body.walk_forward = wf;
  return body;
}

function post(url, body) {
  return getJson(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function scheduleCount() {
  clearTimeout(state.countTimer);
  state.countTimer = setTimeout(refreshCount, COUNT_DELAY_MS);
}

// The configuration count of the spec as it stands (or why the spec is refused).
async function refreshCount() {
  const seq = ++state.countSeq;
  const { ok, body } = await post("/api/sweeps/count", specBody());
  if (seq !== state.countSeq) return; // a newer edit has asked again
  const el = $("sw-count");
  if (!ok) {
    el.textContent = body.error;
    el.className = "err";
    el.dataset.count = "";
    return;
  }
  const notes = [`grid ${body.grid}`];
  if (body.excluded_by_constraints) notes.push(`${body.excluded_by_constraints} excluded by constraints`);
  if (body.dropped_invalid) {
    const why = body.dropped.length ? `: ${body.dropped[0].reason}` : "";
    notes.push(`${body.dropped_invalid} invalid dropped${why}`);
  }
  const plural = body.configurations === 1 ? "configuration" : "configurations";
  el.textContent = `${body.configurations} ${plural} (${notes.join("; ")})`;
  el.className = "muted";
  el.dataset.count = String(body.configurations);
}

function renderSourceNote() {
  const src = state.sources.find((s) => s.name === $("sw-source").value);
  $("sw-source-note").textContent = src && src.synthetic ? SYNTHETIC_NOTE : "";
  $("sw-source-note").className = src && src.synthetic ? "synthetic-tag" : "muted";
}

// ---- start, stop, status -------------------------------------------------------------------
function renderButton() {
  const btn = $("sw-start-stop-btn");
  btn.textContent = state.running ? "Stop Sweep" : "Start Sweep";
  btn.classList.toggle("stop", state.running);
  for (const id of FORM_IDS) $(id).disabled = state.running;
  $("sw-axes-body").querySelectorAll("select, input, button").forEach((el) => {
    el.disabled = state.running;
  });
}

function renderStatus(st) {
  state.running = st.running;
  const badge = $("sw-status-text");
  badge.textContent = st.state === "error" ? `ERROR: ${st.error}` : st.state.toUpperCase();
  badge.className = `badge ${st.state}`;
  const detail = [];
  if (st.sweep_id) detail.push(`sweep ${st.sweep_id}`);
  if (st.synthetic) detail.push("SYNTHETIC data");
  if (st.executor) detail.push(`${st.executor} × ${st.workers}`);
  if (st.phase) detail.push(`phase: ${st.phase}`);
  if (st.message) detail.push(st.message);
  $("sw-status-detail").textContent = detail.join(" · ");
  const pct = Math.round(st.progress_pct * 1000) / 10;
  $("sw-progress-inner").style.width = `${pct}%`;
  $("sw-progress-label").textContent = `${pct}%`;
  $("sw-done").textContent = `${st.configurations_done} / ${st.configurations_total}`;
  renderButton();
}

function schedule() {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(refreshSweepStatus, state.running ? POLL_RUNNING_MS : POLL_IDLE_MS);
}

export async function refreshSweepStatus() {
  try {
    const { ok, body } = await getJson("/api/sweeps/status");
    if (ok) {
      renderStatus(body);
      await onStatus(body);
    }
  } catch (err) {
    $("sw-status-detail").textContent = `status unavailable: ${err.message}`;
  }
  schedule();
}

async function onStatus(st) {
  const first = !state.sawStatus;
  state.sawStatus = true;
  if (st.state !== "finished" || !st.sweep_id) return;
  const key = `${st.sweep_id}@${st.finished_at}`;
  if (key === state.lastFinished) return;
  state.lastFinished = key;
  if (first) return; // finished before this page opened: init shows the newest sweep
  await refreshHistory();
  await openSweep(st.sweep_id);
}

export async function startSweep() {
  showError("");
  const { ok, body } = await post("/api/sweeps/start", specBody());
  if (!ok) {
    showError(body.error || "the sweep did not start");
  } else {
    state.running = true; // a small sweep may be over before the status below is read
    renderButton();
  }
  await refreshSweepStatus();
}

export async function stopSweep() {
  const { ok, body } = await post("/api/sweeps/stop");
  if (!ok) showError(body.error || "stop failed");
  await refreshSweepStatus();
}

// ---- a finished sweep ----------------------------------------------------------------------
function describe(s) {
  const b = s.spec.base;
  const period = `${String(b.start).slice(0, 10)} → ${String(b.end).slice(0, 10)}`;
  return `${b.underlying || "axis"} · ${period} · ${b.timeframe || "1h"} bars · ` +
    `${s.counts.configurations} configurations · sweep ${s.sweep_id}`;
}

function option(select, value, text, chosen) {
  const opt = document.createElement("option");
  opt.value = value;
  opt.textContent = text;
  opt.selected = value === chosen;
  select.appendChild(opt);
}

function fillHeatControls(summary) {
  const metric = $("sw-heat-metric");
  metric.replaceChildren();
  for (const m of state.metrics) option(metric, m.name, metricLabel(m.name), summary.objective);
  const [x, y] = [$("sw-heat-x"), $("sw-heat-y")];
  x.replaceChildren();
  y.replaceChildren();
  state.axes.forEach((a) => option(x, a, a, state.axes[0]));
  option(y, "", "— (one row)", state.axes[1] || "");
  state.axes.forEach((a) => option(y, a, a, state.axes[1] || ""));
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
  const facts = state.axes.map((a) => [a, formatValue(best[a]), `sw-winner-${a}`]);
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
  Object.assign(state, {
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
  markOpenSweep();
  await Promise.all([loadHeatmap(), loadResults()]);
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
  if (!state.sweepId) return;
  const params = new URLSearchParams({
    metric: $("sw-heat-metric").value, x: $("sw-heat-x").value, reduce: $("sw-heat-reduce").value,
  });
  if ($("sw-heat-y").value) params.set("y", $("sw-heat-y").value);
  const { ok, body } = await getJson(`/api/sweeps/${state.sweepId}/heatmap?${params}`);
  if (ok) renderHeatmap(body);
  else showError(body.error);
}

// ---- results table ---------------------------------------------------------------------------
function columns() {
  const objective = state.summary.objective;
  return [...state.axes, objective, ...TABLE_METRICS.filter((m) => m !== objective)];
}

function renderResultsHead() {
  const head = $("sw-results-head");
  head.replaceChildren();
  for (const col of ["row", ...columns()]) {
    const th = document.createElement("th");
    th.dataset.sort = col;
    th.textContent = state.axes.includes(col) || col === "row" ? col : metricLabel(col);
    if (!state.axes.includes(col)) th.className = "num";
    const active = col === state.sort;
    th.classList.toggle("sorted", active);
    th.dataset.dir = active ? (state.desc ? "desc" : "asc") : "";
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
      cells.push(state.axes.includes(col) ? [formatValue(r[col]), ""] : [formatMetric(col, r[col]), "num"]);
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
  state.total = page.total;
  const last = Math.min(page.offset + page.rows.length, page.total);
  $("sw-results-info").textContent = `configurations ${page.offset + 1}–${last} of ${page.total}`;
  $("sw-results-prev").disabled = page.offset === 0;
  $("sw-results-next").disabled = last >= page.total;
}

async function loadResults() {
  if (!state.sweepId) return;
  const params = new URLSearchParams({ offset: state.offset, limit: PAGE_SIZE, sort: state.sort });
  if (state.desc) params.set("desc", "true");
  const { ok, body } = await getJson(`/api/sweeps/${state.sweepId}/results?${params}`);
  if (ok) renderResults(body);
  else showError(body.error);
}

function sortBy(col) {
  state.desc = state.sort === col ? !state.desc : !state.axes.includes(col) && col !== "row";
  state.sort = col;
  state.offset = 0;
  loadResults();
}

// ---- open one configuration's full run -------------------------------------------------------
export async function openRow(row) {
  const note = $("sw-open-note");
  const { ok, body } = await post(`/api/sweeps/${state.sweepId}/rows/${row}/backtest`);
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

// ---- past sweeps -----------------------------------------------------------------------------
function historyButton(text, testid, onClick) {
  const b = document.createElement("button");
  b.className = "small";
  b.textContent = text;
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

function historyRow(e) {
  const tr = document.createElement("tr");
  tr.dataset.sweepId = e.sweep_id;
  const actions = document.createElement("td");
  if (e.unreadable) {
    tr.dataset.testid = "sw-history-unreadable";
    const td = document.createElement("td");
    td.colSpan = 7;
    td.className = "err";
    td.textContent = `sweep ${e.sweep_id} is unreadable: ${e.unreadable}`;
    actions.append(historyButton("Delete", "sw-history-delete", () => deleteSweep(e.sweep_id)));
    tr.append(td, actions);
    return tr;
  }
  tr.dataset.testid = "sw-history-row";
  const b = e.base;
  const best = e.best ? formatMetric(e.objective, e.best[e.objective]) : "–";
  const cells = [
    [formatTime(e.finished_at).slice(0, 16), ""],
    [`${b.underlying || ""} ${String(b.start).slice(0, 10)} → ${String(b.end).slice(0, 10)}`, ""],
    [e.axes.join(", "), ""],
    [String(e.configurations), "num"],
    [e.synthetic ? `${e.source} (SYNTHETIC)` : e.source, e.synthetic ? "synthetic-tag" : ""],
    [metricLabel(e.objective), ""],
    [best, "num"],
  ];
  for (const [text, cls] of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  actions.append(
    historyButton("Open", "sw-history-open", () => openSweep(e.sweep_id)),
    historyButton("Delete", "sw-history-delete", () => deleteSweep(e.sweep_id)),
  );
  tr.appendChild(actions);
  return tr;
}

function markOpenSweep() {
  document.querySelectorAll("#sw-history-body tr[data-sweep-id]").forEach((tr) => {
    tr.classList.toggle("open", tr.dataset.sweepId === state.sweepId);
  });
}

export async function refreshHistory() {
  const { ok, body } = await getJson("/api/sweeps");
  if (!ok) {
    showError(body.error);
    return [];
  }
  const tbody = $("sw-history-body");
  tbody.replaceChildren();
  if (!body.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 8;
    td.className = "muted";
    td.textContent = "No sweeps in data/sweeps yet";
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
  for (const e of body) tbody.appendChild(historyRow(e));
  markOpenSweep();
  return body;
}

async function deleteSweep(sweepId) {
  if (!window.confirm(`Delete sweep ${sweepId} and its files? (Runs opened from it stay.)`)) return;
  const { ok, body } = await getJson(`/api/sweeps/${sweepId}`, { method: "DELETE" });
  if (!ok) showError(body.error);
  if (state.sweepId === sweepId) {
    state.sweepId = null;
    $("sw-result").classList.add("hidden");
  }
  await refreshHistory();
}

// ---- wiring ----------------------------------------------------------------------------------
async function init() {
  const [fields, sources] = await Promise.all([
    getJson("/api/sweeps/fields"), loadSources($("sw-source")),
  ]);
  state.sources = sources;
  renderSourceNote();
  if (fields.ok) {
    state.fields = fields.body.axes;
    state.metrics = fields.body.metrics;
    const objective = $("sw-objective");
    objective.replaceChildren();
    for (const m of state.metrics) option(objective, m.name, metricLabel(m.name), "sharpe");
  }
  for (const [name, values] of DEFAULT_AXES) addAxisRow(name, values);
  $("sw-form").addEventListener("input", scheduleCount);
  $("sw-form").addEventListener("change", scheduleCount);
  $("sw-constraints").addEventListener("input", scheduleCount);
  $("sw-source").addEventListener("change", renderSourceNote);
  $("sw-add-axis").addEventListener("click", () => {
    const used = new Set([...$("sw-axes-body").querySelectorAll("select")].map((s) => s.value));
    const next = state.fields.find((f) => !used.has(f.name));
    addAxisRow(next ? next.name : state.fields[0].name);
    scheduleCount();
  });
  $("sw-start-stop-btn").addEventListener("click", () => (state.running ? stopSweep() : startSweep()));
  for (const id of ["sw-heat-metric", "sw-heat-x", "sw-heat-y", "sw-heat-reduce"]) {
    $(id).addEventListener("change", loadHeatmap);
  }
  $("sw-results-prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    loadResults();
  });
  $("sw-results-next").addEventListener("click", () => {
    state.offset += PAGE_SIZE;
    loadResults();
  });
  refreshCount();
  await refreshSweepStatus();
  const past = await refreshHistory();
  const first = past.find((e) => !e.unreadable);
  if (!state.sweepId && first) await openSweep(first.sweep_id);
}

Object.assign(window, { startSweep, stopSweep, refreshSweepStatus, openSweep, openRow });
init();
