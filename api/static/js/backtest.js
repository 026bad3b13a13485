// Backtesting tab: start/stop a run, poll its status, show progress, steps and the summary.
// The element ids and the global function names are the ones the user's habits rely on.
import { formatNumber, formatTime, getJson } from "./format.js";
import { actionCell } from "./meta.js";
import { loadSources, SYNTHETIC_NOTE } from "./sources.js";

const POLL_RUNNING_MS = 1000;
const POLL_IDLE_MS = 5000;
const INPUT_IDS = [
  "bt-underlying", "bt-start", "bt-end", "bt-timeframe", "bt-interval", "bt-exit-style",
  "bt-pace", "bt-source", "bt-option-market",
];
const METRIC_LABELS = JSON.parse(document.getElementById("metric-labels").textContent);

let running = false;
let pollTimer = null;
let sources = [];

const $ = (id) => document.getElementById(id);

function showError(message) {
  const el = $("bt-error");
  el.textContent = message || "";
  el.classList.toggle("hidden", !message);
}

export function setBacktestInputsDisabled(disabled) {
  for (const id of INPUT_IDS) $(id).disabled = disabled;
}

function renderButton() {
  const btn = $("bt-start-stop-btn");
  btn.textContent = running ? "Stop Backtest" : "Start Backtest";
  btn.classList.toggle("stop", running);
}

function renderMetrics(metrics) {
  const dl = $("bt-metrics");
  dl.replaceChildren();
  if (!metrics) {
    const dt = document.createElement("dt");
    dt.className = "muted";
    dt.textContent = "No run yet";
    dl.append(dt, document.createElement("dd"));
    return;
  }
  for (const spec of METRIC_LABELS) {
    const key = spec.key;
    if (!(key in metrics)) continue;
    const dt = document.createElement("dt");
    dt.textContent = spec.label;
    const dd = document.createElement("dd");
    dd.textContent = formatNumber(metrics[key], spec);
    dd.dataset.metric = key;
    dl.append(dt, dd);
  }
}

function renderSteps(steps) {
  const body = $("bt-steps-body");
  body.replaceChildren();
  for (const s of steps) {
    const tr = document.createElement("tr");
    tr.title = s.reason;
    const cells = [
      formatTime(s.time),
      String(s.candidates),
      s.best_score === null ? "–" : s.best_score.toFixed(2),
      s.traded ? "yes" : "no",
      s.exit_style,
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    const action = document.createElement("td");
    actionCell(action, s.action);
    tr.appendChild(action);
    body.appendChild(tr);
  }
}

function renderBadge(state, error) {
  const badge = $("bt-status-text");
  badge.textContent = state === "error" ? `ERROR: ${error}` : state.toUpperCase();
  badge.className = `badge ${state}`;
}

function renderStatus(st) {
  running = st.running;
  renderBadge(st.state, st.error);
  const detail = [];
  if (st.underlying) detail.push(`${st.underlying} ${st.exit_style}`);
  if (st.start_date) detail.push(`${st.start_date.slice(0, 10)} → ${st.end_date.slice(0, 10)}`);
  if (st.synthetic) detail.push("SYNTHETIC data");
  if (st.phase) detail.push(`phase: ${st.phase}`);
  if (st.message) detail.push(st.message);
  $("bt-status-detail").textContent = detail.join(" · ");
  const pct = Math.round(st.progress_pct * 1000) / 10;
  $("bt-progress-inner").style.width = `${pct}%`;
  $("bt-progress-label").textContent = `${pct}%`;
  $("bt-decisions").textContent = `${st.decisions_processed} / ${st.total_decisions}`;
  $("bt-current-time").textContent = formatTime(st.current_time);
  renderMetrics(st.metrics);
  renderSteps(st.recent_steps);
  renderButton();
  setBacktestInputsDisabled(running);
}

function schedule() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(refreshBacktestStatus, running ? POLL_RUNNING_MS : POLL_IDLE_MS);
}

export async function refreshBacktestStatus() {
  try {
    const { ok, body } = await getJson("/api/backtest/status");
    if (ok) {
      renderStatus(body);
      window.dispatchEvent(new CustomEvent("backtest-status", { detail: body })); // results.js
    }
  } catch (err) {
    $("bt-status-detail").textContent = `status unavailable: ${err.message}`;
  }
  schedule();
}

function requestBody() {
  const pace = $("bt-pace").value;
  return {
    underlying: $("bt-underlying").value,
    start: $("bt-start").value,
    end: $("bt-end").value,
    timeframe: $("bt-timeframe").value,
    decision_interval_hours: Number($("bt-interval").value),
    exit_style: $("bt-exit-style").value,
    fill_model: $("bt-fill-model").value,
    option_market: $("bt-option-market").value,
    source: $("bt-source").value || "synthetic",
    pace: pace ? Number(pace) : null,
  };
}

export async function startBacktest() {
  showError("");
  const { ok, body } = await getJson("/api/backtest/start", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(requestBody()),
  });
  if (!ok || !body.started) {
    showError(body.error || "the backtest did not start");
  } else {
    // started: say so now; a short run may be over before the status below is read
    running = true;
    renderBadge("running");
    renderButton();
    setBacktestInputsDisabled(true);
  }
  await refreshBacktestStatus();
}

export async function stopBacktest() {
  const { ok, body } = await getJson("/api/backtest/stop", { method: "POST" });
  if (!ok) showError(body.error || "stop failed");
  await refreshBacktestStatus();
}

// "BTC 142 snapshots, 2025-12-07 20:32 to 2025-12-11 22:21 UTC; ETH …" of a source's chains.
function chainsText(chains) {
  const when = (t) => t.slice(0, 16).replace("T", " ");
  return Object.entries(chains)
    .map(([u, c]) => `${u} ${c.snapshots} snapshots, ${when(c.start)} to ${when(c.end)} UTC`)
    .join("; ");
}

function renderSourceNote() {
  const src = sources.find((s) => s.name === $("bt-source").value);
  const chains = src && src.chains && Object.keys(src.chains).length ? src.chains : null;
  let note = "";
  if (src && src.synthetic) note = SYNTHETIC_NOTE;
  else if (chains) note = `recorded option chains: ${chainsText(chains)}`;
  $("bt-source-note").textContent = note;
  $("bt-source-note").className = src && src.synthetic ? "synthetic-tag" : "muted";
  const link = $("bt-model-check");
  link.classList.toggle("hidden", !chains);
  if (chains) link.href = `/model-check?source=${encodeURIComponent(src.name)}`;
}

async function refreshSources() {
  sources = await loadSources($("bt-source"));
  renderSourceNote();
}

$("bt-source").addEventListener("change", renderSourceNote);
$("bt-start-stop-btn").addEventListener("click", () => (running ? stopBacktest() : startBacktest()));

// the user's scripts call these by name
Object.assign(window, {
  startBacktest, stopBacktest, refreshBacktestStatus, setBacktestInputsDisabled,
});

refreshSources();
refreshBacktestStatus();
