"""The connections between the parties of a run: set-up, TLS, noticing a lost party, clean shut-down.

This replaces MPyC's ``Runtime.start()`` and ``shutdown()`` in party processes (the message format and the
connection pattern -- party i listens for parties < i and connects to parties > i -- stay MPyC's), adding:

- TLS from a directory given by the user (see :mod:`.tls`), and a check of the party id a peer claims
  against its certificate *before* any secret (MPyC's PRSS keys) is sent;
- a bound on the time to wait for peers at start, with a message saying who is missing and why;
- failure notices: a connection that closes before its peer said goodbye means that party was lost, and
  the kernel's keep-alive probes (idle connections) and TCP user timeout (unacknowledged data), both
  timed from ``peer_timeout``, notice a peer that is cut off without a word.  Linux also applies the user
  timeout to a receive window that stays closed, so a peer that computes for longer than about half
  ``peer_timeout`` without reading while we have data for it counts as lost too: the message says so, and very large
  inputs on a loaded machine want a larger ``--peer-timeout``.  Either way :meth:`Network.guard` stops the protocol with :class:`PeerLost`
  naming the party.  A party whose protocol fails tells the others why (:meth:`Network.abort`);
- a goodbye handshake at the end, so a normal close is never mistaken for a lost party.

Control messages travel as MPyC frames with two reserved program counters that MPyC's pseudorandom program
counters (64-bit hashes) do not produce in practice.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import sys
import time

from mpyc import asyncoro

from ..errors import ParameterMismatch, PartyFailure, SecureGenomeError
from . import tls

BYE_PC = -0x5EC6_E40A_B0A7_0001    # "I have finished the protocol and will send nothing more"
ABORT_PC = -0x5EC6_E40A_B0A7_0002  # "my protocol failed: <message>"
CLOSE_SECONDS = 2.0  # how long a finished party waits for its connections to close


class PortBusy(SecureGenomeError):
    """This party's own port is taken by another program."""


class PeerLost(PartyFailure):
    """Another party died, failed, was cut off or never came: a knock-on failure of this party."""


