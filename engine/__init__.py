"""thetadesk engine: the domain (pricing, instruments, scoring, replay), no web code."""

from importlib.metadata import PackageNotFoundError, version

from cache.kernel_cache import use_kernel_cache_dir

use_kernel_cache_dir()  # before any kernel module imports numba: it reads the place then

try:
    __version__ = version("thetadesk")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
