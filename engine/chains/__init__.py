"""Backtests on recorded option chains: the quotes a run reads and the kernels that read them.

:mod:`engine.chains.quotes` loads, for each instant, the latest snapshot of the source's chain
store within the staleness limit; :mod:`engine.chains.nb` finds a call in a snapshot. The prepare
phase scores a snapshot's quoted calls (:func:`engine.prepare.nb.prepare_chains_chunk_nb`) and the
replay fills sales at the recorded bid and buy-backs at the recorded ask.
"""

from engine.chains.quotes import (
    ChainQuotes,
    data_fingerprint,
    load_chain_quotes,
    replay_arrays,
    resolve_option_market,
)

__all__ = [
    "ChainQuotes",
    "data_fingerprint",
    "load_chain_quotes",
    "replay_arrays",
    "resolve_option_market",
]
