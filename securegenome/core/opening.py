"""The one function through which secret-shared values are opened."""

from __future__ import annotations

from ._mpyc import mpc
from .ledger import Release, current_ledger


def _receivers(to) -> tuple[int, ...]:
    m = len(mpc.parties)
    if to is None:
        return tuple(range(m))
    receivers = (to,) if isinstance(to, int) else tuple(sorted(set(to)))
    for pid in receivers:
        if not 0 <= pid < m:
            raise ValueError(f"receiver {pid} is not a party (parties are 0..{m - 1})")
    return receivers


def _count(x) -> int:
    if isinstance(x, list):
        return sum(_count(a) for a in x)
    return int(getattr(x, "size", 1))


async def open(x, *, to=None, why: str, what: str, epsilon=None, delta=None, distance=None):
    """Open secret-shared ``x`` to parties ``to`` (an int, a list, or None for all) and record it.

    ``what`` is a short label a protocol documents (e.g. ``"shuffle.permutation"``); ``why`` says why the
    release is acceptable.  Receivers get the value as :meth:`mpyc.runtime.Runtime.output` gives it
    (ints, floats, numpy arrays); the other parties get ``None``.  ``epsilon``/``delta`` are noted for
    differentially private releases; ``distance`` for statistically masked ones (a bound on the statistical
    distance of all the opened values from values independent of the data; the ledger sums them per run).
    A receiver also notes the values in its ledger's ``transcript``
    (its own view, for auditors and view-equality tests).
    """
    if not why or not what:
        raise ValueError("every opening needs a label (what) and a reason (why)")
    receivers = _receivers(to)
    ledger = current_ledger()
    ledger.record(Release(what, why, receivers, _count(x), epsilon, delta, distance))
    y = await mpc.output(x, receivers=list(receivers))
    if mpc.pid not in receivers:
        return None
    ledger.receive(what, receivers, y)
    return y
