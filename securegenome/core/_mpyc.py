"""Import MPyC with ``sys.argv`` under our control, and check the MPyC internals we rely on.

MPyC builds its runtime from ``sys.argv`` when ``mpyc.runtime`` is first imported, so options meant for
pytest or for our own CLI (``-W``, ``-h``, ``--log-level`` ...) would be misread.  We hide the real argv
during that import.  A party process started by :mod:`securegenome.core.session` passes the MPyC options
it needs (party index, peers, threshold) in the environment variable below.

MPyC internals.  Our security and correctness depend on private MPyC attributes (tested with MPyC 0.11).
All of them are listed here, behind the public wrappers below, and :func:`check_mpyc` asserts the properties
we rely on at the start of every run (:func:`check_connected` again once the parties are connected), so an
MPyC that differs stops the run with one line instead of silently weakening it:

- ``Runtime._prss_keys``: {subset: 16-byte key}; before the connections, exactly the (m-t)-subsets that start
  with this party (it made those keys); after them, exactly the (m-t)-subsets that contain this party (the
  others sent theirs) -- every key a coalition of t parties lacks at least one of.  Regenerated when
  ``threshold`` is set.
- ``Runtime._prss_uci()``: adds 1 to ``_program_counter[0]`` and returns the new value as 8 signed
  little-endian bytes: a label that is the same on every party and never repeats within a run.
- ``Runtime._program_counter``: the list [counter, depth] every message is labelled with (``counter``);
  ``_pc_level`` > ``_program_counter[1]`` while scheduled secure computations are still running.
- ``Runtime._send_message(pid, data)`` / ``_receive_message(pid)``: bytes to / from a peer under the current
  counter (the receive gives bytes or a Future of them).
- ``thresha._recombination_vector(field, xs, x_r)``: the Lagrange coefficients of the points ``xs`` at ``x_r``.
- The handshake layout (``asyncoro.MessageExchanger``): the connecting party sends its id (2 bytes, little
  endian) and then the keys of ``_prss_keys_to_peer(peer)`` (16 bytes each), the listening one reads them back
  with ``_prss_keys_from_peer``; every later message is a frame ``<qI`` (counter, size) + payload, kept in
  ``buffers`` by counter until received.  :mod:`.network` adds its checks before that greeting and its
  control frames under reserved counters.
- Reserved program counters: MPyC's counters start at 0 and count up, and a coroutine's counter hops by
  ``asyncoro._hop`` (a 64-bit hash): our negative reserved counters (``network.RESERVED_PCS``) are never
  reached by counting and hit by a hop with probability 2^-64 each.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import struct
import sys
import types

from ..errors import SecureGenomeError

MPYC_ARGV_ENV = "SECUREGENOME_MPYC_ARGV"
TESTED_MPYC = "0.11"


def _import_runtime():
    mpyc_argv = json.loads(os.environ.get(MPYC_ARGV_ENV) or '["--no-log"]')
    saved = sys.argv
    sys.argv = [saved[0] if saved else "securegenome", *mpyc_argv]
    try:
        from mpyc.runtime import mpc
    finally:
        sys.argv = saved
    return mpc


mpc = _import_runtime()


# -- public wrappers (the only places that touch MPyC's private attributes) --------------------------------

def prss_keys() -> dict:
    """This party's PRSS keys: {(m-t)-subset of parties containing this party: 16-byte key}."""
    return mpc._prss_keys


def prss_label() -> bytes:
    """A fresh 8-byte label, the same on every party and unique in the run (advances the program counter)."""
    return mpc._prss_uci()


def next_exchange() -> None:
    """A fresh program-counter label for one raw exchange (the same sequence on every party)."""
    mpc._program_counter[0] += 1


def send_raw(pid: int, data: bytes) -> None:
    """Send bytes to party ``pid`` under the current program counter."""
    mpc._send_message(pid, data)


def receive_raw(pid: int):
    """The bytes party ``pid`` sent under the current program counter (bytes, or a Future of them)."""
    return mpc._receive_message(pid)


def recombination_vector(field, xs, x_r) -> list[int]:
    """Lagrange coefficients (field values as ints) that recombine shares at points ``xs`` into the value at
    ``x_r``."""
    from mpyc import thresha

    return thresha._recombination_vector(field, tuple(xs), x_r)


def computations_pending(rt=None) -> bool:
    """Whether scheduled secure computations are still running (MPyC's barrier condition)."""
    rt = rt or mpc
    return rt._pc_level > rt._program_counter[1]


# -- the self-check --------------------------------------------------------------------------------------

class MPyCMismatch(SecureGenomeError):
    """The installed MPyC does not behave as securegenome relies on (see the module docstring)."""


def _fail(what: str):
    import mpyc

    raise MPyCMismatch(f"the installed MPyC {mpyc.__version__} differs from what securegenome relies on ({what}); "
                       f"install mpyc=={TESTED_MPYC}, the version checked")


def _expect(condition: bool, what: str) -> None:
    if not condition:
        _fail(what)


