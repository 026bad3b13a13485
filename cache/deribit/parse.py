"""Parse Deribit JSON-RPC responses into plain Python structures, without any I/O.

Every function takes decoded JSON (a recorded file works as well as a live response) and returns
dicts and lists whose numbers are ``float`` or ``int`` even when the input carries them as strings
(ccxt's recordings do). Each endpoint has a :class:`RowSpec` that lists the fields thetadesk relies
on: ``required`` ones must be present, ``optional`` ones are filled with None when absent so that
callers can index every listed key. Fields outside the spec pass through untouched.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from cache.deribit.errors import MalformedResponseError, ResponseFormatError, error_from_rpc


@dataclass(frozen=True)
class RowSpec:
    """The fields of one kind of result object that thetadesk relies on.

    ``floats`` and ``ints`` name the numeric fields (coerced from strings when needed);
    ``nullable`` the ones Deribit may send as null; ``nested`` maps a field to the spec of the
    object it holds (``greeks``, ``stats``).
    """

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    floats: frozenset[str] = frozenset()
    ints: frozenset[str] = frozenset()
    nullable: frozenset[str] = frozenset()
    nested: tuple[tuple[str, "RowSpec"], ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the spec names, required first."""
        return self.required + self.optional


def _spec(
    name: str,
    required: str,
    optional: str = "",
    *,
    ints: str = "",
    other: str = "",
    nullable: str = "",
    nested: tuple[tuple[str, RowSpec], ...] = (),
) -> RowSpec:
    """Build a spec from space-separated field names; fields are floats unless listed in
    ``ints`` or ``other`` (text, booleans, lists)."""
    required_t, optional_t = tuple(required.split()), tuple(optional.split())
    non_float = set(ints.split()) | set(other.split()) | {key for key, _ in nested}
    return RowSpec(
        name=name,
        required=required_t,
        optional=optional_t,
        floats=frozenset(set(required_t + optional_t) - non_float),
        ints=frozenset(ints.split()),
        nullable=frozenset(nullable.split()),
        nested=nested,
    )


