"""Brokers: where the agent's decisions become fills. ``paper`` simulates, ``deribit`` trades.

Both hold one covered position: coins with at most one call sold against them, on ``quantity``
contracts (whole multiples of Deribit's order step, see
:meth:`engine.config.StrategyConfig.contracts`).
"""

import math
from datetime import datetime

from engine.agent.protocols import Fill, Quote
from engine.config import FeeModel
from engine.instruments import parse_instrument
from engine.instruments.contracts import OPTION_SPECS
from engine.policy import (
    OpenCall,
    buyback_price_coin,
    sale_price_coin,
    settlement_coin,
    trade_fee_coin,
)
from engine.policy.execution import buyback_limit_coin, sale_limit_coin

ORDER_LABEL = "thetadesk-agent"


def _where(price: float, quoted: float | None) -> str:
    return "book" if price == quoted else "mark (empty book side)"


def _differences(held: dict[str, float], expected: dict[str, float], orders: list[dict]) -> list:
    """What differs between the account (``held``, open ``orders``) and the agent's book."""
    problems = []
    for name in sorted(held.keys() | expected.keys()):
        have, want = held.get(name), expected.get(name)
        if want is None:
            problems.append(f"the account holds {name} ({have:+g}), which the agent did not open")
        elif have is None:
            problems.append(f"the agent's {name} ({want:+g}) is not in the account")
        elif abs(have - want) > 1e-9:
            problems.append(f"{name} is {have:+g} in the account, {want:+g} in the agent's book")
    for order in orders:
        problems.append(
            f"order {order['order_id']} ({order['direction']} {order['amount']:g} "
            f"{order['instrument_name']}) rests on the book"
        )
    return problems


class PaperBroker:
    """Simulated fills: sells at the bid and buys at the ask when quoted, else at the mark."""

    name = "paper"

    def __init__(self, coins: float, quantity: float, fees: FeeModel) -> None:
        self.quantity = quantity  # contracts sold per call
        self.fees = fees
        self.coins = coins  # coins held, including premiums received and fees paid
        self.position: OpenCall | None = None

    def sync(self, now: datetime) -> None:
        """Nothing to reconcile: the paper book is the truth."""

    def sell(self, candidate: dict, now: datetime, quote: Quote) -> Fill:
        """Sell ``quantity`` calls of the candidate."""
        price = sale_price_coin(quote.mark, quote.bid)
        fee = trade_fee_coin(self.fees, self.quantity, price)
        self.coins += self.quantity * price - fee
        self.position = OpenCall(
            candidate["instrument_name"], candidate["strike"], candidate["expiry"], price, now
        )
        return Fill(True, "sell", candidate["instrument_name"], self.quantity, price, fee,
                    "filled", f"paper sell at the {_where(price, quote.bid)}")  # fmt: skip

    def buy_back(self, now: datetime, quote: Quote) -> Fill:
        """Buy the open call back."""
        pos = self.position
        price = buyback_price_coin(quote.mark, quote.ask)
        fee = trade_fee_coin(self.fees, self.quantity, price)
        self.coins -= self.quantity * price + fee
        self.position = None
        return Fill(True, "buy", pos.instrument_name, self.quantity, price, fee, "filled",
                    f"paper buy-back at the {_where(price, quote.ask)}")  # fmt: skip

    def settle(self, settlement_price_usd: float, now: datetime) -> Fill:
        """Cash-settle the expired call: pays ``max(S − K, 0) / S`` coin per contract."""
        pos = self.position
        value, fee = settlement_coin(
            self.fees, self.quantity, settlement_price_usd, pos.strike, pos.expiry
        )
        self.coins -= self.quantity * value + fee
        self.position = None
        return Fill(True, "settle", pos.instrument_name, self.quantity, value, fee, "settled",
                    f"expired at {settlement_price_usd:,.2f} USD")  # fmt: skip

    def equity_coin(self, mark: float | None) -> float:
        """Coins held minus the open call's value."""
        if self.position is None:
            return self.coins
        return self.coins - self.quantity * (mark if mark is not None else math.nan)

    def book(self) -> dict[str, float]:
        """The coins held (premiums received and fees paid included)."""
        return {"coins": self.coins}

    def restore(self, position: OpenCall | None, book: dict[str, float]) -> None:
        """Take back the paper book of an earlier run."""
        self.position, self.coins = position, float(book["coins"])

    def reconcile(self, now: datetime, adopt: bool = False) -> str | None:
        """The paper book is the truth: nothing can differ."""
        return None

    def close(self) -> None:
        """Nothing to release."""


