// Results: the charts of the run shown (growing live while a paced run is published), its trades
// (sorted and paged by the server), its tearsheet, the run history (open, delete, compare two or
// more) and the exports.
// backtest.js announces every status it polls with a "backtest-status" event.
import { clearRunCharts, loadChartLibrary, MISSING_LIBRARY, renderRunCharts } from "./charts.js";
import { formatNumber, formatTime, getJson } from "./format.js";
import { META } from "./meta.js";
import { clearTearsheet, renderOverlay, renderTearsheet } from "./tearsheet.js";
import { renderWarnings, trustFacts } from "./trust.js";

const PAGE_SIZE = 25;
const MAX_COMPARED = 8; // GET /api/backtests/overlay takes up to 8 runs
// the tearsheet's sections the panel shows (equity, underwater, data and metrics are above)
const TEARSHEET_SECTIONS = ["provenance", "drawdowns", "returns", "rolling", "histogram", "breakdowns",
  "premium"];
const HISTORY_COLUMNS = 13; // the history table's header cells
const METRICS = new Map(
  JSON.parse(document.getElementById("metric-labels").textContent).map((m) => [m.key, m]),
);
const $ = (id) => document.getElementById(id);
// the columns of the trades table, in order, with their formats (GET /api/meta "trade_view")
const TRADE_TABLE = META.trade_view.filter((c) => c.table);
const TARGETS = {
  equity: $("res-chart-equity"), drawdown: $("res-chart-drawdown"), spot: $("res-chart-spot"),
};

const state = {
  runId: null, // the finished run shown (null while live or empty)
  live: false,
  livePending: false,
  sawStatus: false,
  lastFinished: null, // "<run_id>@<finished_at>" of the last finished status seen
  sort: null,
  desc: false,
  offset: 0,
  total: 0,
  history: [],
  picked: [],
};

function showError(message) {
  $("res-error").textContent = message || "";
  $("res-error").classList.toggle("hidden", !message);
}

function chartPoints() {
  const width = TARGETS.equity.clientWidth || 1000;
  return Math.min(4000, Math.max(200, Math.round(width * 2)));
}

async function drawCurve(curve) {
  if (!(await renderRunCharts(curve, TARGETS))) showError(MISSING_LIBRARY);
}

function setTag(text, kind) {
  const tag = $("res-run-tag");
  tag.textContent = text || "";
  tag.className = `badge ${kind || "idle"}`;
  tag.classList.toggle("hidden", !text);
}

function describe(entry) {
  const period = `${entry.start.slice(0, 10)} → ${entry.end.slice(0, 10)}`;
  return `${entry.underlying} · ${entry.exit_style} · ${period} · ${entry.timeframe} bars · run ${entry.run_id}`;
}

function setExports(runId) {
  $("res-exports").classList.toggle("hidden", !runId);
  if (!runId) return;
  const base = `/api/backtests/${runId}`;
  for (const what of ["trades", "equity"]) {
    for (const format of ["csv", "parquet"]) {
      $(`res-dl-${what}-${format}`).href = `${base}/export?what=${what}&format=${format}`;
    }
  }
  $("res-dl-summary").href = `${base}/summary.json`;
  $("res-dl-report").href = `${base}/tearsheet.html`;
}

async function drawTearsheet(runId) {
  const root = $("res-tearsheet-body");
  const { ok, body } = await getJson(`/api/backtests/${runId}/tearsheet?points=${chartPoints()}`);
  if (state.runId !== runId) return; // another run was opened meanwhile
  if (!ok) {
    clearTearsheet(root);
    root.textContent = `the tearsheet could not be read: ${body.error}`;
    return;
  }
  renderTearsheet(root, body, await loadChartLibrary(), TEARSHEET_SECTIONS);
}

// The data block of the run shown: source, fill model, calibration, IV real share, warnings.
function renderRunData(data) {
  $("res-data").classList.toggle("hidden", !data);
  const dl = $("res-data-facts");
  dl.replaceChildren();
  renderWarnings($("res-warnings"), data ? data.warnings : null);
  if (!data) return;
  for (const fact of trustFacts(data, { withSource: true })) {
    const dt = document.createElement("dt");
    dt.textContent = fact.label;
    const dd = document.createElement("dd");
    dd.textContent = fact.text;
    dd.dataset.testid = `res-data-${fact.key}`;
    if (fact.warn) dd.className = "warn";
    dl.append(dt, dd);
  }
}

