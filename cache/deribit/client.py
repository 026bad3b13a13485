"""Typed Deribit calls returning plain Python structures (see :mod:`cache.deribit.parse`).

Transport, retries and authentication live in :mod:`cache.deribit.rpc`; paging in
:mod:`cache.deribit.paging`.
"""

import math
from collections.abc import Iterator
from typing import Any

from cache.deribit import paging
from cache.deribit.parse import (
    parse_account_summary,
    parse_book_summary,
    parse_chart_data,
    parse_delivery_prices,
    parse_index_price,
    parse_instruments,
    parse_open_orders,
    parse_order_response,
    parse_positions,
    parse_ticker,
    parse_time,
    parse_volatility_index,
)
from cache.deribit.rpc import MAINNET_URL, TESTNET_URL, RpcClient

__all__ = ["MAINNET_URL", "TESTNET_URL", "DeribitClient"]

MAX_LABEL_CHARS = 64


class DeribitClient(RpcClient):
    """A Deribit API client: ``call`` plus one typed method per endpoint thetadesk uses.

    The constructor is :class:`~cache.deribit.rpc.RpcClient`'s (base_url, testnet, timeout_s,
    max_retries, backoff_base_s, backoff_max_s, sleep, client_id, client_secret, transport,
    rng, clock).
    """

    # ---- public market data ----------------------------------------------------------------

    def get_time(self) -> int:
        """Return Deribit's clock, ms since the epoch."""
        return parse_time(self.call("public/get_time"))

    def get_tradingview_chart_data(
        self, instrument_name: str, start_ms: int, end_ms: int, resolution: int | str
    ) -> dict[str, Any]:
        """Return candles whose open time lies in ``[start_ms, end_ms]``.

        ``resolution`` is minutes or ``"1D"``. Result: parallel lists ``ticks`` (int ms, candle
        open), ``open, high, low, close`` (quote currency), ``volume`` (coin), ``cost`` (USD),
        plus ``status`` (``"ok"`` or ``"no_data"``). One call is capped by Deribit; use
        :meth:`iter_chart_windows` for long ranges.
        """
        start_ms, end_ms = paging.check_window(start_ms, end_ms)
        name, _ = paging.chart_resolution(resolution)
        return parse_chart_data(
            self.call(
                "public/get_tradingview_chart_data",
                instrument_name=instrument_name,
                start_timestamp=start_ms,
                end_timestamp=end_ms,
                resolution=name,
            )
        )

    def get_volatility_index_data(
        self, currency: str, start_ms: int, end_ms: int, resolution: int | str
    ) -> dict[str, Any]:
        """Return one page of DVOL candles: ``{"data": [[ts_ms, o, h, l, c]], "continuation"}``.

        ``resolution`` is seconds or ``"1D"``; values are percent. A non-null ``continuation``
        is the ``end_ms`` of the next (earlier) page.
        """
        start_ms, end_ms = paging.check_window(start_ms, end_ms)
        name, _ = paging.dvol_resolution(resolution)
        return parse_volatility_index(
            self.call(
                "public/get_volatility_index_data",
                currency=currency,
                start_timestamp=start_ms,
                end_timestamp=end_ms,
                resolution=name,
            )
        )

    def get_delivery_prices(self, index_name: str, offset: int = 0, count: int = 1000) -> dict:
        """Return daily 08:00 UTC settlement prices, newest first, and ``records_total``."""
        if not 1 <= count <= 1000:
            raise ValueError(f"count must be in 1..1000: {count!r}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0: {offset!r}")
        return parse_delivery_prices(
            self.call(
                "public/get_delivery_prices", index_name=index_name, offset=offset, count=count
            )
        )

    def get_index_price(self, index_name: str) -> dict[str, float]:
        """Return ``{"index_price", "estimated_delivery_price"}`` (USD) of e.g. ``btc_usd``."""
        return parse_index_price(self.call("public/get_index_price", index_name=index_name))

    def get_book_summary_by_currency(self, currency: str, kind: str = "option") -> list[dict]:
        """Return the whole chain: one summary row per instrument (prices in coin, IV percent)."""
        return parse_book_summary(
            self.call("public/get_book_summary_by_currency", currency=currency, kind=kind)
        )

    def get_instruments(self, currency: str, kind: str = "option", expired: bool = False) -> list:
        """Return listed (or, with ``expired``, recently expired) instruments."""
        return parse_instruments(
            self.call("public/get_instruments", currency=currency, kind=kind, expired=expired)
        )

    def ticker(self, instrument_name: str) -> dict[str, Any]:
        """Return the ticker of one instrument (with greeks for options)."""
        return parse_ticker(self.call("public/ticker", instrument_name=instrument_name))

    def iter_chart_windows(
        self,
        instrument_name: str,
        start_ms: int,
        end_ms: int,
        resolution: int | str,
        window_candles: int = paging.DEFAULT_WINDOW,
    ) -> Iterator[dict[str, Any]]:
        """Yield candle chunks of ``[start_ms, end_ms]``, each candle once, in time order."""
        return paging.iter_chart_windows(
            self, instrument_name, start_ms, end_ms, resolution, window_candles=window_candles
        )

    def iter_volatility_index(
        self,
        currency: str,
        start_ms: int,
        end_ms: int,
        resolution: int | str,
        window_points: int = paging.DEFAULT_WINDOW,
    ) -> Iterator[list[list[float]]]:
        """Yield DVOL row chunks of ``[start_ms, end_ms]``, each point once, in time order."""
        return paging.iter_volatility_index(
            self, currency, start_ms, end_ms, resolution, window_points=window_points
        )

    # ---- private: trading and account ------------------------------------------------------

    def buy(
        self,
        instrument_name: str,
        amount: float,
        *,
        type: str = "limit",  # Deribit's parameter name, shadowing the builtin on purpose
        price: float | None = None,
        label: str | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        time_in_force: str = "good_til_cancelled",
    ) -> dict[str, Any]:
        """Place a buy order; the parameters are those of :meth:`sell`."""
        return self._order(
            "private/buy",
            instrument_name,
            amount,
            type=type,
            price=price,
            label=label,
            reduce_only=reduce_only,
            post_only=post_only,
            time_in_force=time_in_force,
        )

    def sell(
        self,
        instrument_name: str,
        amount: float,
        *,
        type: str = "limit",  # Deribit's parameter name, shadowing the builtin on purpose
        price: float | None = None,
        label: str | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        time_in_force: str = "good_til_cancelled",
    ) -> dict[str, Any]:
        """Place a sell order and return ``{"order": {...}, "trades": [...]}``.

        Parameters
        ----------
        instrument_name : str
            E.g. ``"BTC-26DEC25-100000-C"``.
        amount : float
            Contracts (coin for BTC/ETH options).
        type : str
            ``"limit"`` (needs ``price``) or ``"market"``.
        price : float, optional
            Limit price in coin.
        label : str, optional
            Up to 64 characters; tag the agent's orders with it.
        reduce_only, post_only : bool
            Deribit's order flags.
        time_in_force : str
            ``good_til_cancelled``, ``good_til_day``, ``fill_or_kill`` or ``immediate_or_cancel``.
        """
        return self._order(
            "private/sell",
            instrument_name,
            amount,
            type=type,
            price=price,
            label=label,
            reduce_only=reduce_only,
            post_only=post_only,
            time_in_force=time_in_force,
        )

    def get_positions(self, currency: str, kind: str = "option") -> list[dict[str, Any]]:
        """Return open positions (signed ``size``: negative when short)."""
        return parse_positions(self.call("private/get_positions", currency=currency, kind=kind))

    def get_open_orders(self, currency: str, kind: str = "option") -> list[dict[str, Any]]:
        """Return the orders of ``currency`` and ``kind`` resting on the book."""
        result = self.call("private/get_open_orders_by_currency", currency=currency, kind=kind)
        return parse_open_orders(result)

    def get_account_summary(self, currency: str) -> dict[str, Any]:
        """Return balance, equity, margins and option greeks totals in ``currency``."""
        return parse_account_summary(self.call("private/get_account_summary", currency=currency))

    def _order(
        self,
        method: str,
        instrument_name: str,
        amount: float,
        *,
        type: str = "limit",  # Deribit's parameter name, shadowing the builtin on purpose
        price: float | None = None,
        label: str | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        time_in_force: str = "good_til_cancelled",
    ) -> dict[str, Any]:
        if not (isinstance(amount, int | float) and math.isfinite(amount) and amount > 0):
            raise ValueError(f"amount must be a positive number of contracts: {amount!r}")
        if type == "limit" and not (price is not None and math.isfinite(price) and price > 0):
            raise ValueError(f"a limit order needs a positive price: {price!r}")
        if label is not None and len(label) > MAX_LABEL_CHARS:
            raise ValueError(f"label is longer than {MAX_LABEL_CHARS} characters: {label!r}")
        if post_only and type != "limit":
            raise ValueError(f"post_only needs a limit order, not {type!r}")
        return parse_order_response(
            self.call(
                method,
                instrument_name=instrument_name,
                amount=amount,
                type=type,
                price=price,
                label=label,
                reduce_only=reduce_only,
                post_only=post_only,
                time_in_force=time_in_force,
            )
        )
