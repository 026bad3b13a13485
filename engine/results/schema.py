"""The contract of a run's outputs: each table's columns, dtypes, units, null-ness and meaning.

A run writes four Parquet tables to ``<data_dir>/runs/<run_id>/`` (:data:`TABLES`). They are
declared here once, and everything else follows from this declaration: the writer refuses a
table that breaks it (:func:`check_table`), the API's row models are built from it
(:func:`row_model`), ``GET /api/meta`` and the dashboard read it (:func:`contract_json`), and a
test checks ``docs/data.md`` against it. :data:`TRADE_VIEW` is the trades table as the API and
the dashboard show it: two derived columns added, and a header label and a display hint for each.
"""

from dataclasses import asdict, dataclass
from typing import Literal, get_args

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, create_model

from engine.config import CallSimulationConfig
from engine.enums import CloseReason
from engine.policy.actions import ACTIONS, CLOSE_REASONS

UTC_US = pl.Datetime("us", "UTC")
FLOAT, INT16, INT32, INT64 = pl.Float64(), pl.Int16(), pl.Int32(), pl.Int64()
TEXT, BOOL = pl.String(), pl.Boolean()
EXIT_STYLES = get_args(CallSimulationConfig.model_fields["exit_style"].annotation)


@dataclass(frozen=True)
class Column:
    """One column of an output table.

    ``unit`` is empty where the values have none (names, codes, flags, ratios, scores);
    ``values``, when given, are the only values a text column may hold.
    """

    name: str
    dtype: pl.DataType
    unit: str
    meaning: str
    nullable: bool = False
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Display:
    """How the dashboard formats a value.

    ``kind`` is ``time`` (UTC, to the minute), ``text`` or ``number``. Numbers have ``decimals``
    and, with ``sign``, a ``+`` before positive values and a cell coloured by the sign. ``flag``
    names a boolean column of the same row: when it is true, its name follows the text in
    brackets (``expiry (assigned)``).
    """

    kind: Literal["time", "text", "number"]
    decimals: int | None = None
    sign: bool = False
    flag: str | None = None


@dataclass(frozen=True)
class ViewColumn:
    """A column the API and the dashboard show, with its header label and its format.

    The API returns every view column; the dashboard's trades table shows those ``in_table``.
    """

    column: Column
    label: str
    display: Display
    in_table: bool = True


TRADES = (
    Column("open_time", UTC_US, "UTC", "when the call was sold"),
    Column("close_time", UTC_US, "UTC", "when it was closed, at the expiry if it expired"),
    Column("instrument_name", TEXT, "", "Deribit name, e.g. BTC-10JAN20-3450-C"),
    Column("strike", FLOAT, "USD", "strike price"),
    Column("expiry", UTC_US, "UTC", "the call's expiry, at 08:00"),
    Column("dte_at_open", FLOAT, "days", "time to expiry at the sale"),
    Column("forward_at_open", FLOAT, "USD", "forward of the expiry at the sale"),
    Column("spot_at_open", FLOAT, "USD", "spot at the sale"),
    Column("iv_at_open", FLOAT, "percent", "implied volatility the call was priced at"),
    Column("delta_at_open", FLOAT, "", "Black-76 call delta (forward, USD terms)"),
    Column("score_at_open", FLOAT, "", "candidate score, 0 (worst) to 10 (best)"),
    Column(
        "quantity_coin",
        FLOAT,
        "coin",
        "contracts sold (1 coin each): the coins held rounded down to Deribit's order step",
    ),
    Column(
        "premium_coin",
        FLOAT,
        "coin per contract",
        "the sale's fill price: the bid (the mark when fill_model is mark)",
    ),
    Column("mark_at_open_coin", FLOAT, "coin per contract", "the call's mark at the sale"),
    Column(
        "close_price_coin",
        FLOAT,
        "coin per contract",
        "paid to close: the buy-back's fill price (the ask; the mark when fill_model is mark),"
        " max(S − K, 0) / S at expiry, the mark at the end of the data",
    ),
    Column(
        "mark_at_close_coin",
        FLOAT,
        "coin per contract",
        "the call's mark when closed (its settlement value at expiry)",
    ),
    Column(
        "close_reason",
        TEXT,
        "",
        "why the call was closed: expiry, take_profit, end_of_data",
        values=tuple(r.name for r in CLOSE_REASONS),
    ),
    Column(
        "settlement_price",
        FLOAT,
        "USD",
        "the price the expiry settled at (null unless it expired)",
        nullable=True,
    ),
    Column(
        "settlement_stale",
        BOOL,
        "",
        "the settlement price is a close more than one base bar before 08:00 (a data gap)",
    ),
    Column("spot_at_close", FLOAT, "USD", "spot when the call was closed"),
    Column("fees_coin", FLOAT, "coin", "every fee of the trade (open + close or settlement)"),
    Column("pnl_coin", FLOAT, "coin", "quantity × (premium − close price) − fees"),
    Column("pnl_usd", FLOAT, "USD", "pnl_coin × spot_at_close"),
    Column("chain_id", INT64, "", "a chain is a sale and its rolls"),
    Column("roll_index", INT16, "", "place in the chain: 0 for the first call, 1 for its roll …"),
)

