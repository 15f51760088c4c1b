"""mrframe: multi-source, multi-resolution time-series models with missing data, assembled from a TOML spec.

The plugin contracts are in :mod:`mrframe.interfaces`; the value types in :mod:`mrframe.observed`.
"""

from importlib.metadata import PackageNotFoundError, version

from mrframe.config import field
from mrframe.observed import Calendar, Observed, State, Stream, TaskLoss

try:
    __version__ = version("mrframe")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["Observed", "Stream", "Calendar", "State", "TaskLoss", "field", "__version__"]
