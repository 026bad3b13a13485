"""``GET /api/meta``: the run tables' contract as served, and the same object in the page."""

import json
import re

import polars as pl
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from engine.policy.actions import CLOSE_REASONS, meta_tables
from engine.results.data_quality import FILL_MODEL_LABELS
from engine.results.schema import dtype_name


@pytest.fixture
def served(runs_source):
    """A client over the data dir with two finished runs (read only), and the run ids."""
    data_dir, ids = runs_source
    with TestClient(create_app(Settings(data_dir=data_dir, agent_enabled=False))) as client:
        yield client, data_dir, ids


def test_meta_describes_the_tables_runs_write(served):
    client, data_dir, (_, tp) = served
    meta = client.get("/api/meta").json()
    assert list(meta["tables"]) == ["trades", "equity", "steps", "candidates"]
    for table, columns in meta["tables"].items():
        frame = pl.read_parquet(data_dir / "runs" / tp / f"{table}.parquet")
        assert [(c["name"], c["dtype"]) for c in columns] == [
            (name, dtype_name(dtype)) for name, dtype in frame.schema.items()
        ]
        for column in columns:
            assert column["nullable"] or frame[column["name"]].null_count() == 0
    strike = next(c for c in meta["tables"]["trades"] if c["name"] == "strike")
    assert strike == {
        "name": "strike",
        "dtype": "Float64",
        "unit": "USD",
        "nullable": False,
        "meaning": "strike price",
        "values": [],
    }
    assert {k: meta[k] for k in ("actions", "close_reasons", "no_roll")} == meta_tables()
    assert meta["fill_models"] == FILL_MODEL_LABELS
    assert "optimistic" in meta["fill_models"]["mark"]


def test_meta_trade_view_is_what_the_trades_endpoint_returns(served):
    client, _, (_, tp) = served
    view = client.get("/api/meta").json()["trade_view"]
    trade = client.get(f"/api/backtests/{tp}/trades", params={"limit": 1}).json()["trades"][0]
    assert [c["name"] for c in view] == list(trade)
    pnl = next(c for c in view if c["name"] == "pnl_usd")
    assert pnl["label"] == "PnL (USD)" and pnl["unit"] == "USD" and pnl["table"] is True
    assert pnl["display"] == {"kind": "number", "decimals": 2, "sign": True, "flag": None}
    schema = client.get("/openapi.json").json()["components"]["schemas"]["TradeRow"]
    assert schema["properties"]["premium_coin"]["description"].endswith("(coin per contract)")
    assert schema["properties"]["close_reason"]["enum"] == [r.name for r in CLOSE_REASONS]
    assert set(schema["required"]) == {c["name"] for c in view}


def test_the_page_bootstrap_is_the_meta_endpoint(served):
    client, _, _ = served
    html = client.get("/").text
    bootstrap = re.search(r'<script type="application/json" id="meta">(.*?)</script>', html, re.S)
    meta = client.get("/api/meta").json()
    assert json.loads(bootstrap.group(1)) == meta
    thead = re.search(r'data-testid="res-trades">\s*<thead>(.*?)</thead>', html, re.S).group(1)
    shown = [c for c in meta["trade_view"] if c["table"]]
    assert re.findall(r'data-sort="(\w+)"', thead) == [c["name"] for c in shown]
    assert re.findall(r">([^<>]+)</th>", thead) == [c["label"] for c in shown]
