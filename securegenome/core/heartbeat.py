"""Liveness that a frozen process cannot fake: UDP heartbeats between the parties, from their own thread.

TCP alone cannot tell a frozen party from a busy one: a process stopped with ``kill -STOP``, deadlocked,
or lost in a swap storm still has a kernel that acknowledges data and answers keep-alive probes.  So every
party also runs a small thread that exchanges datagrams with its peers, following MPyC's connection pattern:
party i sends a *ping* every ``interval`` seconds to each party j > i (at j's host and port, UDP), and j
answers each ping with a *pong* to where it came from.  j learns that i is alive from the pings, i that j is
alive from the pongs; only parties that listen on TCP receive unsolicited datagrams, so the firewall rules
stay those of TCP (the same port number, UDP as well).  A peer heard from for no ``timeout`` seconds is
reported lost (``on_lost(pid)``).  The thread starts with the connections: a peer counts (is *armed*) from its
first datagram, so one that freezes while the parties connect is noticed too, and every peer once all are
connected (:meth:`Heartbeat.arm_all`) -- parties started by hand may come minutes apart.

The thread answers while the party's event loop computes: Python hands the interpreter lock to other threads
every few milliseconds, so only a single native call (one NumPy or numba kernel) that holds the lock for
longer than the timeout could delay the answers -- the reason the default timeout is 30 s.  A party that is
merely slow keeps answering and is never declared lost; a frozen process sends nothing.

What a datagram reveals: only that the sender is alive (a fixed magic, its party id, a counter, and in local
runs a MAC with the run's secret).  Datagrams of multi-host runs are not authenticated: someone on the path
who forges pings could only delay noticing a party that froze (never hide one that died: its TCP connection
closes), and one who drops them makes the run stop, as cutting the cable would.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
import threading
import time

MAGIC = b"SGhb"
PING, PONG = 1, 2
_FORMAT = "<4sBHQ"  # magic, kind, sender's party id, counter
_MAC_BYTES = 16


def interval_for(timeout: float) -> float:
    """Seconds between pings: several per timeout, so a few lost datagrams never make a peer look lost."""
    return min(1.0, timeout / 8)


class Heartbeat(threading.Thread):
    """The heartbeat thread of party ``me``; ``sock`` is its bound UDP socket, ``addresses[j]`` = (host, port)."""

    def __init__(self, sock: socket.socket, me: int, addresses: dict[int, tuple[str, int]], timeout: float,
                 on_lost, token: bytes | None = None):
        super().__init__(name="securegenome-heartbeat", daemon=True)
        self.sock, self.me, self.addresses = sock, me, addresses
        self.timeout, self.interval = timeout, interval_for(timeout)
        self.on_lost, self.token = on_lost, token
        self.last_heard: dict[int, float] = {}  # armed peers: when each was last heard from
        self.reported: set[int] = set()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._counter = 0

    def arm_all(self) -> None:
        """All parties are connected: from now on every peer's silence counts."""
        now = time.monotonic()
        with self._lock:
            for pid in self.addresses:
                self.last_heard.setdefault(pid, now)

    def _heard(self, pid: int) -> None:
        with self._lock:
            self.last_heard[pid] = time.monotonic()

    def run(self) -> None:
        next_ping = time.monotonic()
        while not self._stop_event.is_set():
            now = time.monotonic()
            if now >= next_ping:
                for pid in self.addresses:
                    if pid > self.me:
                        self._send(PING, self.addresses[pid])
                next_ping = now + self.interval
            with self._lock:
                silent = [pid for pid, heard in self.last_heard.items() if now - heard > self.timeout]
            for pid in silent:
                if pid not in self.reported:
                    self.reported.add(pid)
                    self.on_lost(pid)
            self._receive(max(0.01, next_ping - now))

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=2 * self.interval + 0.5)
        self.sock.close()

    def _send(self, kind: int, address) -> None:
        self._counter += 1
        body = struct.pack(_FORMAT, MAGIC, kind, self.me, self._counter)
        try:
            self.sock.sendto(body + self._mac(body), address)
        except OSError:  # unreachable for now (not yet listening, network down): silence is the signal
            pass

    def _receive(self, wait: float) -> None:
        self.sock.settimeout(wait)
        try:
            data, source = self.sock.recvfrom(64)
        except (socket.timeout, OSError):  # includes ICMP port-unreachable reported on the socket
            return
        size = struct.calcsize(_FORMAT)
        if len(data) != size + len(self._mac(b"")) or not data.startswith(MAGIC):
            return
        body, mac = data[:size], data[size:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return
        _, kind, pid, _ = struct.unpack(_FORMAT, body)
        if pid not in self.addresses:
            return
        if kind == PING and pid < self.me:
            self._heard(pid)
            self._send(PONG, source)
        elif kind == PONG and pid > self.me:
            self._heard(pid)

    def _mac(self, body: bytes) -> bytes:
        if self.token is None:
            return b""
        return hmac.new(self.token, b"heartbeat" + body, hashlib.sha256).digest()[:_MAC_BYTES]