// Show a finished run: header, data block, downloads, charts and the first page of its trades.
export async function openRun(runId) {
  showError("");
  const [detail, curve] = await Promise.all([
    getJson(`/api/backtests/${runId}`),
    getJson(`/api/backtests/${runId}/equity?points=${chartPoints()}`),
  ]);
  if (!detail.ok || !curve.ok) {
    showError((detail.ok ? curve : detail).body.error || "the run could not be read");
    return;
  }
  Object.assign(state, { runId, live: false, offset: 0 });
  const cfg = detail.body.config;
  $("res-run-title").textContent = describe({ ...cfg, run_id: runId });
  setTag(detail.body.data.synthetic ? "SYNTHETIC" : detail.body.data.source, detail.body.data.synthetic ? "running" : "finished");
  renderRunData(detail.body.data);
  setExports(runId);
  markOpenRow();
  await Promise.all([drawCurve(curve.body), loadTrades(), drawTearsheet(runId)]);
}

function clearRun() {
  Object.assign(state, { runId: null, total: 0, offset: 0 });
  $("res-run-title").textContent = "No run selected";
  setTag("");
  renderRunData(null);
  setExports(null);
  clearRunCharts(TARGETS);
  clearTearsheet($("res-tearsheet-body"));
  $("res-trades-body").replaceChildren();
  $("res-trades-info").textContent = "–";
}

// ---- live: the paced run being published ---------------------------------------------------
async function refreshLive(status) {
  if (state.livePending) return; // one request in flight at a time
  state.livePending = true;
  try {
    const { ok, body } = await getJson(`/api/backtest/live/equity?points=${chartPoints()}`);
    if (!ok || !body.live) return;
    Object.assign(state, { runId: null, live: true });
    $("res-run-title").textContent =
      `${status.underlying} · ${status.exit_style} · publishing up to ${formatTime(body.until)}`;
    setTag("LIVE", "running");
    renderRunData(null);
    setExports(null);
    clearTearsheet($("res-tearsheet-body"));
    $("res-trades-body").replaceChildren();
    $("res-trades-info").textContent = "the trades table fills when the run finishes";
    $("res-trades-prev").disabled = $("res-trades-next").disabled = true;
    await drawCurve(body);
  } finally {
    state.livePending = false;
  }
}

async function onStatus(status) {
  const first = !state.sawStatus;
  state.sawStatus = true;
  if (status.running && status.phase === "publishing") {
    await refreshLive(status);
    return;
  }
  if (state.live && !status.running && status.state !== "finished") {
    state.live = false; // stopped or failed while publishing: nothing was written
    setTag(status.state.toUpperCase(), "error");
    $("res-run-title").textContent = "the run ended before it finished: nothing was saved";
  }
  if (status.state !== "finished" || !status.run_id) return;
  const key = `${status.run_id}@${status.finished_at}`;
  if (key === state.lastFinished) return;
  state.lastFinished = key;
  if (first) return; // it finished before this page opened: init shows the newest run
  await refreshHistory();
  await openRun(status.run_id);
}

// ---- trades ------------------------------------------------------------------------------
// A trade's cell as text: times to the minute (UTC), numbers per the column's display hints,
// text as is, followed by the name of its flag column when that is true ("expiry (assigned)").
function tradeCell(trade, { name, display }) {
  const value = trade[name];
  if (display.kind === "time") return formatTime(value).slice(0, 16);
  if (display.kind === "number") return formatNumber(value, display);
  return display.flag && trade[display.flag] ? `${value} (${display.flag})` : (value ?? "");
}

// Numbers align right; signed ones are coloured by their sign.
function cellClass(value, display) {
  if (display.kind !== "number") return "";
  if (!display.sign) return "num";
  return value > 0 ? "num ok" : value < 0 ? "num err" : "num";
}

