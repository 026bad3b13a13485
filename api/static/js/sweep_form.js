// Sweeps tab, the spec form: base fields, axes (a list of values or a range each), constraints,
// objective and walk-forward; and the configuration count of the spec as it stands, asked from
// POST /api/sweeps/count as you type, shown before anything runs.
import { postJson } from "./format.js";
import { loadSources, SYNTHETIC_NOTE } from "./sources.js";
import { metricLabel, option } from "./sweep_view.js";

const COUNT_DELAY_MS = 250;
const DEFAULT_AXES = [
  ["tp_threshold_pct", "50, 80"],
  ["exit_style", "hold_to_expiry, tp_and_roll"],
];
const FORM_IDS = [
  "sw-underlying", "sw-source", "sw-start", "sw-end", "sw-timeframe", "sw-interval",
  "sw-exit-style", "sw-objective", "sw-walk-forward", "sw-constraints", "sw-add-axis",
];

const $ = (id) => document.getElementById(id);
const form = {
  fields: [], // GET /api/sweeps/fields: the fields an axis may vary
  sources: [],
  countTimer: null,
  countSeq: 0,
};

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
  for (const f of form.fields) {
    const opt = document.createElement("option");
    opt.value = f.name;
    opt.textContent = f.name;
    opt.selected = f.name === chosen;
    select.appendChild(opt);
  }
}

function hintFor(name) {
  const f = form.fields.find((x) => x.name === name);
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
    const f = form.fields.find((x) => x.name === select.value);
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

export function scheduleCount() {
  clearTimeout(form.countTimer);
  form.countTimer = setTimeout(refreshCount, COUNT_DELAY_MS);
}

// The configuration count of the spec as it stands (or why the spec is refused).
export async function refreshCount() {
  const seq = ++form.countSeq;
  const { ok, body } = await postJson("/api/sweeps/count", specBody());
  if (seq !== form.countSeq) return; // a newer edit has asked again
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
  const src = form.sources.find((s) => s.name === $("sw-source").value);
  $("sw-source-note").textContent = src && src.synthetic ? SYNTHETIC_NOTE : "";
  $("sw-source-note").className = src && src.synthetic ? "synthetic-tag" : "muted";
}

export function setFormDisabled(disabled) {
  for (const id of FORM_IDS) $(id).disabled = disabled;
  $("sw-axes-body").querySelectorAll("select, input, button").forEach((el) => {
    el.disabled = disabled;
  });
}

// Fill the selects (sources, objective), add the default axes and count them.
export async function initForm(fields) {
  form.sources = await loadSources($("sw-source"));
  renderSourceNote();
  form.fields = fields.axes;
  const objective = $("sw-objective");
  objective.replaceChildren();
  for (const m of fields.metrics) option(objective, m.name, metricLabel(m.name), "sharpe");
  for (const [name, values] of DEFAULT_AXES) addAxisRow(name, values);
  $("sw-form").addEventListener("input", scheduleCount);
  $("sw-form").addEventListener("change", scheduleCount);
  $("sw-constraints").addEventListener("input", scheduleCount);
  $("sw-source").addEventListener("change", renderSourceNote);
  $("sw-add-axis").addEventListener("click", () => {
    const used = new Set([...$("sw-axes-body").querySelectorAll("select")].map((s) => s.value));
    const next = form.fields.find((f) => !used.has(f.name));
    addAxisRow(next ? next.name : form.fields[0].name);
    scheduleCount();
  });
  await refreshCount();
}
