"""Checkpoints of a sharded search: finished shards kept on disk, so that ``--resume`` skips them.

A sharded search (:mod:`.searchrun`) runs one session per shard.  With ``checkpoint=DIR`` every party run
here keeps, under ``DIR/party-<i>/``:

* ``manifest.json``: the public parameters of the run (software and protocol versions, k, strands, engine
  options, the shard plan, digests of the record names/lengths and of the read lengths) and a SHA-256
  digest of this party's own inputs (the reference file or records it holds, or the reads; none for a helper);
* ``shard-<index>.json``, written atomically when a shard's session has finished: on the querier, its own
  result for that shard (hits in whole-reference coordinates, the windows the shard owns, and the reads
  over the fm cap); on every other party only a marker that the shard finished.  Each file also holds
  that party's own public statistics of the shard (plan, timings, peak memory) and the run's digest.

Nothing in a checkpoint is a share or another party's data: the querier keeps what it learns anyway,
the others keep what they knew anyway (that shard i finished).

Resuming (:func:`agree_finished`, a short session after the survey): every party checks its own manifest
against the parameters just planned and its inputs, then all announce -- publicly -- whether they can
resume and which shard indices they finished.  If any party's parameters or inputs changed, every party
stops with the same one line naming the party and *what kind* of thing differs (parameter names, or
"its inputs"), before any shard is shared.  Otherwise all skip the intersection of the finished sets; a
shard one party finished and another did not is run again by all.  Reveals: the finished shard indices
(a function of when the previous run stopped) and whether a party's inputs changed.  Costs: one session
with one message per party, and reading the querier's stored hits.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict

import numpy as np

from .. import core
from ..core import mpc
from ..core.ledger import Ledger
from ..core.session import PartyResult
from ..errors import InputError
from ..files import write_atomically
from .oracle import Hit

FORMAT = "securegenome.checkpoint/1"
MANIFEST = "manifest.json"
# options that cannot change the hits or the output: a resumed run may change them
FREE_OPTIONS = ("batch_size", "memory_bytes", "shards", "workers", "checkpoint")


def party_dir(root: str, pid: int) -> str:
    return os.path.join(root, f"party-{pid}")


def shard_path(root: str, pid: int, index: int) -> str:
    return os.path.join(party_dir(root, pid), f"shard-{index:06d}.json")


def check_start(root: str, pids, resume: bool) -> None:
    """Before any session: each party's directory can be made, and without ``resume`` it holds no
    checkpoint of an earlier run."""
    if not root:
        raise InputError("--checkpoint needs a directory")
    for pid in pids:
        where = party_dir(root, pid)
        try:
            os.makedirs(where, exist_ok=True)
            earlier = os.listdir(where)
        except OSError as exc:
            raise InputError(f"--checkpoint {root}: cannot use {where}: {exc.strerror}") from None
        if earlier and not resume:
            raise InputError(f"--checkpoint {root}: party {pid} already has a checkpoint there: add --resume to "
                             f"continue that run, or remove {where} to start over")


def _write(path: str, text: str) -> None:
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise InputError(f"--checkpoint: cannot write {path}: {exc.strerror}") from None


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":"), default=str).encode()).hexdigest()


def _hash_file(path: str, h) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


def inputs_digest(private: dict) -> str:
    """SHA-256 of this party's own inputs: its files' bytes, or its in-memory records (names and codes)."""
    h = hashlib.sha256()
    for key in sorted(private):
        value = private[key]
        h.update(key.encode() + b"\0")
        if value is None:
            continue
        if key.endswith("_path"):
            _hash_file(value, h)
            continue
        for s in value:
            if hasattr(s, "codes"):
                h.update(str(s.name).encode() + b"\0" + np.asarray(s.codes, dtype=np.uint8).tobytes())
            elif isinstance(s, str):
                h.update(s.encode())
            else:
                h.update(np.asarray(s, dtype=np.uint8).tobytes())
            h.update(b"\1")
    return h.hexdigest()


def public_parameters(kwargs: dict, planned: dict, records, read_lengths, cut, protocol: str) -> dict:
    """What a resumed run must share with the checkpointed one: everything that can change the hits."""
    options = {key: value for key, value in sorted(kwargs.items()) if key not in FREE_OPTIONS}
    from .. import __version__

    return {"securegenome": __version__, "protocol": protocol, **options, "engine_planned": planned["plan"]["engine"],
            "records": _digest([list(r) for r in records]), "read_lengths": _digest(list(read_lengths)),
            "shard_plan": _digest([[asdict(p) for p in s.pieces] for s in cut])}


class Book:
    """This process's checkpoints: one party directory per party run here."""

    def __init__(self, root: str, pids, private: dict, parameters: dict, query_party: int, shards: int):
        self.root, self.pids, self.query_party, self.shards = root, list(pids), query_party, shards
        self.skip: set[int] = set()
        self.parameters = parameters
        self.inputs = {pid: inputs_digest(private.get(pid, {})) for pid in self.pids}
        self.run = {pid: _digest([parameters, self.inputs[pid]]) for pid in self.pids}

    # ------------------------------------------------------------------ before the shards
    def status(self, pid: int) -> tuple[str | None, list[int]]:
        """(why this party cannot resume, or None; the shards it finished) from its own checkpoint."""
        try:
            with open(os.path.join(party_dir(self.root, pid), MANIFEST), encoding="utf-8") as f:
                manifest = json.load(f)
        except FileNotFoundError:
            return None, []
        except (OSError, ValueError):
            return "its checkpoint manifest is unreadable", []
        if manifest.get("format") != FORMAT:
            return "its checkpoint has another format", []
        before = manifest.get("parameters", {})
        changed = sorted(k for k in set(before) | set(self.parameters) if before.get(k) != self.parameters.get(k))
        if changed:
            return f"the parameters differ from its checkpoint's ({', '.join(changed)})", []
        if manifest.get("inputs") != self.inputs[pid]:
            return "its inputs differ from its checkpoint's", []
        return None, sorted(i for i in range(self.shards) if self._load(pid, i) is not None)

    def start(self, finished) -> None:
        """Write each party's manifest (the agreed run starts or continues)."""
        self.skip = set(finished)
        for pid in self.pids:
            _write(os.path.join(party_dir(self.root, pid), MANIFEST),
                             json.dumps({"format": FORMAT, "party": pid, "parameters": self.parameters,
                                         "inputs": self.inputs[pid]}, indent=1) + "\n")

    # ------------------------------------------------------------------ shards
    def save(self, result) -> None:
        """One finished shard: the querier's own result, a marker on every other party."""
        for r in result.results:
            entry = {"run": self.run[r.pid], "shard": result.shard.index, "stats": r.value.stats}
            if r.pid == self.query_party:
                entry.update(hits=[list(h) for h in result.hits], overflow=result.overflow)
            _write(shard_path(self.root, r.pid, result.shard.index),
                             json.dumps(entry, separators=(",", ":"), default=_plain) + "\n")

    def _load(self, pid: int, index: int) -> dict | None:
        try:
            with open(shard_path(self.root, pid, index), encoding="utf-8") as f:
                entry = json.load(f)
        except (OSError, ValueError):
            return None
        if entry.get("run") != self.run[pid] or entry.get("shard") != index:
            return None
        if pid == self.query_party and "hits" not in entry:
            return None
        return entry

    def restored(self, shard):
        """A skipped shard's result as :func:`.searchrun.run_shard` returned it (no ledger: its openings
        happened in the earlier run)."""
        from .search import SearchOutcome
        from .searchrun import ShardResult

        results, hits, overflow = [], None, None
        for pid in self.pids:
            entry = self._load(pid, shard.index)
            if entry is None:  # removed since the agreement: cannot happen in a well-behaved run
                raise InputError(f"--checkpoint: party {pid}'s file for shard {shard.index} disappeared")
            results.append(PartyResult(pid, SearchOutcome(None, [], [], None, entry["stats"]), Ledger()))
            if pid == self.query_party:
                hits = [Hit(*h) for h in entry["hits"]]
                overflow = entry["overflow"]
        return ShardResult(shard, results, hits, overflow, 0.0)


