"""Deployment: TLS keys and authentication, multi-host runs, failures ending cleanly, busy ports.

"Multi-host" tests here run every party as an independent process with its own ``--hosts`` view (on
loopback), exactly as on separate machines: no parent sees all parties, so a party that notices a lost
or failed peer does so by itself.  ``tests/test_deploy_netns.py`` does the same across network namespaces.

Run as a script, this module is that independent party (see :func:`launch`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from securegenome import core
from securegenome.cli import main as cli_main
from securegenome.core import mpc, session
from securegenome.errors import InputError, PartyFailure, SecureGenomeError

HERE = os.path.dirname(os.path.abspath(__file__))
BOUND = 30.0  # the documented default bound for noticing a lost party (peer timeout)


# -- protocols (module level: pickled by reference into the party processes) ------------------------------

SECRET = "duration 1832 is beyond the horizon 1825"  # a message quoting a patient's value


async def rounds(n=20, die=None, at=3, fail=None, pidfile=None, pause=0.05, crash=None, capture=None,
                 busy=None, busy_seconds=0.0):
    """``n`` rounds of all-to-all messages; at round ``at``, party ``die`` kills itself, party ``fail`` raises
    an input error and party ``crash`` a bug, both quoting :data:`SECRET`; party ``busy`` computes for
    ``busy_seconds`` (pure Python, no message) before every round.  ``capture``: every party writes the raw
    bytes it receives from its peers to ``{capture}.{pid}``."""
    if capture:
        _capture_received(f"{capture}.{mpc.pid}")
    if pidfile:
        with open(f"{pidfile}.{mpc.pid}", "w") as f:
            f.write(str(os.getpid()))
    await core.agree(protocol="rounds", n=n)
    for i in range(n):
        if mpc.pid == die and i == at:
            os.kill(os.getpid(), signal.SIGKILL)
        if mpc.pid == fail and i == at:
            raise InputError(f"party{mpc.pid}.csv, line {i + 2}: {SECRET}")
        if mpc.pid == crash and i == at:
            raise ZeroDivisionError(f"while binning: {SECRET}")
        if mpc.pid == busy:
            _compute(busy_seconds)
        await mpc.transfer(i)
        await asyncio.sleep(pause)
    return n


def _compute(seconds):
    """Keep the interpreter busy (no await, no I/O) for ``seconds``: a party slow in a long local step."""
    end, x = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        for _ in range(10_000):
            x = (x * 31 + 7) % 1_000_003
    return x


def _capture_received(path):
    """Tee every byte this party receives from its peers into ``path`` (what the peers actually sent)."""
    from securegenome.core import network

    original = network._Exchanger.data_received

    def data_received(self, data):
        with open(path, "ab") as f:
            f.write(bytes(data))
        return original(self, data)

    network._Exchanger.data_received = data_received


async def secure_sum(value=0, k=None):
    if k is not None:
        await core.agree(k=k)
    secint = mpc.SecInt(32)
    return await core.open(mpc.sum(mpc.input(secint(value))), why="the declared output", what="sum")


# -- helpers ---------------------------------------------------------------------------------------------

def free_ports(n):
    return session._free_ports(n)


def launch(pid, hosts, protocol="rounds", kwargs=None, prefix=(), **options):
    """Start one independent party of a multi-host run (this file as a script); returns the Popen."""
    spec = json.dumps({"pid": pid, "hosts": hosts, "protocol": protocol, "kwargs": kwargs or {}, **options})
    return subprocess.Popen([*prefix, sys.executable, os.path.abspath(__file__), spec], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=HERE)


def finish(procs, limit=120):
    """Wait for independent parties; returns [(exit code, stdout, stderr, seconds from now)]."""
    start, out = time.monotonic(), []
    for p in procs:
        stdout, stderr = p.communicate(timeout=limit)
        out.append((p.returncode, stdout, stderr, time.monotonic() - start))
    return out


def _party_script(spec):
    """Body of :func:`launch`: what a protocol command does with --party-id/--hosts, errors as the CLI."""
    import test_deploy  # this module under its importable name, so its protocols pickle by reference

    spec = json.loads(spec)
    try:
        [result] = core.run(getattr(test_deploy, spec["protocol"]), hosts=spec["hosts"], party_id=spec["pid"],
                            kwargs=spec["kwargs"], tls_dir=spec.get("tls_dir"), no_tls=spec.get("no_tls", False),
                            peer_timeout=spec.get("peer_timeout"), connect_timeout=spec.get("connect_timeout"))
    except SecureGenomeError as exc:
        print(f"securegenome: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.value))
    return 0


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """TLS folders for 3 parties made by the CLI, plus a second, unrelated set (another CA)."""
    base = tmp_path_factory.mktemp("tls")
    assert cli_main(["keys", "--parties", "3", "-o", str(base / "good")]) == 0
    assert cli_main(["keys", "--parties", "3", "-o", str(base / "other")]) == 0
    return base


# -- keys ------------------------------------------------------------------------------------------------

def test_keys_layout_permissions_and_names(keys):
    from cryptography import x509

    for pid in range(3):
        folder = keys / "good" / f"party_{pid}"
        assert sorted(os.listdir(folder)) == ["mpyc_ca.crt", f"party_{pid}.crt", f"party_{pid}.key"]
        assert os.stat(folder / f"party_{pid}.key").st_mode & 0o077 == 0  # the key is private
        cert = x509.load_pem_x509_certificate((folder / f"party_{pid}.crt").read_bytes())
        ca = x509.load_pem_x509_certificate((folder / "mpyc_ca.crt").read_bytes())
        assert cert.subject.rfc4514_string() == f"CN=MPyC party {pid}"
        cert.verify_directly_issued_by(ca)
    assert not list(keys.glob("**/*ca*.key"))  # the CA's private key is not kept


def test_keys_refuses_to_overwrite(keys, capsys):
    assert cli_main(["keys", "--parties", "3", "-o", str(keys / "good")]) == 2
    assert "already holds party_0" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["keys", "--parties", "1", "-o", "x"], "--parties: TLS keys are for runs of 2 or more parties"),
    (["keys", "--parties", "3", "--days", "0", "-o", "x"], "--days must be at least 1"),
])
def test_keys_bad_options(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli_main(argv) == 2
    assert capsys.readouterr().err.strip() == f"securegenome: error: {message}"


# -- TLS -------------------------------------------------------------------------------------------------

def test_tls_run_on_loopback(run3, keys):
    results = run3(secure_sum, private={0: {"value": 5}, 1: {"value": 7}, 2: {"value": 30}},
                   tls_dir=str(keys / "good"), timeout=120)
    assert [r.value for r in results] == [42, 42, 42]


def _mixed(keys, tmp_path, replace):
    mixed = tmp_path / "mixed"
    shutil.copytree(keys / "good", mixed)
    replace(mixed)
    return str(mixed)


def test_certificate_from_another_ca_is_refused(run3, keys, tmp_path):
    def other_ca_for_party_1(mixed):
        shutil.rmtree(mixed / "party_1")
        shutil.copytree(keys / "other" / "party_1", mixed / "party_1")

    with pytest.raises(PartyFailure, match=r"party [12] at 127\.0\.0\.1:\d+ presented a certificate this party "
                                           r"cannot authenticate \(self-signed certificate in certificate chain\)"):
        run3(secure_sum, tls_dir=_mixed(keys, tmp_path, other_ca_for_party_1), connect_timeout=2, timeout=120)


def test_party_holding_another_partys_certificate_is_refused(run3, keys, tmp_path):
    def party_0_holds_party_1s(mixed):
        for ext in ("crt", "key"):
            shutil.copy(mixed / "party_1" / f"party_1.{ext}", mixed / "party_0" / f"party_0.{ext}")

    with pytest.raises(PartyFailure, match=r"refused: the peer claiming to be party 0 holds the certificate of "
                                           r"'MPyC party 1'"):
        run3(secure_sum, tls_dir=_mixed(keys, tmp_path, party_0_holds_party_1s), connect_timeout=2, timeout=120)


def test_multi_host_needs_tls_or_explicit_no_tls(keys):
    hosts = [f"127.0.0.1:{p}" for p in free_ports(3)]
    with pytest.raises(SecureGenomeError, match="multi-host runs use TLS: give --tls-dir"):
        core.run(secure_sum, hosts=hosts, party_id=0)
    with pytest.raises(InputError, match="no party_1.crt, party_1.key and mpyc_ca.crt for party 1"):
        core.run(secure_sum, hosts=hosts, party_id=1, tls_dir=str(keys / "good" / "party_0"))


# -- multi-host runs (independent parties on loopback) ---------------------------------------------------

@pytest.mark.slow  # TLS across hosts runs by default in test_deploy_netns and test_tls_run_on_loopback
def test_multi_host_tls_run(keys):
    hosts = [f"127.0.0.1:{p}" for p in free_ports(3)]
    procs = [launch(pid, hosts, "secure_sum", {"value": 10 * pid + 1}, tls_dir=str(keys / "good" / f"party_{pid}"))
             for pid in range(3)]
    for code, stdout, stderr, _ in finish(procs):
        assert (code, stdout.strip()) == (0, "33"), stderr


def test_parties_running_different_protocols_abort_every_party():
    """The session checks the protocol and threshold before the protocol's own agreement (sizes, k, ...)."""
    hosts = [f"127.0.0.1:{p}" for p in free_ports(3)]
    procs = [launch(pid, hosts, "secure_sum" if pid == 2 else "rounds", no_tls=True) for pid in range(3)]
    for code, stdout, stderr, _ in finish(procs):
        assert code == 2 and stdout == ""
        assert stderr.strip().splitlines()[-1] == (
            "securegenome: error: parties disagree on public parameters: protocol: party 0='test_deploy.rounds', "
            "party 1='test_deploy.rounds', party 2='test_deploy.secure_sum'")


