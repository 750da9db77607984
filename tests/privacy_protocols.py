"""Protocols the privacy tests run in party processes: kept in a module with light imports, because every
party process imports the protocol's module (test modules pull in scipy, lifelines, sklearn ...)."""

import numpy as np

from securegenome import core
from securegenome.core import mpc


async def dp_open_split(values_by_party, repeats):
    """dp_open of the sum of the parties' inputs, ``repeats`` times; each party's own view is recorded."""
    secint = mpc.SecInt(32)
    parts = mpc.input(secint.array(np.asarray(values_by_party[mpc.pid], dtype=int)))
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    for _ in range(repeats):
        await core.dp_open(total, sensitivity=1, epsilon=0.5, what="test.noisy", why="view test")