def _plain(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return str(value)


async def agree_finished(*, parameters: dict, status: str | None = None, finished=()) -> list[int]:
    """All parties: check the plan is the same, announce (can resume?, finished shards), agree.

    Every party stops with the same one line if any cannot resume; otherwise returns the shard indices
    every party finished."""
    await core.agree(checkpoint=FORMAT, **parameters)
    mine = (status, sorted(int(i) for i in finished))
    everyone = [mine] if len(mpc.parties) == 1 else await mpc.transfer(mine)
    problems = [f"party {pid}: {why}" for pid, (why, _) in enumerate(everyone) if why]
    if problems:
        raise InputError("cannot resume: " + "; ".join(problems) + " -- rerun with the same inputs and options, "
                         "or start over with an empty --checkpoint directory")
    common = set(everyone[0][1])
    for _, theirs in everyone[1:]:
        common &= set(theirs)
    return sorted(common)


def open_book(root: str, pids, private: dict, parameters: dict, query_party: int, shards: int,
              session: dict) -> Book:
    """The book of this run, after every party agreed which finished shards to skip (``book.skip``)."""
    book = Book(root, pids, private, parameters, query_party, shards)
    states = {pid: book.status(pid) for pid in book.pids}
    options = {**session, "echo_party": None}
    results = core.run(agree_finished, kwargs={"parameters": parameters},
                       private={pid: {"status": why, "finished": done} for pid, (why, done) in states.items()},
                       **options)
    book.start(results[0].value)
    return book
