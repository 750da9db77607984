"""Agreement on the public parameters of a run, and the one way public values travel: JSON.

Public values (sizes, k, options, versions, group-label sets, memory budgets, error codes) go to peers as
JSON through :func:`exchange_public` -- never pickled, so a peer's bytes can only ever decode to JSON data
(see :mod:`.wire`).  A value that is not JSON (a numpy array, a field element, an object) is refused on the
sender, before anything leaves.  docs/privacy.md lists every use.
"""

from __future__ import annotations

from asyncio import Future

from mpyc.asyncoro import mpc_coro

from ..errors import ParameterMismatch
from ._mpyc import mpc
from .wire import decode_public, encode_public


@mpc_coro
async def _exchange(data: bytes | None, senders: list[int], receivers: list[int]):
    """Raw bytes from every sender to every receiver (this party's own included); a Future of a list."""
    await mpc.returnType(Future)
    me = mpc.pid
    if me in senders:
        for peer in receivers:
            if peer != me:
                mpc._send_message(peer, data)
    if me not in receivers:
        return []
    received = [data if peer == me else mpc._receive_message(peer) for peer in senders]
    return [item if isinstance(item, bytes) else await item for item in received]


async def exchange_public(value, senders=None, receivers=None):
    """Send a public JSON value from ``senders`` (an int, a list, or None for all) to ``receivers`` (all by
    default).  Every party makes the same call; receivers get the list of the senders' values in sender order
    (one value if ``senders`` is an int), the others ``None``.  Values come back as JSON gives them (tuples
    as lists).  This is the only channel for public values between parties."""
    m = len(mpc.parties)
    single = isinstance(senders, int)
    senders = list(range(m)) if senders is None else [senders] if single else sorted(set(senders))
    receivers = list(range(m)) if receivers is None else sorted(set(receivers))
    data = encode_public(value) if mpc.pid in senders else None  # refuses non-JSON values here
    if m == 1:
        values = [decode_public(data)]
    else:
        values = [decode_public(item) for item in await _exchange(data, senders, receivers)]
    if mpc.pid not in receivers:
        return None
    return values[0] if single else values


async def agree(**params) -> dict:
    """Check that every party runs with the same public parameters; abort on all parties otherwise.

    The parameters are public by definition (sizes, k, options, versions), so each party sends its own
    dictionary (as JSON) to all and every party compares them; the error names the differing keys and values.
    """
    from .. import __version__

    mine = {"securegenome": __version__, **params}
    if len(mpc.parties) == 1:
        return mine
    everyone = await exchange_public(mine)
    differences = []
    for key in sorted(set().union(*everyone), key=str):
        values = [d.get(key, "<missing>") for d in everyone]
        if any(v != values[0] for v in values):
            differences.append(f"{key}: " + ", ".join(f"party {i}={v!r}" for i, v in enumerate(values)))
    if differences:
        raise ParameterMismatch("parties disagree on public parameters: " + "; ".join(differences))
    return mine


async def share_public(value, sender: int):
    """Send a public JSON value (sizes, names) from one party to all; every party returns it (as JSON gives
    it back: tuples become lists, on the sender too)."""
    if len(mpc.parties) == 1:
        return value
    return await exchange_public(value if mpc.pid == sender else None, senders=sender)
