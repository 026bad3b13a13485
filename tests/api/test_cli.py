"""The command line as a user runs it: exit codes, messages, files on disk."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from api.cli import main
from cache.chain_snapshots import write_snapshots
from cache.store import Store
from engine.calibration import load_calibration
from tests.cache.chain_files import small_tardis
from tests.cache.helpers import T0, make_candles
from tests.conftest import ROOT, SNAPSHOTS_DIR, require_dir
from tests.engine.model_chains import flat, model_chain


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_warm_synthetic_twice_same_seed_identical_files(tmp_path, synthetic_data_dir, capsys):
    d = tmp_path / "d"
    assert main(["warm", "--data-dir", str(d)]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "BTC candles 1h: 2019-01-01 00:00 to 2026-01-01 00:00" in out
    first = _tree(d)
    assert main(["warm", "--data-dir", str(d), "--underlying", "btc"]) == 0  # covered: no-op
    assert _tree(d) == first
    assert first == _tree(synthetic_data_dir)  # another run, same seed: byte-identical
    assert Store(d).read_meta("synthetic").details["seed"] == 20190101


def test_cache_lists_sources(synthetic_data_dir, capsys):
    assert main(["cache", "--data-dir", str(synthetic_data_dir)]) == 0
    out = capsys.readouterr().out
    assert "synthetic  [synthetic]" in out and "ETH iv" in out


def _import_args(data_dir, candles) -> list[str]:
    return ["import", "--data-dir", str(data_dir), "--name", "mine", "--underlying", "eth",
            "--candles", str(candles)]  # fmt: skip


def test_import_good_and_bad_files(tmp_path, capsys):
    good = tmp_path / "c.parquet"
    make_candles(T0, 50).write_parquet(good)
    assert main(_import_args(tmp_path / "d", good)) == 0
    assert "mine  [import]" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    make_candles(T0, 5).with_columns(pl.col("close") * -1).write_csv(bad)
    code = main(_import_args(tmp_path / "d", bad))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "bad.csv" in err and "data row 1" in err
    assert "Traceback" not in err


def test_a_data_dir_that_refuses_writes_is_one_error_line(synthetic_data_dir, tmp_path, capsys):
    data_dir = shutil.copytree(synthetic_data_dir, tmp_path / "data")
    (data_dir / "runs").write_text("a file where the runs folder should be")
    window = ["--start", "2022-01-01", "--end", "2022-02-01", "--exit-style", "hold_to_expiry"]
    assert main(["backtest", "--data-dir", str(data_dir), "--underlying", "BTC", *window]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: the data directory is not writable: cannot write to {data_dir / 'runs'}: "
        "Not a directory\n"
    )
    (data_dir / "sources").rename(tmp_path / "moved")
    (data_dir / "sources").write_text("a file where the sources folder should be")
    assert main(["warm", "--data-dir", str(data_dir), "--underlying", "BTC"]) == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after the progress bar
    assert last == f"error: Not a directory: {data_dir / 'sources' / 'synthetic'}"


def test_bad_arguments_are_clear(tmp_path, capsys):
    assert main(["warm", "--data-dir", str(tmp_path), "--start", "2018-01-01"]) == 2
    assert "outside the synthetic market" in capsys.readouterr().err
    assert main(["warm", "--data-dir", str(tmp_path), "--underlying", "DOGE"]) == 2
    assert "not supported" in capsys.readouterr().err


def test_backtest_cli_json_and_text(synthetic_data_dir, tmp_path, capsys):
    import json
    import shutil

    d = tmp_path / "d"
    shutil.copytree(synthetic_data_dir, d)
    args = ["backtest", "--data-dir", str(d), "--underlying", "BTC", "--start", "2023-01-01",
            "--end", "2023-03-01", "--timeframe", "1h", "--decision-interval-hours", "24",
            "--exit-style", "hold_to_expiry", "--source", "synthetic"]  # fmt: skip
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    run_dir = out["run_dir"]
    assert out["metrics"]["num_trades"] > 0 and out["data"]["synthetic"] is True
    assert {p.name for p in (d / "runs" / out["run_id"]).iterdir()} == {
        "summary.json",
        "trades.parquet",
        "equity.parquet",
        "steps.parquet",
        "candidates.parquet",
    }
    assert main([*args, "--target-delta", "0.2"]) == 0
    text = capsys.readouterr().out
    assert "SYNTHETIC DATA" in text and "Sharpe (365 d)" in text and run_dir not in text
    assert "fills bid/ask (sales at the bid, buy-backs at the ask), IV real (DVOL) at 0.0 %" in text
    assert "  ! SYNTHETIC market: prices, IV and settlement prices are generated" in text
    assert "  ! fees: Deribit's current schedule" in text
    assert main([*args, "--fill-model", "mark", "--json"]) == 0
    at_mark = json.loads(capsys.readouterr().out)
    assert at_mark["data"]["fill_model"] == "mark" and at_mark["run_id"] != out["run_id"]
    assert any("optimistic" in w for w in at_mark["data"]["warnings"])
    assert main([*args, "--fill-model", "mid"]) == 2
    assert "fill_model" in capsys.readouterr().err
    assert main([*args, "--initial-capital-usd", "1000"]) == 2
    assert "initial_capital_usd" in capsys.readouterr().err


def test_the_console_script_ends_a_backtest_with_its_output_complete(synthetic_data_dir, tmp_path):
    """``thetadesk`` (``api.cli:run``) leaves a backtest with ``os._exit``: the piped JSON, the
    run's files and its prepared cache (written on a background thread) must all be there."""
    d = shutil.copytree(synthetic_data_dir, tmp_path / "d")
    args = ["backtest", "--data-dir", str(d), "--underlying", "ETH", "--start", "2023-01-01",
            "--end", "2023-04-01", "--exit-style", "tp_and_roll", "--json"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    run_dir = d / "runs" / out["run_id"]
    assert json.loads((run_dir / "summary.json").read_text())["metrics"] == out["metrics"]
    assert pl.read_parquet(run_dir / "trades.parquet").height == out["metrics"]["num_trades"]
    entries = [p for p in (d / "prepared").iterdir() if p.is_dir()]
    assert len(entries) == 1 and not list(d.rglob("*.tmp*"))
    assert out["timings"]["prepare_cached"] is False

    again = subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert json.loads(again.stdout)["timings"]["prepare_cached"] is True  # the entry is whole

    bad = subprocess.run(
        [sys.executable, "-m", "api.cli", *args[:-1], "--target-delta", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "target_delta" in bad.stderr


def test_the_data_dir_from_the_environment_is_the_settings_one(tmp_path, monkeypatch):
    """``THETADESK_DATA_DIR`` is taken without reading the settings: it must be what they give
    (the environment wins over ``.env``), and without it ``.env`` still counts."""
    import argparse

    from api.cli import _data_dir
    from api.settings import Settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("THETADESK_DATA_DIR=from-dotenv\n")
    args = argparse.Namespace(data_dir=None)
    monkeypatch.setenv("THETADESK_DATA_DIR", str(tmp_path / "from-env"))
    assert _data_dir(args) == Settings().data_dir == tmp_path / "from-env"
    monkeypatch.delenv("THETADESK_DATA_DIR")
    assert _data_dir(args) == Settings().data_dir == Path("from-dotenv")
    assert _data_dir(argparse.Namespace(data_dir=tmp_path / "x")) == tmp_path / "x"


def test_backtest_cli_refuses_uncovered_ranges(synthetic_data_dir, capsys):
    base = ["backtest", "--data-dir", str(synthetic_data_dir), "--underlying", "ETH",
            "--exit-style", "tp_and_roll"]  # fmt: skip
    assert main([*base, "--start", "2018-06-01", "--end", "2019-06-01"]) == 2
    assert "cover 2019-01-01 to 2026-01-01" in capsys.readouterr().err
    assert main([*base, "--start", "2024-01-01", "--end", "2023-01-01"]) == 2
    assert "must be after start" in capsys.readouterr().err


# --- calibrate -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_sample(tmp_path_factory) -> dict[str, pl.DataFrame]:
    """Every third snapshot of the real ../shared chains, per file name."""
    frames = {}
    for path in sorted(require_dir(SNAPSHOTS_DIR).glob("*.parquet")):
        raw = pl.read_parquet(path)
        keep = raw["harvest_time"].unique().sort().gather_every(3)
        frames[path.name] = raw.filter(pl.col("harvest_time").is_in(keep.implode()))
    return frames


def test_calibrate_from_files_and_from_a_cached_source(chain_sample, tmp_path, capsys):
    files = []
    for name, frame in chain_sample.items():
        frame.write_parquet(tmp_path / name)
        files.append(str(tmp_path / name))
    out = tmp_path / "cal" / "mine.json"
    assert main(["calibrate", "--chains", *files, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    cal = load_calibration(out)
    assert f"Calibration {cal.calibration_id}" in text and f"written: {out}" in text
    for section in ("Spread model", "IV index -> 30-day ATM IV", "Vol surface", "Forward basis"):
        assert section in text
    assert "BTC" in text and "ETH" in text and "vol pts" in text
    assert 0.85 < cal.atm_over_index("BTC") < 0.95

    data_dir = tmp_path / "d"
    store = Store(data_dir)
    store.ensure_source("rec", "deribit-mainnet", label="recorded chains")
    for frame in chain_sample.values():
        write_snapshots(store, "rec", frame)
    again = tmp_path / "from_source.json"
    args = ["calibrate", "--data-dir", str(data_dir), "--chains", "rec"]
    assert main([*args, "--out", str(again)]) == 0
    capsys.readouterr()
    from_source = load_calibration(again).doc
    assert from_source["fitted_on"]["chains"] == ["rec:BTC", "rec:ETH"]
    differ = ("calibration_id", "fitted_on")
    assert {k: v for k, v in from_source.items() if k not in differ} == {
        k: v for k, v in cal.doc.items() if k not in differ
    }

    before = sorted(tmp_path.rglob("*"))
    assert main(args) == 0  # no --out: nothing written, and it says how to keep it
    assert "not written: add --out FILE" in capsys.readouterr().out
    assert sorted(tmp_path.rglob("*")) == before


def _calibrate_error(args: list[str], capsys) -> str:
    assert main(["calibrate", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_calibrate_bad_input_is_one_clear_line(tmp_path, capsys):
    chain = model_chain(flat(0.5))
    assert "absent.parquet: no such file" in _calibrate_error(
        ["--chains", str(tmp_path / "absent.parquet")], capsys
    )
    chain.drop("mark_iv").write_parquet(tmp_path / "no_iv.parquet")
    err = _calibrate_error(["--chains", str(tmp_path / "no_iv.parquet")], capsys)
    assert "no_iv.parquet: missing column(s) ['mark_iv']" in err
    chain.with_columns(mark_price=pl.lit(0.0)).write_parquet(tmp_path / "zero.parquet")
    err = _calibrate_error(["--chains", str(tmp_path / "zero.parquet")], capsys)
    assert "zero.parquet: no usable rows" in err
    chain.write_parquet(tmp_path / "one_day.parquet")
    one_day = str(tmp_path / "one_day.parquet")
    assert "at least two UTC days" in _calibrate_error(["--chains", one_day], capsys)
    assert "is a directory" in _calibrate_error(
        ["--chains", one_day, "--out", str(tmp_path)], capsys
    )

    data = ["--data-dir", str(tmp_path / "d")]
    err = _calibrate_error([*data, "--chains", "rec"], capsys)
    assert "--chains rec: no such file, and no cached source 'rec'" in err
    Store(tmp_path / "d").ensure_source("rec", "deribit-mainnet", label="recorded chains")
    err = _calibrate_error([*data, "--chains", "rec"], capsys)
    assert "source 'rec' holds no option-chain snapshots" in err


def test_import_chains_tardis_and_snapshots_and_cache_lists_them(tmp_path, capsys):
    data = ["--data-dir", str(tmp_path / "d")]
    csv = small_tardis(tmp_path / "day.csv")
    args = ["import-chains", *data, "--format", "tardis", "--name", "tc", "--underlying", "btc"]
    assert main([*args, str(csv)]) == 0
    out = capsys.readouterr().out
    assert "read 8 rows from tardis files into source 'tc'" in out
    assert "BTC: 3 new rows in 2 new snapshots, 2025-12-08 to 2025-12-08" in out
    assert "skipped: 2 rows of other underlyings" in out
    assert main(["cache", *data]) == 0
    listing = capsys.readouterr().out
    assert "tc  [import]  imported option chains (tardis)" in listing
    assert "BTC chains: 2025-12-08 00:05 to 2025-12-08 00:10 UTC, 2 snapshots, 3 rows" in listing
    assert main([*args, str(csv)]) == 0
    assert "nothing new: the store is unchanged" in capsys.readouterr().out

    assert main([*args, str(tmp_path / "absent.csv")]) == 2
    assert f"error: {tmp_path / 'absent.csv'}: file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text(csv.read_text().replace(",0.07,", ",-0.07,"))
    assert main([*args, str(bad)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: {bad}, data row 3: bid_price must be positive")
        and "Trace" not in err
    )
    assert main([*args, "--every", "7m", str(csv)]) == 2
    assert "must divide a day" in capsys.readouterr().err


def test_import_chains_recorded_snapshots(tmp_path, capsys):
    files = sorted(require_dir(SNAPSHOTS_DIR).glob("*.parquet"))
    args = ["import-chains", "--data-dir", str(tmp_path), "--format", "snapshots", "--name", "rec"]
    assert main([*args, *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert "skipped: 2 partial snapshots" in out and "ETH: 112,278 new rows" in out
    assert "BTC chains: 2025-12-07 20:32 to 2025-12-11 22:21 UTC, 142 snapshots" in out
    assert main([*args, "--every", "5m", *map(str, files)]) == 2
    assert "--every applies to tardis" in capsys.readouterr().err


# Runs subcommands in one fresh interpreter and prints, after each, the heavy packages loaded so
# far: the web stack must never be among them, the HTTP client only where Deribit is reached.
IMPORTS_AFTER = """
import json, sys
from api.cli import main
HEAVY = ("fastapi", "starlette", "uvicorn", "jinja2", "httpx")
loaded = {}
for name, argv in json.loads(sys.argv[1]):
    main(argv)
    loaded[name] = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps(loaded))
"""


def test_the_command_line_loads_no_web_stack_outside_serve(synthetic_data_dir, tmp_path):
    data_dir = shutil.copytree(synthetic_data_dir, tmp_path / "data")
    d = ["--data-dir", str(data_dir)]
    window = ["--start", "2023-01-01", "--end", "2024-01-01", "--exit-style", "hold_to_expiry"]
    calls = [
        ("backtest", ["backtest", *d, "--underlying", "BTC", *window, "--json"]),
        ("backtest text", ["backtest", *d, "--underlying", "ETH", *window]),
        ("warm", ["warm", *d, "--underlying", "BTC"]),
        ("cache", ["cache", *d, "--verify"]),
        ("import-chains", ["import-chains", *d, "--format", "snapshots", "--name", "x"]),
        ("calibrate", ["calibrate", *d, "--chains", "missing-source"]),
    ]
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER, json.dumps(calls)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {name: [] for name, _ in calls}
    helped = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "api.cli", "backtest", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0 and "--exit-style" in helped.stdout
    imported = {line.split("|")[-1].strip() for line in helped.stderr.splitlines()}
    assert not imported & {"numba", "polars", "fastapi", "uvicorn", "jinja2", "httpx"}


def test_model_check_prints_the_tables_and_json(chain_data_dir, tmp_path, capsys):
    data_dir = shutil.copytree(chain_data_dir, tmp_path / "data")
    args = ["model-check", "--data-dir", str(data_dir), "--source", "real", "--underlying", "btc"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "the MODEL against the RECORDED option chains of source 'real'" in out
    assert f"calibration {load_calibration().calibration_id}" in out
    for title in ("IV error: model IV - recorded mark IV", "Premium error", "Fill error",
                  "Forward error", "Side by side"):  # fmt: skip
        assert f"\n  {title}" in out
    assert "median error (vol pts)" in out and "option PnL (coin)" in out
    assert "the model flatters" in out or "the model penalises" in out
    assert "! chains run: real chains:" in out
    assert main([*args, "--json", "--target-dte", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["strategy"]["target_dte"] == 3.0
    assert [u["underlying"] for u in report["underlyings"]] == ["BTC"]


def test_model_check_refuses_a_source_without_chains(chain_data_dir, tmp_path, capsys):
    data_dir = shutil.copytree(chain_data_dir, tmp_path / "data")
    assert main(["model-check", "--data-dir", str(data_dir), "--source", "synthetic"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: source 'synthetic' holds no recorded option chains")
    assert "Traceback" not in err
    assert main(["model-check", "--data-dir", str(data_dir), "--source", "gone"]) == 2
    assert "data source 'gone' not found" in capsys.readouterr().err
    real = ["model-check", "--data-dir", str(data_dir), "--source", "real"]
    assert main([*real, "--target-dte", "30"]) == 2
    assert "target_dte (30.0) must lie within min_dte" in capsys.readouterr().err
    assert main([*real, "--calibration", str(tmp_path / "none.json")]) == 2
    assert capsys.readouterr().err.startswith(f"error: calibration file {tmp_path / 'none.json'}")


def test_report_writes_one_html_file_and_refuses_an_unknown_run(runs_source, tmp_path, capsys):
    data_dir, (hold, _) = runs_source
    out = tmp_path / "r.html"
    assert main(["report", hold, "--data-dir", str(data_dir), "--out", str(out)]) == 0
    assert f"written: {out}" in capsys.readouterr().out
    html = out.read_text()
    assert f'report of run <code data-testid="report-run-id">{hold}</code>' in html
    assert "https://" not in html and "http://" not in html
    code = main(["report", "0123456789abcdef", "--data-dir", str(data_dir)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: no finished run 0123456789abcdef")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["report", "not-a-run", "--data-dir", str(data_dir)]) == 2
    assert "16 lowercase hex digits" in capsys.readouterr().err
    assert main(["report", hold, "--data-dir", str(data_dir), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out {tmp_path}")
