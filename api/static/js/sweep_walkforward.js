// Sweeps tab, the walk-forward view of a sweep that has one: per fold the configuration chosen on
// the training window alone and how it did on the test window after (from the summary's
// walk_forward block), and the test windows chained into one out-of-sample curve against HODL.
import { loadChartLibrary, MISSING_LIBRARY, renderReturnChart } from "./charts.js";
import { formatNumber, formatTime, getJson } from "./format.js";
import { formatMetric, formatValue, metricLabel, showError } from "./sweep_view.js";

const $ = (id) => document.getElementById(id);
const day = (iso) => formatTime(iso).slice(0, 10);

// the test run's columns of a fold (walk_forward.parquet) after its choice
const TEST_COLUMNS = [
  ["test_sharpe", "sharpe"], ["test_total_return_pct_usd", "total_return_pct_usd"],
  ["test_hodl_return_pct_usd", "hodl_return_pct_usd"], ["test_max_drawdown_pct", "max_drawdown_pct"],
  ["test_num_trades", "num_trades"],
];

function cellsRow(tag, cells) {
  const tr = document.createElement("tr");
  for (const [text, cls] of cells) {
    const cell = document.createElement(tag);
    cell.textContent = text;
    if (cls) cell.className = cls;
    tr.appendChild(cell);
  }
  return tr;
}

function renderFolds(wf, axes) {
  const objective = `train_${wf.objective}`;
  $("sw-wf-head").replaceChildren(cellsRow("th", [
    ["Fold"], ["Train (UTC)"], ["Test (UTC)"], ...axes.map((a) => [`chosen ${a}`]), ["Row", "num"],
    [`Train: ${metricLabel(wf.objective)}`, "num"],
    ...TEST_COLUMNS.map(([, m]) => [`Test: ${metricLabel(m)}`, "num"]),
  ]));
  const body = $("sw-wf-body");
  body.replaceChildren();
  for (const f of wf.folds) {
    const tr = cellsRow("td", [
      [String(f.fold + 1)],
      [`${day(f.train_start)} → ${day(f.train_end)}`],
      [`${day(f.test_start)} → ${day(f.test_end)}`],
      ...axes.map((a) => [formatValue(f[a])]),
      [String(f.chosen_row), "num"],
      [formatMetric(wf.objective, f[objective]), "num"],
      ...TEST_COLUMNS.map(([col, m]) => [formatMetric(m, f[col]), "num"]),
    ]);
    tr.dataset.testid = "sw-wf-fold";
    body.appendChild(tr);
  }
}

// Show the walk-forward of ``summary`` (hidden when it has none).
export async function renderWalkForward(summary, axes) {
  const wf = summary.walk_forward;
  $("sw-wf").classList.toggle("hidden", !wf);
  if (!wf) return;
  const pct = (v) => `${formatNumber(v, { decimals: 2, sign: true })} %`;
  $("sw-wf-note").textContent = `(${wf.spec}; chosen by ${metricLabel(wf.objective)})`;
  $("sw-wf-explanation").textContent = wf.explanation;
  $("sw-wf-return").textContent = `out of sample ${pct(wf.oos_return_pct_usd)} in USD, ` +
    `HODL ${pct(wf.oos_hodl_return_pct_usd)}`;
  renderFolds(wf, axes);
  const el = $("sw-wf-chart");
  const points = Math.min(4000, Math.max(200, Math.round((el.clientWidth || 1000) * 2)));
  const { ok, body } = await getJson(`/api/sweeps/${summary.sweep_id}/walk-forward?points=${points}`);
  if (!ok) showError(body.error);
  else if (!(await renderReturnChart(el, body))) showError(MISSING_LIBRARY);
}

loadChartLibrary();
