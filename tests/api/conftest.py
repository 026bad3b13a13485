import shutil

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import LOOPBACK_NAMES
from api.settings import Settings


@pytest.fixture(scope="package", autouse=True)
def testclient_host():
    """Let the apps these tests build answer to ``Host: testserver``, TestClient's default."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("api.security.LOOPBACK_NAMES", (*LOOPBACK_NAMES, "testserver"))
        yield


@pytest.fixture
def data_dir(synthetic_data_dir, tmp_path):
    """A private copy of the synthetic cache (runs get written into it)."""
    target = tmp_path / "data"
    shutil.copytree(synthetic_data_dir, target)
    return target


@pytest.fixture
def client(data_dir):
    with TestClient(create_app(Settings(data_dir=data_dir, agent_enabled=False))) as c:
        yield c
