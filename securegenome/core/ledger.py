"""The leakage ledger: a record of every value that leaves secret-shared form.

Every opening in securegenome goes through :func:`securegenome.core.open`, which appends one
:class:`Release` here before the value is revealed.  A protocol documents the labels (``what``) it may
release; tests compare a run's ledger with that documentation, and the CLI writes it with ``--ledger``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

TRANSCRIPT_LIMIT = 4_000_000  #: values a party's transcript keeps (Python ints: ~150 MB at most)


@dataclass(frozen=True)
class Release:
    """One opening: ``count`` field elements labelled ``what`` revealed to ``receivers``."""

    what: str
    why: str
    receivers: tuple[int, ...]
    count: int
    epsilon: float | None = None
    delta: float | None = None
    distance: float | None = None  # statistical masking: bound on the distance from data-independent values


class Ledger:
    """The releases of one run, in the order they happened (identical order on every party)."""

    def __init__(self, releases=(), transcript=(), transcript_limit: int = TRANSCRIPT_LIMIT):
        self.releases: list[Release] = list(releases)
        #: this party's own view: one {"what", "to", "values"} per opening it received, in order (the
        #: auditor's transcript: what it actually saw, for view-equality tests and ``--transcript``)
        self.transcript: list[dict] = list(transcript)
        #: values kept in the transcript at most; later openings are noted with ``"values": None`` and
        #: their ``"count"`` (a 10^6-base BWT opens ~2*10^8 values: kept as Python ints, ~8 GB per party)
        self.transcript_limit = transcript_limit
        self._kept = sum(0 if entry["values"] is None else len(entry["values"]) for entry in self.transcript)

    def record(self, release: Release) -> None:
        self.releases.append(release)

    def receive(self, what: str, receivers, values) -> None:
        """Note the values this party received from an opening (flattened; numeric arrays kept as compact
        numpy arrays, which :meth:`views` turns into lists), or only their count once the transcript holds
        ``transcript_limit`` values."""
        count = _size(values)
        if self._kept + count > self.transcript_limit:
            self.transcript.append({"what": what, "to": list(receivers), "values": None, "count": count})
            return
        kept = compact(values)
        self._kept += len(kept)
        self.transcript.append({"what": what, "to": list(receivers), "values": kept})

    def views(self, what: str | None = None) -> list:
        """The values this party received, opening by opening (only those labelled ``what`` if given)."""
        return [as_list(entry["values"]) for entry in self.transcript if what is None or entry["what"] == what]

    def write_transcript(self, path) -> None:
        """This party's view as a JSON list (see :func:`write_transcripts`), written atomically."""
        from ..files import write_atomically

        entries = [{**entry, "values": as_list(entry["values"])} for entry in self.transcript]
        write_atomically(path, json.dumps(entries) + "\n")

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

    def statistical_distance(self) -> float:
        """Union bound on the statistical distance of all masked openings of the run from values independent
        of the data (0.0 if none; MPyC-internal masked openings are not counted: docs/privacy.md)."""
        return sum(r.distance or 0.0 for r in self.releases)

    def received_by(self, pid: int) -> Ledger:
        """The releases party ``pid`` learned something from."""
        return Ledger(r for r in self.releases if pid in r.receivers)

    def to_dict(self) -> dict:
        return {"releases": [asdict(r) for r in self.releases], "totals": dict(self.counts()),
                "statistical_distance": self.statistical_distance()}

    def write(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write("\n")


def _size(values) -> int:
    """Number of scalars in an opened value (without flattening it)."""
    if values is None:
        return 0
    if isinstance(values, (list, tuple)):
        return sum(_size(a) for a in values)
    values = getattr(values, "value", values)
    return int(values.size) if isinstance(values, np.ndarray) else 1


def transcript_path(path, pid: int) -> str:
    """Where party ``pid``'s view goes next to ``path`` in a local run: ``.partyI`` before the extension
    (``view.json`` -> ``view.party2.json``; ``view`` -> ``view.party2``)."""
    root, ext = os.path.splitext(os.fspath(path))
    return f"{root}.party{pid}{ext}"


def write_transcripts(path, results, result_party: int | None = None) -> list[str]:
    """Write the auditor's transcript of the parties run here: one JSON list per party, one object
    ``{"what", "to", "values"}`` per opening it received, in order.  The result party's view (default: the
    first party run here) goes to ``path``, every other local party's to :func:`transcript_path`; a
    multi-host party writes its own view to ``path``.  Returns the paths written."""
    pids = [r.pid for r in results]
    main = result_party if result_party in pids else pids[0]
    written = []
    for r in results:
        target = os.fspath(path) if r.pid == main else transcript_path(path, r.pid)
        r.ledger.write_transcript(target)
        written.append(target)
    return written


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
        if values.dtype == object:  # Python ints (C speed when they fit int64), or field elements
            try:
                as_int = values.astype(np.int64)
                if not np.array_equal(as_int, values):  # floats among them
                    raise TypeError
                values = as_int
            except (TypeError, OverflowError):
                return [w for v in values.reshape(-1).tolist()
                        for w in ((v,) if isinstance(v, (int, float)) else flatten(v))]
        return values.reshape(-1).tolist()
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
