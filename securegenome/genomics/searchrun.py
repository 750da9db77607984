"""Running a search: one session, or -- when the plan cuts the reference into shards -- one session per shard.

:func:`run_search` is what the command line and :func:`.search.search` call.  Its first session loads the
inputs, makes the sizes public, agrees the memory budget and plans (:func:`.searchplan.plan_search`); if
the plan has one shard, that same session searches and its results are returned.  Otherwise the
reference is cut (:func:`.sharding.cut`, public sizes only) and every shard is searched as its own
session (:func:`run_shard`: the reference owner cuts its own records, the querier inputs all reads);
the querier's hits are moved to whole-reference coordinates, each window kept once, and merged in the
unsharded order, so the SAM/TSV output is byte-identical to an unsharded run's.

Workers.  ``workers=W`` runs W shards at once, each in its own set of party processes on its own ports;
worker w takes shards w, w + W, w + 2W, ... in order.  In a multi-host run every organisation runs the
same command with the same ``--workers W``: worker w of party i listens on party i's port + w (the first
session uses the ports as given), so every organisation must open W consecutive ports.  Because the
assignment of shards to workers is a function of the public plan, the organisations' workers meet in the
same sessions without talking about it.

Checkpoints (``checkpoint=DIR``, :mod:`.checkpoint`): after the survey the parties agree which shards
all of them finished in an earlier run (``resume=True``); those are restored from disk instead of run,
and every shard that finishes is saved as soon as it does.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, replace

from .. import core
from ..core import memory
from ..core.ledger import TRANSCRIPT_LIMIT, Ledger
from ..core.progress import QUIET_ENV
from ..core.session import PartyResult
from ..errors import InputError
from . import sharding
from .search import SearchOutcome, secure_search

SUMMED_STATS = ("batches", "window_tests", "index_seconds", "search_seconds")


@dataclass
class ShardResult:
    """One shard's session: its results per party run here and the querier's hits (whole-reference
    coordinates, owned windows only), or None on the other parties."""

    shard: sharding.Shard
    results: list[PartyResult]
    hits: list | None
    overflow: list[int] | None
    seconds: float


def local_parties(session: dict) -> list[int]:
    return [session["party_id"]] if session.get("hosts") else list(range(session.get("parties", 1)))


def shifted_hosts(hosts, worker: int):
    """Worker ``worker``'s addresses: every party's port + worker."""
    if not hosts or worker == 0:
        return hosts
    out = []
    for address in hosts:
        host, _, port = address.rpartition(":")
        out.append(f"{host}:{int(port) + worker}")
    return out


def run_search(kwargs: dict, private: dict[int, dict], *, memory_bytes: int | None = None,
               shards: int | None = None, workers: int = 1, checkpoint: str | None = None, resume: bool = False,
               **session) -> list[PartyResult]:
    """Run :func:`.search.secure_search` (sharded if its plan says so); the results of the parties run here,
    as :func:`securegenome.core.run` returns them.  ``memory_bytes``: this organisation's budget per party
    process (default: :func:`core.memory.default_budget` shared by its party processes x workers).
    ``checkpoint``: directory where finished shards are kept; ``resume``: skip those of an earlier run."""
    query_party = 0 if session.get("parties", 1) == 1 and not session.get("hosts") else kwargs["query_party"]
    if session.get("parties", 1) == 1 and not session.get("hosts"):
        workers = 1  # one party runs in this process: one session at a time
    if workers < 1:
        raise InputError("--workers must be at least 1")
    if shards is not None and shards < 1:
        raise InputError("--shards must be at least 1")
    mine = memory_bytes or memory.default_budget(len(local_parties(session)) * workers)
    if checkpoint is not None:
        from . import checkpoint as checkpoints
        checkpoints.check_start(checkpoint, local_parties(session), resume)
    started = time.perf_counter()
    common = {**kwargs, "memory_bytes": mine, "shards": shards, "workers": workers,
              "checkpoint": checkpoint is not None}
    first = core.run(secure_search, kwargs=common, private=private, **session)
    planned = first[0].value.stats
    if planned["plan"]["shards"] == 1:
        return first
    survey = {r.pid: r.value for r in first}
    cut = sharding.cut([n for _, n in survey[first[0].pid].records], survey[first[0].pid].read_lengths,
                       planned["plan"]["shards"])
    shard_kwargs = {**common, "engine": planned["plan"]["engine"], "memory_bytes": planned["budget"],
                    "shards": 1}
    book = None if checkpoint is None else _checkpoint_book(checkpoint, common, planned, survey[first[0].pid], cut,
                                                             private, session, query_party)
    todo = cut if book is None else [s for s in cut if s.index not in book.skip]
    done = _run_shards(todo, shard_kwargs, private, session, workers, query_party, book)
    if book is not None:
        done = sorted(done + [book.restored(s) for s in cut if s.index in book.skip], key=lambda d: d.shard.index)
    merged = _merged(first, done, planned, time.perf_counter() - started, query_party, workers)
    for r in merged:
        r.value.stats["resumed_shards"] = 0 if book is None else len(book.skip)
    return merged


def _checkpoint_book(root, common, planned, survey, cut, private, session, query_party):
    """The checkpoint of this run, once every party agreed which finished shards it skips."""
    from . import checkpoint as checkpoints
    from .search import PROTOCOL

    parameters = checkpoints.public_parameters(common, planned, survey.records, survey.read_lengths, cut, PROTOCOL)
    return checkpoints.open_book(root, local_parties(session), private, parameters, query_party, len(cut), session)


def run_shard(shard: sharding.Shard, kwargs: dict, private: dict[int, dict], session: dict, query_party: int,
              worker: int = 0) -> ShardResult:
    """Search one shard as its own session (on worker ``worker``'s ports); its hits on the querier."""
    started = time.perf_counter()
    options = {**session, "hosts": shifted_hosts(session.get("hosts"), worker), "echo_party": None}
    results = core.run(secure_search, kwargs={**kwargs, "pieces": shard.pieces}, private=private, **options)
    querier = next((r.value for r in results if r.pid == query_party), None)
    hits = None if querier is None else sharding.shard_hits(shard, querier.hits)
    overflow = None if querier is None else list(querier.overflow or ())
    return ShardResult(shard, results, hits, overflow, time.perf_counter() - started)


class _TranscriptRoom:
    """What the merged transcripts may still keep: each party's values up to ``TRANSCRIPT_LIMIT`` over all
    shards (as in one session), later shards' openings noted without values -- so that this process's
    memory does not grow with the number of shards."""

    def __init__(self):
        self.kept: dict[int, int] = {}
        self.lock = threading.Lock()

    def trim(self, results: list[PartyResult]) -> None:
        with self.lock:
            for r in results:
                kept = self.kept.get(r.pid, 0)
                for entry in r.ledger.transcript:
                    values = entry["values"]
                    if values is not None and kept + len(values) > TRANSCRIPT_LIMIT:
                        entry.update(values=None, count=len(values))
                    elif values is not None:
                        kept += len(values)
                self.kept[r.pid] = kept


def _run_shards(cut, kwargs, private, session, workers, query_party, book=None) -> list[ShardResult]:
    """All shards, ``workers`` at a time (worker w: shards w, w + W, ...), with a progress bar over shards;
    each saved in ``book`` (a :class:`.checkpoint.Book`) as soon as it finished."""
    room = _TranscriptRoom()
    bar = core.progress(total=len(cut), desc="shards", unit="shard")
    quiet = os.environ.get(QUIET_ENV)
    os.environ[QUIET_ENV] = "1"  # the shards' own bars would interleave with this one
    try:
        if workers == 1:
            done = []
            for shard in cut:
                done.append(run_shard(shard, kwargs, private, session, query_party))
                if book is not None:
                    book.save(done[-1])
                room.trim(done[-1].results)
                bar.update(1)
            return done
        return _in_workers(cut, kwargs, private, session, workers, query_party, bar, room, book)
    finally:
        bar.close()
        if quiet is None:
            os.environ.pop(QUIET_ENV, None)
        else:
            os.environ[QUIET_ENV] = quiet


def _in_workers(cut, kwargs, private, session, workers, query_party, bar, room, book) -> list[ShardResult]:
    finished: queue.Queue = queue.Queue()
    stop = threading.Event()

    def work(w):
        for shard in cut[w::workers]:
            if stop.is_set():
                return
            try:
                result = run_shard(shard, kwargs, private, session, query_party, worker=w)
                if book is not None:
                    book.save(result)
                room.trim(result.results)
                finished.put(result)
            except BaseException as exc:  # reported by the main thread, which stops the other workers
                stop.set()
                finished.put(exc)
                return

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(min(workers, len(cut)))]
    for t in threads:
        t.start()
    done = []
    while len(done) < len(cut):
        item = finished.get()
        if isinstance(item, BaseException):
            stop.set()
            raise item
        done.append(item)
        bar.update(1)
    return sorted(done, key=lambda d: d.shard.index)


