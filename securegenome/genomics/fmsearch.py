"""The ``fm`` search engine (kept importable as ``fmsearch``): see :mod:`securegenome.genomics.fm`."""

from .fm import *  # noqa: F401,F403
from .fm import __all__  # noqa: F401
