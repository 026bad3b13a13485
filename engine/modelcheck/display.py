"""A model-check report as people read it: titled tables of formatted cells, and the chart's data.

The command line prints these tables as text and the page renders the same ones as HTML, so a
column's label, unit and format are written once, here.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from engine.modelcheck.report import ModelCheckReport, SideBySide, UnderlyingCheck

MISSING = "–"  # a statistic without data


@dataclass(frozen=True)
class Column:
    """One column: the field it shows, its header (with the unit) and its number format."""

    key: str
    label: str
    fmt: str = "{}"


@dataclass(frozen=True)
class Table:
    """A titled table of formatted cells; ``key`` names it for the page (``data-testid``)."""

    key: str
    title: str
    note: str
    headers: list[str]
    rows: list[list[str]]


BUCKET = [Column("delta_bucket", "delta"), Column("dte_bucket_days", "DTE (days)")]
COLUMNS = {
    "iv_error": [
        *BUCKET,
        Column("n", "calls"),
        Column("median_error_vol_points", "median error (vol pts)", "{:+.2f}"),
        Column("median_abs_error_vol_points", "median |error| (vol pts)", "{:.2f}"),
        Column("p90_abs_error_vol_points", "p90 |error| (vol pts)", "{:.2f}"),
        Column(
            "median_error_at_recorded_forward_vol_points",
            "median error at recorded forward (vol pts)",
            "{:+.2f}",
        ),
    ],
    "premium_error": [
        *BUCKET,
        Column("n", "calls"),
        Column("median_error_coin", "median error (coin)", "{:+.5f}"),
        Column("median_rel_error_pct", "median error (%)", "{:+.1f}"),
        Column("median_abs_rel_error_pct", "median |error| (%)", "{:.1f}"),
        Column("p90_abs_rel_error_pct", "p90 |error| (%)", "{:.1f}"),
    ],
    "fill_error": [
        Column("side", "side"),
        *BUCKET,
        *(
            column
            for kind, counted, name in (
                ("spread", "quoted", "spread model"),
                ("full", "model priced", "model bid/ask"),
            )
            for column in (
                Column(f"n_{kind}", counted),
                Column(f"{kind}_median_error_coin", f"{name}: median (coin)", "{:+.5f}"),
                Column(f"{kind}_median_error_pct_of_mark", "median (%)", "{:+.1f}"),
                Column(f"{kind}_p90_abs_error_pct_of_mark", "p90 |error| (%)", "{:.1f}"),
            )
        ),
    ],
    "forward_error": [
        Column("dte_bucket_days", "DTE (days)"),
        Column("n", "expiries x instants"),
        Column("median_error_pct", "median error (%)", "{:+.3f}"),
        Column("p90_abs_error_pct", "p90 |error| (%)", "{:.3f}"),
        Column("median_implied_basis_annual_pct", "recorded basis, median (%/year)", "{:+.2f}"),
        Column("model_basis_annual_pct", "model basis (%/year)", "{:+.2f}"),
    ],
}
TITLES = {
    "iv_error": (
        "IV error: model IV - recorded mark IV",
        "the model on its own forward; the last column on the recorded forward",
    ),
    "premium_error": (
        "Premium error: model mark - recorded mark",
        "coin per contract, and in % of the recorded mark (calls with a mark)",
    ),
    "fill_error": (
        "Fill error: modelled bid/ask - recorded bid/ask, where that side was quoted",
        "spread model: the spread model on the recorded mark and delta (the spread model "
        "alone); model bid/ask: the spread model on the model mark and delta (what the model "
        "chain fills at); % of the recorded mark",
    ),
    "forward_error": (
        "Forward error: model forward spot x exp(basis x T) - recorded forward",
        "per expiry at each instant; recorded basis ln(forward / spot) / T",
    ),
}
BACKTEST_ROWS = [
    Column("trades", "trades"),
    Column("premium_collected_coin", "premium collected (coin)", "{:.6f}"),
    Column("premium_collected_usd", "premium collected (USD)", "{:,.2f}"),
    Column("fees_paid_coin", "fees (coin)", "{:.6f}"),
    Column("pnl_coin", "option PnL (coin)", "{:+.6f}"),
    Column("pnl_usd", "option PnL (USD)", "{:+,.2f}"),
    Column("final_equity_coin", "final equity (coin)", "{:.6f}"),
    Column("final_equity_usd", "final equity (USD)", "{:,.2f}"),
    Column("win_rate_pct", "win rate (%)", "{:.1f}"),
]


def cell(value: object, fmt: str = "{}") -> str:
    """A value as shown: formatted, or :data:`MISSING` when there is none."""
    return MISSING if value is None else fmt.format(value)


def signed(fmt: str) -> str:
    """The format of a difference: ``fmt`` with a sign (``{:.6f}`` -> ``{:+.6f}``)."""
    if "+" in fmt:
        return fmt
    return fmt.replace("{:", "{:+") if "{:" in fmt else "{:+}"


def _rows(items: Sequence[object], columns: list[Column]) -> list[list[str]]:
    return [[cell(getattr(item, c.key), c.fmt) for c in columns] for item in items]


def error_tables(check: UnderlyingCheck) -> list[Table]:
    """The four error tables of one underlying."""
    return [
        Table(
            key=key,
            title=TITLES[key][0],
            note=TITLES[key][1],
            headers=[c.label for c in columns],
            rows=_rows(getattr(check, key), columns),
        )
        for key, columns in COLUMNS.items()
    ]


def backtest_table(side: SideBySide) -> Table:
    """The two runs and their difference, one row per measure."""
    diff = side.difference
    rows = []
    for c in BACKTEST_ROWS:
        values = [getattr(side.chains, c.key), getattr(side.model, c.key)]
        change = None if diff is None else getattr(diff, c.key)
        rows.append([c.label, *(cell(v, c.fmt) for v in values), cell(change, signed(c.fmt))])
    return Table(
        key="backtest",
        title="Side by side: the same strategy on the recorded chains and on the model chain",
        note=diff.sentence if diff else side.model.reason or side.chains.reason or "",
        headers=["", "recorded chains", "model chain", "model - chains"],
        rows=rows,
    )


def chart_data(report: ModelCheckReport) -> dict:
    """The page's chart: median IV error (vol points) per DTE bucket, one series per
    underlying and delta bucket (``None`` where a bucket is empty)."""
    series = []
    for check in report.underlyings:
        for delta in report.delta_buckets:
            by_dte = {
                c.dte_bucket_days: c.median_error_vol_points
                for c in check.iv_error
                if c.delta_bucket == delta
            }
            values = [by_dte.get(d) for d in report.dte_buckets_days]
            if any(v is not None for v in values):
                series.append({"label": f"{check.underlying} delta {delta}", "values": values})
    return {"x_labels": report.dte_buckets_days, "series": series}


def _text(table: Table, indent: str = "  ") -> list[str]:
    """A table as aligned text: numbers right-aligned, the first column left."""
    grid = [table.headers, *table.rows]
    widths = [max(len(row[j]) for row in grid) for j in range(len(table.headers))]

    def line(row: list[str]) -> str:
        pairs = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [v.rjust(w) for v, w in pairs]
        return indent + "  ".join(cells).rstrip()

    return [f"{indent}{table.title}", f"{indent}  ({table.note})", *map(line, grid)]


def _facts(check: UnderlyingCheck, max_age: int) -> list[str]:
    span = f"{check.window_start:%Y-%m-%d %H:%M} to {check.window_end:%Y-%m-%d %H:%M} UTC"
    real = check.iv_index_real_share
    iv = "" if real is None else f", IV index {100 * real:.0f} % real DVOL prints"
    lines = [
        f"{check.underlying}: {span}, {check.instants} instants, {check.instants_with_snapshot} "
        f"read a snapshot at most {max_age} min old ({check.snapshots_compared} snapshots), "
        f"{check.instants_with_iv_index} with an IV index{iv}",
        f"  {check.calls_compared} recorded calls compared, {check.calls_with_model} priced by "
        "the model",
    ]
    if check.model_unavailable:
        lines.append(f"  ! {check.model_unavailable}")
    return lines


def format_report(report: ModelCheckReport, from_disk: bool = False) -> str:
    """The readable report: what was compared, then per underlying its tables."""
    surface = ", ".join(f"{k} {v:g}" for k, v in report.surface.items() if v is not None)
    ratios = ", ".join(f"{u} {r:.4f}" for u, r in report.atm_over_index.items())
    s = report.strategy
    kept = "read from disk" if from_disk else f"computed in {report.compute_s:.1f} s"
    lines = [
        f"Model check: the MODEL against the RECORDED option chains of source "
        f"{report.source!r} [{report.origin}] ({report.label})",
        f"  calibration {report.calibration_id} ({report.calibration_where}): {surface}; "
        f"atm_over_index {ratios}",
        f"  strategy: {s['exit_style']}, decisions every {s['decision_interval_hours']} h, "
        f"target DTE {s['target_dte']:g} d ({s['min_dte']:g}-{s['max_dte']:g}), target delta "
        f"{s['target_delta']:g}, min score {s['min_score_to_trade']:g}, fills {s['fill_model']}",
        f"  report {report.key}, {kept}",
        *(f"  - {m}" for m in report.method),
    ]
    for check in report.underlyings:
        lines += ["", *_facts(check, report.chain_max_age_minutes)]
        for table in (*error_tables(check), backtest_table(check.backtest)):
            lines += ["", *_text(table)]
        for side in (check.backtest.chains, check.backtest.model):
            lines += [f"  ! {side.option_market} run: {w}" for w in side.warnings]
    return "\n".join(lines)
