"""thetadesk engine: the domain (pricing, instruments, scoring, replay), no web code."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("thetadesk")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
