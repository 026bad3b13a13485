// A run's tearsheet drawn from its JSON twin (GET /api/backtests/{id}/tearsheet): month and year
// returns as a heatmap, the worst drawdowns, rolling 90-day Sharpe and volatility, the daily
// return histogram, the trade breakdowns and the premium yield; for the one-file report also the
// equity and underwater curves. It imports nothing and is handed uPlot, so the dashboard loads it
// as a module and the report inlines it as it is.
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const COLORS = {
  strategy: "#3fa7ff", hodl: "#8a96a3", coin: "#3ecf8e", hodlCoin: "#5d6b78", bad: "#ff6b6b",
  warn: "#f5b942",
};
const AXIS = { stroke: "#8a96a3", grid: { stroke: "#2a333d", width: 1 }, ticks: { stroke: "#2a333d" } };
const HEIGHT = 220;
const NO_LIBRARY = "Charts unavailable: the uPlot library is not installed.";
const SERIES_NAMES = { strategy: "Strategy", hodl: "HODL" };
const UNIT_NAMES = { usd: "USD", coin: "coin" };
export const SECTIONS = ["equity", "underwater", "returns", "drawdowns", "rolling", "histogram",
  "breakdowns", "premium"]; // the report shows the data block itself; the dashboard adds "provenance"
const BREAKDOWNS = [
  ["close_reason", "By close reason"],
  ["delta_at_open", "By delta at the sale"],
  ["dte_at_open", "By days to expiry at the sale"],
  ["year", "By year of the close"],
];
const BREAKDOWN_COLUMNS = [
  ["trades", "Trades", 0], ["win_rate_pct", "Win rate (%)", 1], ["premium_coin", "Premium (coin)", 6],
  ["premium_usd", "Premium (USD)", 2], ["pnl_coin", "PnL (coin)", 6, true],
  ["pnl_usd", "PnL (USD)", 2, true], ["avg_days_held", "Avg days held", 2],
];

const plots = new WeakMap(); // root -> [{plot, observer}]: the uPlot charts drawn into it

export function fmt(value, decimals = 2, sign = false) {
  if (value === null || value === undefined || Number.isNaN(value)) return "n/a";
  const text = Number(value).toLocaleString("en-US", {
    minimumFractionDigits: decimals, maximumFractionDigits: decimals,
  });
  return sign && value > 0 ? `+${text}` : text;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "testid") node.dataset.testid = value;
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function title(text, note) {
  return el("h3", { class: "chart-title" }, text, note ? " " : null,
    note ? el("span", { class: "muted", text: note }) : null);
}

// A table of [text, class] cells under a header row.
function table(headers, rows, testid) {
  const head = el("tr", {}, ...headers.map(([text, cls]) => el("th", { class: cls || "", text })));
  const body = el("tbody", { testid: `${testid}-body` });
  for (const cells of rows) {
    body.append(el("tr", {}, ...cells.map(([text, cls]) => el("td", { class: cls || "", text }))));
  }
  return el("div", { class: "scroll-x" },
    el("table", { class: "grid compact", testid }, el("thead", {}, head), body));
}

const signClass = (v) => (v > 0 ? "num ok" : v < 0 ? "num err" : "num");
const day = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "–");

// ---- month x year heatmaps ---------------------------------------------------------------------
function shade(value, scale) {
  if (value === null || value === undefined || !scale) return "";
  const alpha = Math.min(Math.abs(value) / scale, 1) * 0.55 + 0.05;
  return value >= 0 ? `rgba(62,207,142,${alpha.toFixed(3)})` : `rgba(255,107,107,${alpha.toFixed(3)})`;
}

