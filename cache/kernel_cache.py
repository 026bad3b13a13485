"""Where numba keeps the compiled kernels: the user's cache directory, never the package.

numba writes a ``cache=True`` kernel next to its source (``__pycache__``) unless
``NUMBA_CACHE_DIR`` names another place. An installed package may be read-only and shared by
several users, so thetadesk points numba at ``$XDG_CACHE_HOME/thetadesk/numba`` (by default
``~/.cache/thetadesk/numba``). When that cannot be written it uses ``<tmp>/thetadesk-numba-<uid>``,
but only a real directory the user owns that nobody else can write: numba runs the code it finds
there, so a directory another user planted (or a symlink) is refused for a fresh private one. A
``NUMBA_CACHE_DIR`` set by the user wins.

numba reads the setting when a kernel is *defined*, so :func:`use_kernel_cache_dir` must run
before any ``nb.py`` module is imported: the ``cache`` and ``engine`` packages call it first
thing. Under the directory numba keeps one folder per source folder (its path hashed), so two
checkouts never share compiled code.
"""

import os
import stat
import sys
import tempfile
from pathlib import Path

ENV = "NUMBA_CACHE_DIR"


def default_kernel_cache_dir() -> Path:
    """The per-user directory thetadesk gives numba when ``NUMBA_CACHE_DIR`` is not set."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "thetadesk" / "numba"


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _private_temp_dir() -> Path:
    """``<tmp>/thetadesk-numba-<uid>`` if it is the user's own, else a new private directory."""
    path = Path(tempfile.gettempdir()) / f"thetadesk-numba-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
    except OSError:
        return Path(tempfile.mkdtemp(prefix="thetadesk-numba-"))
    owned = stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
    if owned and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return path
    return Path(tempfile.mkdtemp(prefix="thetadesk-numba-"))


def use_kernel_cache_dir() -> Path:
    """Point numba's cache at ``NUMBA_CACHE_DIR``, else the user cache dir; return the directory.

    Sets ``NUMBA_CACHE_DIR`` in the environment (child processes inherit it) and makes an
    already imported numba read it again.
    """
    if not os.environ.get(ENV):
        path = default_kernel_cache_dir()
        if not _writable(path):  # e.g. a service user without a home: never the package dir
            path = _private_temp_dir()
        os.environ[ENV] = str(path)
    config = sys.modules.get("numba.core.config")
    if config is not None:
        config.reload_config()
    return Path(os.environ[ENV])
