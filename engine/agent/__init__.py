"""The live agent: each cycle reads the market, asks the shared policy, trades and journals.

- :mod:`engine.agent.loop`: :class:`LiveAgent`, the cycle and its status;
- :mod:`engine.agent.feeds`: where the market comes from (replay of a source or of recorded
  chains, or Deribit's public API);
- :mod:`engine.agent.brokers`: where decisions become fills (paper, Deribit testnet/mainnet);
- :mod:`engine.agent.journal`: the SQLite decision journal.
"""

from engine.agent.loop import LiveAgent

__all__ = ["LiveAgent"]
