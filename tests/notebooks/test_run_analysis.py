"""notebooks/run_analysis.ipynb runs on a fresh run; its metric check fails on a wrong summary."""

import json
import shutil
from pathlib import Path

import pytest

from engine.config import CallSimulationConfig
from engine.results.runs import execute_run

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[dev]'")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[dev]'")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "run_analysis.ipynb"
KERNEL_TIMEOUT_S = 120  # a cold kernel imports polars and matplotlib


@pytest.fixture(scope="module")
def run_dir(synthetic_data_dir, tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("notebook") / "data"
    shutil.copytree(synthetic_data_dir, data_dir)
    cfg = CallSimulationConfig(
        underlying="BTC", start="2022-01-01", end="2022-07-01", exit_style="tp_and_roll"
    )
    return execute_run(data_dir, cfg)[1]


def execute(run_dir: Path, monkeypatch) -> "nbformat.NotebookNode":
    """Run the notebook top to bottom in a fresh kernel, pointed at ``run_dir``."""
    monkeypatch.setenv("THETADESK_RUN_DIR", str(run_dir))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=KERNEL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    return client.execute()


def outputs(nb, kind: str) -> list:
    return [o for cell in nb.cells for o in cell.get("outputs", []) if kind in o.get("data", {})]


def test_notebook_recomputes_the_summary_metrics_and_plots(run_dir, monkeypatch):
    nb = execute(run_dir, monkeypatch)
    text = "".join(
        o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []) if o.get("text")
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert f"run {summary['run_id']}: BTC tp_and_roll" in text
    assert f"all {len(summary['metrics'])} metrics match summary.json" in text
    assert "all 7 monthly returns match the tearsheet" in text  # January to 1 July 00:00
    assert len(outputs(nb, "image/png")) == 1  # the figure


def test_notebook_fails_when_summary_disagrees_with_the_tables(run_dir, tmp_path, monkeypatch):
    tampered = tmp_path / run_dir.name
    shutil.copytree(run_dir, tampered)
    summary = json.loads((tampered / "summary.json").read_text())
    summary["metrics"]["take_profits"] += 1
    (tampered / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(nbclient.exceptions.CellExecutionError, match=r"\['take_profits'\]"):
        execute(tampered, monkeypatch)
