"""The spread model as a Python object: per-underlying parameters, read from a calibration file."""

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from engine.enums import N_SPREAD_FEATURES, N_SPREAD_PARAMS, SpreadFeature, SpreadParam
from engine.fills.nb import model_bid_ask_array_nb
from engine.instruments.contracts import OPTION_SPECS

FillModel = Literal["bid_ask", "mark"]
FILL_MODELS: tuple[str, ...] = ("bid_ask", "mark")
FEATURE_NAMES = list(SpreadFeature._fields)


def spread_block(params: dict[str, np.ndarray], fits: dict[str, dict]) -> dict:
    """The calibration file's ``spread`` block for per-underlying parameters and fit reports."""
    out = {}
    for underlying, p in params.items():
        out[underlying] = {
            "delta_range": [float(p[SpreadParam.delta_lo]), float(p[SpreadParam.delta_hi])],
            "dte_range_days": [float(p[SpreadParam.dte_lo]), float(p[SpreadParam.dte_hi])],
            "tick_shift": {
                "bid": round(float(p[SpreadParam.bid_tick_shift]), 4),
                "ask": round(float(p[SpreadParam.ask_tick_shift]), 4),
            },
            "bid": [_sig(c) for c in p[SpreadParam.bid : SpreadParam.bid + N_SPREAD_FEATURES]],
            "ask": [_sig(c) for c in p[SpreadParam.ask : SpreadParam.ask + N_SPREAD_FEATURES]],
            **fits.get(underlying, {}),
        }
    return {"features": FEATURE_NAMES, "underlyings": out}


@functools.cache
def _default_model() -> "SpreadModel":
    from engine.calibration import load_calibration  # the calibration imports this module

    return load_calibration().spread_model()  # the shipped document, read and checked once


def _sig(x: float) -> float:
    """Six significant digits: enough for prices, and stable across platforms' float noise."""
    return float(f"{float(x):.6g}")


@dataclass(frozen=True)
class SpreadModel:
    """Bid and ask of calls on model chains: ``gap(mark, delta, days)`` each side, on the grid.

    ``calibration_id`` names the calibration the coefficients come from (it enters every run's
    data fingerprint); ``params`` holds one array per underlying (slots of ``SpreadParam``).
    """

    calibration_id: str
    params: dict[str, np.ndarray]

    @classmethod
    def default(cls) -> "SpreadModel":
        """The model of the calibration the app ships (fitted on the ``../shared`` chains)."""
        return _default_model()

    @classmethod
    def load(cls, path: Path | str) -> "SpreadModel":
        """Read the ``spread`` block of a calibration file; errors name the file and the key."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"calibration file {path}: {exc}") from exc
        return cls.from_calibration(data, str(path))

    @classmethod
    def from_calibration(cls, data: dict, where: str = "calibration") -> "SpreadModel":
        """The model of a calibration document (the parsed JSON)."""
        try:
            block = data["spread"]
            if block["features"] != FEATURE_NAMES:
                raise ValueError(f"features {block['features']} are not {FEATURE_NAMES}")
            params = {}
            for underlying, u in block["underlyings"].items():
                p = np.zeros(N_SPREAD_PARAMS)
                p[SpreadParam.delta_lo], p[SpreadParam.delta_hi] = u["delta_range"]
                p[SpreadParam.dte_lo], p[SpreadParam.dte_hi] = u["dte_range_days"]
                p[SpreadParam.bid_tick_shift] = u["tick_shift"]["bid"]
                p[SpreadParam.ask_tick_shift] = u["tick_shift"]["ask"]
                for side, first in (("bid", SpreadParam.bid), ("ask", SpreadParam.ask)):
                    if len(u[side]) != N_SPREAD_FEATURES:
                        raise ValueError(f"{underlying}.{side} needs {N_SPREAD_FEATURES} numbers")
                    p[first : first + N_SPREAD_FEATURES] = u[side]
                params[underlying] = p
            return cls(calibration_id=str(data["calibration_id"]), params=params)
        except KeyError as exc:
            raise ValueError(f"{where}: missing key {exc} in the spread model") from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad spread model: {exc}") from exc

    def spread_params(self, underlying: str, fill_model: FillModel = "bid_ask") -> np.ndarray:
        """The parameter array the kernels take; ``fill_model="mark"`` sets ``at_mark``."""
        if underlying not in self.params:
            raise ValueError(
                f"calibration {self.calibration_id} has no spread model for {underlying!r}"
            )
        if fill_model not in FILL_MODELS:
            raise ValueError(f"fill_model must be one of {FILL_MODELS}, got {fill_model!r}")
        p = self.params[underlying].copy()
        p[SpreadParam.at_mark] = 1.0 if fill_model == "mark" else 0.0
        return p

    def bid_ask(
        self,
        underlying: str,
        mark_coin,
        delta,
        dte_days,
        fill_model: FillModel = "bid_ask",
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(bid, ask)`` in coin for calls of ``underlying``: arrays broadcast together.

        The same numbers the backtest kernel fills at: on Deribit's tick grid, the bid at most
        the mark and the ask at least the mark.
        """
        arrays = np.broadcast_arrays(
            *(np.asarray(a, dtype=np.float64) for a in (mark_coin, delta, dte_days))
        )
        shape = arrays[0].shape
        m, d, t = (np.ascontiguousarray(a).ravel() for a in arrays)
        if np.any(t[np.isfinite(t)] <= 0):
            raise ValueError("dte_days must be positive")
        params = self.spread_params(underlying, fill_model)
        bid, ask = np.empty(m.size), np.empty(m.size)
        model_bid_ask_array_nb(m, d, t, OPTION_SPECS[underlying].tick_params(), params, bid, ask)
        return bid.reshape(shape), ask.reshape(shape)