function renderTrades(page) {
  const body = $("res-trades-body");
  body.replaceChildren();
  for (const t of page.trades) {
    const tr = document.createElement("tr");
    tr.title = `expiry ${formatTime(t.expiry)} · roll ${t.roll_index} of chain ${t.chain_id}`;
    for (const column of TRADE_TABLE) {
      const td = document.createElement("td");
      td.textContent = tradeCell(t, column);
      const cls = cellClass(t[column.name], column.display);
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  state.total = page.total;
  const last = Math.min(page.offset + page.trades.length, page.total);
  $("res-trades-info").textContent = page.total
    ? `trades ${page.offset + 1}–${last} of ${page.total}`
    : "no trades";
  $("res-trades-prev").disabled = page.offset === 0;
  $("res-trades-next").disabled = last >= page.total;
  document.querySelectorAll("[data-testid=res-trades] th[data-sort]").forEach((th) => {
    const active = th.dataset.sort === state.sort;
    th.classList.toggle("sorted", active);
    th.dataset.dir = active ? (state.desc ? "desc" : "asc") : "";
  });
}

async function loadTrades() {
  if (!state.runId) return;
  const params = new URLSearchParams({ offset: state.offset, limit: PAGE_SIZE });
  if (state.sort) params.set("sort", state.sort);
  if (state.desc) params.set("desc", "true");
  const { ok, body } = await getJson(`/api/backtests/${state.runId}/trades?${params}`);
  if (ok) renderTrades(body);
  else showError(body.error);
}

function sortBy(column) {
  state.desc = state.sort === column ? !state.desc : false;
  state.sort = column;
  state.offset = 0;
  loadTrades();
}

// ---- history and compare -----------------------------------------------------------------
function historyCells(e) {
  const m = e.metrics;
  const fmt = (key) => formatNumber(m[key], METRICS.get(key));
  return [
    formatTime(e.finished_at).slice(0, 16),
    e.underlying,
    `${e.start.slice(0, 10)} → ${e.end.slice(0, 10)}`,
    `${e.timeframe} / ${e.decision_interval_hours} h`,
    e.exit_style,
    e.synthetic ? `${e.source} (SYNTHETIC)` : `${e.source} (${e.origin})`,
    fmt("num_trades"),
    fmt("total_return_pct_usd"),
    fmt("final_pnl_vs_hodl"),
    fmt("max_drawdown_pct"),
    fmt("sharpe"),
  ];
}

// Under a run of the history: its fill model, calibration, IV real share and warnings.
function historyDataRow(e) {
  const tr = document.createElement("tr");
  tr.className = "history-data";
  tr.dataset.testid = "history-data";
  tr.dataset.forRun = e.run_id;
  const td = document.createElement("td");
  td.colSpan = HISTORY_COLUMNS - 1;
  for (const fact of trustFacts(e)) {
    const span = document.createElement("span");
    span.className = fact.warn ? "fact warn" : "fact";
    span.dataset.testid = `history-${fact.key}`;
    span.textContent = `${fact.label}: ${fact.text}`;
    td.appendChild(span);
  }
  const ul = document.createElement("ul");
  ul.className = "warnings";
  ul.dataset.testid = "history-warnings";
  renderWarnings(ul, e.warnings);
  td.appendChild(ul);
  tr.append(document.createElement("td"), td);
  return tr;
}

function button(text, testid, onClick) {
  const b = document.createElement("button");
  b.className = "small";
  b.textContent = text;
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

function renderHistory() {
  const body = $("res-history-body");
  body.replaceChildren();
  if (!state.history.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = HISTORY_COLUMNS;
    td.className = "muted";
    td.textContent = "No finished runs in data/runs yet";
    tr.appendChild(td);
    body.appendChild(tr);
  }
  for (const e of state.history) {
    if (e.unreadable) {
      body.appendChild(unreadableRow(e));
      continue;
    }
    const tr = document.createElement("tr");
    tr.dataset.testid = "history-row";
    tr.dataset.runId = e.run_id;
    const pick = document.createElement("input");
    pick.type = "checkbox";
    pick.dataset.testid = "history-pick";
    pick.checked = state.picked.includes(e.run_id);
    pick.addEventListener("change", () => togglePick(e.run_id, pick.checked));
    const first = document.createElement("td");
    first.appendChild(pick);
    tr.appendChild(first);
    historyCells(e).forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 5 && e.synthetic) td.className = "synthetic-tag";
      if (i >= 6) td.className = "num";
      tr.appendChild(td);
    });
    const actions = document.createElement("td");
    actions.append(
      button("Open", "history-open", () => openRun(e.run_id)),
      button("Run live", "history-run-live", () => runLive(e.run_id)),
      button("Delete", "history-delete", () => deleteRun(e.run_id)),
    );
    tr.appendChild(actions);
    body.append(tr, historyDataRow(e));
  }
  markOpenRow();
  renderCompareButton();
}

// A run whose summary.json cannot be read: the reason, and Delete (it cannot be opened).
function unreadableRow(e) {
  const tr = document.createElement("tr");
  tr.dataset.testid = "history-unreadable";
  tr.dataset.runId = e.run_id;
  const reason = document.createElement("td");
  reason.colSpan = HISTORY_COLUMNS - 2;
  reason.className = "err";
  reason.textContent = `run ${e.run_id} is unreadable: ${e.unreadable}`;
  const actions = document.createElement("td");
  actions.append(button("Delete", "history-delete", () => deleteRun(e.run_id)));
  tr.append(document.createElement("td"), reason, actions);
  return tr;
}

function markOpenRow() {
  document.querySelectorAll("#res-history-body tr[data-run-id]").forEach((tr) => {
    tr.classList.toggle("open", tr.dataset.runId === state.runId);
  });
}

export async function refreshHistory() {
  const { ok, body } = await getJson("/api/backtests");
  if (!ok) {
    showError(body.error);
    return;
  }
  state.history = body;
  const known = new Set(body.map((e) => e.run_id));
  state.picked = state.picked.filter((id) => known.has(id));
  renderHistory();
}