GREEKS = _spec("greeks", "", "delta gamma vega theta rho")
STATS = _spec(
    "stats",
    "",
    "volume volume_usd price_change low high",
    nullable="volume volume_usd price_change low high",
)
TICK_SIZE_STEP = _spec("tick_size_step", "above_price tick_size")
BOOK_SUMMARY = _spec(
    "book_summary",
    "instrument_name creation_timestamp mark_price underlying_price underlying_index bid_price "
    "ask_price open_interest volume base_currency quote_currency",
    "mark_iv mid_price last high low price_change interest_rate volume_usd "
    "estimated_delivery_price",
    ints="creation_timestamp",
    other="instrument_name underlying_index base_currency quote_currency",
    nullable="bid_price ask_price mid_price last high low price_change mark_iv volume_usd "
    "estimated_delivery_price",
)
INSTRUMENT = _spec(
    "instrument",
    "instrument_name kind creation_timestamp tick_size min_trade_amount contract_size is_active "
    "base_currency quote_currency maker_commission taker_commission",
    "expiration_timestamp settlement_period option_type strike instrument_type price_index "
    "settlement_currency counter_currency instrument_id tick_size_steps",
    ints="creation_timestamp expiration_timestamp instrument_id",
    other="instrument_name kind is_active base_currency quote_currency settlement_period "
    "option_type instrument_type price_index settlement_currency counter_currency tick_size_steps",
    nullable="strike option_type expiration_timestamp settlement_period",
)
OPTION_INSTRUMENT_FIELDS = ("option_type", "strike", "expiration_timestamp", "settlement_period")
TICKER = _spec(
    "ticker",
    "instrument_name timestamp state mark_price index_price best_bid_price best_ask_price "
    "best_bid_amount best_ask_amount stats",
    "last_price estimated_delivery_price settlement_price open_interest min_price max_price "
    "interest_rate mark_iv bid_iv ask_iv underlying_price underlying_index greeks "
    "current_funding funding_8h",
    ints="timestamp",
    other="instrument_name state underlying_index",
    nullable="last_price best_bid_price best_ask_price settlement_price estimated_delivery_price "
    "bid_iv ask_iv",
    nested=(("stats", STATS), ("greeks", GREEKS)),
)
INDEX_PRICE = _spec("index_price", "index_price estimated_delivery_price")
DELIVERY_PRICE = _spec("delivery_price", "date delivery_price", other="date")
AUTH = _spec(
    "auth",
    "access_token expires_in refresh_token scope token_type",
    ints="expires_in",
    other="access_token refresh_token scope token_type",
)
ORDER = _spec(
    "order",
    "order_id order_state instrument_name direction amount filled_amount price average_price "
    "order_type creation_timestamp last_update_timestamp label time_in_force post_only "
    "reduce_only",
    ints="creation_timestamp last_update_timestamp",
    other="order_id order_state instrument_name direction order_type label time_in_force "
    "post_only reduce_only",
    nullable="price",
)
TRADE = _spec(
    "trade",
    "trade_id order_id instrument_name direction price amount fee fee_currency timestamp",
    "trade_seq mark_price index_price liquidity order_type state iv",
    ints="timestamp trade_seq",
    other="trade_id order_id instrument_name direction fee_currency liquidity order_type state",
)
POSITION = _spec(
    "position",
    "instrument_name kind direction size average_price mark_price delta floating_profit_loss "
    "total_profit_loss index_price initial_margin maintenance_margin",
    "realized_profit_loss settlement_price size_currency open_orders_margin gamma vega theta "
    "average_price_usd floating_profit_loss_usd",
    other="instrument_name kind direction",
    nullable="settlement_price realized_profit_loss",
)
ACCOUNT_SUMMARY = _spec(
    "account_summary",
    "currency balance equity available_funds margin_balance initial_margin maintenance_margin",
    "available_withdrawal_funds projected_initial_margin projected_maintenance_margin "
    "options_value options_delta options_gamma options_vega options_theta options_pl "
    "options_session_upl options_session_rpl session_upl session_rpl total_pl delta_total "
    "fee_balance futures_pl",
    other="currency",
)


def parse_envelope(payload: Any, *, http_status: int | None = None) -> Any:
    """Return the ``result`` of a JSON-RPC envelope, or raise the error it carries.

    Raises
    ------
    DeribitError
        The subclass matching ``error.code`` (see :mod:`cache.deribit.errors`).
    MalformedResponseError
        When ``payload`` is not an envelope with ``result`` or ``error``.
    """
    if not isinstance(payload, Mapping):
        raise MalformedResponseError(
            None,
            f"response is a {type(payload).__name__}, not a JSON-RPC envelope",
            http_status=http_status,
            ambiguous=True,
        )
    if "error" in payload and payload["error"] is not None:
        error = payload["error"]
        if not isinstance(error, Mapping):
            raise MalformedResponseError(
                None,
                f"error field is not an object: {error!r}",
                http_status=http_status,
                ambiguous=True,
            )
        raise error_from_rpc(
            error.get("code"), error.get("message"), error.get("data"), http_status=http_status
        )
    if "result" not in payload:
        raise MalformedResponseError(
            None,
            "envelope has neither result nor error",
            http_status=http_status,
            ambiguous=True,
        )
    return payload["result"]


def parse_time(result: Any) -> int:
    """Parse ``public/get_time``: server time in ms since the epoch."""
    return _as_int(result, "get_time", "result")


