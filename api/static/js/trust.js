// How far a run's numbers can be trusted, from its summary's data block: fill model, calibration,
// the share of decisions on real DVOL, and the warnings in full (never only in a tooltip).
// results.js shows them for the run opened and under each run of the history.
import { formatNumber } from "./format.js";
import { META } from "./meta.js";

const OPTIMISTIC = "mark";

// The facts of a data block as [{key, label, text, warn}]; the source only when asked for
// (the history has its own source column). Keys missing from older runs read "not recorded".
export function trustFacts(data, { withSource = false } = {}) {
  const facts = [];
  if (withSource) {
    facts.push({
      key: "source",
      label: "Source",
      text: data.synthetic ? `${data.source} (SYNTHETIC)` : `${data.source} (${data.origin})`,
      warn: data.synthetic,
    });
  }
  facts.push(optionsFact(data));
  const fill = data.fill_model;
  facts.push({
    key: "fill-model",
    label: "Fills",
    text: fill ? META.fill_models[fill] || fill : "not recorded",
    warn: fill === OPTIMISTIC,
  });
  if (data.calibration_id) {
    facts.push({ key: "calibration", label: "Calibration", text: data.calibration_id, warn: false });
  }
  const share = data.iv_real_share;
  facts.push({
    key: "iv-real",
    label: "IV real (DVOL)",
    text: share === null || share === undefined
      ? "not recorded"
      : `${formatNumber(share * 100, { decimals: 1 })} % of decisions`,
    warn: share !== null && share !== undefined && share < 1,
  });
  return facts;
}

// What the options were: the recorded chains (with their gaps) or the model chain.
function optionsFact(data) {
  const c = data.chains;
  if (data.option_market === "chains" && c) {
    const gaps = `${c.gap_decisions} of ${c.decisions} decisions were gaps`;
    return {
      key: "options",
      label: "Options",
      text: `REAL recorded chains (${c.source}, ${c.snapshots_read} snapshots read; ${gaps})`,
      warn: c.gap_decisions > 0,
    };
  }
  return {
    key: "options",
    label: "Options",
    text: "model chain (priced on the vol surface from the IV index)",
    warn: false,
  };
}

// Fill a <ul> with the warnings, one sentence per item; hidden when there are none.
export function renderWarnings(ul, warnings) {
  ul.replaceChildren();
  for (const text of warnings || []) {
    const li = document.createElement("li");
    li.textContent = text;
    ul.appendChild(li);
  }
  ul.classList.toggle("hidden", !(warnings && warnings.length));
}
