"""``cache.verify``: every damaged cached file is found and named; what can be rebuilt is.

Synthetic files come back bit-identical (the source's fingerprint does not change), derived
candles are derived again for any origin, Deribit files are downloaded again from the fake
server, and what cannot be rebuilt (imports, chain snapshots, an unreadable meta.json, Deribit
out of reach) is said so.
"""

import shutil

import polars as pl
import pytest

from api.cli import main
from cache.chain_snapshots import write_snapshots
from cache.deribit import DeribitClient
from cache.importer import import_source
from cache.store import Store
from cache.verify import repair_source, verify_source, verify_store
from tests.cache.helpers import T0, make_candles, make_iv
from tests.cache.test_download import WINDOW, download
from tests.fakes.deribit import FakeDeribit


@pytest.fixture
def synthetic(synthetic_data_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synthetic_data_dir, root)
    return Store(root)


def _src(store: Store, name: str = "synthetic"):
    return store.source_dir(name)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _snapshot(store: Store, name: str = "synthetic") -> dict[str, bytes]:
    folder = _src(store, name)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.parquet")}


def test_a_sound_cache_has_no_problem(synthetic):
    assert verify_store(synthetic) == {"synthetic": []}


def test_every_kind_of_damage_is_found_and_named(synthetic):
    src = _src(synthetic)
    _truncate(src / "candles" / "BTC_1h.parquet")
    (src / "candles" / "ETH_1d.parquet").write_text("not parquet")
    iv = pl.read_parquet(src / "iv" / "BTC.parquet")
    iv.reverse().write_parquet(src / "iv" / "BTC.parquet")  # unsorted
    bars = pl.read_parquet(src / "candles" / "ETH_4h.parquet")
    bars.drop("volume").write_parquet(src / "candles" / "ETH_4h.parquet")
    bars.with_columns(pl.col("time").dt.replace_time_zone(None)).write_parquet(
        src / "candles" / "BTC_4h.parquet"
    )
    daily = pl.read_parquet(src / "candles" / "BTC_1d.parquet")
    daily.with_columns(pl.col("volume") * 2).write_parquet(src / "candles" / "BTC_1d.parquet")
    (src / "iv" / "ETH.parquet").unlink()
    found = {p.path: p.reason for p in verify_source(synthetic, "synthetic")}
    assert found == {
        "candles/BTC_1h.parquet": found["candles/BTC_1h.parquet"],
        "candles/ETH_1d.parquet": found["candles/ETH_1d.parquet"],
        "iv/BTC.parquet": "iv/BTC.parquet, data row 2: time not strictly increasing "
        "(duplicate or unsorted)",
        "candles/ETH_4h.parquet": "column 'volume' is missing",
        "candles/BTC_4h.parquet": "column 'time' is Datetime(time_unit='us', time_zone=None), "
        "the schema says Datetime(time_unit='us', time_zone='UTC')",
        "candles/BTC_1d.parquet": "changed since it was written (its SHA-256 is not the one "
        "meta.json records)",
        "iv/ETH.parquet": "missing (meta.json lists it)",
    }
    assert found["candles/BTC_1h.parquet"].startswith("not readable Parquet (")
    assert found["candles/ETH_1d.parquet"].startswith("not readable Parquet (")


def test_synthetic_files_are_rebuilt_bit_identical(synthetic):
    before, fingerprint = _snapshot(synthetic), synthetic.read_meta("synthetic").fingerprint
    src = _src(synthetic)
    _truncate(src / "candles" / "BTC_1h.parquet")
    _truncate(src / "iv" / "ETH.parquet")
    (src / "candles" / "ETH_4h.parquet").write_text("garbage")
    problems = verify_source(synthetic, "synthetic")
    repairs = {r.problem.path: r for r in repair_source(synthetic, problems)}
    assert all(r.repaired for r in repairs.values()), repairs
    assert repairs["candles/BTC_1h.parquet"].how.startswith("generated again from seed 20190101")
    assert repairs["candles/ETH_4h.parquet"].how == "derived again from candles/ETH_1h.parquet"
    assert _snapshot(synthetic) == before
    assert synthetic.read_meta("synthetic").fingerprint == fingerprint
    assert verify_source(synthetic, "synthetic") == []


def test_an_unreadable_meta_json_is_reported_and_not_repaired(synthetic):
    (_src(synthetic) / "meta.json").write_text("{")
    (problem,) = verify_source(synthetic, "synthetic")
    assert problem.path == "meta.json" and problem.reason.startswith("unreadable (")
    (repair,) = repair_source(synthetic, [problem])
    assert not repair.repaired and "warm or import the source again" in repair.how


@pytest.fixture
def imported(tmp_path):
    store = Store(tmp_path / "data")
    candles, iv = tmp_path / "c.parquet", tmp_path / "iv.parquet"
    make_candles(T0, 24 * 30).write_parquet(candles)
    make_iv(T0, 24 * 30).write_parquet(iv)
    import_source(store, "mine", "BTC", candles, iv)
    return store, candles


