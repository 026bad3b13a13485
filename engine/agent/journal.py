"""The agent's journal: decisions, closed trades and its checkpoint in embedded SQLite (WAL).

The checkpoint is what the agent needs to continue after a restart (see
:mod:`engine.agent.checkpoint`); a cycle's decision, the trades it closed and the checkpoint after
it are written in one transaction, so a process killed at any point leaves the journal either
before or after the whole cycle. The schema is versioned with ``PRAGMA user_version`` and older
journals are migrated on open.
"""

import json
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

SCHEMA_VERSION = 2
# Migration k brings a journal from version k - 1 to k. Version 1 is the first schema, which
# carried no user_version (journals of that time read 0): its statements are idempotent.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """
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
)""",
        "CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time)",
        """
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
    close_reason TEXT NOT NULL,     -- expiry | take_profit | end_of_data | manual
    settlement_price REAL,          -- USD, when settled
    fees_coin REAL,                 -- opening plus closing fee, whole quantity; NULL if unknown
    pnl_coin REAL,                  -- quantity * (premium - close price) - fees
    chain_id INTEGER NOT NULL,
    roll_index INTEGER NOT NULL
)""",
    ),
    2: (
        """
CREATE TABLE IF NOT EXISTS agent_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),  -- one agent per journal
    saved_at TEXT NOT NULL,                 -- wall clock, ISO-8601 UTC
    checkpoint TEXT,                        -- JSON (engine.agent.checkpoint.Checkpoint)
    paused INTEGER NOT NULL DEFAULT 0       -- the user paused the agent
)""",
    ),
}
NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"  # SQLite's wall clock, ISO-8601 UTC
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


class JournalVersionError(RuntimeError):
    """The journal was written by a newer thetadesk; the message says which versions."""


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the journal at ``path`` to :data:`SCHEMA_VERSION` in one transaction."""
    db.execute("BEGIN IMMEDIATE")  # two processes opening one journal migrate it once
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise JournalVersionError(
                f"journal {path} has schema version {version}; this thetadesk reads up to "
                f"{SCHEMA_VERSION}: upgrade thetadesk or move the journal aside"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _decision_row(row: dict) -> dict:
    if row.get("order_result") is not None and not isinstance(row["order_result"], str):
        row = row | {"order_result": json.dumps(row["order_result"], default=str)}
    return row


class DecisionJournal:
    """Append decisions and read the newest; safe to use from the agent and web threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        _migrate(self._db, self.path)

    def commit(
        self,
        decision: dict | None = None,
        trades: Iterable[dict] = (),
        checkpoint: dict | None = None,
    ) -> int | None:
        """Store a cycle at once: the trades it closed, its decision and the checkpoint after it.

        ``decision`` has the columns :data:`COLUMNS` (``order_result`` may be a list or dict,
        stored as JSON), each trade :data:`TRADE_COLUMNS`. Returns the decision's id (None
        without a decision).
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for trade in trades:
                    _insert(self._db, "trades", TRADE_COLUMNS, trade)
                decision_id = None
                if decision is not None:
                    decision_id = _insert(self._db, "decisions", COLUMNS, _decision_row(decision))
                if checkpoint is not None:
                    self._db.execute(
                        f"INSERT INTO agent_state (id, saved_at, checkpoint) VALUES (1, {NOW}, ?) "
                        "ON CONFLICT (id) DO UPDATE SET saved_at = excluded.saved_at, "
                        "checkpoint = excluded.checkpoint",
                        (json.dumps(checkpoint),),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return decision_id

    def checkpoint(self) -> dict | None:
        """The last checkpoint stored (JSON-decoded), or None."""
        with self._lock:
            row = self._db.execute("SELECT checkpoint FROM agent_state WHERE id = 1").fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def set_paused(self, paused: bool) -> None:
        """Remember whether the user paused the agent (kept apart from the cycle's checkpoint)."""
        with self._lock:
            self._db.execute(
                f"INSERT INTO agent_state (id, saved_at, paused) VALUES (1, {NOW}, ?) "
                "ON CONFLICT (id) DO UPDATE SET saved_at = excluded.saved_at, "
                "paused = excluded.paused",
                (int(paused),),
            )

    def paused(self) -> bool:
        """Whether the user left the agent paused."""
        with self._lock:
            row = self._db.execute("SELECT paused FROM agent_state WHERE id = 1").fetchone()
        return bool(row and row[0])

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
