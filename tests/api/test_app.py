from datetime import datetime

from fastapi.testclient import TestClient

from api.main import create_app
from engine import __version__


def test_status_reports_version_and_health(settings):
    with TestClient(create_app(settings)) as client:
        res = client.get("/status")
    assert res.status_code == 200
    body = res.json()
    assert body["version"] == __version__
    assert body["healthy"] is True and body["problems"] == []
    assert datetime.fromisoformat(body["server_time"]).utcoffset().total_seconds() == 0


def test_dashboard_page_renders(settings):
    with TestClient(create_app(settings)) as client:
        res = client.get("/")
        assert res.status_code == 200
        assert "thetadesk" in res.text
        assert client.get("/static/js/status.js").status_code == 200


def test_unknown_route_uses_json_error_shape(settings):
    with TestClient(create_app(settings)) as client:
        res = client.get("/no/such/thing")
    assert res.status_code == 404
    assert set(res.json()) == {"error", "detail"}


def test_lifespan_creates_data_dir(settings):
    assert not settings.data_dir.exists()
    with TestClient(create_app(settings)):
        assert settings.data_dir.is_dir()


def test_status_is_unhealthy_saying_why_when_runs_cannot_be_written(settings):
    with TestClient(create_app(settings)) as client:
        (settings.data_dir / "runs").write_text("a file where the runs folder should be")
        body = client.get("/status").json()
        assert body["healthy"] is False
        assert body["problems"] == [
            f"cannot write to {settings.data_dir / 'runs'}: Not a directory"
        ]
