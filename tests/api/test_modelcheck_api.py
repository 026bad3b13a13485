"""``GET /api/model-check`` and the ``/model-check`` page, over the ``../shared`` snapshots."""

import shutil

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from cache.importers.chains import import_chains
from cache.store import Store
from engine.calibration import load_calibration
from engine.modelcheck.store import report_path
from tests.conftest import SNAPSHOTS_DIR


@pytest.fixture(scope="module")
def served(chain_data_dir, tmp_path_factory):
    """A client over a copy of the chain data dir, plus ``btc``: a source of BTC chains only."""
    data_dir = tmp_path_factory.mktemp("served") / "data"
    shutil.copytree(chain_data_dir, data_dir)
    btc = SNAPSHOTS_DIR / "BTC_2025-12-07_2025-12-11.parquet"
    import_chains(Store(data_dir), "btc", "snapshots", [btc])
    with TestClient(create_app(Settings(data_dir=data_dir, agent_enabled=False))) as client:
        yield client, data_dir


def assert_error(res, status: int, field: str | None, says: str) -> None:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) == {"error", "detail"} and says in body["error"], body
    if field is not None:
        assert [d["field"] for d in body["detail"]] == [field]


def test_the_json_twin_reports_the_model_against_the_recorded_chains(served):
    client, data_dir = served
    res = client.get("/api/model-check", params={"source": "real", "underlying": "ETH"})
    assert res.status_code == 200 and res.headers["content-type"] == "application/json"
    report = res.json()
    assert report["source"] == "real"
    assert report["calibration_id"] == load_calibration().calibration_id
    (eth,) = report["underlyings"]
    assert eth["underlying"] == "ETH" and eth["model_unavailable"] is None
    assert eth["iv_error"][-1]["delta_bucket"] == "all" and eth["iv_error"][-1]["n"] > 100
    assert {"median_error_vol_points", "p90_abs_error_vol_points"} <= set(eth["iv_error"][0])
    assert eth["backtest"]["chains"]["available"] and eth["backtest"]["model"]["available"]
    assert eth["backtest"]["difference"]["verdict"] in ("flatters", "penalises", "matches")
    assert report_path(data_dir, report["key"]).is_file()
    again = client.get("/api/model-check", params={"source": "real", "underlying": "ETH"}).json()
    assert again == report  # read from disk: the same computation, the same instant


def test_the_page_shows_the_tables_the_chart_and_the_calibration(served):
    client, _ = served
    res = client.get("/model-check", params={"source": "real"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    page = res.text
    assert "<strong>MODEL</strong>" in page and "<strong>RECORDED</strong>" in page
    assert f'data-testid="mc-calibration-id">{load_calibration().calibration_id}<' in page
    for u in ("BTC", "ETH"):
        for table in ("iv_error", "premium_error", "fill_error", "forward_error", "backtest"):
            assert f'data-testid="mc-{table}-{u}"' in page
        assert f'data-testid="mc-warnings-chains-{u}"' in page
    assert "IV error: model IV - recorded mark IV" in page and "option PnL (coin)" in page
    assert 'id="mc-chart-data"' in page and "BTC delta 0.05-0.15" in page
    assert "js/modelcheck.js" in page


def test_bad_sources_and_underlyings_are_clear_4xx(served):
    client, _ = served
    for path in ("/api/model-check", "/model-check"):
        assert_error(client.get(path, params={"source": "nope"}), 404, "source", "not found")
        res = client.get(path, params={"source": "synthetic"})
        assert_error(res, 400, "source", "holds no recorded option chains")
        res = client.get(path, params={"source": "btc", "underlying": "ETH"})
        assert_error(res, 400, "underlying", "no recorded ETH option chains")
        res = client.get(path, params={"source": "real", "underlying": "XRP"})
        assert_error(res, 422, "underlying", "underlying")
        assert_error(client.get(path, params={"source": "../x"}), 422, "source", "pattern")
        assert_error(client.get(path), 422, "source", "Field required")


def test_a_damaged_chain_file_is_409_naming_it(chain_data_dir, tmp_path):
    data_dir = shutil.copytree(chain_data_dir, tmp_path / "data")
    day = sorted((data_dir / "sources" / "real" / "chains" / "ETH").glob("*.parquet"))[-1]
    day.write_bytes(day.read_bytes()[:100])
    with TestClient(create_app(Settings(data_dir=data_dir, agent_enabled=False))) as client:
        res = client.get("/api/model-check", params={"source": "real", "underlying": "ETH"})
    assert_error(res, 409, None, f"{day.parent}: cannot be read")
