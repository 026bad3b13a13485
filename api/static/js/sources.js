// The data sources of the cache (GET /api/sources) as the options of a form's source select:
// "name (SYNTHETIC; BTC, ETH)" or "name (origin; BTC; recorded chains)". Backtesting and Sweeps.
import { getJson } from "./format.js";

export async function loadSources(select) {
  const { ok, body } = await getJson("/api/sources");
  if (!ok) return [];
  select.replaceChildren();
  for (const src of body) {
    const opt = document.createElement("option");
    opt.value = src.name;
    const kind = src.synthetic ? "SYNTHETIC" : src.origin;
    const hasChains = src.chains && Object.keys(src.chains).length;
    const what = `${kind}; ${Object.keys(src.coverage).join(", ")}`;
    opt.textContent = `${src.name} (${what}${hasChains ? "; recorded chains" : ""})`;
    select.appendChild(opt);
  }
  return body;
}

export const SYNTHETIC_NOTE = "SYNTHETIC market: generated data, not real Deribit prices";
