"""The fake Deribit's private side: tokens, orders, positions and balances (tests only).

Also holds :class:`RpcError` and the parameter readers every fake handler uses, so that bad input
is answered the way Deribit does: ``-32602 Invalid params`` with ``data.reason`` and ``data.param``.

Order model: options only; an order that reaches the touch fills in full at the touch (books have
unlimited size there), post-only orders that would cross are moved one tick behind the touch (as
Deribit does by default), other orders rest as ``open`` and never fill later. Fees are
``min(0.0003, 12.5% of the price)`` coin per contract. Short options need initial margin
``max(0.15 - OTM / index, 0.1) + mark`` coin per contract (maintenance ``0.075 + mark``).
"""

import math
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.deribit_chain import OptionQuote, find_option, implied_vol, settlement_mark
from tests.fakes.deribit_market import ASSETS, option_tick

MISSING = object()
TIME_IN_FORCE = ("good_til_cancelled", "good_til_day", "fill_or_kill", "immediate_or_cancel")
ORDER_TYPES = ("limit", "market")
FEE_COIN_PER_CONTRACT = 0.0003
FEE_CAP_FRACTION = 0.125


class RpcError(Exception):
    """A JSON-RPC error the fake answers with (``http_status`` of the HTTP reply)."""

    def __init__(self, code: int, message: str, data: Any = None, http_status: int = 400):
        super().__init__(f"{code} {message}")
        self.code, self.message, self.data, self.http_status = code, message, data, http_status

    def payload(self) -> dict:
        """The ``error`` object of the envelope."""
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid(param: str, reason: str) -> RpcError:
    """Deribit's invalid-params error."""
    return RpcError(-32602, "Invalid params", {"reason": reason, "param": param})


def get_str(params: dict, name: str, default: Any = MISSING, choices=None) -> Any:
    """Read a text parameter; ``choices`` restricts it (case-sensitive, like Deribit)."""
    if name not in params or params[name] is None:
        if default is MISSING:
            raise invalid(name, "missing")
        return default
    value = params[name]
    if not isinstance(value, str):
        raise invalid(name, "wrong format")
    if choices is not None and value not in choices:
        raise invalid(name, f"must be one of {list(choices)}")
    return value


def get_number(params: dict, name: str, default: Any = MISSING, *, integer: bool = False) -> Any:
    """Read a number (a JSON number, or its text in a query string)."""
    if name not in params or params[name] is None:
        if default is MISSING:
            raise invalid(name, "missing")
        return default
    value = params[name]
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise invalid(name, "wrong format") from None
    if not integer and not math.isfinite(number):
        raise invalid(name, "wrong format")
    return number


