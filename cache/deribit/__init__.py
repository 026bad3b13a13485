"""Deribit JSON-RPC-over-HTTP client: typed calls, retries with backoff, paging, auth; and the
conversion of its replies into the cache's frames (:mod:`cache.deribit.frames`).

Example::

    with DeribitClient() as client:
        for chunk in client.iter_chart_windows("BTC-PERPETUAL", start_ms, end_ms, 60):
            ...

The names below are imported on first use, so a reader of :mod:`cache.deribit.naming` or
:mod:`cache.deribit.errors` (a backtest, the command line) does not load the HTTP stack.
"""

import importlib

_EXPORTS = {
    "cache.deribit.client": ("DeribitClient",),
    "cache.deribit.errors": (
        "AuthError",
        "DeribitError",
        "InvalidParamsError",
        "MalformedResponseError",
        "MethodNotFoundError",
        "RateLimitError",
        "ResponseFormatError",
        "RetryableError",
    ),
    "cache.deribit.frames": (
        "candles_from_chart",
        "chain_from_book_summary",
        "iv_from_dvol",
        "settlements_from_delivery_prices",
    ),
    "cache.deribit.paging": ("chart_resolution", "dvol_resolution"),
    "cache.deribit.rpc": ("MAINNET_URL", "TESTNET_URL", "RpcClient"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> object:
    """Import an exported name from its module on first use."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value
