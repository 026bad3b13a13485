"""The agent's journal: its decisions and closed trades in an embedded SQLite database (WAL)."""

import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,             -- the agent clock's now, ISO-8601 UTC
    recorded_at TEXT NOT NULL,      -- wall clock, ISO-8601 UTC
    feed TEXT NOT NULL,
    broker TEXT NOT NULL,
    underlying TEXT NOT NULL,
    spot_usd REAL,
    candidates INTEGER NOT NULL,
    best_instrument TEXT,
    best_score REAL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    order_result TEXT,              -- JSON
    error TEXT,
    equity_coin REAL,
    equity_usd REAL,
    cycle_ms REAL
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time);
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    broker TEXT NOT NULL,
    instrument_name TEXT NOT NULL,
    strike REAL NOT NULL,           -- USD
    expiry TEXT NOT NULL,           -- ISO-8601 UTC
    open_time TEXT NOT NULL,        -- the agent clock's time of the sale
    close_time TEXT NOT NULL,       -- of the buy-back; the expiry when settled
    quantity_coin REAL NOT NULL,    -- contracts of 1 coin
    premium_coin REAL NOT NULL,     -- per contract received
    close_price_coin REAL NOT NULL, -- per contract paid (settlement value at expiry)
    close_reason TEXT NOT NULL,     -- expiry | take_profit | end_of_data
    settlement_price REAL,          -- USD, when settled
    fees_coin REAL,                 -- opening plus closing fee, whole quantity; NULL if unknown
    pnl_coin REAL,                  -- quantity * (premium - close price) - fees
    chain_id INTEGER NOT NULL,
    roll_index INTEGER NOT NULL
);
"""
COLUMNS = (
    "time", "recorded_at", "feed", "broker", "underlying", "spot_usd", "candidates",
    "best_instrument", "best_score", "action", "reason", "order_result", "error", "equity_coin",
    "equity_usd", "cycle_ms",
)  # fmt: skip


TRADE_COLUMNS = (
    "broker", "instrument_name", "strike", "expiry", "open_time", "close_time", "quantity_coin",
    "premium_coin", "close_price_coin", "close_reason", "settlement_price", "fees_coin",
    "pnl_coin", "chain_id", "roll_index",
)  # fmt: skip


def _insert(db: sqlite3.Connection, table: str, columns: tuple[str, ...], row: dict) -> int:
    unknown = set(row) - set(columns)
    if unknown:
        raise ValueError(f"unknown {table} columns: {sorted(unknown)}")
    values = dict.fromkeys(columns) | row
    for key, value in values.items():
        if isinstance(value, datetime):
            values[key] = value.isoformat()
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    return int(db.execute(sql, [values[c] for c in columns]).lastrowid)


class DecisionJournal:
    """Append decisions and read the newest; safe to use from the agent and web threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def record(self, **row: object) -> int:
        """Store one decision; ``order_result`` may be a list or dict (stored as JSON)."""
        if row.get("order_result") is not None and not isinstance(row["order_result"], str):
            row["order_result"] = json.dumps(row["order_result"], default=str)
        with self._lock:
            return _insert(self._db, "decisions", COLUMNS, row)

    def record_trade(self, **row: object) -> int:
        """Store one closed covered call (columns :data:`TRADE_COLUMNS`)."""
        with self._lock:
            return _insert(self._db, "trades", TRADE_COLUMNS, row)

    def trades(self) -> list[dict]:
        """Every closed covered call, in the order they closed."""
        with self._lock:
            cur = self._db.execute(f"SELECT id, {', '.join(TRADE_COLUMNS)} FROM trades ORDER BY id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def latest(self, limit: int = 50) -> list[dict]:
        """The newest ``limit`` decisions, newest first."""
        with self._lock:
            cur = self._db.execute(
                f"SELECT id, {', '.join(COLUMNS)} FROM decisions ORDER BY id DESC LIMIT ?",
                (int(limit),),
            )
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        for r in rows:
            if r["order_result"]:
                r["order_result"] = json.loads(r["order_result"])
        return rows

    def count(self) -> int:
        """How many decisions are stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
