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
  same command on their hosts.  TLS is required there (``tls_dir``, made by ``securegenome keys``) unless
  ``no_tls`` says the network is trusted.  A busy own port is an error (the others expect that port).

Children are plain ``python -m securegenome._party`` processes: a spec file carries the protocol and its
arguments, a result file brings back the value, the ledger, bytes sent and wall time, or the error.  Both
live in a 0700 working folder, with the run's secret token by which local parties authenticate each other
(:mod:`.network`).  Each child connects to its peers itself, so a party that dies, fails, freezes or is cut
off stops the others within ``peer_timeout`` seconds (plus a few) with a message naming it -- across hosts
too.  When a party fails, its peers learn only an error code, never its message (which may quote its data):
in local mode this parent still shows the failing party's own message, which never left this machine.
Children die with their parent (Linux) and ignore Ctrl-C, which the parent turns into stopping them all.

Threshold 0 with several parties gives no secrecy at all (every share is the secret itself): it is refused
unless ``insecure_threshold_0`` (``--insecure-threshold-0``) asks for it, which prints a warning and
records an ``insecure_threshold_0`` entry in the ledger.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import InputError, PartyFailure, RelayedInputError, SecureGenomeError, error_code
from . import fieldops
from ._mpyc import MPYC_ARGV_ENV, check_mpyc, mpc
from .ledger import Ledger, Release, reset_ledger
from .params import agree, exchange_public

GRACE_SECONDS = 5.0  # after one party fails, how long the others get to report their own error
PORT_RETRIES = 3
PEER_TIMEOUT = 30.0  # seconds until a silent (cut off) peer counts as lost
CONNECT_TIMEOUT_LOCAL = 60.0  # seconds to wait for all parties at start, all on this machine
CONNECT_TIMEOUT_HOSTS = 600.0  # ... on several hosts, where people start their parties by hand
PARENT_PID_ENV = "SECUREGENOME_PARENT_PID"
TOKEN_BYTES = 32  # the local run's secret (authenticates the local parties to each other)
INSECURE_LABEL = "insecure_threshold_0"
INSECURE_WHY = ("--insecure-threshold-0: threshold 0 with several parties, every share is the secret itself: "
                "every party can see every input and intermediate value")


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
        ssl: bool = False, mpyc_options: list[str] = (), tls_dir: str | None = None, no_tls: bool = False,
        peer_timeout: float | None = None, connect_timeout: float | None = None,
        insecure_threshold_0: bool = False) -> list[PartyResult]:
    """Run ``protocol`` and return the results of the parties run here, ordered by party id.

    ``kwargs`` go to every party, ``private[i]`` only to party i.  ``sync`` (1 party only) chooses MPyC's
    synchronous mode (default) or its asynchronous one.  ``timeout`` bounds the whole run in seconds.
    ``echo_party``: whose stderr (progress bars) is shown here in local mode; the others' is kept and
    quoted if they fail.  ``tls_dir``: keys and certificates from ``securegenome keys`` (required with
    ``hosts`` unless ``no_tls``; optional locally; ``ssl=True`` means MPyC's ``.config`` folder).
    ``peer_timeout``: a peer silent this long (cut off, host down) is lost (default 30 s);
    ``connect_timeout``: how long to wait for all parties at start (default 60 s local, 600 s hosts).
    ``insecure_threshold_0``: allow threshold 0 with several parties (no secrecy; warned and in the ledger).
    """
    check_mpyc()
    kwargs = dict(kwargs or {})
    private = {int(k): v for k, v in (private or {}).items()}
    if hosts is not None:
        hosts = check_hosts(hosts)
        if party_id is None or not 0 <= party_id < len(hosts):
            raise SecureGenomeError(f"--party-id must be one of 0..{len(hosts) - 1} with {len(hosts)} hosts")
        parties = len(hosts)
    threshold = _check_parties(parties, threshold, private, insecure_threshold_0)
    if hosts is None and parties == 1:
        return [_run_in_process(protocol, {**kwargs, **private.get(0, {})}, sync)]
    if getattr(protocol, "__module__", None) == "__main__":
        raise SecureGenomeError(f"protocol {protocol.__name__} is defined in __main__: party processes import it "
                                f"by module name, so define it in an importable module")
    if ssl and tls_dir is None:
        tls_dir = os.path.join(os.getcwd(), ".config")  # MPyC's own place for its --ssl files
    network = _network_options(hosts, [party_id] if hosts else range(parties), tls_dir, no_tls, peer_timeout,
                               connect_timeout)
    insecure = threshold == 0 and parties > 1
    if insecure:
        print(f"securegenome: warning: {INSECURE_WHY}", file=sys.stderr)
    if hosts is not None:
        args = {party_id: {**kwargs, **private.get(party_id, {})}}
        try:
            return _run_children(protocol, args, hosts, threshold, timeout, party_id, network, mpyc_options,
                                 insecure)
        except _PortBusy as busy:
            raise PartyFailure(busy.message) from None
    for attempt in range(PORT_RETRIES):
        addresses = [f"127.0.0.1:{port}" for port in _free_ports(parties)]
        args = {pid: {**kwargs, **private.get(pid, {})} for pid in range(parties)}
        local = dict(network, token=os.urandom(TOKEN_BYTES))  # fresh per attempt: never reused
        try:
            return _run_children(protocol, args, addresses, threshold, timeout, echo_party, local, mpyc_options,
                                 insecure)
        except _PortBusy:
            if attempt == PORT_RETRIES - 1:
                raise PartyFailure("could not find free local ports for the parties") from None
    raise AssertionError("unreachable")


