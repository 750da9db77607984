"""Progress bars on stderr, shown by one party only (the one whose terminal the user watches)."""

from __future__ import annotations

import os

from tqdm.auto import tqdm

from ._mpyc import mpc

QUIET_ENV = "SECUREGENOME_QUIET"


def progress(iterable=None, *, total=None, desc: str = "", unit: str = "it"):
    """A tqdm bar on party 0 (silent elsewhere, and when SECUREGENOME_QUIET=1)."""
    disable = mpc.pid != 0 or os.environ.get(QUIET_ENV) == "1"
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=False, dynamic_ncols=True)
