"""The connections between the parties of a run: set-up, authentication, noticing a lost party, clean shut-down.

This replaces MPyC's ``Runtime.start()`` and ``shutdown()`` in party processes (the message format and the
connection pattern -- party i listens for parties < i and connects to parties > i -- stay MPyC's), adding:

- TLS from a directory given by the user (see :mod:`.tls`), and a check of the party id a peer claims
  against its certificate *before* any secret (MPyC's PRSS keys) is sent;
- in local runs, a per-run secret ``token`` (from the parent, in its 0700 working folder): before MPyC's
  greeting, both ends of each connection prove they know it (HMAC challenge-response, fresh nonces from both
  sides, bound to the party ids), so another local user who connects first, or who listens on a party's
  port, learns nothing and is refused;
- a bound on the time to wait for peers at start, with a message saying who is missing and why;
- liveness: a connection that closes before its peer said goodbye means that party was lost, and the
  heartbeat thread of :mod:`.heartbeat` notices within ``peer_timeout`` a peer that is frozen, deadlocked
  or cut off without a word (its kernel would still answer TCP), while a party that is merely busy keeps
  answering.  TCP keep-alive probes also watch idle connections.  :meth:`Network.guard` then stops the
  protocol with :class:`PeerLost` naming the party; if the event loop is itself busy in a long
  computation, the party stops anyway a few seconds later (``on_hard_stop``);
- failure notices without data: a party whose protocol fails tells the others only its error *code* (see
  :data:`securegenome.errors.ERROR_CODES`) and, for a lost peer, which one -- never its message, which may
  quote private input; a public-parameter mismatch travels in full (:meth:`Network.abort`);
- a goodbye handshake at the end, so a normal close is never mistaken for a lost party.

Control messages travel as MPyC frames with reserved program counters (negative 64-bit values that MPyC's
counters, which count up from 0 and hop by hashing, do not produce in practice: ``core._mpyc`` checks it).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import json
import os
import socket
import ssl
import sys
import threading
import time

from mpyc import asyncoro

from ..errors import ERROR_CODES, ParameterMismatch, PartyFailure, RelayedInputError, SecureGenomeError, error_code
from . import tls
from ._mpyc import check_connected, computations_pending
from .heartbeat import Heartbeat

BYE_PC = -0x5EC6_E40A_B0A7_0001    # "I have finished the protocol and will send nothing more"
ABORT_PC = -0x5EC6_E40A_B0A7_0002  # "my protocol failed": {"code": ..., "party": ...} (JSON, data-free)
RESERVED_PCS = (BYE_PC, ABORT_PC)
CLOSE_SECONDS = 2.0  # how long a finished party waits for its connections to close
HARD_STOP_SECONDS = 2.0  # after a peer is lost, how long the event loop gets to stop the protocol itself
AUTH_MAGIC = b"SGauth01"  # the first bytes of a local connection: "I will prove that I know the run's secret"
NONCE_BYTES = 16
MAC_BYTES = 32

#: why a peer was lost (a fixed set: the reason travels to the other parties as this key)
LOSS_REASONS = {
    "stopped-answering": "it stopped answering (no sign of life for {timeout:g} s: frozen, deadlocked, host down "
                         "or network cut; --peer-timeout sets the limit)",
    "closed": "the connection was closed (the party stopped)",
    "broken": "the connection broke",
}


class PortBusy(SecureGenomeError):
    """This party's own port is taken by another program."""


class PeerLost(PartyFailure):
    """Another party died, failed, was cut off or never came: a knock-on failure of this party.

    ``lost`` is the party that stopped answering or closed its connection, ``noticed_by`` the party that
    noticed (None: this one); when a peer *reported* a failure instead, ``failed`` is that party and
    ``failed_code`` its error code.
    """

    def __init__(self, message: str, lost: int | None = None, reason: str | None = None,
                 failed: int | None = None, failed_code: str | None = None, noticed_by: int | None = None):
        super().__init__(message)
        self.lost, self.reason, self.failed, self.failed_code = lost, reason, failed, failed_code
        self.noticed_by = noticed_by