def get_bool(params: dict, name: str, default: bool) -> bool:
    """Read a boolean (``true``/``false`` in a query string)."""
    value = params.get(name, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise invalid(name, "wrong format")


def currency_asset(params: dict, name: str = "currency"):
    """The asset named by a ``currency`` parameter; ``invalid currency`` otherwise."""
    value = get_str(params, name)
    if value not in ASSETS:
        raise invalid(name, "invalid currency")
    return ASSETS[value]


@dataclass
class Position:
    """Signed size (negative when short), average price and realised P&L, in coin."""

    size: float = 0.0
    average_price: float = 0.0
    realized: float = 0.0


@dataclass
class FakeAccount:
    """In-memory account state of the fake (guarded by the server's lock)."""

    seed: int
    client_id: str
    client_secret: str
    token_ttl_s: int
    balances: dict[str, float]
    tokens: dict[str, int] = field(default_factory=dict)  # access token -> expiry ms
    refresh_tokens: set[str] = field(default_factory=set)
    orders: list[dict] = field(default_factory=list)
    trades: list[dict] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    _counter: int = 0

    # ---- authentication ----------------------------------------------------------------------

    def auth(self, params: dict, now_ms: int) -> dict:
        """``public/auth`` with ``client_credentials`` or ``refresh_token``."""
        grant = get_str(params, "grant_type")
        if grant == "client_credentials":
            client_id, secret = get_str(params, "client_id"), get_str(params, "client_secret")
            if (client_id, secret) != (self.client_id, self.client_secret):
                raise RpcError(13004, "invalid_credentials")
        elif grant == "refresh_token":
            token = get_str(params, "refresh_token")
            if token not in self.refresh_tokens:
                raise RpcError(13004, "invalid_credentials")
            self.refresh_tokens.discard(token)
        else:
            raise invalid("grant_type", "the fake supports client_credentials and refresh_token")
        self._counter += 1
        access, refresh = f"fake-access-{self._counter}", f"fake-refresh-{self._counter}"
        self.tokens[access] = now_ms + self.token_ttl_s * 1000
        self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "expires_in": self.token_ttl_s,
            "refresh_token": refresh,
            "scope": "connection mainaccount",
            "enabled_features": [],
            "token_type": "bearer",
        }

    def check_token(self, authorization: str | None, now_ms: int) -> None:
        """Raise 13009 ``unauthorized`` unless the header holds a live bearer token."""
        scheme, _, token = (authorization or "").partition(" ")
        expiry = self.tokens.get(token.strip())
        if scheme.lower() != "bearer" or expiry is None or now_ms >= expiry:
            raise RpcError(13009, "unauthorized", http_status=401)

    # ---- trading -----------------------------------------------------------------------------

    def place(self, direction: str, params: dict, now_ms: int) -> dict:
        """``private/buy`` / ``private/sell``."""
        name = get_str(params, "instrument_name")
        quote = find_option(self.seed, name, now_ms)
        if quote is None:
            raise invalid("instrument_name", "instrument not found")
        amount = get_number(params, "amount")
        lot = quote.asset.min_trade_amount
        if amount <= 0 or abs(amount / lot - round(amount / lot)) > 1e-9:
            raise invalid("amount", f"must be a positive multiple of {lot:g}")
        order_type = get_str(params, "type", "limit", ORDER_TYPES)
        label = get_str(params, "label", "")
        if len(label) > 64:
            raise invalid("label", "too long")
        tif = get_str(params, "time_in_force", "good_til_cancelled", TIME_IN_FORCE)
        post_only = get_bool(params, "post_only", False)
        reduce_only = get_bool(params, "reduce_only", False)
        price = None
        if order_type == "limit":
            price = get_number(params, "price")
            tick = option_tick(price)
            if price <= 0 or abs(price / tick - round(price / tick)) > 1e-6:
                raise invalid("price", f"must be a positive multiple of the tick size {tick:g}")
        elif post_only:
            raise invalid("post_only", "only for limit orders")

        buying = direction == "buy"
        touch = quote.ask if buying else quote.bid
        crosses = touch is not None and (
            order_type == "market" or (price >= touch if buying else price <= touch)
        )
        if crosses and post_only:
            step = option_tick(touch)
            price, crosses = round(touch - step if buying else touch + step, 4), False
        state = "filled" if crosses else "open"
        if not crosses and (order_type == "market" or tif in TIME_IN_FORCE[2:]):
            state = "cancelled"
        if crosses:
            self._check_funds(quote, amount if buying else -amount, touch, now_ms)

        self._counter += 1
        order = {
            "web": False,
            "api": True,
            "time_in_force": tif,
            "replaced": False,
            "reduce_only": reduce_only,
            "post_only": post_only,
            "reject_post_only": False,
            "price": price if price is not None else "market_price",
            "order_type": order_type,
            "order_state": state,
            "order_id": f"{quote.asset.name}-{self._counter}",
            "max_show": amount,
            "contracts": amount,
            "mmp": False,
            "risk_reducing": False,
            "last_update_timestamp": now_ms,
            "label": label,
            "is_liquidation": False,
            "instrument_name": name,
            "filled_amount": amount if crosses else 0.0,
            "direction": direction,
            "creation_timestamp": now_ms,
            "average_price": touch if crosses else 0.0,
            "amount": amount,
        }
        trades = [self._fill(order, quote, touch, now_ms)] if crosses else []
        self.orders.append(order)
        return {"order": dict(order), "trades": trades}

    def _fill(self, order: dict, quote: OptionQuote, price: float, now_ms: int) -> dict:
        amount = order["amount"]
        signed = amount if order["direction"] == "buy" else -amount
        fee = round(min(FEE_COIN_PER_CONTRACT, FEE_CAP_FRACTION * price) * amount, 8)
        currency = quote.asset.name
        self.balances[currency] += -signed * price - fee
        position = self.positions.setdefault(quote.instrument_name, Position())
        if position.size * signed < 0:  # reducing: realise P&L on the closed part
            closed = min(abs(signed), abs(position.size))
            position.realized += (
                closed * (price - position.average_price) * math.copysign(1, position.size)
            )
        new_size = position.size + signed
        if abs(new_size) < 1e-12:
            position.size, position.average_price = 0.0, 0.0
        elif position.size * signed >= 0:
            total = abs(position.size) + abs(signed)
            position.average_price = (
                abs(position.size) * position.average_price + abs(signed) * price
            ) / total
            position.size = new_size
        else:
            if new_size * position.size < 0:  # flipped through zero
                position.average_price = price
            position.size = new_size
        trade = {
            "trade_seq": len(self.trades) + 1,
            "trade_id": f"{currency}-T{len(self.trades) + 1}",
            "timestamp": now_ms,
            "tick_direction": 0,
            "state": "filled",
            "reduce_only": order["reduce_only"],
            "price": price,
            "post_only": order["post_only"],
            "order_type": order["order_type"],
            "order_id": order["order_id"],
            "matching_id": None,
            "mark_price": quote.mark,
            "liquidity": "T",
            "iv": round(
                100 * implied_vol(price, quote.forward, quote.strike, quote.t_years, quote.is_call),
                2,
            ),
            "instrument_name": quote.instrument_name,
            "index_price": round(quote.index, 2),
            "fee_currency": currency,
            "fee": fee,
            "direction": order["direction"],
            "amount": amount,
            "contracts": amount,
            "label": order["label"],
        }
        self.trades.append(trade)
        return trade

    def _check_funds(self, quote: OptionQuote, signed: float, price: float, now_ms: int) -> None:
        summary = self.summary(quote.asset.name, now_ms)
        premium = signed * price
        extra_margin = 0.0
        current = self.positions.get(quote.instrument_name, Position()).size
        if current + signed < 0:
            extra_margin = (abs(current + signed) - max(-current, 0.0)) * _initial_margin(quote)
        if summary["available_funds"] - premium - max(extra_margin, 0.0) < 0:
            raise RpcError(10009, "not_enough_funds")

    # ---- reports -----------------------------------------------------------------------------

    def position_rows(self, currency: str, now_ms: int) -> list[dict]:
        """``private/get_positions`` rows of ``currency`` (options, live ones only)."""
        rows = []
        for name, position in sorted(self.positions.items()):
            quote = find_option(self.seed, name, now_ms)
            if quote is None or quote.asset.name != currency or position.size == 0:
                continue
            size, greeks = position.size, quote.greeks()
            floating = size * (quote.mark - position.average_price)
            margins = (_initial_margin(quote), _maintenance_margin(quote)) if size < 0 else (0, 0)
            rows.append(
                {
                    "average_price": position.average_price,
                    "average_price_usd": round(position.average_price * quote.index, 2),
                    "delta": round(size * quote.coin_delta(), 6),
                    "direction": "buy" if size > 0 else "sell",
                    "floating_profit_loss": round(floating, 8),
                    "floating_profit_loss_usd": round(floating * quote.index, 2),
                    "gamma": round(size * greeks["gamma"], 8),
                    "vega": round(size * greeks["vega"], 5),
                    "theta": round(size * greeks["theta"], 5),
                    "index_price": round(quote.index, 2),
                    "initial_margin": round(abs(size) * margins[0], 8),
                    "maintenance_margin": round(abs(size) * margins[1], 8),
                    "instrument_name": name,
                    "kind": "option",
                    "mark_price": quote.mark,
                    "open_orders_margin": 0.0,
                    "realized_profit_loss": round(position.realized, 8),
                    "settlement_price": settlement_mark(self.seed, quote, now_ms),
                    "size": size,
                    "size_currency": size,
                    "total_profit_loss": round(floating + position.realized, 8),
                }
            )
        return rows

    def summary(self, currency: str, now_ms: int) -> dict:
        """``private/get_account_summary`` of ``currency``."""
        rows = self.position_rows(currency, now_ms)
        options_value = sum(r["size"] * r["mark_price"] for r in rows)
        upl = sum(r["floating_profit_loss"] for r in rows)
        realized = sum(p.realized for n, p in self.positions.items() if n.startswith(currency))
        balance = self.balances[currency]
        equity = balance + options_value
        initial = sum(r["initial_margin"] for r in rows)
        maintenance = sum(r["maintenance_margin"] for r in rows)
        delta = sum(r["delta"] for r in rows)
        return {
            "currency": currency,
            "balance": round(balance, 8),
            "equity": round(equity, 8),
            "margin_balance": round(equity, 8),
            "available_funds": round(equity - initial, 8),
            "available_withdrawal_funds": round(max(min(balance, equity - initial), 0.0), 8),
            "initial_margin": round(initial, 8),
            "maintenance_margin": round(maintenance, 8),
            "projected_initial_margin": round(initial, 8),
            "projected_maintenance_margin": round(maintenance, 8),
            "options_value": round(options_value, 8),
            "options_delta": round(delta, 6),
            "options_gamma": round(sum(r["gamma"] for r in rows), 8),
            "options_vega": round(sum(r["vega"] for r in rows), 5),
            "options_theta": round(sum(r["theta"] for r in rows), 5),
            "options_pl": round(upl + realized, 8),
            "options_session_upl": round(upl, 8),
            "options_session_rpl": round(realized, 8),
            "session_upl": round(upl, 8),
            "session_rpl": round(realized, 8),
            "total_pl": round(upl + realized, 8),
            "delta_total": round(delta, 6),
            "fee_balance": 0.0,
            "futures_pl": 0.0,
            "margin_model": "segregated_sm",
            "portfolio_margining_enabled": False,
        }


def _initial_margin(quote: OptionQuote) -> float:
    otm = (
        max(quote.strike - quote.index, 0.0)
        if quote.is_call
        else max(quote.index - quote.strike, 0.0)
    )
    return max(0.15 - otm / quote.index, 0.1) + quote.mark


def _maintenance_margin(quote: OptionQuote) -> float:
    return 0.075 + quote.mark