EQUITY = (
    Column("time", UTC_US, "UTC", "the instant (bar close)"),
    Column("spot", FLOAT, "USD", "spot price"),
    Column("equity_coin", FLOAT, "coin", "coins held minus the open call's mark × quantity"),
    Column("equity_usd", FLOAT, "USD", "equity_coin × spot"),
    Column("hodl_coin", FLOAT, "coin", "the benchmark: the same coins, never optioned"),
    Column("hodl_usd", FLOAT, "USD", "hodl_coin × spot"),
    Column(
        "call_mark_coin",
        FLOAT,
        "coin per contract",
        "mark of the open call (null when none)",
        nullable=True,
    ),
    Column("call_open", BOOL, "", "whether a call is open after this instant"),
)

STEPS = (
    Column("time", UTC_US, "UTC", "the decision instant"),
    Column("candidates", INT32, "", "calls within the DTE and delta bands"),
    Column(
        "best_score",
        FLOAT,
        "",
        "score of the best candidate, 0..10 (null without one)",
        nullable=True,
    ),
    Column("best_instrument", TEXT, "", "the best candidate (null without one)", nullable=True),
    Column("traded", BOOL, "", "a call was sold (a new sale or a roll)"),
    Column("exit_style", TEXT, "", "the run's exit style", values=EXIT_STYLES),
    Column("action", TEXT, "", "what the policy did", values=tuple(a.name for a in ACTIONS)),
    Column("reason", TEXT, "", "the action in a sentence"),
)

CANDIDATES = (
    Column("time", UTC_US, "UTC", "the prepared instant"),
    Column("rank", INT16, "", "1 = best score"),
    Column("expiry", UTC_US, "UTC", "the candidate's expiry, at 08:00"),
    Column("strike", FLOAT, "USD", "strike price"),
    Column("t_years", FLOAT, "years", "time to expiry, ACT/365"),
    Column("forward", FLOAT, "USD", "forward of the expiry"),
    Column("iv", FLOAT, "fraction", "implied volatility"),
    Column("delta", FLOAT, "", "Black-76 call delta (forward, USD terms)"),
    Column("mark_price_coin", FLOAT, "coin per contract", "the call's mark"),
    Column("premium_yield_annual", FLOAT, "fraction per year", "mark_price_coin / t_years"),
    Column("iv_rv_ratio", FLOAT, "", "implied over 30-day realised volatility"),
    Column("score", FLOAT, "", "candidate score, 0 (worst) to 10 (best)"),
    Column(
        "bid_price_coin",
        FLOAT,
        "coin per contract",
        "real chains: the recorded best bid the sale fills at; null on model chains (the sale "
        "fills at the model bid)",
        nullable=True,
    ),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "trades": TRADES,
    "equity": EQUITY,
    "steps": STEPS,
    "candidates": CANDIDATES,
}

PREMIUM_USD = Column(
    "premium_usd", FLOAT, "USD per contract", "premium_coin × spot_at_open: the premium in USD"
)
ASSIGNED = Column(
    "assigned", BOOL, "", "expired in the money: closed at expiry with close_price_coin > 0"
)
_VIEWABLE = {c.name: c for c in (*TRADES, PREMIUM_USD, ASSIGNED)}


def assigned_expr() -> pl.Expr:
    """Whether a trade was assigned: settled at expiry in the money (it paid a positive value)."""
    expiry = CLOSE_REASONS[CloseReason.expiry].name
    return (pl.col("close_reason") == expiry) & (pl.col("close_price_coin") > 0)


def take_profit_expr() -> pl.Expr:
    """Whether a trade was closed by a take-profit."""
    return pl.col("close_reason") == CLOSE_REASONS[CloseReason.take_profit].name


def _shown(name: str, label: str, display: Display, in_table: bool = True) -> ViewColumn:
    return ViewColumn(_VIEWABLE[name], label, display, in_table)


def _number(decimals: int, sign: bool = False) -> Display:
    return Display("number", decimals, sign)


