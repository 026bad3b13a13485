// Live Agent tab: the app's status and data sources from /status (the page's JSON twin).
import { formatTime, getJson } from "./format.js";

const POLL_MS = 5000;

function setText(id, text, cls) {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = text;
  if (cls !== undefined) el.className = cls;
}

function coverageText(series) {
  if (!series || !series.start) return "–";
  const tf = series.timeframe ? ` ${series.timeframe}` : "";
  return `${series.start.slice(0, 10)} → ${series.end.slice(0, 10)}${tf}, ${series.rows} rows`;
}

function renderSources(sources) {
  const body = document.getElementById("status-sources");
  if (!body) return;
  body.replaceChildren();
  for (const src of sources) {
    for (const [underlying, cov] of Object.entries(src.coverage)) {
      const tr = document.createElement("tr");
      const origin = src.synthetic ? "SYNTHETIC (generated)" : src.origin;
      for (const [text, cls] of [
        [src.name, ""],
        [origin, src.synthetic ? "synthetic-tag" : ""],
        [underlying, ""],
        [coverageText(cov.candles), ""],
        [coverageText(cov.iv), ""],
      ]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }
}

export async function refreshAppStatus() {
  try {
    const { ok, body } = await getJson("/status");
    if (!ok) throw new Error(body.error);
    const health = body.healthy ? "healthy" : `unhealthy: ${body.problems.join("; ")}`;
    setText("status-health", health, body.healthy ? "ok" : "err");
    setText("status-version", body.version);
    setText("status-time", formatTime(body.server_time));
    setText("status-data-dir", body.data_dir);
    setText("status-backtest", body.backtest_running ? "running" : body.backtest_state);
    const warming = body.engine === "warming";
    setText("status-engine", warming ? "preparing (first run after install)" : "ready");
    renderSources(body.sources);
  } catch (err) {
    setText("status-health", `unreachable: ${err.message}`, "err");
  }
}

refreshAppStatus();
setInterval(refreshAppStatus, POLL_MS);
