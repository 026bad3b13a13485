"""Fills: where a sale and a buy-back trade on a model chain.

Sales fill at the bid and buy-backs at the ask. Model chains have only a mark, so the bid and ask
come from the spread model calibrated on real Deribit chains (:class:`SpreadModel`, fitted by
:mod:`engine.fills.fit`, kernels in :mod:`engine.fills.nb`). ``fill_model="mark"`` fills at the
mark instead: optimistic, kept to compare with tools that fill at mid.
"""

from engine.fills.model import FEATURE_NAMES, FILL_MODELS, FillModel, SpreadModel, spread_block

__all__ = ["FEATURE_NAMES", "FILL_MODELS", "FillModel", "SpreadModel", "spread_block"]