def _check_parties(parties, threshold, private, insecure_threshold_0=False) -> int:
    """The threshold to use, after checking the number of parties, the threshold and who gets inputs."""
    if parties < 1:
        raise SecureGenomeError("the number of parties must be at least 1")
    if threshold is None:
        threshold = (parties - 1) // 2
    if not 0 <= threshold or 2 * threshold >= parties:
        raise SecureGenomeError(f"threshold {threshold} needs 0 <= t < m/2 with m = {parties} parties")
    if threshold == 0 and parties > 1 and not insecure_threshold_0:
        raise SecureGenomeError(f"--threshold 0 with {parties} parties gives no secrecy (every share is the secret "
                                f"itself); use t >= 1, or --insecure-threshold-0 for a test run without privacy")
    for pid in private:
        if not 0 <= pid < parties:
            raise SecureGenomeError(f"input given for party {pid}, but parties are 0..{parties - 1}")
    return threshold


def _network_options(hosts, pids, tls_dir, no_tls, peer_timeout, connect_timeout) -> dict:
    """How the party processes connect (see :class:`.network.Network`); TLS files checked before any starts."""
    if peer_timeout is not None and not peer_timeout > 0:
        raise SecureGenomeError("--peer-timeout must be a positive number of seconds")
    if tls_dir is not None:
        from .tls import party_files

        tls_dir = os.path.abspath(os.path.expanduser(tls_dir))
        if not os.path.isdir(tls_dir):
            raise InputError(f"--tls-dir {tls_dir}: no such directory (create it with `securegenome keys`)")
        for pid in pids:
            party_files(tls_dir, pid)
    elif hosts is not None and not no_tls:
        raise SecureGenomeError("multi-host runs use TLS: give --tls-dir DIR (made by `securegenome keys`, "
                                "see docs/deployment.md) or, on a trusted network only, --no-tls")
    elif hosts is not None:
        print("securegenome: warning: --no-tls: the traffic between parties is neither encrypted nor "
              "authenticated", file=sys.stderr)
    return {"tls_dir": tls_dir, "peer_timeout": peer_timeout or PEER_TIMEOUT, "listen_all": hosts is not None,
            "connect_timeout": connect_timeout or (CONNECT_TIMEOUT_HOSTS if hosts else CONNECT_TIMEOUT_LOCAL)}


def check_hosts(hosts) -> list[str]:
    """``host:port`` of every party (a host name or IPv4 address), checked; a string is split at commas."""
    if isinstance(hosts, str):
        hosts = [h for h in hosts.split(",") if h.strip()]
    out = []
    for i, address in enumerate(hosts):
        address = str(address).strip()
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InputError(f"--hosts: party {i}'s address {address!r} is not HOST:PORT (port 1..65535)")
        out.append(address)
    if len(out) < 2:
        raise InputError("--hosts needs the address of every party, at least 2")
    return out


