"""Run an async protocol with N parties: in-process, as local processes, or as one party of many hosts.

A *protocol* is a module-level ``async def`` that uses MPyC through :mod:`securegenome.core` and returns a
plain (picklable) Python value.  Every party calls it with the common keyword arguments plus its own
private ones, so a party only ever holds its own inputs::

    results = run(secure_sum, parties=3, private={0: {"value": 5}, 1: {"value": 7}, 2: {"value": 1}})
    results[0].value, results[0].ledger, results[0].bytes_sent

Modes
- ``parties=1`` (default): in this process, fast, for unit tests and single-party use.
- ``parties=m > 1``: m child processes on this machine talking over loopback TCP, on free ports chosen
  here (a port taken meanwhile is retried with fresh ones).
- ``hosts=[...]`` with ``party_id=i``: this machine runs party i of a multi-host run; the others run the
  same command on their hosts.

Children are plain ``python -m securegenome._party`` processes: a spec file carries the protocol and its
arguments, a result file brings back the value, the ledger, bytes sent and wall time, or the error.
If one party fails the others are stopped after a short grace period, so no run hangs on a dead peer.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import PartyFailure, SecureGenomeError
from ._mpyc import MPYC_ARGV_ENV, mpc
from .ledger import Ledger, reset_ledger

GRACE_SECONDS = 5.0  # after one party fails, how long the others get to report their own error
PORT_RETRIES = 3


@dataclass
class PartyResult:
    """What one party's run produced."""

    pid: int
    value: Any
    ledger: Ledger = field(default_factory=Ledger)
    bytes_sent: int = 0
    seconds: float = 0.0


def run(protocol: Callable, *, parties: int = 1, threshold: int | None = None, kwargs: dict | None = None,
        private: dict[int, dict] | None = None, hosts: list[str] | None = None, party_id: int | None = None,
        sync: bool | None = None, timeout: float | None = None, echo_party: int | None = 0,
        ssl: bool = False, mpyc_options: list[str] = ()) -> list[PartyResult]:
    """Run ``protocol`` and return the results of the parties run here, ordered by party id.

    ``kwargs`` go to every party, ``private[i]`` only to party i.  ``sync`` (1 party only) chooses MPyC's
    synchronous mode (default) or its asynchronous one.  ``timeout`` bounds the whole run in seconds.
    ``echo_party``: whose stderr (progress bars) is shown here in local mode; the others' is kept and
    quoted if they fail.
    """
    kwargs = dict(kwargs or {})
    private = {int(k): v for k, v in (private or {}).items()}
    if hosts is not None:
        if party_id is None or not 0 <= party_id < len(hosts):
            raise SecureGenomeError(f"--party-id must be one of 0..{len(hosts) - 1} with {len(hosts)} hosts")
        parties = len(hosts)
    if parties < 1:
        raise SecureGenomeError("the number of parties must be at least 1")
    if threshold is None:
        threshold = (parties - 1) // 2
    if not 0 <= threshold or 2 * threshold >= parties:
        raise SecureGenomeError(f"threshold {threshold} needs 0 <= t < m/2 with m = {parties} parties")
    for pid in private:
        if not 0 <= pid < parties:
            raise SecureGenomeError(f"input given for party {pid}, but parties are 0..{parties - 1}")

    if hosts is None and parties == 1:
        return [_run_in_process(protocol, {**kwargs, **private.get(0, {})}, sync)]
    if hosts is not None:
        addresses = list(hosts)
        args = {party_id: {**kwargs, **private.get(party_id, {})}}
        return _run_children(protocol, args, addresses, threshold, timeout, party_id, ssl, mpyc_options)
    for attempt in range(PORT_RETRIES):
        addresses = [f"127.0.0.1:{port}" for port in _free_ports(parties)]
        args = {pid: {**kwargs, **private.get(pid, {})} for pid in range(parties)}
        try:
            return _run_children(protocol, args, addresses, threshold, timeout, echo_party, ssl, mpyc_options)
        except _PortBusy:
            if attempt == PORT_RETRIES - 1:
                raise PartyFailure("could not find free local ports for the parties") from None
    raise AssertionError("unreachable")


async def _party_main(protocol, kwargs):
    """Start the runtime, run the protocol, shut down; returns (value, bytes sent)."""
    await mpc.start()
    value = await protocol(**kwargs)
    sent = sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != mpc.pid and p.protocol is not None)
    await mpc.shutdown()
    return value, sent


def _run_in_process(protocol, kwargs, sync) -> PartyResult:
    if len(mpc.parties) != 1:
        raise SecureGenomeError("in-process runs need the 1-party runtime")
    saved = mpc.options.no_async
    mpc.options.no_async = True if sync is None else bool(sync)
    ledger = reset_ledger()
    start = time.perf_counter()
    try:
        value, sent = mpc.run(_party_main(protocol, kwargs))
    finally:
        mpc.options.no_async = saved
    return PartyResult(0, value, ledger, sent, time.perf_counter() - start)


