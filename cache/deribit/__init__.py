"""Deribit JSON-RPC-over-HTTP client: typed calls, retries with backoff, paging, auth.

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
    "chart_resolution",
    "dvol_resolution",
]