class Network:
    """The connections of this party (``rt`` is MPyC's runtime of a party process)."""

    def __init__(self, rt, *, tls_dir=None, peer_timeout: float = 30.0, connect_timeout: float = 60.0,
                 listen_all: bool = False):
        self.rt = rt
        self.tls_dir = tls_dir
        self.peer_timeout = float(peer_timeout)
        self.connect_timeout = float(connect_timeout)
        self.listen_all = listen_all
        self.failed: asyncio.Future | None = None
        self.exchangers: dict[int, _Exchanger] = {}
        self.said_bye: set[int] = set()
        self._bye_wait: asyncio.Future | None = None  # done when every peer said goodbye
        self.finished = False
        self.connecting = True
        self.notes: dict[int, str] = {}  # why a peer did not connect yet (last error per party)
        self.refused: list[str] = []     # connections refused by this party during set-up
        self.server = None

    def address(self, pid: int) -> str:
        peer = self.rt.parties[pid]
        return f"{peer.host}:{peer.port}"

    # -- set-up -----------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect to all peers (bounded by ``connect_timeout``), authenticating them if TLS is on."""
        rt = self.rt
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._exception_handler)
        self.failed = loop.create_future()
        me = rt.parties[rt.pid]
        for peer in rt.parties:
            peer.protocol = loop.create_future() if peer.pid == rt.pid else None
        if rt.pid > 0:
            await self._listen(me)
        deadline = loop.time() + self.connect_timeout
        tasks = [asyncio.ensure_future(self._connect_to(peer.pid, deadline)) for peer in rt.parties[rt.pid + 1:]]
        try:
            await self.guard(asyncio.wait_for(asyncio.shield(me.protocol), self.connect_timeout))
        except asyncio.TimeoutError:
            if self.refused:  # the root cause: a peer this party could not authenticate
                raise tls.AuthenticationError(self._not_connected_message()) from None
            raise PeerLost(self._not_connected_message()) from None
        finally:
            for task in tasks:
                task.cancel()
            if self.server is not None:
                self.server.close()
        self.connecting = False
        rt.start_time = time.time()

    async def _listen(self, me) -> None:
        context = tls.context(self.tls_dir, me.pid, server=True) if self.tls_dir else None
        host = None if self.listen_all else me.host
        try:
            self.server = await asyncio.get_running_loop().create_server(
                lambda: _Exchanger(self, None), host=host, port=me.port, ssl=context)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortBusy(f"port {me.port} of party {me.pid} is already in use on this host: stop the "
                               f"program using it or give party {me.pid} another port") from None
            raise SecureGenomeError(f"party {me.pid} cannot listen on port {me.port}: {exc.strerror or exc}") \
                from None

    async def _connect_to(self, pid: int, deadline: float) -> None:
        """Connect to a party with a higher id, retrying until it listens or the deadline passes."""
        loop = asyncio.get_running_loop()
        peer = self.rt.parties[pid]
        context = tls.context(self.tls_dir, self.rt.pid, server=False) if self.tls_dir else None
        while not self.failed.done():
            try:
                await loop.create_connection(lambda: _Exchanger(self, pid), peer.host, peer.port, ssl=context,
                                             server_hostname="" if context else None,
                                             ssl_handshake_timeout=self.connect_timeout if context else None)
                return
            except ssl.SSLCertVerificationError as exc:
                self.fail(tls.AuthenticationError(
                    f"party {pid} at {self.address(pid)} presented a certificate this party cannot authenticate "
                    f"({exc.verify_message}); all parties need certificates from the same `securegenome keys` run"))
                return
            except ssl.SSLError as exc:
                self.fail(tls.AuthenticationError(
                    f"TLS with party {pid} at {self.address(pid)} failed ({exc.reason or exc}); do all parties use "
                    f"--tls-dir with certificates from the same `securegenome keys` run?"))
                return
            except ConnectionResetError:
                self.notes[pid] = "it reset the connection: do all parties use --tls-dir, or all --no-tls?"
            except OSError as exc:
                self.notes[pid] = exc.strerror or str(exc) or type(exc).__name__
            if loop.time() > deadline:
                return
            await asyncio.sleep(0.1)

    def _not_connected_message(self) -> str:
        me = self.rt.pid
        missing = [p.pid for p in self.rt.parties if p.pid != me and p.protocol is None]
        parts = []
        for pid in missing:
            if pid > me:
                why = self.notes.get(pid, "no answer")
                parts.append(f"party {pid} at {self.address(pid)} could not be reached ({why})")
            else:
                parts.append(f"party {pid} did not connect to port {self.rt.parties[me].port} of this host")
        text = f"no connection within {self.connect_timeout:g} s: " + "; ".join(parts)
        if self.refused:
            text += "; refused: " + "; ".join(dict.fromkeys(self.refused))
        return text + " (is every party running with the same --hosts, and are the ports open?)"

    def _exception_handler(self, loop, context):
        """Keep asyncio's reports of broken connections, and of MPyC tasks cut short by a failure we report
        ourselves, out of the user's terminal (``SECUREGENOME_DEBUG=1`` shows them)."""
        if os.environ.get("SECUREGENOME_DEBUG"):
            loop.default_exception_handler(context)
        elif not (self.failed.done() or isinstance(context.get("exception"), (OSError, asyncio.CancelledError))):
            print(f"securegenome: note: {context.get('message')}: {context.get('exception')}", file=sys.stderr)

    # -- during the run ---------------------------------------------------------------------------------

    async def guard(self, awaitable):
        """Await ``awaitable`` unless the run fails first (a peer lost or failed); then raise that error."""
        task = asyncio.ensure_future(awaitable)
        await asyncio.wait({task, self.failed}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        raise self.failed.exception()

    def fail(self, exc: BaseException) -> None:
        if self.failed is not None and not self.failed.done():
            self.failed.set_exception(exc)

    def tune(self, transport) -> None:
        """Let the kernel notice a silent peer: keep-alive when idle, user timeout when sending (see above)."""
        sock = transport.get_extra_info("socket")
        if sock is None:
            return
        t = self.peer_timeout
        options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
        for name, value in (("TCP_KEEPIDLE", max(1, int(t / 4))), ("TCP_KEEPINTVL", max(1, int(t / 8))),
                            ("TCP_KEEPCNT", 3), ("TCP_USER_TIMEOUT", max(1000, int(t * 500)))):
            if hasattr(socket, name):
                options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
        for level, name, value in options:
            try:
                sock.setsockopt(level, name, value)
            except OSError:  # not every platform has every option; the rest still help
                pass

    def closed(self, exchanger: "_Exchanger", exc: BaseException | None) -> None:
        """A connection closed: normal after goodbyes, otherwise the peer is lost."""
        pid = exchanger.peer_pid
        if pid is None or self.exchangers.get(pid) is not exchanger:
            return  # a refused or unidentified connection
        if self.finished or pid in self.said_bye:
            return
        if isinstance(exc, TimeoutError) or getattr(exc, "errno", None) == errno.ETIMEDOUT:
            why = (f"it stopped answering (host down or network cut; peer timeout {self.peer_timeout:g} s, "
                   "raise --peer-timeout if it may just be busy with a very large input)")
        elif exc is not None:
            why = str(exc) or type(exc).__name__
        else:
            why = "the connection was closed (the party stopped)"
        if self.connecting:
            why += "; during set-up: do all parties use the same --hosts and TLS certificates?"
        self.fail(PeerLost(f"lost party {pid} ({self.address(pid)}): {why}"))

    def control(self, pid: int, pc: int, payload: bytes) -> None:
        """A control message from party ``pid``: its goodbye, or why it stopped."""
        if pc == BYE_PC:
            self.said_bye.add(pid)
            if self.said_bye >= set(self.exchangers) and self._bye_wait is not None:
                if not self._bye_wait.done():
                    self._bye_wait.set_result(None)
        elif pc == ABORT_PC:
            kind, _, message = payload.decode(errors="replace").partition(":")
            if kind == ParameterMismatch.__name__:  # every party finds the same mismatch: say it the same way
                self.fail(ParameterMismatch(message))
            elif kind == PeerLost.__name__:  # the peer lost another party first: pass on the root cause
                self.fail(PeerLost(message))
            else:
                self.fail(PeerLost(f"party {pid} failed: {message}"))

    # -- the end ----------------------------------------------------------------------------------------

    async def disconnect(self) -> None:
        """Say goodbye to every peer, wait for theirs (still watching for failures), then close."""
        rt = self.rt
        while rt._pc_level > rt._program_counter[1]:  # let scheduled secure computations finish first
            await asyncio.sleep(0)
        self._bye_wait = asyncio.get_running_loop().create_future()
        for ex in self.exchangers.values():
            ex.send(BYE_PC, b"")
        if self.said_bye >= set(self.exchangers):
            self._bye_wait.set_result(None)
        await self.guard(asyncio.shield(self._bye_wait))
        self.finished = True
        await self._close_all()

    async def abort(self, exc: BaseException) -> None:
        """Tell every connected peer why this party stops, then close (best effort, bounded)."""
        self.finished = True
        message = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        notice = f"{type(exc).__name__}:{message}".encode()[:4000]
        for ex in self.exchangers.values():
            if ex.transport is not None and not ex.transport.is_closing():
                try:
                    ex.send(ABORT_PC, notice)
                except Exception:  # noqa: BLE001 -- a broken connection cannot carry the notice; fine
                    pass
        await self._close_all()

    async def _close_all(self) -> None:
        for ex in self.exchangers.values():
            if ex.transport is not None:
                ex.transport.close()
        if self.server is not None:
            self.server.close()
        end = time.monotonic() + CLOSE_SECONDS
        while time.monotonic() < end and not all(ex.is_closed for ex in self.exchangers.values()):
            await asyncio.sleep(0.01)


class _Exchanger(asyncoro.MessageExchanger):
    """MPyC's message exchanger with peer authentication, control messages and loss notices."""

    __slots__ = ("network", "checked", "is_closed")

    def __init__(self, network: Network, peer_pid: int | None):
        super().__init__(network.rt, peer_pid)
        self.network = network
        self.checked = False
        self.is_closed = False

    def connection_made(self, transport):
        self.transport = transport
        self.network.tune(transport)
        if self.peer_pid is not None:  # we connected to a higher party: authenticate it before sending keys
            if self.network.tls_dir:
                try:
                    tls.check_peer(transport, self.peer_pid)
                except tls.AuthenticationError as exc:
                    transport.abort()
                    self.network.fail(exc)
                    return
            self.checked = True
            self.network.exchangers[self.peer_pid] = self
        super().connection_made(transport)

    def data_received(self, data):
        if not self.checked:
            if self.peer_pid is not None:
                return  # an unauthenticated connection being aborted
            pending = bytes(self.bytes[:2]) + bytes(data[:2])
            if len(pending) < 2:
                self.bytes.extend(data)
                return
            refusal = self._refusal(int.from_bytes(pending[:2], "little"))
            if refusal:
                self.network.refused.append(refusal)
                self.transport.abort()
                return
            self.checked = True
            self.network.exchangers[int.from_bytes(pending[:2], "little")] = self
        super().data_received(data)
        for pc in (BYE_PC, ABORT_PC):
            payload = self.buffers.get(pc)
            if isinstance(payload, (bytes, bytearray)):
                del self.buffers[pc]
                self.network.control(self.peer_pid, pc, payload)

    def _refusal(self, claimed: int) -> str | None:
        """Why a connecting peer claiming party id ``claimed`` is refused (None: accepted)."""
        rt = self.network.rt
        if claimed >= len(rt.parties):
            return ("a peer sent no party greeting (is it using TLS while this party is not, or is it not a "
                    "securegenome party at all?)")
        if not 0 <= claimed < rt.pid:
            return f"a peer claimed party id {claimed}, which does not connect to party {rt.pid}"
        if claimed in self.network.exchangers:
            return f"a second connection claiming to be party {claimed}"
        if self.network.tls_dir:
            try:
                tls.check_peer(self.transport, claimed)
            except tls.AuthenticationError as exc:
                return str(exc)
        return None

    def connection_lost(self, exc):
        self.is_closed = True
        self.network.closed(self, exc)