def parse_chart_data(result: Any) -> dict[str, Any]:
    """Parse ``public/get_tradingview_chart_data`` into parallel lists sorted by ``ticks``.

    Returns ``{"ticks": [int ms, candle open], "open"/"high"/"low"/"close": [float],
    "volume": [float coin], "cost": [float USD], "status": "ok" | "no_data"}``.
    """
    where = "get_tradingview_chart_data"
    result = _as_object(result, where)
    status = result.get("status")
    if not isinstance(status, str):
        raise ResponseFormatError(None, f"{where}: status missing or not a string: {status!r}")
    columns = ("ticks", "open", "high", "low", "close", "volume", "cost")
    out: dict[str, Any] = {}
    for column in columns:
        values = result.get(column)
        if values is None and status == "no_data":
            values = []
        if not isinstance(values, list):
            raise ResponseFormatError(None, f"{where}: {column} missing or not a list")
        convert = _as_int if column == "ticks" else _as_float
        out[column] = [convert(v, where, column) for v in values]
    lengths = {column: len(out[column]) for column in columns}
    if len(set(lengths.values())) != 1:
        raise ResponseFormatError(None, f"{where}: columns differ in length: {lengths}")
    order = sorted(range(len(out["ticks"])), key=out["ticks"].__getitem__)
    if order != list(range(len(order))):
        out = {column: [out[column][i] for i in order] for column in columns}
    out["status"] = status
    return out


def parse_volatility_index(result: Any) -> dict[str, Any]:
    """Parse ``public/get_volatility_index_data``.

    Returns ``{"data": [[ts_ms, open, high, low, close], ...], "continuation": int | None}``
    with rows sorted by time; DVOL values are in percent (old examples hold fractions).
    """
    where = "get_volatility_index_data"
    result = _as_object(result, where)
    rows = result.get("data")
    if not isinstance(rows, list):
        raise ResponseFormatError(None, f"{where}: data missing or not a list")
    data = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 5:
            raise ResponseFormatError(None, f"{where}: row is not [ts, o, h, l, c]: {row!r}")
        data.append([_as_int(row[0], where, "ts")] + [_as_float(v, where, "ohlc") for v in row[1:]])
    data.sort(key=lambda r: r[0])
    continuation = result.get("continuation")
    if continuation is not None:
        continuation = _as_int(continuation, where, "continuation")
    return {"data": data, "continuation": continuation}


def parse_delivery_prices(result: Any) -> dict[str, Any]:
    """Parse ``public/get_delivery_prices``: ``{"data": [{date, delivery_price}], records_total}``.

    Rows keep Deribit's order (newest first); ``date`` stays ``"YYYY-MM-DD"`` (the 08:00 UTC
    settlement of that day) after being checked.
    """
    where = "get_delivery_prices"
    result = _as_object(result, where)
    rows = _as_list(result.get("data"), where)
    data = [parse_row(row, DELIVERY_PRICE) for row in rows]
    for row in data:
        try:
            date.fromisoformat(row["date"])
        except (TypeError, ValueError) as exc:
            raise ResponseFormatError(None, f"{where}: bad date {row['date']!r}") from exc
    return {
        "data": data,
        "records_total": _as_int(result.get("records_total"), where, "records_total"),
    }


def parse_index_price(result: Any) -> dict[str, Any]:
    """Parse ``public/get_index_price``: ``{index_price, estimated_delivery_price}`` in USD."""
    return parse_row(result, INDEX_PRICE)


def parse_book_summary(result: Any) -> list[dict[str, Any]]:
    """Parse ``public/get_book_summary_by_currency``: one row per instrument (prices in coin)."""
    return [parse_row(row, BOOK_SUMMARY) for row in _as_list(result, BOOK_SUMMARY.name)]


def parse_instruments(result: Any) -> list[dict[str, Any]]:
    """Parse ``public/get_instruments``; option rows must carry strike, type and expiry."""
    rows = [parse_row(row, INSTRUMENT) for row in _as_list(result, INSTRUMENT.name)]
    for row in rows:
        missing = [f for f in OPTION_INSTRUMENT_FIELDS if row[f] is None]
        if row["kind"] == "option" and missing:
            raise ResponseFormatError(None, f"instrument {row['instrument_name']}: no {missing}")
    return rows


