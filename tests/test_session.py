"""The session layer: 1 party in-process and 3 real processes; the opening function and its ledger."""

import json
import threading
import time

import pytest

from securegenome import core
from securegenome.core import mpc
from securegenome.errors import InputError, PartyFailure, SecureGenomeError


async def secure_sum(value=0):
    """Every party inputs a secret integer; all learn the sum (the trivial protocol of the issue)."""
    secint = mpc.SecInt(32)
    shares = mpc.input(secint(value))
    return await core.open(mpc.sum(shares), why="the declared output", what="sum")


async def sum_to_party_0(value=0):
    secint = mpc.SecInt(32)
    return await core.open(mpc.sum(mpc.input(secint(value))), to=0, why="only party 0 asked", what="sum")


async def fail_on_party_1():
    if mpc.pid == 1:
        raise InputError("reads.fq, record r7: character 'X' at position 3 is not DNA")
    return await core.open(mpc.SecInt(8)(1), why="never reached by all", what="one")


async def announce(k):
    return await core.agree(k=k)


def test_sum_one_party(run1):
    [result] = run1(secure_sum, private={0: {"value": 41}})
    assert result.value == 41
    assert [(r.what, r.receivers, r.count) for r in result.ledger] == [("sum", (0,), 1)]


def test_sum_three_processes(run3):
    inputs = {0: {"value": 5}, 1: {"value": 7}, 2: {"value": 30}}
    results = run3(secure_sum, private=inputs)
    assert [r.pid for r in results] == [0, 1, 2]
    assert [r.value for r in results] == [42, 42, 42]
    for r in results:
        assert [(x.what, x.receivers, x.count) for x in r.ledger] == [("sum", (0, 1, 2), 1)]
        assert r.bytes_sent > 0


def test_output_to_one_receiver(run3):
    results = run3(sum_to_party_0, private={0: {"value": 1}, 1: {"value": 2}, 2: {"value": 3}})
    assert [r.value for r in results] == [6, None, None]
    assert all(r.ledger.received_by(1).releases == [] for r in results)
    assert results[0].ledger.received_by(0).labels() == {"sum"}


def test_five_parties_threshold_two(run3):
    results = run3(secure_sum, parties=5, threshold=2, private={i: {"value": i} for i in range(5)})
    assert [r.value for r in results] == [10] * 5


def test_failure_on_one_party_stops_all_with_its_message(run3):
    with pytest.raises(PartyFailure, match=r"party 1: reads.fq, record r7: character 'X'"):
        run3(fail_on_party_1, timeout=60)


def test_parameter_mismatch_is_named(run3):
    with pytest.raises(PartyFailure, match=r"k: party 0=2, party 1=3, party 2=2"):
        run3(announce, private={0: {"k": 2}, 1: {"k": 3}, 2: {"k": 2}}, timeout=60)


def test_parameters_agree(run3):
    results = run3(announce, kwargs={"k": 2})
    assert all(r.value["k"] == 2 for r in results)


def test_open_requires_label_and_reason(run1):
    async def unlabelled():
        return await core.open(mpc.SecInt(8)(1), why="", what="x")
    with pytest.raises(ValueError, match="label"):
        run1(unlabelled)


def test_ledger_json(tmp_path, run1):
    [result] = run1(secure_sum, private={0: {"value": 3}})
    path = tmp_path / "ledger.json"
    result.ledger.write(path)
    data = json.loads(path.read_text())
    assert data["totals"] == {"sum": 1}
    assert data["releases"][0]["why"] == "the declared output"



# -- threshold 0 -------------------------------------------------------------------------------------------

def test_threshold_0_with_several_parties_is_refused():
    with pytest.raises(SecureGenomeError, match=r"^--threshold 0 with 3 parties gives no secrecy \(every share is "
                                                r"the secret itself\); use t >= 1, or --insecure-threshold-0"):
        core.run(secure_sum, parties=3, threshold=0)