class DeribitBroker:
    """Real orders through a DeribitClient (testnet unless explicitly built for mainnet).

    Orders are limit immediate-or-cancel at the touch (the bid to sell, the ask to buy back) so
    nothing rests on the book; buy-backs are reduce-only. Deribit settles expiries itself.
    """

    def __init__(self, client, currency: str, quantity: float, fees: FeeModel, name: str) -> None:
        self.client, self.currency, self.quantity, self.fees = client, currency, quantity, fees
        self.name = name
        self.position: OpenCall | None = None
        self.account: dict = {}

    def sync(self, now: datetime) -> None:
        """Reconcile the open call with Deribit's positions and read the account."""
        self.account = self.client.get_account_summary(self.currency)
        # only a short call of exactly our size can be ours (run the agent on its own subaccount)
        shorts = [
            p
            for p in self.client.get_positions(self.currency, kind="option")
            if str(p.get("instrument_name", "")).endswith("-C")
            and abs(float(p.get("size", 0)) + self.quantity) < 1e-9
        ]
        names = {p["instrument_name"] for p in shorts}
        pos = self.position
        if pos is not None and pos.instrument_name not in names and now < pos.expiry:
            self.position = None  # closed outside the agent
        if self.position is None and shorts:
            p = shorts[0]
            inst = parse_instrument(p["instrument_name"])
            self.position = OpenCall(
                p["instrument_name"], inst.strike, inst.expiry, float(p["average_price"]), now
            )

    def _order(self, side: str, name: str, price: float, **extra: object) -> Fill:
        spec = OPTION_SPECS[self.currency]
        price = sale_limit_coin(price, spec) if side == "sell" else buyback_limit_coin(price, spec)
        send = self.client.sell if side == "sell" else self.client.buy
        result = send(name, self.quantity, type="limit", price=price, label=ORDER_LABEL,
                      time_in_force="immediate_or_cancel", **extra)  # fmt: skip
        order = result["order"]
        filled = float(order.get("filled_amount") or 0.0)
        fee = sum(float(t.get("fee") or 0.0) for t in result.get("trades", []))
        avg = float(order.get("average_price") or 0.0) or None
        ok = filled >= self.quantity - 1e-12
        message = f"{order['order_state']}: {filled:g}/{self.quantity:g} filled at limit {price}"
        if filled > 0:  # the equity shown after this cycle must include the trade
            self.account = self.client.get_account_summary(self.currency)
        return Fill(ok, side, name, filled, avg, fee, order["order_state"], message,
                    order.get("order_id"))  # fmt: skip

    def sell(self, candidate: dict, now: datetime, quote: Quote) -> Fill:
        """Sell ``quantity`` calls at the bid (or the mark when there is no bid)."""
        price = sale_price_coin(quote.mark, quote.bid)
        fill = self._order("sell", candidate["instrument_name"], price)
        if fill.ok:
            self.position = OpenCall(candidate["instrument_name"], candidate["strike"],
                                     candidate["expiry"], fill.price_coin, now)  # fmt: skip
        return fill

    def buy_back(self, now: datetime, quote: Quote) -> Fill:
        """Buy the open call back, reduce-only, at the ask (or the mark)."""
        price = buyback_price_coin(quote.mark, quote.ask)
        fill = self._order("buy", self.position.instrument_name, price, reduce_only=True)
        if fill.ok:
            self.position = None
        return fill

    def settle(self, settlement_price_usd: float, now: datetime) -> Fill:
        """Deribit settles the expired call itself; record what it pays."""
        pos = self.position
        value, fee = settlement_coin(
            self.fees, self.quantity, settlement_price_usd, pos.strike, pos.expiry
        )
        self.position = None
        return Fill(True, "settle", pos.instrument_name, self.quantity, value, fee, "settled",
                    f"expired at {settlement_price_usd:,.2f} USD (settled by Deribit)")  # fmt: skip

    def equity_coin(self, mark: float | None) -> float:
        """The account's equity in coin as Deribit reports it."""
        return float(self.account.get("equity", math.nan))

    def book(self) -> dict[str, float]:
        """Nothing besides the position: Deribit keeps the account."""
        return {}

    def restore(self, position: OpenCall | None, book: dict[str, float]) -> None:
        """Expect ``position`` in the account (checked by :meth:`reconcile` before trading)."""
        self.position = position

    def reconcile(self, now: datetime, adopt: bool = False) -> str | None:
        """Compare the account's option positions and open orders with the expected call.

        The account must hold exactly the open call, short ``quantity`` contracts (an expired
        call may be there or already settled), or nothing; and no order may rest on the book
        (the agent's orders are immediate-or-cancel). With ``adopt``, an account that holds
        nothing or one short call of our size (and no open order) becomes the agent's position.
        """
        rows = {
            p["instrument_name"]: p
            for p in self.client.get_positions(self.currency, kind="option")
            if abs(float(p["size"])) > 1e-12
        }
        held = {name: float(p["size"]) for name, p in rows.items()}
        orders = self.client.get_open_orders(self.currency, kind="option")
        pos = self.position
        expected = {} if pos is None else {pos.instrument_name: -self.quantity}
        if pos is not None and now >= pos.expiry and pos.instrument_name not in held:
            expected = {}  # settled by Deribit while the agent was away: booked at the next cycle
        problems = _differences(held, expected, orders)
        if not problems or not adopt:
            return "; ".join(problems) or None
        ours = [n for n in held if n.endswith("-C") and abs(held[n] + self.quantity) < 1e-9]
        if orders or len(held) > 1 or len(ours) != len(held):
            return "cannot adopt the account: " + "; ".join(problems)
        self.position = None
        for name in ours:
            inst = parse_instrument(name)
            premium = float(rows[name]["average_price"])
            self.position = OpenCall(name, inst.strike, inst.expiry, premium, now)
        return None

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()