def parse_ticker(result: Any) -> dict[str, Any]:
    """Parse ``public/ticker`` (option greeks are Black-76 in USD terms)."""
    return parse_row(result, TICKER)


def parse_auth(result: Any) -> dict[str, Any]:
    """Parse ``public/auth``: tokens, ``expires_in`` (s), ``scope``, ``token_type``."""
    return parse_row(result, AUTH)


def parse_order_response(result: Any) -> dict[str, Any]:
    """Parse ``private/buy`` / ``private/sell``: ``{"order": {...}, "trades": [...]}``.

    A market order's ``price`` may be the string ``"market_price"``; it becomes None.
    """
    result = _as_object(result, "order response")
    trades = [parse_row(t, TRADE) for t in _as_list(result.get("trades"), "trades")]
    return {**result, "order": _parse_order(result.get("order")), "trades": trades}


def _parse_order(row: Any) -> dict[str, Any]:
    order = dict(_as_object(row, "order"))
    if order.get("price") == "market_price":
        order["price"] = None
    return parse_row(order, ORDER)


def parse_positions(result: Any) -> list[dict[str, Any]]:
    """Parse ``private/get_positions``: signed ``size`` (negative when short)."""
    return [parse_row(row, POSITION) for row in _as_list(result, POSITION.name)]


def parse_open_orders(result: Any) -> list[dict[str, Any]]:
    """Parse ``private/get_open_orders_by_currency``: the orders resting on the book."""
    return [_parse_order(row) for row in _as_list(result, ORDER.name)]


def parse_account_summary(result: Any) -> dict[str, Any]:
    """Parse ``private/get_account_summary`` (amounts in the account's currency)."""
    return parse_row(result, ACCOUNT_SUMMARY)


def parse_row(row: Any, spec: RowSpec) -> dict[str, Any]:
    """Check and coerce one result object against ``spec``; see the module docstring."""
    row = _as_object(row, spec.name)
    missing = [key for key in spec.required if key not in row]
    if missing:
        name = row.get("instrument_name", "")
        raise ResponseFormatError(None, f"{spec.name} {name}: missing fields {missing}".strip())
    out = dict(row)
    for key in spec.optional:
        out.setdefault(key, None)
    for key in spec.fields:
        value = out[key]
        if value is None:
            if key in spec.required and key not in spec.nullable:
                raise ResponseFormatError(None, f"{spec.name}: {key} is null")
            continue
        if key in spec.floats:
            out[key] = _as_float(value, spec.name, key)
        elif key in spec.ints:
            out[key] = _as_int(value, spec.name, key)
    for key, sub in spec.nested:
        if out.get(key) is not None:
            out[key] = parse_row(out[key], sub)
    if out.get("tick_size_steps") is not None:
        steps = _as_list(out["tick_size_steps"], "tick_size_steps")
        out["tick_size_steps"] = [parse_row(step, TICK_SIZE_STEP) for step in steps]
    return out


def _as_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ResponseFormatError(None, f"{where}: expected an object, got {type(value).__name__}")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ResponseFormatError(None, f"{where}: expected a list, got {type(value).__name__}")
    return value


def _as_float(value: Any, where: str, key: str) -> float:
    """Coerce a JSON number (or a numeric string) to a finite-or-nan float."""
    if isinstance(value, bool):
        raise ResponseFormatError(None, f"{where}: {key} is a boolean, expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ResponseFormatError(None, f"{where}: {key}={value!r} is not a number") from exc
    if math.isinf(number):
        raise ResponseFormatError(None, f"{where}: {key} is infinite")
    return number


def _as_int(value: Any, where: str, key: str) -> int:
    """Coerce a JSON integer (or an integral float or string) to int."""
    number = _as_float(value, where, key)
    if not number.is_integer():
        raise ResponseFormatError(None, f"{where}: {key}={value!r} is not an integer")
    return int(value) if isinstance(value, int) else int(number)
