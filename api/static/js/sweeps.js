// Sweeps tab: start and stop a sweep and watch its progress (GET /api/sweeps/status, polled),
// open a finished one, and the past sweeps (reopen, delete). The spec form is sweep_form.js, the
// view of a finished sweep sweep_view.js.
import { formatTime, getJson, postJson } from "./format.js";
import { initForm, setFormDisabled, specBody } from "./sweep_form.js";
import {
  closeSweep, formatMetric, initView, metricLabel, openRow, openSweep, showError, shownSweep,
} from "./sweep_view.js";

const POLL_RUNNING_MS = 1000;
const POLL_IDLE_MS = 5000;

const $ = (id) => document.getElementById(id);
const state = {
  running: false,
  pollTimer: null,
  sawStatus: false,
  lastFinished: null, // "<sweep_id>@<finished_at>" of the last finished status seen
};

// ---- start, stop, status -------------------------------------------------------------------
function renderButton() {
  const btn = $("sw-start-stop-btn");
  btn.textContent = state.running ? "Stop Sweep" : "Start Sweep";
  btn.classList.toggle("stop", state.running);
  setFormDisabled(state.running);
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
  await showSweep(st.sweep_id);
}

export async function startSweep() {
  showError("");
  const { ok, body } = await postJson("/api/sweeps/start", specBody());
  if (!ok) {
    showError(body.error || "the sweep did not start");
  } else {
    state.running = true; // a small sweep may be over before the status below is read
    renderButton();
  }
  await refreshSweepStatus();
}

export async function stopSweep() {
  const { ok, body } = await postJson("/api/sweeps/stop");
  if (!ok) showError(body.error || "stop failed");
  await refreshSweepStatus();
}

async function showSweep(sweepId) {
  await openSweep(sweepId);
  markOpenSweep();
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
    [`${b.underlying || "underlying axis,"} ${String(b.start).slice(0, 10)} → ${String(b.end).slice(0, 10)}`, ""],
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
    historyButton("Open", "sw-history-open", () => showSweep(e.sweep_id)),
    historyButton("Delete", "sw-history-delete", () => deleteSweep(e.sweep_id)),
  );
  tr.appendChild(actions);
  return tr;
}

function markOpenSweep() {
  document.querySelectorAll("#sw-history-body tr[data-sweep-id]").forEach((tr) => {
    tr.classList.toggle("open", tr.dataset.sweepId === shownSweep());
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
  closeSweep(sweepId);
  await refreshHistory();
}
// ---- wiring ----------------------------------------------------------------------------------
async function init() {
  const fields = await getJson("/api/sweeps/fields");
  if (!fields.ok) {
    showError(fields.body.error);
    return;
  }
  initView(fields.body.metrics);
  $("sw-start-stop-btn").addEventListener("click", () => (state.running ? stopSweep() : startSweep()));
  await initForm(fields.body);
  await refreshSweepStatus();
  const past = await refreshHistory();
  const first = past.find((e) => !e.unreadable);
  if (!shownSweep() && first) await showSweep(first.sweep_id);
}

Object.assign(window, { startSweep, stopSweep, refreshSweepStatus, openSweep: showSweep, openRow });
init();