def execute_party(spec_path: str, result_path: str) -> int:
    """Body of a child party process (called by :mod:`securegenome._party`); returns its exit code."""
    with open(spec_path, "rb") as f:
        spec = pickle.load(f)
    ledger = reset_ledger()
    start = time.perf_counter()
    try:
        value, sent = mpc.run(_party_main(spec["protocol"], spec["kwargs"]))
        outcome = {"ok": True, "result": PartyResult(mpc.pid, value, ledger, sent, time.perf_counter() - start)}
        code = 0
    except BaseException as exc:  # reported to the parent, which decides what the user sees
        outcome = {"ok": False, "error": _describe(exc), "type": type(exc).__name__,
                   "user_error": isinstance(exc, SecureGenomeError)}
        code = 2
    tmp = result_path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(outcome, f)
    os.replace(tmp, result_path)
    return code


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, SecureGenomeError):
        return text
    import traceback
    return f"{type(exc).__name__}: {text}\n" + "".join(traceback.format_exception(exc))


class _PortBusy(Exception):
    pass


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _run_children(protocol, args_by_pid, addresses, threshold, timeout, echo_party, ssl, mpyc_options):
    workdir = tempfile.mkdtemp(prefix="securegenome-run-")
    procs, logs, results = {}, {}, {}
    peers = [a for address in addresses for a in ("-P", address)]
    try:
        for pid, kwargs in args_by_pid.items():
            spec = os.path.join(workdir, f"party{pid}.spec")
            with open(spec, "wb") as f:
                pickle.dump({"protocol": protocol, "kwargs": kwargs}, f)
            mpyc_argv = [*peers, "-I", str(pid), "-T", str(threshold), "--no-log", *mpyc_options]
            if ssl:
                mpyc_argv.append("--ssl")
            env = dict(os.environ, **{MPYC_ARGV_ENV: json.dumps(mpyc_argv),
                                      "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
            results[pid] = os.path.join(workdir, f"party{pid}.result")
            if pid == echo_party:
                stderr = None
            else:
                logs[pid] = open(os.path.join(workdir, f"party{pid}.log"), "wb")
                stderr = logs[pid]
            procs[pid] = subprocess.Popen(
                [sys.executable, "-m", "securegenome._party", spec, results[pid]],
                stdin=subprocess.DEVNULL, stdout=stderr if stderr is not None else None, stderr=stderr, env=env)
        _wait(procs, timeout)
        return _collect(procs, results, logs, workdir)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in logs.values():
            f.close()
        _remove_tree(workdir)


def _wait(procs, timeout):
    """Wait for all children; after a failure or timeout, stop the rest (bounded by GRACE_SECONDS)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    failed_at = None
    try:
        while any(p.poll() is None for p in procs.values()):
            now = time.monotonic()
            if failed_at is None and any(p.poll() not in (None, 0) for p in procs.values()):
                failed_at = now
            if failed_at is not None and now - failed_at > GRACE_SECONDS:
                break
            if deadline is not None and now > deadline:
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        for p in procs.values():
            p.kill()
        raise


def _collect(procs, results, logs, workdir):
    outcomes, errors, busy = {}, [], False
    for pid, p in sorted(procs.items()):
        if p.poll() is None:
            p.kill()
            p.wait()
            errors.append((pid, "stopped: it was still waiting for a party that failed or for the timeout"))
            continue
        try:
            with open(results[pid], "rb") as f:
                outcome = pickle.load(f)
        except FileNotFoundError:
            detail = _tail(os.path.join(workdir, f"party{pid}.log")) if pid in logs else ""
            errors.append((pid, f"exited with code {p.returncode} without a result {detail}".strip()))
            continue
        if outcome["ok"]:
            outcomes[pid] = outcome["result"]
        else:
            busy |= "Address already in use" in outcome["error"]
            errors.append((pid, outcome["error"], outcome.get("user_error", False)))
    if busy:
        raise _PortBusy()
    if errors:
        raise PartyFailure(_summarise(errors))
    return [outcomes[pid] for pid in sorted(outcomes)]


def _summarise(errors) -> str:
    """One line for the user: the first party's own error, preferring input errors over knock-on ones."""
    user = [e for e in errors if len(e) > 2 and e[2]]
    first = (user or [e for e in errors if len(e) > 2] or errors)[0]
    pid, message = first[0], first[1]
    others = sorted({e[0] for e in errors} - {pid})
    tail = f" (also failed: party {', '.join(map(str, others))})" if others else ""
    return f"party {pid}: {message}{tail}"


def _tail(path, limit=400) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace").strip()
    except OSError:
        return ""
    return f": {text[-limit:]}" if text else ""


def _remove_tree(path):
    for name in os.listdir(path):
        os.remove(os.path.join(path, name))
    os.rmdir(path)