@pytest.mark.slow  # the CLI version below runs by default once the commands have --no-tls
def test_mismatched_parameters_abort_every_party():
    hosts = [f"127.0.0.1:{p}" for p in free_ports(3)]
    procs = [launch(pid, hosts, "secure_sum", {"k": 3 if pid == 2 else 2}, no_tls=True) for pid in range(3)]
    for code, stdout, stderr, _ in finish(procs):
        assert code == 2 and stdout == ""
        assert stderr.strip().splitlines()[-1] == ("securegenome: error: parties disagree on public parameters: "
                                                  "k: party 0=2, party 1=2, party 2=3")


def test_mismatched_command_options_abort_every_party(tmp_path):
    """`securegenome km` with a different --interval on party 2: every party stops, naming the difference."""
    hosts = ",".join(f"127.0.0.1:{p}" for p in free_ports(3))
    exe = os.path.join(os.path.dirname(sys.executable), "securegenome")
    procs = []
    for pid in range(3):
        data = tmp_path / f"h{pid}.csv"
        data.write_text("T,E,group\n5,1,A\n9,0,B\n12,1,B\n")
        procs.append(subprocess.Popen(
            [exe, "km", f"--data={pid}:{data}", "--interval", "5" if pid == 2 else "10", "--horizon", "20",
             "--party-id", str(pid), "--hosts", hosts, "--no-tls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    for code, stdout, stderr, _ in finish(procs):
        assert code == 2, stderr
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("securegenome: error: parties disagree on public parameters: ") and \
            "party 0=10, party 1=10, party 2=5" in last, stderr


@pytest.mark.parametrize("fault, said", [("fail", "its input is invalid"),
                                         pytest.param("crash", "internal error", marks=pytest.mark.slow)])
def test_failing_party_tells_the_others_only_an_error_code(tmp_path, fault, said):
    """The failing party keeps its message (it may quote data); the bytes its peers receive hold only a code."""
    hosts = [f"127.0.0.1:{p}" for p in free_ports(3)]
    capture = str(tmp_path / "received")
    procs = [launch(pid, hosts, kwargs={fault: 1, "n": 200, "capture": capture}, no_tls=True) for pid in range(3)]
    results = finish(procs)
    assert results[1][0] == 2 and SECRET in results[1][2]  # the owner sees its own message
    for pid in (0, 2):
        code, _, stderr, _ = results[pid]
        assert code == 2
        assert stderr.strip().splitlines()[-1] == (f"securegenome: error: party 1 failed: {said} (the details are "
                                                   f"shown on party 1 only)")
        assert "Traceback" not in stderr and "1832" not in stderr
        received = (tmp_path / f"received.{pid}").read_bytes()
        assert b"1832" not in received and b"horizon" not in received and b"binning" not in received
        assert f'"code": "{"input" if fault == "fail" else "internal"}"'.encode() in received


def test_search_input_error_stays_with_its_owner(tmp_path):
    """`securegenome search` across hosts with a bad read on party 1: the others learn only that party 1's
    input is invalid, not which record or character (the loading step exchanges one bit per party)."""
    hosts = ",".join(f"127.0.0.1:{p}" for p in free_ports(3))
    root = os.path.dirname(HERE)
    reads = tmp_path / "reads.fa"
    reads.write_text(">patient_7_tumour\nACGTXACGT\n")
    exe = os.path.join(os.path.dirname(sys.executable), "securegenome")
    files = [[os.path.join(root, "data", "lambda_phage.fa"), "-"], ["-", str(reads)], ["-", "-"]]
    procs = [subprocess.Popen([exe, "search", *files[pid], "-k", "1", "--party-id", str(pid), "--hosts", hosts,
                               "--no-tls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for pid in range(3)]
    results = finish(procs)
    assert results[1][0] == 2 and "patient_7_tumour" in results[1][2]
    for pid in (0, 2):
        code, _, stderr, _ = results[pid]
        assert code == 2 and "patient_7_tumour" not in stderr and "'X'" not in stderr
        assert stderr.strip().splitlines()[-1] == ("securegenome: error: party 1 failed: its input is invalid (the "
                                                   "details are shown on party 1 only)")


def test_local_run_shows_the_owners_message_but_peers_receive_none(run3, tmp_path):
    """Same machine, same user: the parent may show party 1's own message; nothing of it went to 0 and 2."""
    capture = str(tmp_path / "received")
    with pytest.raises(PartyFailure, match=rf"^party 1: party1.csv, line 5: {SECRET} \(also failed: party 0, 2\)$"):
        run3(rounds, kwargs={"fail": 1, "n": 200, "capture": capture})
    for pid in (0, 2):
        received = (tmp_path / f"received.{pid}").read_bytes()
        assert b"1832" not in received and b"party1.csv" not in received


def wait_running(pidfile, n=3, limit=60):
    """Wait until all ``n`` parties of a ``rounds`` run are connected and running."""
    deadline = time.monotonic() + limit
    while sum(os.path.exists(f"{pidfile}.{i}") for i in range(n)) < n:
        assert time.monotonic() < deadline, "the parties did not start"
        time.sleep(0.1)


def test_killed_party_stops_the_others_within_the_bound(tmp_path):
    """Party 1's command is killed (SIGKILL): its party process dies with it, the others notice by themselves."""
    hosts = [f"127.0.0.1:{p}" for p in free_ports(3)]
    pidfile = str(tmp_path / "pid")
    procs = [launch(pid, hosts, kwargs={"n": 10_000, "pidfile": pidfile}, no_tls=True) for pid in range(3)]
    wait_running(pidfile)
    procs[1].kill()
    results = finish([procs[0], procs[2]])
    for code, _, stderr, seconds in results:
        assert code == 2
        assert stderr.strip().splitlines()[-1].startswith(f"securegenome: error: lost party 1 ({hosts[1]})")
        assert seconds < BOUND
        assert "Traceback" not in stderr


def test_busy_port_in_multi_host_mode_is_a_clear_error():
    hosts = [f"127.0.0.1:{p}" for p in free_ports(3)]
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", int(hosts[1].rsplit(":", 1)[1])))
        squatter.listen()
        with pytest.raises(PartyFailure, match=rf"port {hosts[1].rsplit(':', 1)[1]} of party 1 is already in use "
                                               r"on this host"):
            core.run(secure_sum, hosts=hosts, party_id=1, no_tls=True, timeout=60)


# -- local mode ------------------------------------------------------------------------------------------

def test_killed_party_local(run3):
    start = time.monotonic()
    with pytest.raises(PartyFailure, match=r"^party 1: the process died \(killed by SIGKILL\) without a result "
                                           r"\(also failed: party 0, 2\)$"):
        run3(rounds, kwargs={"die": 1, "n": 500})
    assert time.monotonic() - start < BOUND


def _stop_when_running(pidfile, pid, signum=signal.SIGSTOP, delay=1.0):
    """In the background: once all parties run, wait ``delay`` s and send ``signum`` to party ``pid``."""
    import threading

    sent = []

    def stop():
        wait_running(pidfile)
        time.sleep(delay)
        os.kill(int(open(f"{pidfile}.{pid}").read()), signum)
        sent.append(time.monotonic())

    threading.Thread(target=stop, daemon=True).start()
    return sent


def test_frozen_party_local_is_lost_within_the_peer_timeout(run3, tmp_path):
    """kill -STOP: the frozen party's kernel still answers TCP, but it sends no heartbeat."""
    pidfile, peer_timeout = str(tmp_path / "pid"), 3
    sent = _stop_when_running(pidfile, 1)
    with pytest.raises(PartyFailure, match=r"^party [02]: lost party 1 \(127\.0\.0\.1:\d+\): it stopped answering "
                                           r"\(no sign of life for 3 s: frozen"):
        run3(rounds, kwargs={"n": 100_000, "pidfile": pidfile}, peer_timeout=peer_timeout)
    assert time.monotonic() - sent[0] < peer_timeout + 10
    children = [int(open(f"{pidfile}.{i}").read()) for i in range(3)]
    assert not [pid for pid in children if _alive(pid)]


def test_slow_party_is_not_lost(run3):
    """A party computing for twice the peer timeout between messages keeps answering heartbeats."""
    results = run3(rounds, kwargs={"n": 2, "busy": 2, "busy_seconds": 4.0}, peer_timeout=2)
    assert [r.value for r in results] == [2, 2, 2]


@pytest.mark.slow  # test_deploy_netns.test_frozen_party_across_hosts runs by default (where root)
def test_frozen_party_multi_host(tmp_path):
    """Each independent party notices by itself that party 1 froze, and stops."""
    hosts = [f"127.0.0.1:{p}" for p in free_ports(3)]
    pidfile, peer_timeout = str(tmp_path / "pid"), 3
    procs = [launch(pid, hosts, kwargs={"n": 100_000, "pidfile": pidfile}, no_tls=True, peer_timeout=peer_timeout)
             for pid in range(3)]
    wait_running(pidfile)
    frozen = int(open(f"{pidfile}.1").read())
    os.kill(frozen, signal.SIGSTOP)
    try:
        results = finish([procs[0], procs[2]], limit=60)
    finally:
        procs[1].kill()
        os.kill(frozen, signal.SIGKILL)
        procs[1].wait()
    for code, stdout, stderr, seconds in results:
        assert code == 2 and stdout == ""
        assert stderr.strip().splitlines()[-1].startswith(
            f"securegenome: error: lost party 1 ({hosts[1]}): it stopped answering (no sign of life for 3 s")
        assert seconds < peer_timeout + 10


def test_timeout_stops_every_party(run3):
    with pytest.raises(PartyFailure, match=r"^party 0: stopped: the run took longer than its timeout "
                                           r"\(also failed: party 1, 2\)$"):
        run3(rounds, kwargs={"n": 10_000}, timeout=3)


def test_busy_port_in_local_mode_picks_others(run3, monkeypatch):
    real, calls = session._free_ports, []
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()

    def first_one_busy(n):
        ports = real(n)
        if not calls:
            ports[1] = squatter.getsockname()[1]
        calls.append(ports)
        return ports

    monkeypatch.setattr(session, "_free_ports", first_one_busy)
    try:
        results = run3(secure_sum, private={0: {"value": 1}, 1: {"value": 2}, 2: {"value": 3}})
    finally:
        squatter.close()
    assert [r.value for r in results] == [6, 6, 6]
    assert len(calls) == 2


def test_no_party_outlives_its_killed_parent(tmp_path):
    """SIGKILL the command running 3 local parties: its party processes go too (PR_SET_PDEATHSIG)."""
    pidfile = str(tmp_path / "pid")
    code = (f"import sys; sys.path.insert(0, {HERE!r}); import test_deploy; from securegenome import core; "
            f"core.run(test_deploy.rounds, parties=3, kwargs={{'n': 10_000, 'pidfile': {pidfile!r}}})")
    parent = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("pid.*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    children = [int((tmp_path / f"pid.{i}").read_text()) for i in range(3)]
    with open(f"/proc/{children[0]}/cmdline", "rb") as f:
        workdir = os.path.dirname(f.read().split(b"\0")[3].decode())  # python -m securegenome._party SPEC ...
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]
    assert os.path.isdir(workdir)  # the killed command could not clean up; the next run does
    core.run(secure_sum, parties=3, timeout=120)
    assert not os.path.exists(workdir)


def test_ctrl_c_stops_every_party(tmp_path):
    """Ctrl-C in the terminal (SIGINT to the whole process group): the command stops all its parties."""
    pidfile = str(tmp_path / "pid")
    code = (f"import sys; sys.path.insert(0, {HERE!r}); import test_deploy; from securegenome import core\n"
            f"try: core.run(test_deploy.rounds, parties=3, kwargs={{'n': 10_000, 'pidfile': {pidfile!r}}})\n"
            f"except KeyboardInterrupt: sys.exit(130)")
    # as a terminal's foreground job: SIGINT at its default (a test run launched in the background by a
    # non-interactive shell inherits SIGINT ignored, and Python then never raises KeyboardInterrupt)
    parent = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                              start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_running(pidfile)
    children = [int((tmp_path / f"pid.{i}").read_text()) for i in range(3)]
    os.killpg(parent.pid, signal.SIGINT)
    _, stderr = parent.communicate(timeout=30)
    assert parent.returncode == 130 and "Traceback" not in stderr, stderr
    assert not [pid for pid in children if _alive(pid)]


def _alive(pid) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


# -- addresses -------------------------------------------------------------------------------------------

def test_parties_file(tmp_path):
    path = tmp_path / "parties.txt"
    path.write_text("# party 0: hospital A\na.example.org:11365\n\nb.example.org:11366  # B\n10.0.0.3:11367\n")
    assert session.read_parties_file(path) == ["a.example.org:11365", "b.example.org:11366", "10.0.0.3:11367"]
    path.write_text("a.example.org:11365\nb.example.org\n")
    with pytest.raises(InputError, match=r"parties.txt: party 1's address 'b.example.org' is not HOST:PORT"):
        session.read_parties_file(path)
    with pytest.raises(InputError, match=r"--parties-file .*missing.txt: No such file"):
        session.read_parties_file(tmp_path / "missing.txt")


def test_bad_hosts_are_one_line_errors():
    with pytest.raises(InputError, match=r"party 2's address 'c:99999' is not HOST:PORT"):
        core.run(secure_sum, hosts=["a:1", "b:2", "c:99999"], party_id=0, no_tls=True)


if __name__ == "__main__":
    sys.exit(_party_script(sys.argv[1]))