// Years as rows, months as columns (and a year column when ``years`` is given).
function heatmap({ months, years, value, decimals, sign, testid }) {
  const byYear = new Map();
  for (const row of months) {
    if (!byYear.has(row.year)) byYear.set(row.year, new Map());
    byYear.get(row.year).set(row.month, value(row));
  }
  const yearValue = new Map((years || []).map((row) => [row.year, value(row)]));
  const all = [...byYear.values()].flatMap((m) => [...m.values()]).filter((v) => v !== null);
  const scale = Math.max(...all.map(Math.abs), 0);
  const head = el("tr", {}, el("th", { text: "Year" }),
    ...MONTHS.map((m) => el("th", { class: "num", text: m })),
    years ? el("th", { class: "num", text: "Year" }) : null);
  const body = el("tbody", {});
  for (const [year, cells] of byYear) {
    const tr = el("tr", { "data-year": String(year) }, el("th", { text: String(year) }));
    for (let m = 1; m <= 12; m += 1) {
      const has = cells.has(m);
      const v = has ? cells.get(m) : null;
      const td = el("td", { class: "num heat", text: has ? fmt(v, decimals, sign) : "" });
      if (has) {
        td.dataset.month = String(m);
        td.dataset.value = v === null ? "" : String(v);
        td.style.background = shade(v, scale);
      }
      tr.append(td);
    }
    if (years) {
      const v = yearValue.get(year);
      const td = el("td", { class: "num heat year", text: fmt(v, decimals, sign) });
      td.dataset.month = "year";
      td.dataset.value = v === null || v === undefined ? "" : String(v);
      td.style.background = shade(v, scale);
      tr.append(td);
    }
    body.append(tr);
  }
  return el("table", { class: "grid compact heatmap", testid }, el("thead", {}, head), body);
}

function returnValue(series, unit) {
  if (series === "hodl" && unit === "coin") return () => 0; // HODL holds the coins: 0 % in coin
  return (row) => row[`${series}_${unit}_pct`];
}

function returnsSection(sheet) {
  const pick = (testid, options) => el("select", { testid },
    ...Object.entries(options).map(([value, text]) => el("option", { value, text })));
  const series = pick("ts-returns-series", SERIES_NAMES);
  const unit = pick("ts-returns-unit", UNIT_NAMES);
  const holder = el("div", { class: "scroll-x" });
  const draw = () => {
    holder.replaceChildren(heatmap({
      months: sheet.returns.months, years: sheet.returns.years,
      value: returnValue(series.value, unit.value), decimals: 2, sign: true, testid: "ts-heatmap",
    }));
    holder.firstChild.dataset.series = series.value;
    holder.firstChild.dataset.unit = unit.value;
  };
  series.addEventListener("change", draw);
  unit.addEventListener("change", draw);
  draw();
  return el("section", { testid: "ts-returns" },
    title("Monthly returns (%)", "a month: its last equity over the previous month's last, minus 1"),
    el("div", { class: "toggles" }, el("label", {}, "Show ", series), el("label", {}, " in ", unit)),
    holder);
}

function premiumSection(sheet) {
  const map = heatmap({
    months: sheet.premium_yield, value: (row) => row.premium_yield_annualised_pct, decimals: 1,
    sign: false, testid: "ts-premium",
  });
  const total = sheet.premium_yield.reduce((s, r) => s + r.premium_coin, 0);
  return el("section", {},
    title("Premium yield (% a year)",
      `premium of each month's sales over the ${fmt(sheet.quantity_coin, 4)} coins held, ` +
      `annualised (365 d); ${fmt(total, 6)} coin in all`),
    el("div", { class: "scroll-x" }, map));
}

// ---- tables ----------------------------------------------------------------------------------
// What the run took from recorded data and what it modelled (summary.json's data block).
function provenanceSection(sheet) {
  const d = sheet.data;
  const list = (items, empty) => (items && items.length
    ? el("ul", {}, ...items.map((text) => el("li", { text })))
    : el("span", { class: "muted", text: empty }));
  return el("section", { testid: "ts-provenance" },
    title("What was recorded and what was modelled", d.synthetic ? "SYNTHETIC market" : `source ${d.source}`),
    el("dl", { class: "kv facts" },
      el("dt", { text: "Recorded" }),
      el("dd", { testid: "ts-recorded" }, list(d.recorded, "nothing: every price was modelled")),
      el("dt", { text: "Modelled" }),
      el("dd", { testid: "ts-modelled" }, list(d.modelled, "not recorded"))));
}

function drawdownsSection(sheet) {
  const rows = sheet.drawdowns.map((d, i) => [
    [String(i + 1)], [day(d.peak_time)], [day(d.trough_time)],
    [d.recovery_time ? day(d.recovery_time) : "not recovered", d.recovery_time ? "" : "warn"],
    [fmt(-d.depth_pct, 2), "num err"], [fmt(d.length_days, 1), "num"],
  ]);
  const headers = [["#"], ["Peak (UTC)"], ["Trough (UTC)"], ["Recovery (UTC)"],
    ["Depth (%)", "num"], ["Length (days)", "num"]];
  return el("section", {},
    title("Worst drawdowns", "USD equity; length from the peak to the recovery (or the end)"),
    rows.length ? table(headers, rows, "ts-drawdowns")
      : el("p", { class: "muted", testid: "ts-drawdowns", text: "no drawdown" }));
}