def test_imported_base_files_cannot_be_rebuilt_but_derived_ones_can(imported):
    store, candles = imported
    src = _src(store, "mine")
    _truncate(src / "candles" / "BTC_1h.parquet")
    (src / "candles" / "BTC_1d.parquet").write_text("garbage")
    _truncate(src / "iv" / "BTC.parquet")
    repairs = {r.problem.path: r for r in repair_source(store, verify_source(store, "mine"))}
    base = repairs["candles/BTC_1h.parquet"]
    assert not base.repaired and "imported data; import it again" in base.how
    assert str(candles) in base.how and "still: not readable Parquet" in base.how
    assert not repairs["iv/BTC.parquet"].repaired
    assert not repairs["candles/BTC_1d.parquet"].repaired  # its base is damaged too


def test_an_imported_derived_file_is_derived_again(imported):
    store, _ = imported
    before = _snapshot(store, "mine")
    (_src(store, "mine") / "candles" / "BTC_4h.parquet").unlink()
    (repair,) = repair_source(store, verify_source(store, "mine"))
    assert repair.repaired and repair.how == "derived again from candles/BTC_1h.parquet"
    assert _snapshot(store, "mine") == before


def test_a_damaged_chain_snapshot_is_named_and_not_repaired(synthetic, snapshots_dir):
    real = pl.read_parquet(sorted(snapshots_dir.glob("*.parquet"))[0])
    sample = real.filter(pl.col("harvest_time") == real["harvest_time"][0]).head(50)
    synthetic.ensure_source("recorded", "deribit-mainnet", "chains")
    write_snapshots(synthetic, "recorded", sample)
    (path,) = _src(synthetic, "recorded").rglob("*.parquet")
    _truncate(path)
    (problem,) = verify_source(synthetic, "recorded")
    assert problem.path == path.relative_to(_src(synthetic, "recorded")).as_posix()
    (repair,) = repair_source(synthetic, [problem])
    assert not repair.repaired and "cannot be fetched again" in repair.how


@pytest.fixture(scope="module")
def deribit(tmp_path_factory):
    """A small Deribit download from the fake server (BTC and ETH, three weeks)."""
    root = tmp_path_factory.mktemp("deribit") / "data"
    with FakeDeribit(chart_max_candles=100, dvol_max_points=50) as server:
        download(server, root)
    return root


def test_deribit_files_are_downloaded_again(deribit, tmp_path):
    store = Store(shutil.copytree(deribit, tmp_path / "data"))
    before = _snapshot(store, "deribit")
    src = _src(store, "deribit")
    _truncate(src / "candles" / "BTC_1h.parquet")
    _truncate(src / "iv" / "BTC.parquet")
    _truncate(src / "delivery" / "ETH.parquet")
    problems = verify_source(store, "deribit")
    assert len(problems) == 3
    with FakeDeribit(chart_max_candles=100, dvol_max_points=50) as server:
        with DeribitClient(server.url, timeout_s=2, sleep=lambda s: None) as client:
            repairs = repair_source(store, problems, client=client, window_bars=WINDOW)
        asked = {(r.method, r.params.get("instrument_name") or r.params.get("currency")
                  or r.params.get("index_name")) for r in server.requests}  # fmt: skip
    assert all(r.repaired for r in repairs), repairs
    assert all(r.how.startswith("downloaded again (2021-03-17 to 2021-04-07)") for r in repairs)
    assert _snapshot(store, "deribit") == before
    assert asked == {
        ("public/get_tradingview_chart_data", "BTC-PERPETUAL"),
        ("public/get_volatility_index_data", "BTC"),
        ("public/get_delivery_prices", "eth_usd"),
    }  # only what was damaged


def test_deribit_out_of_reach_is_said_and_a_later_warm_can_finish(deribit, tmp_path):
    store = Store(shutil.copytree(deribit, tmp_path / "data"))
    _truncate(_src(store, "deribit") / "candles" / "ETH_1h.parquet")
    problems = verify_source(store, "deribit")
    with DeribitClient(
        "http://127.0.0.1:9", timeout_s=0.2, max_retries=1, sleep=lambda s: None
    ) as c:
        (repair,) = repair_source(store, problems, client=c)
    assert not repair.repaired
    assert "cannot download it again now" in repair.how and "thetadesk warm" in repair.how
    with FakeDeribit(chart_max_candles=100, dvol_max_points=50) as server:
        download(server, store.data_dir)  # the warm the message asks for
    assert verify_source(store, "deribit") == []
    assert _snapshot(store, "deribit") == _snapshot(Store(deribit), "deribit")


def test_cli_verify_lists_each_damaged_file_and_repair_fixes_them(synthetic, capsys):
    _truncate(_src(synthetic) / "candles" / "ETH_1h.parquet")
    args = ["cache", "--data-dir", str(synthetic.data_dir)]
    assert main([*args, "--verify"]) == 1
    out = capsys.readouterr().out
    assert "synthetic: 1 damaged file(s)\n  candles/ETH_1h.parquet: not readable Parquet" in out
    assert "1 damaged file(s) left (--repair rebuilds what can be)" in out
    assert main([*args, "--repair"]) == 0
    assert "repair candles/ETH_1h.parquet: repaired, generated again" in capsys.readouterr().out
    assert main([*args, "--verify"]) == 0
    assert capsys.readouterr().out == "synthetic: sound\n"
