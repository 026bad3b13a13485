"""``thetadesk sweep`` as a user runs it: outputs, JSON, one error line for a bad spec."""

import json
import shutil
import subprocess
import sys

import polars as pl
import pytest

from api.cli import main
from engine.sweep.spec import METRIC_NAMES
from tests.api.test_cli import IMPORTS_AFTER
from tests.conftest import ROOT

SPEC = {
    "base": {"underlying": "BTC", "start": "2022-01-01", "end": "2022-04-01", "timeframe": "1h",
             "decision_interval_hours": 24, "source": "synthetic"},
    "axes": {"tp_threshold_pct": [50, 80], "exit_style": ["hold_to_expiry", "tp_and_roll"]},
}  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(synthetic_data_dir, tmp_path_factory):
    return shutil.copytree(synthetic_data_dir, tmp_path_factory.mktemp("cli") / "data")


def _spec_file(tmp_path, spec) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec) if not isinstance(spec, str) else spec)
    return str(path)


def test_sweep_json_and_text(data_dir, tmp_path, capsys):
    args = ["sweep", "--data-dir", str(data_dir), "--spec", _spec_file(tmp_path, SPEC)]
    assert main([*args, "--json", "--workers", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"sweep_id", "sweep_dir", "configurations"}
    assert out["configurations"] == 4
    folder = data_dir / "sweeps" / out["sweep_id"]
    assert out["sweep_dir"] == str(folder)
    assert {p.name for p in folder.iterdir()} == {"results.parquet", "returns.parquet",
                                                  "summary.json"}  # fmt: skip
    results = pl.read_parquet(folder / "results.parquet")
    assert results.height == 4 and set(METRIC_NAMES) <= set(results.columns)

    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"Sweep {out['sweep_id']}: BTC covered calls, 2022-01-01 to 2022-04-01" in text
    assert "SYNTHETIC DATA" in text and "4 configurations (grid 4" in text
    assert "best by sharpe (larger is better)" in text and f"outputs: {folder}" in text
    assert "\n  DSR " in text and "\n  PBO " in text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{not json", "not a JSON file"),
        ("[1, 2]", "a spec is a JSON object, not a list"),
        ({**SPEC, "axes": {"target_delta": [0.2, 1.5]}},
         "axes: target_delta[1] = 1.5: Input should be less than 1"),
        ({**SPEC, "axes": {"target_delta": []}}, "axes: target_delta: empty"),
        ({**SPEC, "axes": {"delta": [0.2]}}, "axes: delta: unknown config field"),
        ({**SPEC, "axes": {"max_rolls_per_chain": ["3"]}},
         "axes: max_rolls_per_chain[0] = '3': Input should be a valid integer"),
        ({**SPEC, "objective": "pnl"}, "objective: 'pnl' is not a run metric"),
        ({**SPEC, "base": {**SPEC["base"], "source": "nowhere"}}, "nowhere"),
        ({**SPEC, "base": {**SPEC["base"], "start": "2030-01-01", "end": "2030-02-01"}},
         "cover 2019-01-01 to 2026-01-01"),
    ],
)  # fmt: skip
def test_a_bad_spec_is_one_error_line_naming_the_field(data_dir, tmp_path, capsys, spec, message):
    path = _spec_file(tmp_path, spec)
    assert main(["sweep", "--data-dir", str(data_dir), "--spec", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err
    assert not any("Traceback" in line for line in err)


def test_bad_options_are_one_error_line(data_dir, tmp_path, capsys):
    path = _spec_file(tmp_path, SPEC)
    base = ["sweep", "--data-dir", str(data_dir), "--spec", path]
    assert main([*base, "--address", "auto"]) == 2
    assert capsys.readouterr().err == "error: --address is for --executor ray\n"
    assert main([*base, "--workers", "0"]) == 2
    assert capsys.readouterr().err == "error: workers (0) must be at least 1\n"
    assert main(["sweep", "--data-dir", str(data_dir), "--spec", str(tmp_path / "no.json")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: --spec {tmp_path / 'no.json'}: No such file or directory\n"
    )


def test_sweep_loads_no_web_stack(data_dir, tmp_path):
    path = _spec_file(tmp_path, SPEC)
    calls = [("sweep", ["sweep", "--data-dir", str(data_dir), "--spec", path, "--json"])]
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER, json.dumps(calls)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"sweep": []}


def test_walk_forward_writes_the_folds_and_the_stitched_curve(data_dir, tmp_path, capsys):
    args = ["sweep", "--data-dir", str(data_dir), "--spec", _spec_file(tmp_path, SPEC),
            "--walk-forward", "train=40d,test=20d,step=25d"]  # fmt: skip
    assert main([*args, "--json"]) == 0
    folder = data_dir / "sweeps" / json.loads(capsys.readouterr().out)["sweep_id"]
    summary = json.loads((folder / "summary.json").read_text())
    block = summary["walk_forward"]
    assert summary["spec"]["walk_forward"] == block["spec"] == "train=40d,test=20d,step=25d"
    folds = pl.read_parquet(folder / "walk_forward.parquet")
    assert folds.height == len(block["folds"]) == 2  # 90 days: trains of 40 d, tests of 20 d
    assert folds["train_end"].to_list() == folds["test_start"].to_list()
    assert set(SPEC["axes"]) <= set(folds.columns) and "test_run_id" in folds.columns
    curve = pl.read_parquet(folder / "walk_forward_equity.parquet")
    assert curve.columns == ["time", "strategy_growth", "hodl_growth", "fold"]
    assert curve["fold"].unique().to_list() == [0, 1] and curve["strategy_growth"][0] == 1.0
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "walk-forward train=40d,test=20d,step=25d: 2 folds" in text and "    fold 1: " in text
    bad = [*args[:-1], "train=40d,test=20d,step=10d"]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --spec {args[4]}: walk_forward: ") and "would overlap" in err