function breakdownSection(sheet) {
  const headers = [["Group"], ...BREAKDOWN_COLUMNS.map(([, label]) => [label, "num"])];
  const parts = BREAKDOWNS.map(([key, label]) => {
    const rows = sheet.breakdowns[key].map((r) => [[r.group.replaceAll("_", " ")],
      ...BREAKDOWN_COLUMNS.map(([col, , digits, sign]) =>
        [fmt(r[col], digits, sign), sign ? signClass(r[col]) : "num"])]);
    return el("div", {}, el("h4", { text: label }), table(headers, rows, `ts-breakdown-${key}`));
  });
  return el("section", { testid: "ts-breakdowns" },
    title("Where the result came from", "premium = Σ premium × quantity; win rate per leg (PnL > 0)"),
    ...parts);
}

// ---- charts ----------------------------------------------------------------------------------
function line(label, stroke, scale, digits, extra = {}) {
  return { label, stroke, scale, width: 1.5, points: { show: false }, spanGaps: true,
    value: (u, v) => fmt(v, digits), ...extra };
}

// A uPlot chart in a new box of ``parent``, remembered for the next render; null without uPlot.
function chart(root, parent, uPlot, testid, opts, data) {
  const box = el("div", { class: "chart", testid });
  parent.append(box);
  if (!uPlot) {
    box.append(el("p", { class: "muted", text: NO_LIBRARY }));
    return null;
  }
  const width = Math.max(box.clientWidth || root.clientWidth || 0, 320);
  const plot = new uPlot({ width, height: HEIGHT, legend: { live: true }, ...opts }, data, box);
  const observer = new ResizeObserver(() => {
    if (box.clientWidth > 0 && box.clientWidth !== plot.width) {
      plot.setSize({ width: box.clientWidth, height: HEIGHT });
    }
  });
  observer.observe(box);
  plots.get(root).push({ plot, observer });
  box.dataset.points = String(data[0].length);
  return plot;
}

const DASH = { dash: [6, 4] };
const DOTS = { dash: [2, 3] };

// A time axis, ``left`` scale on the left and, when given, ``right`` on the right.
function axes(left, right) {
  const out = [{ ...AXIS }, { ...AXIS, scale: left, size: 70 }];
  if (right) out.push({ ...AXIS, scale: right, side: 1, size: 60, grid: { show: false } });
  return out;
}

function equitySection(root, sheet, uPlot) {
  const c = sheet.equity_curve;
  const section = el("section", {}, title("Equity vs HODL", "USD left, coin right"));
  chart(root, section, uPlot, "ts-chart-equity", {
    scales: { x: { time: true } },
    series: [{},
      line("Equity (USD)", COLORS.strategy, "usd", 2), line("HODL (USD)", COLORS.hodl, "usd", 2, DASH),
      line("Equity (coin)", COLORS.coin, "coin", 6), line("HODL (coin)", COLORS.hodlCoin, "coin", 6, DOTS)],
    axes: axes("usd", "coin"),
  }, [c.time_s, c.equity_usd, c.hodl_usd, c.equity_coin, c.hodl_coin]);
  return section;
}

function underwaterSection(root, sheet, uPlot) {
  const c = sheet.equity_curve;
  const section = el("section", {}, title("Underwater", "% below the running peak, USD"));
  chart(root, section, uPlot, "ts-chart-underwater", {
    scales: { x: { time: true }, pct: { range: (u, min) => [Math.min(min, -1), 0] } },
    series: [{},
      line("Drawdown (%)", COLORS.bad, "pct", 2, { fill: "rgba(255,107,107,0.18)" }),
      line("HODL drawdown (%)", COLORS.hodl, "pct", 2, DASH)],
    axes: axes("pct"),
  }, [c.time_s, c.drawdown_pct, c.hodl_drawdown_pct]);
  return section;
}

