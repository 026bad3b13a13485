"""Deribit JSON-RPC-over-HTTP client: typed calls, retries with backoff, paging, auth; and the
conversion of its replies into the cache's frames (:mod:`cache.deribit.frames`).

Example::

    with DeribitClient() as client:
        for chunk in client.iter_chart_windows("BTC-PERPETUAL", start_ms, end_ms, 60):
            ...
"""

from cache.deribit.client import DeribitClient
from cache.deribit.errors import (
    AuthError,
    DeribitError,
    InvalidParamsError,
    MalformedResponseError,
    MethodNotFoundError,
    RateLimitError,
    ResponseFormatError,
    RetryableError,
)
from cache.deribit.frames import (
    candles_from_chart,
    chain_from_book_summary,
    iv_from_dvol,
    settlements_from_delivery_prices,
)
from cache.deribit.paging import chart_resolution, dvol_resolution
from cache.deribit.rpc import MAINNET_URL, TESTNET_URL, RpcClient

__all__ = [
    "MAINNET_URL",
    "TESTNET_URL",
    "AuthError",
    "DeribitClient",
    "DeribitError",
    "InvalidParamsError",
    "MalformedResponseError",
    "MethodNotFoundError",
    "RateLimitError",
    "ResponseFormatError",
    "RetryableError",
    "RpcClient",
    "candles_from_chart",
    "chain_from_book_summary",
    "chart_resolution",
    "dvol_resolution",
    "iv_from_dvol",
    "settlements_from_delivery_prices",
]