def read_parties_file(path) -> list[str]:
    """The parties' addresses from a file: one ``host:port`` per line in party order, ``#`` comments."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--parties-file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    hosts = [line.split("#", 1)[0].strip() for line in lines]
    try:
        return check_hosts([h for h in hosts if h])
    except InputError as exc:
        raise InputError(f"--parties-file {path}: {str(exc).removeprefix('--hosts: ')}") from None


async def _party_main(protocol, kwargs, network=None):
    """Start the runtime, run the protocol, shut down; returns (value, bytes sent)."""
    if network is None:  # the only party, in this process: nothing to connect
        await mpc.start()
        value = await protocol(**kwargs)
        await mpc.shutdown()
        return value, 0
    await network.connect()
    # parties started by hand may differ in what they run: check that before the protocol's own agreement
    await network.guard(agree(protocol=f"{protocol.__module__}.{protocol.__qualname__}", threshold=mpc.threshold))
    value = await network.guard(protocol(**kwargs))
    sent = sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != mpc.pid and p.protocol is not None)
    await network.disconnect()
    return value, sent


async def raise_input_errors(error: InputError | None) -> None:
    """Stop every party if any party's own input is invalid; call it on every party, with its error or None.

    The party whose input it is raises its own ``error`` (the full message stays with it); the others raise
    :class:`~securegenome.errors.RelayedInputError` naming only that party: one bit per party crosses.
    """
    failed = await exchange_public(error is not None)  # one public JSON bool per party (core.params)
    if error is not None:
        raise error
    for pid, bad in enumerate(failed):
        if bad:
            raise RelayedInputError(pid)


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
    from .network import Network, PeerLost

    ledger = reset_ledger()
    start = time.perf_counter()
    network = None
    try:
        check_mpyc()  # this party's runtime, with the run's parties and threshold
        fieldops.warm_up()  # numba kernels from the cache now, not in the protocol's first rounds
        with open(spec_path, "rb") as f:
            spec = pickle.load(f)  # imports the protocol's module: it must be importable, not __main__
        if spec.get("insecure"):
            ledger.record(Release(INSECURE_LABEL, INSECURE_WHY, tuple(range(len(mpc.parties))), 0))
        network = Network(mpc, **spec["network"]) if len(mpc.parties) > 1 else None
        if network is not None:
            network.on_hard_stop = lambda exc: _hard_stop(exc, result_path)
        value, sent = mpc.run(_party_main(spec["protocol"], spec["kwargs"], network))
        outcome = {"ok": True, "result": PartyResult(mpc.pid, value, ledger, sent, time.perf_counter() - start)}
        code = 0
    except BaseException as exc:  # reported to the parent, which decides what the user sees
        outcome = _failure(exc)
        code = 2
        if network is not None and network.failed is not None:
            mpc.run(network.abort(exc))
    if network is not None:
        network.settled.set()
    _write_outcome(outcome, result_path)
    return code


def _failure(exc: BaseException) -> dict:
    """A failed party's outcome for the parent (this machine): its full message stays here."""
    from .network import PeerLost

    return {"ok": False, "error": _describe(exc), "type": type(exc).__name__, "code": error_code(exc),
            "user_error": isinstance(exc, SecureGenomeError), "knock_on": isinstance(exc, PeerLost),
            "relayed": exc.origin if isinstance(exc, RelayedInputError) else None,
            "lost": exc.lost if isinstance(exc, PeerLost) else None}


def _write_outcome(outcome: dict, result_path: str) -> None:
    tmp = result_path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(outcome, f)
    os.replace(tmp, result_path)


def _hard_stop(exc: BaseException, result_path: str) -> None:
    """(Heartbeat thread) a peer is lost but the event loop is busy computing: report and exit now."""
    _write_outcome(_failure(exc), result_path)
    sys.stderr.flush()
    os._exit(2)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, SecureGenomeError):
        return text
    import traceback
    return f"{type(exc).__name__}: {text}\n" + "".join(traceback.format_exception(exc))


