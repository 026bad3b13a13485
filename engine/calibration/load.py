"""Read a calibration document: the models the engine takes from it, and the id that names it."""

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from engine.calibration.document import (
    CALIBRATION_FORMAT,
    CALIBRATION_VERSION,
    DEFAULT_CALIBRATION_PATH,
    calibration_id,
)
from engine.calibration.surface import FITTED
from engine.config import VolSurfaceParams
from engine.fills.model import SpreadModel


@dataclass(frozen=True)
class Calibration:
    """A checked calibration document.

    ``calibration_id`` is the hash of its content (it enters a run's data fingerprint);
    ``where`` names the file it came from, for error messages.
    """

    calibration_id: str
    where: str
    _doc: dict = field(repr=False, compare=False)

    @property
    def doc(self) -> dict:
        """A copy of the parsed document."""
        return copy.deepcopy(self._doc)

    def atm_over_index(self, underlying: str) -> float:
        """The 30-day ATM IV per unit of IV index (DVOL) for ``underlying``."""
        fits = self._doc["iv_index"]["underlyings"]
        if underlying not in fits:
            raise ValueError(
                f"calibration {self.calibration_id} ({self.where}) has no IV-index relation for "
                f"{underlying!r}; it holds {sorted(fits)}"
            )
        return float(fits[underlying]["atm_over_index"])

    def surface_params(self) -> VolSurfaceParams:
        """The fitted smile, term structure and basis (guards at their defaults)."""
        return VolSurfaceParams(**self._doc["surface"]["params"])

    def spread_model(self) -> SpreadModel:
        """The bid/ask spread model of the document."""
        return SpreadModel.from_calibration(self._doc, self.where)


def parse_calibration(doc: dict, where: str = "calibration") -> Calibration:
    """Check a parsed document: format, version, the blocks the engine reads, and its id."""
    if not isinstance(doc, dict) or doc.get("format") != CALIBRATION_FORMAT:
        raise ValueError(f"{where}: not a {CALIBRATION_FORMAT} document")
    if doc.get("version") != CALIBRATION_VERSION:
        raise ValueError(
            f"{where}: version {doc.get('version')!r}, this thetadesk reads version "
            f"{CALIBRATION_VERSION}: re-run `thetadesk calibrate`"
        )
    try:
        for fit in doc["iv_index"]["underlyings"].values():
            float(fit["atm_over_index"])
        params = doc["surface"]["params"]
        missing = [name for name in FITTED if name not in params]
        if missing:
            raise KeyError(f"surface.params.{missing[0]}")
        VolSurfaceParams(**params)
    except KeyError as exc:
        raise ValueError(f"{where}: missing key {exc}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{where}: bad calibration: {exc}") from exc
    expected = calibration_id(doc)
    if doc.get("calibration_id") != expected:
        raise ValueError(
            f"{where}: calibration_id {doc.get('calibration_id')!r} does not match its content "
            f"({expected}): was it edited by hand? Re-run `thetadesk calibrate`"
        )
    SpreadModel.from_calibration(doc, where)
    return Calibration(calibration_id=expected, where=where, _doc=doc)


def load_calibration(path: Path | str | None = None) -> Calibration:
    """The calibration in ``path``, or the one the app ships (read once, then cached)."""
    if path is None:
        return _default_calibration()
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"calibration file {path}: {exc}") from exc
    return parse_calibration(doc, str(path))


@cache
def _default_calibration() -> Calibration:
    return load_calibration(DEFAULT_CALIBRATION_PATH)
