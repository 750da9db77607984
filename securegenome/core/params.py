"""Agreement on the public parameters of a run."""

from __future__ import annotations

from ..errors import ParameterMismatch
from ._mpyc import mpc


async def agree(**params) -> dict:
    """Check that every party runs with the same public parameters; abort on all parties otherwise.

    The parameters are public by definition (sizes, k, options, versions), so each party sends its own
    dictionary to all and every party compares them; the error names the differing keys and values.
    """
    from .. import __version__

    mine = {"securegenome": __version__, **params}
    if len(mpc.parties) == 1:
        return mine
    everyone = await mpc.transfer(mine)
    differences = []
    for key in sorted(set().union(*everyone), key=str):
        values = [d.get(key, "<missing>") for d in everyone]
        if any(v != values[0] for v in values):
            differences.append(f"{key}: " + ", ".join(f"party {i}={v!r}" for i, v in enumerate(values)))
    if differences:
        raise ParameterMismatch("parties disagree on public parameters: " + "; ".join(differences))
    return mine


async def share_public(value, sender: int):
    """Send a public value (sizes, names) from one party to all; every party returns it."""
    if len(mpc.parties) == 1:
        return value
    return await mpc.transfer(value if mpc.pid == sender else None, senders=sender)
