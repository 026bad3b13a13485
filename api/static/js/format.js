// Number and time formatting shared by the widgets.
export function formatNumber(value, { decimals = 2, sign = false, group = true } = {}) {
  if (value === null || value === undefined || Number.isNaN(value)) return "n/a";
  const text = Number(value).toLocaleString("en-US", {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
    useGrouping: group,
  });
  return sign && value > 0 ? `+${text}` : text;
}

export function formatTime(iso) {
  if (!iso) return "–";
  return iso.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "");
}

export async function getJson(url, options) {
  const res = await fetch(url, options);
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = { error: `${res.status} ${res.statusText}` };
  }
  return { ok: res.ok, status: res.status, body };
}

export function postJson(url, body) {
  return getJson(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
