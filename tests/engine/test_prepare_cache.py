"""The prepared cache: entries carry sizes and hashes; a damaged one is discarded and rebuilt."""

import hashlib
import json
import logging

import pytest

from cache.datasource import DeribitDataSource
from engine.config import CallSimulationConfig
from engine.simulator import CoveredCallSimulator

CFG = CallSimulationConfig(
    underlying="BTC", start="2021-03-01", end="2021-03-21", exit_style="tp_and_roll"
)


@pytest.fixture(scope="module")
def ds(synthetic_data_dir):
    return DeribitDataSource(synthetic_data_dir, "synthetic")


def _run(ds, cache_dir):
    return CoveredCallSimulator(ds, CFG, cache_dir).simulate_policy()


@pytest.fixture
def cached(ds, tmp_path):
    """A cache dir holding the one entry of CFG, the entry's folder and the uncached result."""
    first = _run(ds, tmp_path)
    (entry,) = tmp_path.iterdir()
    return tmp_path, entry, first


def test_an_entry_records_the_size_and_hash_of_each_table(cached):
    _, entry, first = cached
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["key"] == entry.name and set(meta["files"]) == {
        "candidates.parquet",
        "counts.parquet",
    }
    for name, recorded in meta["files"].items():
        raw = (entry / name).read_bytes()
        assert recorded == {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    assert not first.timings["prepare_cached"] and not first.timings["prepare_cache_rebuilt"]


def _truncate(entry):
    path = entry / "candidates.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(entry):
    path = entry / "counts.parquet"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _garble_meta(entry):
    (entry / "meta.json").write_text("{not json")


def _old_meta(entry):
    meta = json.loads((entry / "meta.json").read_text())
    (entry / "meta.json").write_text(json.dumps({k: meta[k] for k in ("key", "version")}))


def _lose_a_table(entry):
    (entry / "counts.parquet").unlink()


def _lose_the_meta(entry):
    (entry / "meta.json").unlink()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_truncate, "candidates.parquet is"),
        (_flip_a_byte, "counts.parquet is"),
        (_garble_meta, "meta.json is unreadable"),
        (_old_meta, "records no sizes and hashes"),
        (_lose_a_table, "counts.parquet cannot be read"),
        (_lose_the_meta, "meta.json is missing"),
    ],
)
def test_a_damaged_entry_is_discarded_and_rebuilt_with_a_warning(
    ds, cached, caplog, damage, reason
):
    cache_dir, entry, first = cached
    damage(entry)
    with caplog.at_level(logging.WARNING, logger="engine.prepare.cache"):
        rebuilt = _run(ds, cache_dir)
    assert rebuilt.timings["prepare_cache_rebuilt"] and not rebuilt.timings["prepare_cached"]
    assert reason in caplog.text and "discarded and rebuilt" in caplog.text
    assert rebuilt.trades.equals(first.trades) and rebuilt.steps.equals(first.steps)
    again = _run(ds, cache_dir)  # the rebuilt entry is whole again
    assert again.timings["prepare_cached"] and not again.timings["prepare_cache_rebuilt"]
    assert again.trades.equals(first.trades)
    assert [p.name for p in cache_dir.iterdir()] == [entry.name]  # no debris


def test_a_cache_that_cannot_be_written_only_costs_the_cache(ds, tmp_path, caplog):
    blocked = tmp_path / "prepared"
    blocked.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="engine.prepare.cache"):
        result = _run(ds, blocked)
    assert result.trades.height > 0 and "not written" in caplog.text
