"""The calibration document: its inputs, its fits, its id, the committed default and its reader."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from cache.chain_snapshots import write_snapshots
from cache.store import Store
from engine.calibration import (
    DEFAULT_CALIBRATION_PATH,
    calibrate,
    calibration_id,
    load_calibration,
    parse_calibration,
    write_calibration,
)
from engine.calibration.chains import (
    complete_from_names,
    conform_chain,
    read_chain_file,
    read_chain_source,
)
from engine.calibration.relation import relation_block
from engine.config import VolSurfaceParams
from engine.fills import SpreadModel
from tests.engine.model_chains import flat, model_chain

NAME_FIELDS = ["underlying", "expiry", "expiry_timestamp", "option_type", "strike"]


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(DEFAULT_CALIBRATION_PATH.read_text())


# --- inputs -------------------------------------------------------------------------------------


def test_contract_fields_are_derived_from_the_names():
    chain = model_chain(flat(0.5), expiry_days=(20,)).head(4)
    blanked = chain.with_columns(
        pl.when(pl.int_range(pl.len()) < 2).then(pl.col(c)).otherwise(None).alias(c)
        for c in NAME_FIELDS
    )
    odd = blanked.head(1).with_columns(instrument_name=pl.lit("BTC-PERPETUAL"), strike=None)
    out = complete_from_names(pl.concat([blanked, odd]))
    assert out.head(4).equals(chain)  # every blank filled exactly as written
    assert out.columns == chain.columns
    assert out.row(4, named=True)["strike"] is None  # not an option name: stays incomplete


def test_real_early_recorder_rows_are_completed(snapshots_dir):
    path = next(snapshots_dir.glob("BTC_*.parquet"))
    raw = pl.read_parquet(path)
    assert raw["strike"].null_count() > 10_000  # the early recorder of 2025-12-07
    chain = read_chain_file(path)
    assert chain.select(pl.col(NAME_FIELDS).null_count()).sum_horizontal().item() == 0
    assert chain.height == raw.height
    named = raw.filter(pl.col("strike").is_not_null()).sort("harvest_time", "instrument_name")
    same = chain.join(named.select("harvest_time", "instrument_name"), on=named.columns[:2])
    assert same.sort("harvest_time", "instrument_name").equals(named)


def test_bad_frames_are_named(tmp_path):
    chain = model_chain(flat(0.5))
    with pytest.raises(ValueError, match=r"x\.parquet: missing column\(s\) \['mark_iv'\]"):
        conform_chain(chain.drop("mark_iv"), "x.parquet")
    with pytest.raises(ValueError, match=r"x\.parquet: column 'strike' is not Float64"):
        conform_chain(chain.with_columns(strike=pl.lit("high")), "x.parquet")
    with pytest.raises(ValueError, match=r"x\.parquet: underlying \['SOL'\] not supported"):
        conform_chain(chain.with_columns(underlying=pl.lit("SOL")), "x.parquet")
    with pytest.raises(ValueError, match=r"x\.parquet: no usable rows"):
        conform_chain(chain.with_columns(mark_iv=pl.lit(None, pl.Float64)), "x.parquet")
    with pytest.raises(ValueError, match="no such file"):
        read_chain_file(tmp_path / "absent.parquet")
    with pytest.raises(ValueError, match="is a directory"):
        read_chain_file(tmp_path)
    (tmp_path / "notes.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match=r"notes\.parquet: not a readable Parquet file"):
        read_chain_file(tmp_path / "notes.parquet")


def test_a_cached_source_reads_back_the_chains_it_recorded(tmp_path):
    chain = _two_days()
    store = Store(tmp_path)
    store.ensure_source("rec", "deribit-mainnet", label="recorded chains")
    with pytest.raises(ValueError, match="source 'rec' holds no option-chain snapshots"):
        read_chain_source(tmp_path, "rec")
    write_snapshots(store, "rec", chain)
    frames = read_chain_source(tmp_path, "rec")
    assert list(frames) == ["rec:BTC"]
    assert frames["rec:BTC"].equals(conform_chain(chain, "file"))


# --- fits ---------------------------------------------------------------------------------------


def test_relation_is_a_ratio_per_underlying_judged_on_held_out_days():
    rng = np.random.default_rng(7)
    t0 = datetime(2025, 12, 1, 9, tzinfo=UTC)
    times = [t0 + timedelta(days=d, hours=h) for d in range(3) for h in range(10)]
    index = rng.uniform(40, 80, len(times))
    table = pl.DataFrame(
        {
            "underlying": ["BTC"] * len(times),
            "harvest_time": times,
            "index": index,
            "atm30": 0.9 * index + rng.normal(0, 0.5, len(times)),
        }
    )
    block = relation_block(table)["BTC"]
    assert block["atm_over_index"] == pytest.approx(0.9, abs=0.005)
    assert block["snapshots"] == 30
    assert block["mean_offset_vol_pts"] == pytest.approx(0.1 * index.mean(), abs=0.3)
    loo = block["leave_one_day_out"]
    assert loo["days"] == 3
    assert 0.1 < loo["ratio"]["median"] < 0.6 < loo["ratio"]["p90"] < 1.5
    assert loo["offset"]["median"] > loo["ratio"]["median"]  # the level moves: a ratio fits it


def _two_days(**kwargs) -> pl.DataFrame:
    second = datetime(2025, 12, 11, 12, tzinfo=UTC)
    first = model_chain(flat(0.5), **kwargs)
    return pl.concat([first, model_chain(flat(0.6), harvest=second, **kwargs)])


def test_calibrate_says_which_fit_lacks_data():
    with pytest.raises(ValueError, match="no option-chain snapshots"):
        calibrate({})
    with pytest.raises(
        ValueError, match=r"at least two UTC days; the chains hold 1 \(2025-12-10\)"
    ):
        calibrate({"one.parquet": model_chain(flat(0.5))})
    with pytest.raises(ValueError, match="no BTC snapshot with both a DVOL-style index"):
        calibrate({"short.parquet": _two_days(expiry_days=(5, 20))})
    unquoted = _two_days().with_columns(best_bid_price=pl.lit(None, pl.Float64))
    with pytest.raises(ValueError, match="no BTC call quoted on both sides"):
        calibrate({"unquoted.parquet": unquoted})


# --- the document and its id --------------------------------------------------------------------


def test_id_is_the_hash_of_the_content(committed):
    assert calibration_id(committed) == committed["calibration_id"]
    edited = json.loads(json.dumps(committed))
    edited["iv_index"]["underlyings"]["BTC"]["atm_over_index"] += 0.01
    assert calibration_id(edited) != committed["calibration_id"]
    reordered = dict(reversed(committed.items()))
    assert calibration_id(reordered) == committed["calibration_id"]  # key order is not content


def test_committed_default_is_the_fit_of_the_shared_snapshots(snapshots_dir, committed, tmp_path):
    frames = {p.name: pl.read_parquet(p) for p in sorted(snapshots_dir.glob("*.parquet"))}
    doc = calibrate(frames)
    assert doc == committed, (
        "engine/calibration/default.json is stale: regenerate it with `thetadesk calibrate "
        "--chains ../shared/data/deribit_chain_snapshots/*.parquet --out "
        "engine/calibration/default.json` and update the docs"
    )
    written = write_calibration(doc, tmp_path / "cal.json")
    assert written.read_text() == DEFAULT_CALIBRATION_PATH.read_text()  # byte for byte


def test_committed_default_holds_every_fit(committed):
    assert committed["version"] == 2
    days = ["2025-12-07", "2025-12-08", "2025-12-10", "2025-12-11"]
    assert committed["fitted_on"]["days"] == days
    for underlying in ("BTC", "ETH"):
        rel = committed["iv_index"]["underlyings"][underlying]
        assert 0.85 < rel["atm_over_index"] < 0.95
        assert rel["leave_one_day_out"]["days"] == 4
        assert rel["leave_one_day_out"]["ratio"]["p90"] < 2.0  # vol points
        for side in ("bid", "ask"):
            errs = committed["spread"]["underlyings"][underlying]["leave_one_day_out"][side]
            assert errs["model"]["median"] <= 0.015 and errs["model"]["p90"] <= 0.05
    surface = committed["surface"]
    assert surface["leave_one_day_out"]["days"] == 4
    assert surface["leave_one_day_out"]["smile"]["median"] < 1.0
    assert surface["leave_one_day_out"]["surface"]["median"] < 2.5


# --- reading it ---------------------------------------------------------------------------------


def test_default_calibration_gives_the_engine_its_models(committed):
    cal = load_calibration()
    assert cal is load_calibration()  # read once
    assert cal.calibration_id == committed["calibration_id"]
    assert (
        cal.atm_over_index("ETH") == committed["iv_index"]["underlyings"]["ETH"]["atm_over_index"]
    )
    with pytest.raises(ValueError, match="no IV-index relation for 'SOL'"):
        cal.atm_over_index("SOL")
    assert cal.surface_params() == VolSurfaceParams(), "VolSurfaceParams defaults are not the fit"
    model = cal.spread_model()
    assert model.calibration_id == SpreadModel.default().calibration_id == cal.calibration_id
    np.testing.assert_array_equal(model.params["BTC"], SpreadModel.default().params["BTC"])
    cal.doc["iv_index"]["underlyings"]["BTC"]["atm_over_index"] = 2.0  # a copy
    assert cal.atm_over_index("BTC") < 1.0


def test_bad_calibration_files_are_refused_by_name(tmp_path, committed):
    path = tmp_path / "cal.json"
    with pytest.raises(ValueError, match=r"cal\.json"):
        load_calibration(path)
    path.write_text("{")
    with pytest.raises(ValueError, match=r"cal\.json"):
        load_calibration(path)
    edited = json.loads(json.dumps(committed))
    edited["surface"]["params"]["skew"] = -0.5
    with pytest.raises(ValueError, match="does not match its content"):
        parse_calibration(edited, "edited.json")
    old = {k: v for k, v in committed.items() if k not in ("iv_index", "surface")} | {"version": 1}
    with pytest.raises(ValueError, match="version 1"):
        parse_calibration(old | {"calibration_id": calibration_id(old)}, "old.json")
    del edited["surface"]["params"]["skew"]
    with pytest.raises(ValueError, match=r"missing key 'surface\.params\.skew'"):
        parse_calibration(edited | {"calibration_id": calibration_id(edited)}, "partial.json")
    assert load_calibration(DEFAULT_CALIBRATION_PATH).calibration_id == committed["calibration_id"]
