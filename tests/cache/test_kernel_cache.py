"""numba's cache lives in the user cache dir (or ``NUMBA_CACHE_DIR``), never in the package."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    return _run_script(COMPILE_ONE, base | env)


def _run_script(script: str, env: dict[str, str], *args: str, timeout: float = 120) -> dict:
    """Run ``script`` in a fresh interpreter with ``env``; return the JSON it prints."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
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


# calls one kernel that allocates arrays (numba's runtime) with float64 inputs, then, when asked,
# with float32 ones (a signature no cache holds: numba compiles it); says what numba did
LOAD_ONE = """
import json, sys
import numpy as np
from engine.pricing.nb import price_delta_array_nb as kernel
args = [np.array([100.0, 100.0]), np.array([90.0, 110.0]), np.array([0.1, 0.2]),
        np.array([0.5, 0.6]), np.array([True, True])]
price, delta = kernel(*args)
out = {"price": price.tolist(), "delta": delta.tolist(),
       "hits": sum(kernel.stats.cache_hits.values()),
       "refreshed": "numba.np.arraymath" in sys.modules}
if sys.argv[1] == "compile-another":
    price32, _ = kernel(*[a.astype(np.float32) if a.dtype == np.float64 else a for a in args])
    out |= {"price32": price32.tolist(), "signatures": len(kernel.signatures),
            "refreshed_after_compile": "numba.np.arraymath" in sys.modules}
print(json.dumps(out))
"""


def _load_one(cache_dir: Path, mode: str = "load") -> dict:
    env = os.environ | {"NUMBA_CACHE_DIR": str(cache_dir)}
    return _run_script(LOAD_ONE, env, mode, timeout=300)


def test_a_cached_kernel_loads_without_numbas_full_refresh_and_gives_the_same_result(tmp_path):
    compiled = _load_one(tmp_path)  # an empty cache: numba compiles (and refreshes in full)
    assert compiled["hits"] == 0 and compiled["refreshed"]

    loaded = _load_one(tmp_path)
    assert loaded["hits"] == 1
    assert not loaded["refreshed"]  # numba's own load imports every implementation first
    assert (loaded["price"], loaded["delta"]) == (compiled["price"], compiled["delta"])

    # a signature the cache lacks still compiles: numba's compiler refreshes in full itself
    more = _load_one(tmp_path, "compile-another")
    assert more["hits"] == 1 and more["signatures"] == 2 and more["refreshed_after_compile"]
    assert more["price32"] == pytest.approx(compiled["price"], rel=1e-5)


def test_a_kernel_without_a_cache_is_left_as_numba_made_it():
    import numba

    from cache.kernel_cache import lean_cache_loading, njit

    plain = numba.njit(lambda x: x + 1)
    before = plain._cache.load_overload
    assert lean_cache_loading(plain) is plain and plain._cache.load_overload == before
    assert njit(lambda x: x * 2)(21) == 42
    assert njit(cache=False)(lambda x: x * 3)(2) == 6
