"""The agent's decision journal: an embedded SQLite database (WAL) in the data directory."""

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
"""
COLUMNS = (
    "time", "recorded_at", "feed", "broker", "underlying", "spot_usd", "candidates",
    "best_instrument", "best_score", "action", "reason", "order_result", "error", "equity_coin",
    "equity_usd", "cycle_ms",
)  # fmt: skip


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
        """Store one decision; ``order_result`` may be a dict (stored as JSON)."""
        values = dict.fromkeys(COLUMNS) | row
        for key in ("time", "recorded_at"):
            if isinstance(values[key], datetime):
                values[key] = values[key].isoformat()
        if values["order_result"] is not None and not isinstance(values["order_result"], str):
            values["order_result"] = json.dumps(values["order_result"], default=str)
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown journal columns: {sorted(unknown)}")
        sql = (
            f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        )
        with self._lock:
            cur = self._db.execute(sql, [values[c] for c in COLUMNS])
            return int(cur.lastrowid)

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
