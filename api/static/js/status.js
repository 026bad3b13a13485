// App status card: polls the JSON twin of the page, /status.
const POLL_MS = 5000;

function setText(id, text, cls) {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = text;
  if (cls !== undefined) el.className = cls;
}

export async function refreshAppStatus() {
  try {
    const res = await fetch("/status");
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    setText("status-health", body.healthy ? "healthy" : "unhealthy", body.healthy ? "ok" : "err");
    setText("status-version", body.version);
    setText("status-time", body.server_time);
    setText("status-data-dir", body.data_dir);
  } catch (err) {
    setText("status-health", `unreachable: ${err.message}`, "err");
  }
}

refreshAppStatus();
setInterval(refreshAppStatus, POLL_MS);
