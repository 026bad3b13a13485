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

Kernels are defined with :func:`njit` from here, numba's own with one change in how a compiled
kernel is *loaded from the cache* (see :func:`lean_cache_loading`).
"""

import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import MethodType

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


def _load_overload_lean(cache, sig, target_context):
    """Load a kernel's compiled code from numba's cache without refreshing the whole context.

    numba's ``Cache.load_overload`` first calls ``target_context.refresh()``, which imports and
    registers every implementation numba has (arrays, lists, dicts, random, linalg, ...): about
    0.2 s of a short process, needed to *compile* but not to load machine code that is already
    compiled. Loading needs the symbols that code links to: the C helpers and the math library
    (installed when the context is created), the runtime (NRT, initialised here) and the hash
    secret (installed when ``numba.cpython.hashing`` is imported, done here). A later compile
    still refreshes in full (numba's compiler does it first), so a new signature compiles as
    before. The numba developers considered the same deferral (numba PR #9806).
    """
    import numba.cpython.hashing  # noqa: F401 - installs the hash secret symbols
    from numba.core.runtime import rtsys

    rtsys.initialize(target_context)
    with cache._guard_against_spurious_io_errors():
        return cache._load_overload(sig, target_context)


def lean_cache_loading(dispatcher):
    """Make ``dispatcher`` load its cached code without numba's full context refresh.

    Leaves the dispatcher as numba made it when it has no cache or when this numba lacks the
    internals :func:`_load_overload_lean` relies on (then it loads the standard way)."""
    cache = getattr(dispatcher, "_cache", None)
    needs = ("_load_overload", "_guard_against_spurious_io_errors", "load_overload")
    if cache is not None and all(hasattr(cache, name) for name in needs):
        cache.load_overload = MethodType(_load_overload_lean, cache)
    return dispatcher


def njit(*args, **options) -> Callable:
    """``numba.njit`` for thetadesk's kernels: the same arguments, the same dispatcher, loaded
    from the cache the lean way (:func:`lean_cache_loading`) when ``cache=True``."""
    import numba

    if args and callable(args[0]):  # @njit without arguments
        return lean_cache_loading(numba.njit(*args, **options))
    decorate = numba.njit(*args, **options)
    return lambda func: lean_cache_loading(decorate(func))