@functools.cache
def check_mpyc() -> None:
    """Assert the MPyC internals we rely on (module docstring); raise a one-line error if any differs."""
    try:
        _check_runtime_attributes()
        _check_prss_keys(mpc, connected=False)
        _check_labels()
        _check_recombination()
        _check_handshake()
    except MPyCMismatch:
        raise
    except Exception as exc:  # noqa: BLE001 -- a missing attribute or changed signature is the finding
        _fail(f"{type(exc).__name__}: {exc}")


def check_connected(rt) -> None:
    """After the connections: this party holds a key for every (m-t)-subset that contains it, and no other."""
    _check_prss_keys(rt, connected=True)


def _check_runtime_attributes() -> None:
    from mpyc import asyncoro

    for name in ("_prss_keys", "_prss_uci", "_program_counter", "_pc_level", "_send_message", "_receive_message",
                 "_prss_keys_to_peer", "_prss_keys_from_peer", "set_protocol", "parties", "threshold", "options"):
        _expect(hasattr(mpc, name), f"Runtime.{name} is missing")
    _expect(isinstance(mpc._program_counter, list) and len(mpc._program_counter) == 2,
            "Runtime._program_counter is not a list [counter, depth]")
    _expect(callable(getattr(asyncoro, "_hop", None)), "asyncoro._hop is missing")
    for name in ("peer_pid", "bytes", "buffers", "transport", "nbytes_sent"):
        _expect(name in asyncoro.MessageExchanger.__slots__, f"MessageExchanger.{name} is missing")


def _check_prss_keys(rt, connected: bool) -> None:
    if rt.options.no_prss:
        return
    m, t, me = len(rt.parties), rt.threshold, rt.pid
    subsets = [s for s in itertools.combinations(range(m), m - t) if (me in s if connected else s[0] == me)]
    keys = rt._prss_keys
    _expect(isinstance(keys, dict) and sorted(keys) == subsets,
            f"Runtime._prss_keys {'after' if connected else 'before'} connecting holds keys for {sorted(keys)}, "
            f"not exactly the {m - t}-subsets {'containing' if connected else 'starting with'} party {me}")
    _expect(all(isinstance(k, (bytes, bytearray)) and len(k) == 16 for k in keys.values()),
            "Runtime._prss_keys are not 16-byte keys")
    if not connected:
        _expect(len({bytes(k) for k in keys.values()}) == len(keys), "Runtime._prss_keys are not distinct")


def _check_labels() -> None:
    saved = list(mpc._program_counter)
    try:
        mpc._program_counter[0] = 41
        first, second = mpc._prss_uci(), mpc._prss_uci()
        _expect((first, second) == ((42).to_bytes(8, "little", signed=True), (43).to_bytes(8, "little", signed=True))
                and mpc._program_counter[0] == 43,
                "Runtime._prss_uci() no longer returns the next program counter as 8 little-endian bytes")
    finally:
        mpc._program_counter[:] = saved


def _check_recombination() -> None:
    from mpyc import finfields

    field = finfields.GF(101)
    vector = [int(c) % 101 for c in recombination_vector(field, (1, 2, 3), 0)]
    _expect(vector == [3, 101 - 3, 1], "thresha._recombination_vector(field, (1, 2, 3), 0) is not [3, -3, 1]")
    _expect([int(c) % 101 for c in recombination_vector(field, (1, 2), 3)] == [101 - 1, 2],
            "thresha._recombination_vector(field, (1, 2), 3) is not [-1, 2]")


class _Transport:
    def __init__(self):
        self.data = bytearray()

    def write(self, data):
        self.data.extend(data)

    def writelines(self, items):
        for item in items:
            self.data.extend(item)


def _check_handshake() -> None:
    """MessageExchanger's greeting and frames, replayed between two fake runtimes (no sockets)."""
    from mpyc import asyncoro

    key = bytes(range(16))
    registered = []
    client_rt = types.SimpleNamespace(pid=0, options=types.SimpleNamespace(no_prss=False),
                                      _prss_keys_to_peer=lambda peer: [key],
                                      set_protocol=lambda *a: registered.append(a))
    client = asyncoro.MessageExchanger(client_rt, 1)
    client.connection_made(transport := _Transport())
    _expect(bytes(transport.data) == (0).to_bytes(2, "little") + key,
            "the connecting party's greeting is no longer its id (2 bytes) followed by its PRSS keys")
    client.send(-5, b"abc")
    frame = bytes(transport.data[18:])
    _expect(frame == struct.pack("<qI", -5, 3) + b"abc", "MPyC's message frame is no longer <qI + payload")

    stored = {}

    def keys_from_peer(peer, data=None):
        if data is not None:
            stored[peer] = bytes(data[:16])
        return 16

    server_rt = types.SimpleNamespace(pid=1, options=types.SimpleNamespace(no_prss=False),
                                      _prss_keys_from_peer=keys_from_peer, set_protocol=lambda *a: registered.append(a))
    server = asyncoro.MessageExchanger(server_rt)
    server.transport = _Transport()
    server.data_received(bytes(transport.data))
    _expect(server.peer_pid == 0 and stored.get(0) == key and server.buffers.get(-5) == b"abc",
            "the listening party no longer reads the greeting (id, keys) and keeps frames in buffers by counter")