def test_threshold_0_refused_by_the_cli(tmp_path, capsys):
    from securegenome.cli import main

    data = tmp_path / "h.csv"
    data.write_text("T,E,group\n5,1,A\n9,0,B\n")
    argv = ["km", f"--data={data}", "--data", str(data), "--data", str(data), "--interval", "10", "--threshold", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("securegenome: error: --threshold 0 with 3 parties gives no secrecy") and "\n" not in err


def test_insecure_threshold_0_is_warned_and_in_the_ledger(run3, capfd):
    results = run3(secure_sum, threshold=0, insecure_threshold_0=True,
                   private={0: {"value": 1}, 1: {"value": 2}, 2: {"value": 3}})
    assert [r.value for r in results] == [6, 6, 6]
    assert "securegenome: warning: --insecure-threshold-0" in capfd.readouterr().err
    for r in results:
        first = r.ledger.releases[0]
        assert (first.what, first.receivers) == ("insecure_threshold_0", (0, 1, 2))
        assert "every share is the secret itself" in first.why


# -- local runs are authenticated ------------------------------------------------------------------------

def _foreign_client(port, stop, outcomes):
    """Another local program that connects to a party's port first and sends an MPyC greeting as party 0."""
    import socket

    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            time.sleep(0.01)
            continue
        with s:
            s.sendall((0).to_bytes(2, "little") + bytes(32))
            s.settimeout(10)
            try:
                outcomes.append(s.recv(1024))  # b"": closed by the party without a word
            except OSError as exc:
                outcomes.append(exc)
        return


def test_foreign_local_connection_is_refused_and_the_run_works(run3, monkeypatch):
    from securegenome.core import session

    real, threads, stop, outcomes = session._free_ports, [], threading.Event(), []

    def ports_with_a_foreign_client(n):
        ports = real(n)
        if not threads:
            for port in ports[1:]:  # parties 1 and 2 listen
                threads.append(threading.Thread(target=_foreign_client, args=(port, stop, outcomes)))
                threads[-1].start()
        return ports

    monkeypatch.setattr(session, "_free_ports", ports_with_a_foreign_client)
    try:
        results = run3(secure_sum, private={0: {"value": 1}, 1: {"value": 2}, 2: {"value": 3}}, timeout=120)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert [r.value for r in results] == [6, 6, 6]
    assert len(outcomes) == 2 and all(o == b"" or isinstance(o, ConnectionResetError) for o in outcomes)


def test_program_listening_on_a_partys_port_learns_no_key():
    """A local program holding party 1's port: party 0 sends it only its challenge, never MPyC's greeting
    with the PRSS keys, and stops with an authentication error naming the port."""
    import asyncio
    import types

    from securegenome.core import network

    received = []

    async def scenario():
        async def squatter(reader, writer):
            received.append(await reader.read(1024))
            writer.write(bytes(network.NONCE_BYTES + network.MAC_BYTES))  # a proof without the run's secret
            await writer.drain()
            received.append(await reader.read(1024))  # b"": party 0 hangs up
            writer.close()

        server = await asyncio.start_server(squatter, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        parties = [types.SimpleNamespace(pid=i, host="127.0.0.1", port=port, protocol=None) for i in range(2)]
        greeted = []
        rt = types.SimpleNamespace(pid=0, parties=parties, options=types.SimpleNamespace(no_prss=False),
                                   _prss_keys_to_peer=lambda pid: [b"K" * 16], set_protocol=greeted.append)
        net = network.Network(rt, token=b"t" * 32)
        net.failed = asyncio.get_running_loop().create_future()
        await net._connect_to(1, asyncio.get_running_loop().time() + 10)
        error = None
        try:
            await asyncio.wait_for(asyncio.shield(net.failed), 10)
        except Exception as exc:  # noqa: BLE001 -- the failure is the point
            error = exc
        server.close()
        return error, greeted, port

    error, greeted, port = asyncio.run(scenario())
    assert received[0].startswith(network.AUTH_MAGIC)
    assert len(received[0]) == len(network.AUTH_MAGIC) + network.NONCE_BYTES
    assert received[1] == b"" and not greeted
    assert str(error) == (f"the program at 127.0.0.1:{port} is not party 1 of this run (it does not know the run's "
                          f"secret): another program or user holds that port")


# -- the MPyC internals we rely on -----------------------------------------------------------------------

def test_installed_mpyc_passes_the_self_check():
    from securegenome.core import _mpyc

    _mpyc.check_mpyc.cache_clear()
    _mpyc.check_mpyc()
    _mpyc.check_connected(mpc)  # 1 party: its single key set is complete


def _broken_recombination(field, xs, x_r):
    return [1] * len(xs)


@pytest.mark.parametrize("target, name, replacement, finding", [
    ("thresha", "_recombination_vector", _broken_recombination, r"_recombination_vector\(field, \(1, 2, 3\), 0\)"),
    ("runtime", "_prss_uci", lambda self: bytes(16), r"_prss_uci\(\) no longer returns the next program counter"),
    ("runtime", "_prss_keys", {(0,): bytes(16), (0, 1): bytes(16)}, r"_prss_keys before connecting holds keys"),
    ("runtime", "_send_message", None, r"Runtime\._send_message is missing"),
    ("asyncoro", "MessageExchanger.send", lambda self, pc, payload: self.transport.write(payload),
     r"message frame is no longer <qI"),
])
def test_a_different_mpyc_fails_loudly(monkeypatch, target, name, replacement, finding):
    from mpyc import asyncoro, thresha
    from mpyc.runtime import Runtime

    from securegenome.core import _mpyc

    if target == "thresha":
        monkeypatch.setattr(thresha, name, replacement)
    elif target == "asyncoro":
        monkeypatch.setattr(asyncoro.MessageExchanger, name.split(".")[1], replacement)
    elif name == "_prss_keys":
        monkeypatch.setattr(mpc, name, replacement)
    elif replacement is None:
        monkeypatch.delattr(Runtime, name)
    else:
        monkeypatch.setattr(Runtime, name, replacement)
    _mpyc.check_mpyc.cache_clear()
    try:
        with pytest.raises(_mpyc.MPyCMismatch, match=r"^the installed MPyC [\d.]+ differs from what securegenome "
                                                     r"relies on \(.*" + finding):
            core.run(secure_sum)
    finally:
        _mpyc.check_mpyc.cache_clear()


def test_transcript_keeps_at_most_its_limit_then_counts():
    """A large run's transcript stops keeping values (a 10^6-base BWT opens ~2*10^8 of them)."""
    import numpy as np

    from securegenome.core.ledger import Ledger, flatten

    ledger = Ledger(transcript_limit=5)
    ledger.receive("a", [0], np.arange(3))
    ledger.receive("b", [0], np.arange(3))  # would exceed the limit: count only
    ledger.receive("c", [0], [np.int64(7), 8])
    assert ledger.views() == [[0, 1, 2], None, [7, 8]] and ledger.transcript[1]["count"] == 3
    assert flatten(np.array([2**70, 1.5, 3], dtype=object)) == [2**70, 1.5, 3]
    assert flatten(np.array([1, 2], dtype=object)) == [1, 2]