_TIME, _TEXT = Display("time"), Display("text")
TRADE_VIEW = (
    _shown("open_time", "Opened (UTC)", _TIME),
    _shown("close_time", "Closed (UTC)", _TIME),
    _shown("instrument_name", "Instrument", _TEXT),
    _shown("strike", "Strike (USD)", _number(0)),
    _shown("expiry", "Expiry (UTC)", _TIME, in_table=False),
    _shown("dte_at_open", "DTE (d)", _number(1)),
    _shown("quantity_coin", "Quantity (coin)", _number(6), in_table=False),
    _shown("premium_coin", "Premium (coin)", _number(6)),
    _shown("premium_usd", "Premium (USD)", _number(2)),
    _shown("close_price_coin", "Close price (coin)", _number(6), in_table=False),
    _shown("close_reason", "Close reason", Display("text", flag=ASSIGNED.name)),
    _shown("assigned", "Assigned", _TEXT, in_table=False),
    _shown("spot_at_open", "Spot at open (USD)", _number(2), in_table=False),
    _shown("spot_at_close", "Spot at close (USD)", _number(2), in_table=False),
    _shown("fees_coin", "Fees (coin)", _number(6), in_table=False),
    _shown("pnl_coin", "PnL (coin)", _number(6, sign=True)),
    _shown("pnl_usd", "PnL (USD)", _number(2, sign=True)),
    _shown("chain_id", "Chain", _TEXT, in_table=False),
    _shown("roll_index", "Roll", _number(0), in_table=False),
)


def dtype_name(dtype: pl.DataType) -> str:
    """Name a dtype as ``docs/data.md`` does: ``Float64``, ``Datetime[us, UTC]``."""
    if isinstance(dtype, pl.Datetime):
        return f"Datetime[{dtype.time_unit}, {dtype.time_zone}]"
    return str(dtype)


def check_table(table: str, frame: pl.DataFrame) -> None:
    """Raise ValueError, naming the table and the column, when ``frame`` breaks its contract.

    The columns must be the contract's, in its order, with its dtypes; a column that is not
    nullable must hold no null, and a text column with ``values`` nothing else.
    """
    expected = [c.name for c in TABLES[table]]
    if frame.columns != expected:
        missing = [n for n in expected if n not in frame.columns]
        extra = [n for n in frame.columns if n not in expected]
        raise ValueError(
            f"table {table}: columns differ from the contract (missing: {missing or 'none'}; "
            f"unexpected: {extra or 'none'}); expected, in this order: {expected}"
        )
    for column in TABLES[table]:
        series = frame.get_column(column.name)
        where = f"table {table}, column {column.name}"
        if series.dtype != column.dtype:
            raise ValueError(
                f"{where}: dtype {dtype_name(series.dtype)}, the contract says "
                f"{dtype_name(column.dtype)}"
            )
        if not column.nullable and series.null_count():
            raise ValueError(f"{where}: {series.null_count()} null values, none allowed")
        if column.values:
            stray = set(series.drop_nulls().unique().to_list()) - set(column.values)
            if stray:
                raise ValueError(f"{where}: values {sorted(stray)} are not among {column.values}")


def row_model(name: str, columns: tuple[Column, ...], doc: str) -> type[BaseModel]:
    """Build a frozen pydantic model of one row of ``columns``.

    Each field has the Python type of the column's dtype (a ``Literal`` of its ``values`` when
    it has them), allows ``None`` only where the column is nullable, and carries the column's
    meaning and unit as its description.
    """
    fields = {}
    for column in columns:
        kind = Literal[column.values] if column.values else column.dtype.to_python()
        unit = f" ({column.unit})" if column.unit else ""
        fields[column.name] = (
            kind | None if column.nullable else kind,
            Field(description=column.meaning + unit),
        )
    return create_model(name, __config__=ConfigDict(frozen=True), __doc__=doc, **fields)


def column_json(column: Column) -> dict:
    """Return one column's contract as JSON-ready data (the dtype named by :func:`dtype_name`)."""
    return {
        "name": column.name,
        "dtype": dtype_name(column.dtype),
        "unit": column.unit,
        "nullable": column.nullable,
        "meaning": column.meaning,
        "values": list(column.values),
    }


def contract_json() -> dict:
    """Return every table's contract and the trade view, JSON-ready, for the API and the page."""
    return {
        "tables": {name: [column_json(c) for c in cols] for name, cols in TABLES.items()},
        "trade_view": [
            column_json(v.column)
            | {"label": v.label, "display": asdict(v.display), "table": v.in_table}
            for v in TRADE_VIEW
        ],
    }