def _merged(first, done: list[ShardResult], planned: dict, seconds: float, query_party: int,
            workers: int) -> list[PartyResult]:
    """One result per party run here, as an unsharded run's: merged hits, ledgers, bytes, statistics."""
    out = []
    for r in first:
        mine = [next(x for x in d.results if x.pid == r.pid) for d in done]
        stats = dict(mine[0].value.stats)
        for key in SUMMED_STATS:
            if key in stats:
                stats[key] = sum(x.value.stats.get(key, 0) for x in mine)
        stats.update(plan=planned["plan"], budget=planned["budget"], engine_requested=planned["engine_requested"],
                     workers=workers, shards=len(done),
                     peak_rss=max([r.value.stats.get("peak_rss", 0)] + [x.value.stats.get("peak_rss", 0) for x in mine]),
                     shard_seconds=[round(d.seconds, 3) for d in done],
                     shard_peak_rss=[x.value.stats.get("peak_rss", 0) for x in mine])
        hits = overflow = None
        if r.pid == query_party:
            hits = sharding.merge_hits(d.hits for d in done)
            overflow = sorted({i for d in done for i in d.overflow}) if any(d.overflow for d in done) else None
            if stats.get("engine") == "fm":
                overflow = overflow or []
        value = replace(r.value, hits=hits, overflow=overflow, stats=stats)
        ledger = Ledger([rel for x in [r, *mine] for rel in x.ledger.releases],
                        [entry for x in [r, *mine] for entry in x.ledger.transcript])
        out.append(PartyResult(r.pid, value, ledger, r.bytes_sent + sum(x.bytes_sent for x in mine), seconds))
    return out


__all__ = ["run_search", "run_shard", "ShardResult", "SearchOutcome"]
