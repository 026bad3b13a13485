"""The start request is the backtest config's fields, defaults and bounds, plus ``pace``."""

import shutil

import pytest
from annotated_types import Ge, Gt, Le, Lt
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.main import create_app
from api.schemas import RUN_FIELDS, SOURCE_NAME, BacktestStartRequest
from api.settings import Settings
from engine.config import CallSimulationConfig
from tests.api.test_backtest_api import BODY

CONFIG = CallSimulationConfig.model_fields
BOUNDS = [
    pytest.param(name, rule, id=f"{name}-{type(rule).__name__.lower()}")
    for name, info in CONFIG.items()
    for rule in info.metadata
    if isinstance(rule, Ge | Gt | Le | Lt)
]


@pytest.fixture(scope="module")
def client(synthetic_data_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("start-request") / "data"
    shutil.copytree(synthetic_data_dir, data_dir)
    with TestClient(create_app(Settings(data_dir=data_dir, agent_enabled=False))) as c:
        yield c


def test_every_top_level_config_field_but_the_nested_models_is_in_the_request():
    request = BacktestStartRequest.model_fields
    nested = {n for n, f in CONFIG.items() if isinstance(f.annotation, type)
              and issubclass(f.annotation, BaseModel)}  # fmt: skip
    assert nested == {"fees", "vol_surface", "scoring"}
    assert set(request) == set(CONFIG) - nested | {"pace"}
    assert BacktestStartRequest.model_config["extra"] == "forbid"


def test_the_request_has_the_configs_bounds_and_leaves_strategy_defaults_to_it():
    request = BacktestStartRequest.model_fields
    for name in request.keys() - {"start", "end", "pace"}:
        rules = [*CONFIG[name].metadata, *([SOURCE_NAME] if name == "source" else [])]
        assert request[name].metadata == rules, name
        default = CONFIG[name].default if name in RUN_FIELDS else None
        assert request[name].default == default, name
    assert request["start"].is_required() and request["end"].is_required()


def _outside(rule: Ge | Gt | Le | Lt) -> float:
    """A value just across the bound (a whole unit past an inclusive one)."""
    if isinstance(rule, Ge):
        return rule.ge - 1
    if isinstance(rule, Le):
        return rule.le + 1
    return rule.gt if isinstance(rule, Gt) else rule.lt


@pytest.mark.parametrize(("name", "rule"), BOUNDS)
def test_a_value_outside_a_bound_is_422_naming_the_field(client, name, rule):
    res = client.post("/api/backtest/start", json=BODY | {name: _outside(rule)})
    assert res.status_code == 422, res.json()
    assert [d["field"] for d in res.json()["detail"]] == [name]
    assert name in res.json()["error"]


def test_the_start_and_end_text_is_read_as_utc_and_strategy_fields_reach_the_run(client):
    body = BODY | {"start": "2022-01-01T00:00:00Z", "top_k": 7, "source": "synthetic"}
    assert client.post("/api/backtest/start", json=body).json()["started"] is True
    status = client.get("/api/backtest/status").json()
    assert status["config"]["top_k"] == 7 and status["config"]["target_dte"] == 7.0
    assert status["start_date"] == "2022-01-01T00:00:00Z"
    client.post("/api/backtest/stop")
    client.app.state.backtest_manager.join(10)


@pytest.mark.parametrize("source", ["", "Synthetic", "a" * 41, "../x"])
def test_a_source_that_is_not_a_cache_name_is_422(client, source):
    res = client.post("/api/backtest/start", json=BODY | {"source": source})
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "source"
