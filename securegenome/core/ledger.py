"""The leakage ledger: a record of every value that leaves secret-shared form.

Every opening in securegenome goes through :func:`securegenome.core.open`, which appends one
:class:`Release` here before the value is revealed.  A protocol documents the labels (``what``) it may
release; tests compare a run's ledger with that documentation, and the CLI writes it with ``--ledger``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Release:
    """One opening: ``count`` field elements labelled ``what`` revealed to ``receivers``."""

    what: str
    why: str
    receivers: tuple[int, ...]
    count: int
    epsilon: float | None = None
    delta: float | None = None


class Ledger:
    """The releases of one run, in the order they happened (identical order on every party)."""

    def __init__(self, releases=(), transcript=()):
        self.releases: list[Release] = list(releases)
        #: this party's own view: one {"what", "to", "values"} per opening it received, in order (the
        #: auditor's transcript: what it actually saw, for view-equality tests and ``--transcript``)
        self.transcript: list[dict] = list(transcript)

    def record(self, release: Release) -> None:
        self.releases.append(release)

    def receive(self, what: str, receivers, values) -> None:
        """Note the values this party received from an opening (flattened; numeric arrays are kept as
        compact numpy arrays -- a merge opens millions of values -- and become lists in :meth:`views`)."""
        self.transcript.append({"what": what, "to": list(receivers), "values": compact(values)})

    def views(self, what: str | None = None) -> list:
        """The values this party received, opening by opening (only those labelled ``what`` if given)."""
        return [as_list(entry["values"]) for entry in self.transcript if what is None or entry["what"] == what]

    def write_transcript(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump([{**entry, "values": as_list(entry["values"])} for entry in self.transcript], f)
            f.write("\n")

    def __iter__(self):
        return iter(self.releases)

    def __len__(self):
        return len(self.releases)

    def labels(self) -> set[str]:
        """The distinct ``what`` labels released."""
        return {r.what for r in self.releases}

    def counts(self) -> Counter:
        """Number of field elements released per label."""
        c = Counter()
        for r in self.releases:
            c[r.what] += r.count
        return c

    def received_by(self, pid: int) -> Ledger:
        """The releases party ``pid`` learned something from."""
        return Ledger(r for r in self.releases if pid in r.receivers)

    def to_dict(self) -> dict:
        return {"releases": [asdict(r) for r in self.releases], "totals": dict(self.counts())}

    def write(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write("\n")


def compact(values):
    """An opened value flattened: a 1-D numpy array when it is numeric (uint32 when its values fit: a
    shuffled permutation or small-field elements), else a list."""
    array = getattr(values, "value", values)
    if isinstance(array, np.ndarray) and array.dtype.kind in "iu":
        flat = array.reshape(-1)
        small = flat.size and flat.min() >= 0 and flat.max() < 2**32
        return flat.astype(np.uint32) if small else flat.copy()
    if isinstance(array, np.ndarray) and array.dtype.kind == "f":
        return array.reshape(-1).copy()
    if isinstance(array, np.ndarray) and array.dtype == object and array.size:
        try:
            out = array.reshape(-1).astype(np.int64)  # field elements as Python ints
        except (TypeError, OverflowError, ValueError):
            return flatten(values)
        if all(type(v) is int for v in array.flat[:1]) and out.tolist() == array.reshape(-1).tolist():
            return compact(out)
    return flatten(values)


def as_list(values) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else values


def flatten(values) -> list:
    """An opened value as a flat list of Python ints/floats (field elements as their integer values)."""
    if values is None:
        return []
    if isinstance(values, (list, tuple)):
        return [v for a in values for v in flatten(a)]
    values = getattr(values, "value", values)  # MPyC field elements/arrays hold their value here
    if isinstance(values, np.ndarray):
        return [v for a in values.reshape(-1).tolist() for v in flatten(a)]
    if isinstance(values, np.generic):
        return [values.item()]
    if isinstance(values, (int, float)):
        return [values]
    return [int(values) if hasattr(values, "__int__") else float(values)]


_current = Ledger()


def current_ledger() -> Ledger:
    """The ledger of the run in progress in this process."""
    return _current


def reset_ledger() -> Ledger:
    """Start a fresh ledger (done by the session layer at the start of every run)."""
    global _current
    _current = Ledger()
    return _current
