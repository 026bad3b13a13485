"""Shared fixtures: paths to ../shared data, isolated settings."""

from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# One hypothesis profile for the suite: no deadline, since a kernel's first call may compile (or
# load its cache); tests that want more or fewer examples say so with @settings(max_examples=...).
hypothesis_settings.register_profile("thetadesk", deadline=None, max_examples=100)
hypothesis_settings.load_profile("thetadesk")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SNAPSHOTS_DIR = SHARED / "data" / "deribit_chain_snapshots"
API_RESPONSES_DIR = SHARED / "data" / "deribit_api_responses"


def require_dir(path: Path) -> Path:
    """Skip the calling test, saying why, when a ../shared folder is absent."""
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (tests read it from ../shared)")
    return path


@pytest.fixture
def snapshots_dir() -> Path:
    """The real Deribit chain snapshots in ../shared."""
    return require_dir(SNAPSHOTS_DIR)


@pytest.fixture
def api_responses_dir() -> Path:
    """The recorded Deribit API responses in ../shared."""
    return require_dir(API_RESPONSES_DIR)


@pytest.fixture
def settings(tmp_path: Path):
    """App settings pointing at a fresh data dir."""
    from api.settings import Settings

    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory) -> Path:
    """A data dir holding the embedded synthetic market (generated once per test session).

    Tests must not write into it; copy it (``shutil.copytree``) to modify.
    """
    from cache.store import Store
    from cache.warm import warm_synthetic

    root = tmp_path_factory.mktemp("synthetic") / "data"
    warm_synthetic(Store(root))
    return root


@pytest.fixture(scope="session")
def chain_data_dir(synthetic_data_dir, tmp_path_factory) -> Path:
    """A data dir holding the synthetic market and source ``real``: the ``../shared`` snapshots
    imported (candles and an IV index derived from the chains). Made once per session; tests
    must not write into it (copy it).
    """
    import shutil

    from cache.importers.chains import import_chains
    from cache.store import Store

    snapshots = require_dir(SNAPSHOTS_DIR)
    root = tmp_path_factory.mktemp("chains") / "data"
    shutil.copytree(synthetic_data_dir, root)
    import_chains(Store(root), "real", "snapshots", sorted(snapshots.glob("*.parquet")))
    return root


HALF_YEAR = {"underlying": "BTC", "start": "2022-01-01", "end": "2022-07-01"}


@pytest.fixture(scope="session")
def runs_source(synthetic_data_dir, tmp_path_factory):
    """A data dir with two finished runs (hold to expiry, then take profit & roll) and their ids.

    Tests must not change it; copy it to delete or break runs.
    """
    import shutil

    from engine.config import CallSimulationConfig
    from engine.results.runs import execute_run

    data_dir = tmp_path_factory.mktemp("runs") / "data"
    shutil.copytree(synthetic_data_dir, data_dir)
    ids = []
    for style in ("hold_to_expiry", "tp_and_roll"):
        result, _ = execute_run(data_dir, CallSimulationConfig(**HALF_YEAR, exit_style=style))
        ids.append(result.run_id)
    return data_dir, ids
