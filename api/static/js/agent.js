// Live Agent tab: status header, position card and decisions table, by polling the JSON twins.
import { formatNumber, formatTime, getJson } from "./format.js";
import { actionCell } from "./meta.js";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
let state = null;

function kv(dl, pairs) {
  dl.replaceChildren();
  for (const [label, value] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  }
}

function renderStatus(s) {
  state = s.state;
  const badge = $("agent-state");
  badge.textContent = s.state.toUpperCase();
  badge.className = `badge ${s.state === "running" ? "finished" : s.state === "error" ? "error" : "idle"}`;
  const mode = s.feed ? `${s.underlying} · feed: ${s.feed_description} · broker: ${s.broker} · ${s.exit_style}` : "";
  $("agent-mode").textContent = mode;
  const error = s.last_error || (s.state === "error" || s.state === "disabled" ? s.message : "");
  $("agent-error").textContent = error ? `Last error: ${error}` : "";
  $("agent-error").classList.toggle("hidden", !error);
  // held back at start: the account differs from the journal, and nothing is sent until resolved
  $("agent-reconcile").classList.toggle("hidden", !s.reconcile_error);
  $("agent-reconcile-text").textContent = s.reconcile_error || "";
  const note = s.state === "error" || s.state === "disabled" ? "" : s.message || "";
  $("agent-note").textContent = note;
  $("agent-note").classList.toggle("hidden", !note);
  $("agent-clock").textContent = formatTime(s.last_cycle_time);
  $("agent-cycle").textContent = s.last_cycle_ms === null || s.last_cycle_ms === undefined
    ? "–" : `${s.cycles} cycles, last took ${formatNumber(s.last_cycle_ms, { decimals: 1 })} ms`;
  $("agent-index").textContent = formatNumber(s.index_price, { decimals: 2 });
  $("agent-equity").textContent = s.equity_coin === null || s.equity_coin === undefined ? "–"
    : `${formatNumber(s.equity_coin, { decimals: 6 })} coin · ${formatNumber(s.equity_usd, { decimals: 2 })} USD`;
  $("agent-last").textContent = s.last_reason || "–";
  $("agent-strategy").textContent = describeStrategy(s.strategy);
  $("agent-trades").textContent = s.feed ? String(s.trades) : "–";
  const toggle = $("agent-toggle");
  toggle.disabled = !["running", "paused"].includes(s.state) || Boolean(s.reconcile_error);
  toggle.textContent = s.state === "paused" ? "Resume" : "Pause";
  const p = s.position;
  if (!p) {
    kv($("agent-position-body"), [["no covered call open", ""]]);
  } else {
    kv($("agent-position-body"), [
      ["Instrument", p.instrument_name],
      ["Strike (USD)", formatNumber(p.strike_usd, { decimals: 0 })],
      ["Expiry (UTC)", formatTime(p.expiry)],
      ["Quantity (coin)", formatNumber(p.quantity_coin, { decimals: 4 })],
      ["Premium (coin)", formatNumber(p.premium_coin, { decimals: 6 })],
      ["Mark (coin)", formatNumber(p.mark_coin, { decimals: 6 })],
      ["Opened (UTC)", formatTime(p.opened_at)],
    ]);
  }
}

// The strategy in one line: what it sells, how often it decides, how it exits.
function describeStrategy(c) {
  if (!c) return "–";
  const exit = c.exit_style === "tp_and_roll"
    ? `take profit at ${c.tp_threshold_pct}% and roll (at most ${c.max_rolls_per_chain})`
    : "hold to expiry";
  return `delta ${c.target_delta} (${c.delta_min}–${c.delta_max}), ${c.target_dte} DTE `
    + `(${c.min_dte}–${c.max_dte} d), min score ${c.min_score_to_trade}, `
    + `${c.position_size} coin; decides every ${c.decision_interval_hours} h on ${c.timeframe} bars; ${exit}`
    + (c.fill_model === "mark" ? "; model chains fill at the mark (optimistic)" : "");
}

function renderDecisions(rows) {
  const body = $("agent-decisions-body");
  body.replaceChildren();
  for (const d of rows) {
    const tr = document.createElement("tr");
    for (const text of [
      formatTime(d.time), null, d.best_instrument || "–",
      d.best_score === null ? "–" : d.best_score.toFixed(2),
      formatNumber(d.spot_usd, { decimals: 2 }), d.reason,
    ]) {
      const td = document.createElement("td");
      if (text === null) actionCell(td, d.action);
      else td.textContent = text;
      tr.appendChild(td);
    }
    if (d.error) tr.classList.add("err");
    body.appendChild(tr);
  }
}

export async function refreshAgent() {
  try {
    const [status, decisions] = await Promise.all([
      getJson("/api/agent/status"), getJson("/api/agent/decisions?limit=50"),
    ]);
    if (status.ok) renderStatus(status.body);
    if (decisions.ok) renderDecisions(decisions.body);
  } catch (err) {
    $("agent-error").textContent = `agent status unavailable: ${err.message}`;
    $("agent-error").classList.remove("hidden");
  }
}

$("agent-toggle").addEventListener("click", async () => {
  await getJson(`/api/agent/${state === "paused" ? "resume" : "pause"}`, { method: "POST" });
  refreshAgent();
});

// Resume a held-back agent: it checks the account again (or adopts it) and says why not.
async function resumeChecked(adopt) {
  $("agent-reconcile-result").textContent = "checking the account…";
  const res = await getJson("/api/agent/resume", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ adopt_account: adopt }),
  });
  $("agent-reconcile-result").textContent = res.ok ? "" : res.body.error;
  refreshAgent();
}

$("agent-recheck").addEventListener("click", () => resumeChecked(false));
$("agent-adopt").addEventListener("click", () => {
  if (window.confirm("Let the agent take the Deribit account as it is now?")) resumeChecked(true);
});

refreshAgent();
setInterval(refreshAgent, POLL_MS);