class _PortBusy(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


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


WORKDIR_PREFIX = "securegenome-run-"
LOCK_NAME = "running.lock"  # held (flock) by the command while its run lasts; the kernel drops it if killed


def _remove_stale_workdirs() -> None:
    """Remove the working folders of runs whose command was killed (it could not clean up itself)."""
    try:
        import fcntl
    except ImportError:  # not on this platform: leftovers stay in the temporary folder
        return
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        lock = os.path.join(base, name, LOCK_NAME)
        if not name.startswith(WORKDIR_PREFIX) or not os.path.exists(lock):
            continue
        try:
            with open(lock, "rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its command is alive
                _remove_tree(os.path.join(base, name))
        except OSError:
            pass


def _hold_lock(workdir):
    """Create the folder's lock file already locked; the returned file keeps the lock until it is closed."""
    path = os.path.join(workdir, LOCK_NAME)
    f = open(path + ".new", "wb")
    try:
        import fcntl

        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:
        pass
    os.replace(path + ".new", path)  # appears locked: no other run can take the folder for a stale one
    return f


def _run_children(protocol, args_by_pid, addresses, threshold, timeout, echo_party, network, mpyc_options,
                  insecure=False):
    _remove_stale_workdirs()
    workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
    lock = _hold_lock(workdir)
    procs, logs, results = {}, {}, {}
    peers = [a for address in addresses for a in ("-P", address)]
    try:
        for pid, kwargs in args_by_pid.items():
            spec = os.path.join(workdir, f"party{pid}.spec")
            with open(os.open(spec, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:  # holds the token
                pickle.dump({"protocol": protocol, "kwargs": kwargs, "network": network, "insecure": insecure}, f)
            mpyc_argv = [*peers, "-I", str(pid), "-T", str(threshold), "--no-log", *mpyc_options]
            env = dict(os.environ, **{MPYC_ARGV_ENV: json.dumps(mpyc_argv), PARENT_PID_ENV: str(os.getpid()),
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
        timed_out = _wait(procs, results, timeout)
        return _collect(procs, results, logs, workdir, multi_host=len(procs) == 1, timed_out=timed_out)
    finally:
        _stop(procs.values())
        for f in logs.values():
            f.close()
        _remove_tree(workdir)
        lock.close()


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def _wait(procs, results, timeout) -> bool:
    """Wait for all children; after a failure or timeout, stop the rest (bounded by GRACE_SECONDS).

    Returns whether the run's timeout passed.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    failed_at = None
    try:
        while any(p.poll() is None for p in procs.values()):
            now = time.monotonic()
            failed = [pid for pid, p in procs.items() if p.poll() not in (None, 0)]
            if failed and failed_at is None:
                failed_at = now
            outcomes = [_outcome(results[pid]) for pid in failed]
            if any(outcome.get("type") == "PortBusy" for outcome in outcomes):
                break  # no party can connect to it: retry (local) or report (hosts) at once
            running = {pid for pid, p in procs.items() if p.poll() is None}
            lost = {outcome.get("lost") for outcome in outcomes} - {None}
            if failed and running <= lost:
                break  # only parties that others found lost (frozen, cut off) are left: nothing more to hear
            if failed_at is not None and now - failed_at > GRACE_SECONDS:
                break
            if deadline is not None and now > deadline:
                return True
            time.sleep(0.05)
    except KeyboardInterrupt:
        _stop(procs.values())
        raise
    return False


def _outcome(path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        return {}


def _collect(procs, results, logs, workdir, multi_host=False, timed_out=False):
    outcomes, errors = {}, []
    for pid, p in sorted(procs.items()):
        if p.poll() is None:
            p.kill()
            p.wait()
            why = "the run took longer than its timeout" if timed_out else "another party failed"
            errors.append(_Error(pid, f"stopped: {why}", rank=4))
            continue
        outcome = _outcome(results[pid])
        if not outcome:
            detail = _tail(os.path.join(workdir, f"party{pid}.log")) if pid in logs else ""
            errors.append(_Error(pid, f"the process died ({_exit_reason(p.returncode)}) without a result{detail}",
                                 rank=2))
        elif outcome["ok"]:
            outcomes[pid] = outcome["result"]
        elif outcome.get("type") == "PortBusy":
            raise _PortBusy(outcome["error"])
        else:
            # after a timeout, a party that lost a peer we stopped is not news: the timeout is
            if outcome.get("relayed") is not None:  # another party's input error: that party says why
                errors.append(_Error(pid, outcome["error"], 0.5, outcome["relayed"]))
                continue
            rank = (5 if timed_out else 3) if outcome.get("knock_on") else 0 if outcome.get("user_error") else 1
            errors.append(_Error(pid, outcome["error"], rank))
    if errors:
        raise PartyFailure(_summarise(errors, multi_host))
    return [outcomes[pid] for pid in sorted(outcomes)]


@dataclass
class _Error:
    pid: int
    message: str
    rank: float  # 0 own input error, 0.5 one relayed from another party, 1 a bug, 2 died, 3 lost a peer,
    #              4 stopped by us, 5 lost a peer after a timeout
    origin: int | None = None  # for a relayed input error: the party whose input it is


def _summarise(errors, multi_host=False) -> str:
    """One line for the user: the root cause (a party's own error, then a crash, then knock-on ones)."""
    first = min(errors, key=lambda e: (e.rank, e.pid))
    culprit = first.pid if first.origin is None else first.origin
    if multi_host:
        return first.message
    others = sorted({e.pid for e in errors} - {culprit})
    tail = f" (also failed: party {', '.join(map(str, others))})" if others else ""
    return f"party {culprit}: {first.message}{tail}"


def _exit_reason(code) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _tail(path, limit=400) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace").strip()
    except OSError:
        return ""
    return f": {text[-limit:]}" if text else ""


def _remove_tree(path):
    try:
        for name in os.listdir(path):
            os.remove(os.path.join(path, name))
        os.rmdir(path)
    except FileNotFoundError:  # another run cleaned the same stale folder at the same time
        pass