class Network:
    """The connections of this party (``rt`` is MPyC's runtime of a party process)."""

    def __init__(self, rt, *, tls_dir=None, peer_timeout: float = 30.0, connect_timeout: float = 60.0,
                 listen_all: bool = False, token: bytes | None = None):
        self.rt = rt
        self.tls_dir = tls_dir
        self.token = token  # the run's secret (local runs): peers prove they know it before MPyC's greeting
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
        self.udp: socket.socket | None = None  # the heartbeat's socket, bound with the TCP listener
        self.heartbeat: Heartbeat | None = None
        #: called (from the heartbeat's thread) with the PeerLost error if the event loop has not stopped the
        #: protocol HARD_STOP_SECONDS after a peer was lost, e.g. because it is busy in a long computation
        self.on_hard_stop = None
        self.settled = threading.Event()  # set by the party once it has its outcome (no hard stop needed)

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
        self._bind_heartbeat(me)
        self._start_heartbeat()
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
        check_connected(rt)
        self.heartbeat.arm_all()

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

    def _bind_heartbeat(self, me) -> None:
        """The heartbeat's UDP socket: on this party's own port if it listens (others ping it there)."""
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        port = me.port if me.pid > 0 else 0
        try:
            self.udp.bind(("" if self.listen_all else me.host, port))
        except OSError as exc:
            self.udp.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortBusy(f"port {me.port} (UDP, for heartbeats) of party {me.pid} is already in use on "
                               f"this host: stop the program using it or give party {me.pid} another port") from None
            raise SecureGenomeError(f"party {me.pid} cannot listen on UDP port {port}: {exc.strerror or exc}") \
                from None

    def _start_heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        rt = self.rt
        addresses = {}
        for peer in rt.parties:
            if peer.pid != rt.pid:
                addresses[peer.pid] = (socket.gethostbyname(peer.host), peer.port)
        self.heartbeat = Heartbeat(self.udp, rt.pid, addresses, self.peer_timeout,
                                   lambda pid: self._heard_nothing_from(pid, loop), self.token)
        self.heartbeat.start()

    def _heard_nothing_from(self, pid: int, loop) -> None:
        """(Heartbeat thread) party ``pid`` sent no sign of life for ``peer_timeout`` seconds."""
        error = PeerLost(self.lost_message(pid, "stopped-answering"), lost=pid, reason="stopped-answering")
        try:
            loop.call_soon_threadsafe(self._lost_if_running, pid, error)
        except RuntimeError:  # the loop is closed: the party has finished
            return

        def stop_anyway():
            if not self.settled.wait(HARD_STOP_SECONDS) and self.on_hard_stop is not None \
                    and not self.finished and pid not in self.said_bye:
                self.on_hard_stop(error)
        threading.Thread(target=stop_anyway, daemon=True).start()

    def _lost_if_running(self, pid: int, error: PeerLost) -> None:
        if not self.finished and pid not in self.said_bye:
            self.fail(error)

    def lost_message(self, pid: int, reason: str) -> str:
        """The one-line message for party ``pid`` lost for ``reason`` (a key of LOSS_REASONS)."""
        why = LOSS_REASONS.get(reason, LOSS_REASONS["broken"]).format(timeout=self.peer_timeout)
        return f"lost party {pid} ({self.address(pid)}): {why}"

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
        """Let the kernel notice a dead idle connection (keep-alive).  No TCP user timeout: it would also count
        a busy peer's closed receive window as silence, and the heartbeat watches silence instead."""
        sock = transport.get_extra_info("socket")
        if sock is None:
            return
        t = self.peer_timeout
        options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
        for name, value in (("TCP_KEEPIDLE", max(1, int(t / 4))), ("TCP_KEEPINTVL", max(1, int(t / 8))),
                            ("TCP_KEEPCNT", 3)):
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
            reason = "stopped-answering"
        else:
            reason = "closed" if exc is None or isinstance(exc, ConnectionResetError) else "broken"
        message = self.lost_message(pid, reason)
        if reason == "broken":
            message += f" ({getattr(exc, 'strerror', None) or exc})"
        if self.connecting:
            message += "; during set-up: do all parties use the same --hosts and TLS certificates?"
        self.fail(PeerLost(message, lost=pid, reason=reason))

    def control(self, pid: int, pc: int, payload: bytes) -> None:
        """A control message from party ``pid``: its goodbye, or why it stopped."""
        if pc == BYE_PC:
            self.said_bye.add(pid)
            if self.said_bye >= set(self.exchangers) and self._bye_wait is not None:
                if not self._bye_wait.done():
                    self._bye_wait.set_result(None)
        elif pc == ABORT_PC:
            error = self._notice_error(pid, payload)
            if error is not None:
                self.fail(error)

    def _notice_error(self, sender: int, payload: bytes) -> SecureGenomeError | None:
        """The error to stop with after party ``sender``'s failure notice (see :meth:`abort`); None for the echo
        of this party's own failure (its own error, with the details, is on its way)."""
        try:
            notice = json.loads(payload)
            code, party = notice["code"], int(notice["party"])
        except (ValueError, KeyError, TypeError):
            code, party, notice = "internal", sender, {}
        if code not in ERROR_CODES or not 0 <= party < len(self.rt.parties):
            code, party = "internal", sender
        if party == self.rt.pid and code != "lost-peer":
            return None
        if code == "parameters" and isinstance(notice.get("detail"), str):  # public: say it the same way
            return ParameterMismatch(notice["detail"])
        if code == "lost-peer" and party != sender:  # the peer lost another party first: pass on the root cause
            reason = notice.get("reason") if notice.get("reason") in LOSS_REASONS else "broken"
            by = notice.get("by", sender)
            by = by if isinstance(by, int) and 0 <= by < len(self.rt.parties) else sender
            if party == self.rt.pid:  # a peer lost *us*: the link between us is cut, and the run with it
                return PeerLost(self.lost_message(by, reason) + f" (party {by} stopped hearing from this party)",
                                lost=by, reason=reason, noticed_by=by)
            return PeerLost(self.lost_message(party, reason) + f" (noticed by party {by})", lost=party,
                            reason=reason, noticed_by=by)
        return PeerLost(f"party {party} failed: {ERROR_CODES[code]} (the details are shown on party {party} only)",
                        failed=party, failed_code=code)

    # -- the end ----------------------------------------------------------------------------------------

    async def disconnect(self) -> None:
        """Say goodbye to every peer, wait for theirs (still watching for failures), then close."""
        rt = self.rt
        while computations_pending(rt):  # let scheduled secure computations finish first
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
        """Tell every connected peer that this party stops -- its error code, never its message -- then close.

        The notice is ``{"code": <a key of ERROR_CODES>, "party": <who failed>}``, plus ``reason`` (a key of
        LOSS_REASONS) when the root cause is a lost party and ``detail`` for a public-parameter mismatch.
        """
        self.finished = True
        if isinstance(exc, PeerLost) and exc.lost is not None and exc.noticed_by is None:
            lost = self.exchangers.get(exc.lost)  # lost to this party itself (a peer's report may be one-sided)
            if lost is not None and lost.transport is not None:
                lost.transport.abort()  # a frozen peer reads nothing: do not wait for our data to drain to it
        notice = {"code": error_code(exc), "party": self.rt.pid}
        if isinstance(exc, RelayedInputError):
            notice["party"] = exc.origin
        elif isinstance(exc, PeerLost) and exc.lost is not None:
            by = self.rt.pid if exc.noticed_by is None else exc.noticed_by
            notice.update(party=exc.lost, reason=exc.reason, by=by)
        elif isinstance(exc, PeerLost) and exc.failed is not None:
            notice.update(party=exc.failed, code=exc.failed_code)
        elif isinstance(exc, ParameterMismatch):
            notice["detail"] = (str(exc).splitlines() or [""])[0][:4000]
        self._send_notice(json.dumps(notice).encode())
        await self._close_all()

    def _send_notice(self, notice: bytes) -> None:
        for ex in self.exchangers.values():
            if ex.transport is not None and not ex.transport.is_closing():
                try:
                    ex.send(ABORT_PC, notice)
                except Exception:  # noqa: BLE001 -- a broken connection cannot carry the notice; fine
                    pass

    async def _close_all(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        elif self.udp is not None:
            self.udp.close()
        for ex in self.exchangers.values():
            if ex.transport is not None:
                ex.transport.close()
        if self.server is not None:
            self.server.close()
        end = time.monotonic() + CLOSE_SECONDS
        while time.monotonic() < end and not all(ex.is_closed for ex in self.exchangers.values()):
            await asyncio.sleep(0.01)


class _Exchanger(asyncoro.MessageExchanger):
    """MPyC's message exchanger with peer authentication, control messages and loss notices.

    With a run token, each connection starts with a challenge-response before MPyC's greeting (party id
    and PRSS keys): the connecting party sends ``AUTH_MAGIC + nonce_c``; the listening party answers
    ``nonce_s + HMAC(token, "S" nonce_c nonce_s its id)``; the connecting party checks it and sends
    ``HMAC(token, "C" nonce_c nonce_s its id)`` followed by MPyC's greeting, whose party id the listening
    party checks the MAC against.  Neither side sends anything secret to a party that has not proved itself.
    """

    __slots__ = ("network", "checked", "is_closed", "authenticated", "pending", "nonce_c", "nonce_s")

    def __init__(self, network: Network, peer_pid: int | None):
        super().__init__(network.rt, peer_pid)
        self.network = network
        self.checked = False
        self.is_closed = False
        self.authenticated = network.token is None
        self.pending = bytearray()
        self.nonce_c = self.nonce_s = None

    def _mac(self, side: bytes, pid: int) -> bytes:
        message = side + self.nonce_c + self.nonce_s + pid.to_bytes(2, "little")
        return hmac.new(self.network.token, message, hashlib.sha256).digest()

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
            if self.authenticated:
                self._greet(transport)
            else:
                self.nonce_c = os.urandom(NONCE_BYTES)
                transport.write(AUTH_MAGIC + self.nonce_c)

    def _greet(self, transport) -> None:
        """Connecting side, peer authenticated: MPyC's greeting (our id, PRSS keys) and we are connected."""
        self.checked = True
        self.network.exchangers[self.peer_pid] = self
        super().connection_made(transport)

    def data_received(self, data):
        if not self.authenticated:
            data = self._authenticate(data)
            if not data:
                return
        if not self.checked:
            if self.peer_pid is not None:
                return  # an unauthenticated connection being aborted
            pending = bytes(self.bytes[:2]) + bytes(data[:2])
            if len(pending) < 2:
                self.bytes.extend(data)
                return
            refusal = self._refusal(int.from_bytes(pending[:2], "little"))
            if refusal:
                self._refuse(refusal)
                return
            self.checked = True
            self.network.exchangers[int.from_bytes(pending[:2], "little")] = self
        super().data_received(data)
        for pc in RESERVED_PCS:
            payload = self.buffers.get(pc)
            if isinstance(payload, (bytes, bytearray)):
                del self.buffers[pc]
                self.network.control(self.peer_pid, pc, payload)

    def _authenticate(self, data) -> bytes:
        """Run the token handshake on incoming bytes; returns the bytes that follow it (b"" until done)."""
        self.pending.extend(data)
        if self.peer_pid is None and self.nonce_c is None:  # listening side: the challenge
            if len(self.pending) < len(AUTH_MAGIC) + NONCE_BYTES:
                return b""
            if not self.pending.startswith(AUTH_MAGIC):
                self._refuse("a local connection that does not know this run's secret (another program or user)")
                return b""
            self.nonce_c = bytes(self.pending[len(AUTH_MAGIC):len(AUTH_MAGIC) + NONCE_BYTES])
            self.nonce_s = os.urandom(NONCE_BYTES)
            del self.pending[:len(AUTH_MAGIC) + NONCE_BYTES]
            self.transport.write(self.nonce_s + self._mac(b"S", self.network.rt.pid))
        if self.peer_pid is None:  # listening side: the proof, followed by the claimed party id
            if len(self.pending) < MAC_BYTES + 2:
                return b""
            claimed = int.from_bytes(self.pending[MAC_BYTES:MAC_BYTES + 2], "little")
            if not hmac.compare_digest(bytes(self.pending[:MAC_BYTES]), self._mac(b"C", claimed)):
                self._refuse(f"a local connection claiming to be party {claimed} did not prove that it knows "
                             f"this run's secret (another program or user)")
                return b""
            rest = bytes(self.pending[MAC_BYTES:])
        else:  # connecting side: the listening party's proof
            if len(self.pending) < NONCE_BYTES + MAC_BYTES:
                return b""
            self.nonce_s = bytes(self.pending[:NONCE_BYTES])
            if not hmac.compare_digest(bytes(self.pending[NONCE_BYTES:NONCE_BYTES + MAC_BYTES]),
                                       self._mac(b"S", self.peer_pid)):
                self.transport.abort()
                self.network.fail(tls.AuthenticationError(
                    f"the program at {self.network.address(self.peer_pid)} is not party {self.peer_pid} of this "
                    f"run (it does not know the run's secret): another program or user holds that port"))
                return b""
            rest = bytes(self.pending[NONCE_BYTES + MAC_BYTES:])
            self.transport.write(self._mac(b"C", self.network.rt.pid))
            self._greet(self.transport)
        self.authenticated = True
        self.pending = bytearray()
        return rest

    def _refuse(self, why: str) -> None:
        self.network.refused.append(why)
        self.transport.abort()

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
