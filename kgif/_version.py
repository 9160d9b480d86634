"""The installed kgif version, read once from the package metadata (``pyproject.toml``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kgif")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
