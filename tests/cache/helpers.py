"""Small deterministic market frames for cache tests, and a fingerprint of a data directory."""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl


def make_candles(start: datetime, hours: int, seed: int = 1, step_h: int = 1) -> pl.DataFrame:
    """A random-walk candle frame with consistent OHLC, ``hours`` bars of ``step_h`` hours."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0, 0.01, hours)))
    open_ = np.concatenate([[30_000.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.004, hours))
    return pl.DataFrame(
        {
            "time": [start + timedelta(hours=step_h * i) for i in range(hours)],
            "open": open_,
            "high": np.maximum(open_, close) * (1 + spread),
            "low": np.minimum(open_, close) * (1 - spread),
            "close": close,
            "volume": rng.uniform(1e5, 1e6, hours),
        }
    ).with_columns(pl.col("time").cast(pl.Datetime("us", "UTC")))


def make_iv(start: datetime, hours: int, seed: int = 2) -> pl.DataFrame:
    """An hourly IV series in percent."""
    rng = np.random.default_rng(seed)
    iv = 60.0 + np.cumsum(rng.normal(0, 0.3, hours))
    return pl.DataFrame(
        {"time": [start + timedelta(hours=i) for i in range(hours)], "iv": np.clip(iv, 20, 200)}
    ).with_columns(pl.col("time").cast(pl.Datetime("us", "UTC")))


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def files_state(data_dir: Path) -> dict[str, str]:
    """Every file under ``data_dir/sources`` and the SHA-256 of its bytes."""
    root = data_dir / "sources"
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