// Run a finished run's strategy on the paper agent (the Live Agent tab shows it).
async function runLive(runId) {
  const note = $("res-live-note");
  const send = (close) => getJson("/api/agent/strategy", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ from_run: runId, close_open_call: close }),
  });
  let { ok, status, body } = await send(false);
  if (!ok && status === 409 && body.error.startsWith("covered call")) {
    if (!window.confirm(`${body.error}\n\nBuy the open call back and switch?`)) return;
    ({ ok, body } = await send(true));
  }
  note.textContent = ok
    ? `the paper agent now runs the strategy of run ${runId} (${body.underlying}, ${body.exit_style})`
    : `not switched: ${body.error}`;
  note.className = ok ? "ok" : "err";
}

async function deleteRun(runId) {
  if (!window.confirm(`Delete run ${runId} and its files?`)) return;
  const { ok, body } = await getJson(`/api/backtests/${runId}`, { method: "DELETE" });
  if (!ok) showError(body.error);
  if (state.runId === runId) clearRun();
  await refreshHistory();
}

function togglePick(runId, on) {
  state.picked = state.picked.filter((id) => id !== runId);
  if (on) state.picked.push(runId);
  if (state.picked.length > MAX_COMPARED) state.picked.shift(); // keep those ticked last
  document.querySelectorAll("#res-history-body input[type=checkbox]").forEach((box) => {
    box.checked = state.picked.includes(box.closest("tr").dataset.runId);
  });
  renderCompareButton();
}

function renderCompareButton() {
  $("res-compare-btn").disabled = state.picked.length < 2;
}

function rows(tbody, lines) {
  tbody.replaceChildren();
  for (const cells of lines) {
    const tr = document.createElement("tr");
    cells.forEach(([text, cls]) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  }
}

const show = (v) => (v === null || v === undefined ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v));

const LETTERS = "ABCDEFGH";

function header(id, cells) {
  $(id).replaceChildren(...cells.map(([text, cls]) => {
    const th = document.createElement("th");
    th.textContent = text;
    if (cls) th.className = cls;
    return th;
  }));
}

// The runs ticked: their equity curves overlaid (1 = what each held at its start), the settings
// they differ in and every metric side by side (with B − A when there are two).
export async function compareRuns() {
  const params = new URLSearchParams(state.picked.map((id) => ["run", id]));
  const { ok, body } = await getJson(`/api/backtests/overlay?${params}`);
  if (!ok) {
    showError(body.error);
    return;
  }
  const letters = body.runs.map((_, i) => LETTERS[i]);
  const two = body.runs.length === 2;
  $("res-compare-title").textContent =
    body.runs.map((e, i) => `${letters[i]}: ${describe(e)}`).join("  —  ");
  header("res-compare-config-head", [["Setting that differs"], ...letters.map((l) => [l])]);
  header("res-compare-metrics-head", [["Metric"], ...letters.map((l) => [l, "num"]),
    ...(two ? [["B − A", "num"]] : [])]);
  const diffs = [...body.config_diff, ...body.data_diff.map((d) => ({ ...d, key: `data.${d.key}` }))];
  rows($("res-compare-config"), diffs.length
    ? diffs.map((d) => [[d.key], ...d.values.map((v) => [show(v)])])
    : [[["the same settings"], ...letters.map(() => [""])]]);
  rows($("res-compare-metrics"), body.metrics.map((m) => {
    const spec = METRICS.get(m.key) || { decimals: 4 };
    const cells = [[m.label], ...m.values.map((v) => [formatNumber(v, spec), "num"])];
    if (two) {
      const [a, b] = m.values;
      const delta = typeof a === "number" && typeof b === "number" ? b - a : null;
      cells.push([formatNumber(delta, { ...spec, sign: true }), "num"]);
    }
    return cells;
  }));
  $("res-compare").classList.remove("hidden");
  const curves = body.curves.map((c, i) => ({ ...c, label: `${letters[i]}: ${c.label}` }));
  renderOverlay($("res-compare-overlay"), curves, await loadChartLibrary());
}

// ---- wiring ------------------------------------------------------------------------------
document.querySelectorAll("[data-testid=res-trades] th[data-sort]").forEach((th) => {
  th.addEventListener("click", () => sortBy(th.dataset.sort));
});
$("res-trades-prev").addEventListener("click", () => {
  state.offset = Math.max(0, state.offset - PAGE_SIZE);
  loadTrades();
});
$("res-trades-next").addEventListener("click", () => {
  state.offset += PAGE_SIZE;
  loadTrades();
});
$("res-compare-btn").addEventListener("click", compareRuns);
window.addEventListener("backtest-status", (event) => onStatus(event.detail));
Object.assign(window, { openRun, refreshHistory, compareRuns });

async function init() {
  if (!(await loadChartLibrary())) showError(MISSING_LIBRARY);
  await refreshHistory();
  const first = state.history.find((e) => !e.unreadable);
  if (!state.runId && !state.live && first) await openRun(first.run_id);
}

init();