function rollingSection(root, sheet, uPlot) {
  const r = sheet.rolling;
  const section = el("section", {}, title(`Rolling ${r.window_days}-day risk`,
    "Sharpe (left) and annualised volatility, % (right), of daily USD returns; 365-day years"));
  chart(root, section, uPlot, "ts-chart-rolling", {
    scales: { x: { time: true } },
    series: [{},
      line("Sharpe", COLORS.strategy, "ratio", 2), line("HODL Sharpe", COLORS.hodl, "ratio", 2, DASH),
      line("Volatility (%)", COLORS.warn, "vol", 1),
      line("HODL volatility (%)", COLORS.hodlCoin, "vol", 1, DOTS)],
    axes: axes("ratio", "vol"),
  }, [r.time_s, r.strategy_sharpe, r.hodl_sharpe, r.strategy_vol_pct, r.hodl_vol_pct]);
  return section;
}

// Strategy and HODL bars side by side in each bin (left and right of its centre).
function histogramSection(root, sheet, uPlot) {
  const h = sheet.daily_returns;
  const edges = h.bin_edges_pct;
  const centers = edges.slice(0, -1).map((e, i) => (e + edges[i + 1]) / 2);
  const section = el("section", {},
    title("Daily returns", `${h.days} days, USD, % per day; strategy against HODL`));
  const bars = (label, stroke, fill, align) => ({
    label, stroke, fill, points: { show: false },
    paths: uPlot ? uPlot.paths.bars({ size: [0.45, Infinity], align }) : undefined,
  });
  const plot = chart(root, section, uPlot, "ts-chart-histogram", {
    scales: { x: { time: false } },
    series: [{ label: "Return (%)", value: (u, v) => fmt(v, 2) },
      bars("Strategy (days)", COLORS.strategy, "rgba(63,167,255,0.6)", -1),
      bars("HODL (days)", COLORS.hodl, "rgba(138,150,163,0.6)", 1)],
    axes: [{ ...AXIS, values: (u, vals) => vals.map((v) => `${fmt(v, 1)} %`) }, { ...AXIS, size: 50 }],
  }, [centers, h.strategy_days, h.hodl_days]);
  if (plot) section.lastChild.dataset.days = String(h.days);
  return section;
}

// ---- entry points ----------------------------------------------------------------------------
// Draw ``sheet`` into ``root`` (its earlier drawing removed): the ``sections`` named, in order.
export function renderTearsheet(root, sheet, uPlot, sections = SECTIONS) {
  clearTearsheet(root);
  plots.set(root, []);
  root.dataset.runId = sheet.run_id;
  const build = {
    equity: () => equitySection(root, sheet, uPlot),
    underwater: () => underwaterSection(root, sheet, uPlot),
    returns: () => returnsSection(sheet),
    drawdowns: () => drawdownsSection(sheet),
    rolling: () => rollingSection(root, sheet, uPlot),
    histogram: () => histogramSection(root, sheet, uPlot),
    breakdowns: () => breakdownSection(sheet),
    premium: () => premiumSection(sheet),
    provenance: () => provenanceSection(sheet),
  };
  for (const name of sections) root.append(build[name]()); // charts take the root's width
}

export function clearTearsheet(root) {
  for (const { plot, observer } of plots.get(root) || []) {
    observer.disconnect();
    plot.destroy();
  }
  plots.delete(root);
  root.replaceChildren();
  delete root.dataset.runId;
}

// Runs' USD equity over what each held at its start (1 = the start), on one time axis.
export function renderOverlay(root, curves, uPlot) {
  clearTearsheet(root);
  plots.set(root, []);
  const palette = [COLORS.strategy, COLORS.warn, COLORS.coin, COLORS.bad, "#c792ea", COLORS.hodl];
  const byTime = new Map();
  curves.forEach((c, k) => c.time_s.forEach((t, i) => {
    if (!byTime.has(t)) byTime.set(t, new Array(curves.length).fill(null));
    byTime.get(t)[k] = c.equity_norm[i];
  }));
  const times = [...byTime.keys()].sort((a, b) => a - b);
  const data = [times, ...curves.map((c, k) => times.map((t) => byTime.get(t)[k]))];
  chart(root, root, uPlot, "res-compare-chart", {
    scales: { x: { time: true } },
    series: [{}, ...curves.map((c, k) => line(c.label, palette[k % palette.length], "x", 4))],
    axes: [{ ...AXIS }, { ...AXIS, scale: "x", size: 60 }],
  }, data);
  root.lastChild.dataset.runs = String(curves.length);
}
