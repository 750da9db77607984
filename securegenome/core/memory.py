"""Memory plans: a protocol computes its peak memory per party from the public sizes before it shares anything.

Every party must run the same plan (chunk sizes are public and shape the messages), so the budget a plan
is fitted to is agreed first: each party proposes its own (``--memory``, or :func:`default_budget` of its
host) and all take the smallest (:func:`agree_budget`).  A protocol then builds its plan(s), picks one that
fits, or raises :class:`MemoryPlanError` on every party -- one line naming what the smallest plan needs --
before any private value is shared.  ``--json`` reports the plan's predicted peak next to each party's
measured peak RSS (:func:`peak_rss`).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field

from ..errors import InputError

GIB = 1 << 30
SAFE_FRACTION = 0.7  #: share of the host's available memory the parties running there may plan to use
BASELINE_BYTES = 300 << 20  #: an idle party process (interpreter, numpy, numba, MPyC), measured ~250 MB


class MemoryPlanError(InputError):
    """No plan fits the memory budget: raised on every party before anything is shared."""

    code = "memory"  # the error code peers learn (securegenome.errors.ERROR_CODES)


@dataclass(frozen=True)
class MemoryPlan:
    """A protocol's plan: its predicted peak per party (bytes, baseline included), predicted seconds and the
    public choices (chunk sizes...) that achieve them."""

    name: str
    peak_bytes: int
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    def fits(self, budget: int) -> bool:
        return self.peak_bytes <= budget

    def to_dict(self) -> dict:
        return {"plan": self.name, "predicted_peak_gib": round(self.peak_bytes / GIB, 3),
                "predicted_seconds": round(self.seconds, 1), **self.details}


def available_bytes() -> int:
    """Memory this host can still give (Linux ``MemAvailable``; elsewhere total physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_budget(parties_here: int = 1) -> int:
    """A safe per-party budget: :data:`SAFE_FRACTION` of the available memory shared by the party
    processes that run on this host."""
    return int(SAFE_FRACTION * available_bytes() / max(1, parties_here))


def parse_gib(text: str | float) -> int:
    """``--memory GIB`` (a positive number of GiB) in bytes; a one-line error otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"--memory must be a number of GiB per party (got {text!r})") from None
    if not value > 0:
        raise InputError(f"--memory must be positive (got {text!r})")
    return int(value * GIB)


def peak_rss() -> int:
    """This process's peak resident set size so far, in bytes: Linux's ``VmHWM`` (the high-water mark of
    this process image; ``ru_maxrss`` would also count a parent's peak, which survives fork + exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    """This process's resident set size now, in bytes."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss()


async def agree_budget(mine: int | None) -> int:
    """The budget every party plans with: the smallest of the parties' own (public, like the sizes)."""
    from ._mpyc import mpc
    from .params import exchange_public

    mine = int(mine if mine is not None else default_budget())
    if len(mpc.parties) == 1:
        return mine
    return min(await exchange_public(mine))


def choose(plans: list[MemoryPlan], budget: int, what: str,
           remedy: str = "raise --memory or use more --shards") -> MemoryPlan:
    """The fastest plan that fits ``budget``; otherwise a one-line :class:`MemoryPlanError` ending in
    ``remedy`` (what the user can change)."""
    fitting = [p for p in plans if p.fits(budget)]
    if fitting:
        return min(fitting, key=lambda p: p.seconds)
    smallest = min(plans, key=lambda p: p.peak_bytes)
    raise MemoryPlanError(f"{what} needs at least {smallest.peak_bytes / GIB:.2f} GiB per party "
                          f"({smallest.name}), more than the budget of {budget / GIB:.2f} GiB: {remedy}")
