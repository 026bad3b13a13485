"""numba's cache lives in the user cache dir (or ``NUMBA_CACHE_DIR``), never in the package."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

# compiles one small kernel in a fresh interpreter and says where numba keeps it
COMPILE_ONE = """
import json, sys
import numpy as np
from engine.policy.nb import trade_fee_nb
import numba
trade_fee_nb(1.0, 0.01, np.array([0.0003, 0.125, 0.00015, 0.125, 0.0]))
print(json.dumps({"config": numba.config.CACHE_DIR, "stats": trade_fee_nb.stats.cache_path}))
"""


def _compile_one(env: dict[str, str]) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    done = subprocess.run(
        [sys.executable, "-c", COMPILE_ONE],
        env=base | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _package_cache_files(since: float) -> list[Path]:
    """numba cache files written inside the source tree since ``since``."""
    files = (
        p for package in ("engine", "cache", "api") for p in ROOT.glob(f"{package}/**/*.nb[ic]")
    )
    return [p for p in files if p.stat().st_mtime >= since]


def test_kernels_compile_into_the_user_cache_dir_not_the_package(tmp_path):
    t0 = time.time()
    where = _compile_one({"XDG_CACHE_HOME": str(tmp_path)})
    expected = tmp_path / "thetadesk" / "numba"
    assert where["config"] == str(expected)
    assert Path(where["stats"]).parent == expected
    assert list(Path(where["stats"]).glob("nb.trade_fee_nb-*.nbi"))  # the index numba wrote
    assert list(Path(where["stats"]).glob("nb.trade_fee_nb-*.nbc"))  # and the compiled code
    assert _package_cache_files(t0) == []


def test_a_numba_cache_dir_the_user_set_wins(tmp_path):
    mine = tmp_path / "mine"
    where = _compile_one({"NUMBA_CACHE_DIR": str(mine), "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert where["config"] == str(mine) and Path(where["stats"]).parent == mine
    assert not (tmp_path / "xdg").exists()


def test_an_unwritable_user_cache_dir_falls_back_to_a_temp_dir_not_the_package(tmp_path):
    t0 = time.time()
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the cache directory should be")
    where = _compile_one({"XDG_CACHE_HOME": str(blocked), "TMPDIR": str(tmp_path)})
    assert where["config"] == str(tmp_path / f"thetadesk-numba-{os.getuid()}")
    assert Path(where["stats"]).is_relative_to(tmp_path / f"thetadesk-numba-{os.getuid()}")
    assert _package_cache_files(t0) == []


def test_a_temp_fallback_someone_else_could_write_is_not_used(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the cache directory should be")
    shared = tmp_path / f"thetadesk-numba-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)  # planted by another user: anyone could put compiled code in it
    where = _compile_one({"XDG_CACHE_HOME": str(blocked), "TMPDIR": str(tmp_path)})
    assert Path(where["config"]).parent == tmp_path
    assert Path(where["config"]).name.startswith("thetadesk-numba-")
    assert Path(where["config"]) != shared and list(shared.iterdir()) == []
    assert Path(where["config"]).stat().st_mode & 0o777 == 0o700


def test_a_symlinked_temp_fallback_is_not_followed(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the cache directory should be")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / f"thetadesk-numba-{os.getuid()}").symlink_to(elsewhere)
    where = _compile_one({"XDG_CACHE_HOME": str(blocked), "TMPDIR": str(tmp_path)})
    assert not Path(where["config"]).is_symlink() and list(elsewhere.iterdir()) == []
