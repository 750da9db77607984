"""Multi-host runs across three network namespaces: one party per namespace, TLS, failures.

Each party runs in its own network namespace with its own address (10.213.0.1-3, a private range that
exists only inside the namespaces created here) behind a bridge in a fourth "switch" namespace, so the
parties really talk over a network: they share no loopback, and cutting a cable is ``ip link set down``.
Needs root and iproute2; skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from securegenome.cli import main as cli_main

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_deploy import BOUND, finish, launch, wait_running  # noqa: E402

SUBNET = "10.213.0"
PORT = 11365


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def hosts():
    """Three namespaces on one bridge; yields (namespace names, --hosts list, switch namespace)."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (`ip`) is not installed: cannot create network namespaces")
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    tag = f"sg{os.getpid() % 100000}"
    switch, names = f"{tag}sw", [f"{tag}p{i}" for i in range(3)]
    try:
        _ip("netns", "add", switch)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create network namespaces here: {exc.stderr.strip()}")
    try:
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for i, name in enumerate(names):
            _ip("netns", "add", name)
            _ip("-n", switch, "link", "add", f"port{i}", "type", "veth", "peer", "name", "eth0", "netns", name)
            _ip("-n", switch, "link", "set", f"port{i}", "master", "br0", "up")
            _ip("-n", name, "addr", "add", f"{SUBNET}.{i + 1}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")
            _ip("-n", name, "link", "set", "lo", "up")
        yield names, [f"{SUBNET}.{i + 1}:{PORT}" for i in range(3)], switch
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot wire network namespaces here: {' '.join(exc.cmd)}: {exc.stderr.strip()}")
    finally:
        for name in [*names, switch]:
            _ip("netns", "del", name, check=False)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls")
    assert cli_main(["keys", "--parties", "3", "-o", str(base)]) == 0
    return base


def netns(name):
    return ["ip", "netns", "exec", name]


@pytest.mark.slow  # the search and cut-off tests below cover TLS across hosts by default
def test_three_hosts_tls_python_api(hosts, keys):
    names, addresses, _ = hosts
    procs = [launch(pid, addresses, "secure_sum", {"value": pid + 1}, prefix=netns(names[pid]),
                    tls_dir=str(keys / f"party_{pid}")) for pid in range(3)]
    for code, stdout, stderr, _ in finish(procs):
        assert (code, stdout.strip()) == (0, "6"), stderr


def test_killed_party_across_hosts(hosts, tmp_path):
    names, addresses, _ = hosts
    pidfile = str(tmp_path / "pid")
    procs = [launch(pid, addresses, kwargs={"n": 10_000, "pidfile": pidfile}, prefix=netns(names[pid]),
                    no_tls=True) for pid in range(3)]
    wait_running(pidfile)
    procs[2].kill()
    for code, _, stderr, seconds in finish(procs[:2]):
        assert code == 2
        assert stderr.strip().splitlines()[-1].startswith(f"securegenome: error: lost party 2 ({addresses[2]})")
        assert seconds < BOUND


def test_cut_off_party_across_hosts(hosts, tmp_path, keys):
    """Party 1's cable is pulled: no FIN, no RST; everyone notices within the peer timeout by itself."""
    names, addresses, switch = hosts
    pidfile = str(tmp_path / "pid")
    peer_timeout = 4
    procs = [launch(pid, addresses, kwargs={"n": 10_000, "pidfile": pidfile}, prefix=netns(names[pid]),
                    tls_dir=str(keys / f"party_{pid}"), peer_timeout=peer_timeout) for pid in range(3)]
    wait_running(pidfile)
    _ip("-n", switch, "link", "set", "port1", "down")
    try:
        results = finish(procs)
    finally:
        _ip("-n", switch, "link", "set", "port1", "up")
    for pid, (code, _, stderr, seconds) in enumerate(results):
        last = stderr.strip().splitlines()[-1]
        assert code == 2, stderr
        assert seconds < peer_timeout + 10  # typically about peer_timeout (see docs/deployment.md)
        if pid != 1:
            assert last.startswith(f"securegenome: error: lost party 1 ({addresses[1]}): it stopped answering "
                                   f"(no sign of life for 4 s")
        else:
            assert last.startswith("securegenome: error: lost party ")


def test_frozen_party_across_hosts(hosts, tmp_path, keys):
    """Party 1 is frozen (kill -STOP): its kernel still answers TCP, but its heartbeats stop."""
    names, addresses, _ = hosts
    pidfile, peer_timeout = str(tmp_path / "pid"), 3
    procs = [launch(pid, addresses, kwargs={"n": 100_000, "pidfile": pidfile}, prefix=netns(names[pid]),
                    tls_dir=str(keys / f"party_{pid}"), peer_timeout=peer_timeout) for pid in range(3)]
    wait_running(pidfile)
    frozen = int(open(f"{pidfile}.1").read())
    os.kill(frozen, signal.SIGSTOP)
    try:
        results = finish([procs[0], procs[2]], limit=60)
    finally:
        os.kill(frozen, signal.SIGKILL)
        procs[1].kill()
        procs[1].wait()
    for code, _, stderr, seconds in results:
        assert code == 2, stderr
        assert stderr.strip().splitlines()[-1].startswith(
            f"securegenome: error: lost party 1 ({addresses[1]}): it stopped answering (no sign of life for 3 s")
        assert seconds < peer_timeout + 10


def test_silently_dropped_packets_across_hosts(hosts, tmp_path, keys):
    """Every frame between parties 0 and 1 is silently lost (each sends to a hardware address nobody has: the
    switch floods it, no host takes it); links 0-2 and 1-2 keep working.  0 and 1 each find the other lost,
    and 2 stops on their notices."""
    names, addresses, _ = hosts
    pidfile, peer_timeout = str(tmp_path / "pid"), 3
    procs = [launch(pid, addresses, kwargs={"n": 100_000, "pidfile": pidfile}, prefix=netns(names[pid]),
                    tls_dir=str(keys / f"party_{pid}"), peer_timeout=peer_timeout) for pid in range(3)]
    wait_running(pidfile)
    for here, there in ((0, 1), (1, 0)):
        _ip("-n", names[here], "neigh", "replace", f"{SUBNET}.{there + 1}", "lladdr", "02:00:00:00:00:99", "dev",
            "eth0", "nud", "permanent")
    try:
        results = finish(procs, limit=60)
    finally:
        for here, there in ((0, 1), (1, 0)):
            _ip("-n", names[here], "neigh", "del", f"{SUBNET}.{there + 1}", "dev", "eth0", check=False)
    for pid, (code, _, stderr, seconds) in enumerate(results):
        assert code == 2, stderr
        assert seconds < peer_timeout + 10
        last = stderr.strip().splitlines()[-1]
        lost = {0: "1", 1: "0", 2: "[01]"}[pid]
        assert re.match(rf"securegenome: error: lost party {lost} \(.*\): it stopped answering", last), last


def _cut_silently(names, a, b, undo=False):
    """Frames between parties a and b go to a hardware address nobody has: silently lost, both ways."""
    for here, there in ((a, b), (b, a)):
        if undo:
            _ip("-n", names[here], "neigh", "del", f"{SUBNET}.{there + 1}", "dev", "eth0", check=False)
        else:
            _ip("-n", names[here], "neigh", "replace", f"{SUBNET}.{there + 1}", "lladdr", "02:00:00:00:00:99",
                "dev", "eth0", "nud", "permanent")


def _command_argv(command, pid, tmp_path):
    """One party's own command line for ``search`` (owner, querier, helper) or ``km`` (a hospital each)."""
    if command == "search":
        import test_chaos

        argv = test_chaos._search(tmp_path, "scan")  # search REF READS -k 1 --engine scan
        files = [[argv[1], "-"], ["-", argv[2]], ["-", "-"]][pid]
        return ["search", *files, *argv[3:], *(["-o", str(tmp_path / "out")] if pid == 1 else [])]
    import test_chaos

    argv = test_chaos._survival(tmp_path, "km")  # km --data 0:P0 --data 1:P1 --data 2:P2 options...
    return ["km", "--data", argv[2 + 2 * pid], *argv[7:], "--json", str(tmp_path / f"out{pid}")]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["stop", "drop"])
@pytest.mark.parametrize("command, pid", [("search", 0), ("search", 1), ("search", 2), ("km", 0), ("km", 2)])
def test_chaos_across_hosts(hosts, keys, tmp_path, command, pid, fault):
    """Each party runs its own command on its own host; party ``pid`` freezes, or its link to the next party
    silently drops every packet, at a random moment: every other party stops within peer timeout + 10 s,
    naming a lost party, and no output file appears."""
    names, addresses, _ = hosts
    peer_timeout = 3
    exe = os.path.join(os.path.dirname(sys.executable), "securegenome")
    procs = [subprocess.Popen([*netns(names[i]), exe, *_command_argv(command, i, tmp_path), "--party-id", str(i),
                               "--hosts", ",".join(addresses), "--tls-dir", str(keys / f"party_{i}"),
                               "--peer-timeout", str(peer_timeout)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    import test_chaos

    parties = [_party_process(p.pid) for p in procs]
    deadline = time.monotonic() + 120
    while not all(test_chaos._connected(party, 2) for party in parties):
        assert time.monotonic() < deadline, "the parties did not connect"
        time.sleep(0.05)
    time.sleep(random.Random(f"{command}{pid}{fault}").uniform(0, test_chaos.WINDOW.get(command, 1.5)))
    assert all(p.poll() is None for p in procs), "the run ended before the fault"
    other = (pid + 1) % 3
    party = parties[pid]
    if fault == "stop":
        os.kill(party, signal.SIGSTOP)
    else:
        _cut_silently(names, pid, other)
    try:
        survivors = [i for i in range(3) if fault == "drop" or i != pid]
        results = dict(zip(survivors, finish([procs[i] for i in survivors], limit=peer_timeout + 30)))
    finally:
        if fault == "stop":
            os.kill(party, signal.SIGKILL)
        else:
            _cut_silently(names, pid, other, undo=True)
        for p in procs:
            p.kill()
            p.wait()
    lines = {i: stderr.strip().splitlines()[-1] for i, (_, _, stderr, _) in results.items()}
    for i, (code, _, stderr, seconds) in results.items():
        assert code == 2, stderr
        assert seconds < peer_timeout + 10
        assert re.match(r"securegenome: error: lost party \d \(.*\): it stopped answering", lines[i]), lines
    assert not list(tmp_path.glob("out*"))


def _party_process(command_pid):
    """The party process started by the command ``command_pid`` (inside ``ip netns exec``)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for proc in os.listdir("/proc"):
            if proc.isdigit():
                try:
                    with open(f"/proc/{proc}/cmdline", "rb") as f:
                        argv = f.read().split(b"\0")
                    with open(f"/proc/{proc}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
                if b"securegenome._party" in argv and _descends(ppid, command_pid):
                    return int(proc)
        time.sleep(0.1)
    raise AssertionError("no party process")


def _descends(pid, ancestor):
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


def _km_inputs(tmp_path):
    rng = random.Random(7)
    paths = []
    for pid in range(3):
        path = tmp_path / f"hospital{pid}.csv"
        rows = [f"{rng.randint(1, 60)},{rng.randint(0, 1)},{rng.choice('AB')}" for _ in range(25)]
        path.write_text("T,E,group\n" + "\n".join(rows) + "\n")
        paths.append(path)
    return paths


@pytest.mark.slow  # the search test below covers a protocol command across hosts by default
def test_three_hosts_km_command_with_tls(hosts, keys, tmp_path):
    """`securegenome km`, one hospital per host, TLS: the same curves as the all-local run."""
    names, addresses, _ = hosts
    data = _km_inputs(tmp_path)
    common = ["km", "--duration", "T", "--event", "E", "--group", "group", "--interval", "10"]
    local = tmp_path / "local.json"
    assert cli_main([*common, *[f"--data={i}:{p}" for i, p in enumerate(data)], "--json", str(local)]) == 0
    exe = os.path.join(os.path.dirname(sys.executable), "securegenome")
    procs = [subprocess.Popen([*netns(names[pid]), exe, *common, f"--data={pid}:{data[pid]}", "--party-id", str(pid),
                               "--hosts", ",".join(addresses), "--tls-dir", str(keys / f"party_{pid}"),
                               "--json", str(tmp_path / f"party{pid}.json")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for pid in range(3)]
    for code, _, stderr, _ in finish(procs):
        assert code == 0, stderr
    expected = json.loads(local.read_text())["survival"]
    for pid in range(3):
        assert json.loads((tmp_path / f"party{pid}.json").read_text())["survival"] == expected


def test_three_hosts_search_command_with_tls(hosts, keys, tmp_path):
    """`securegenome search`: reference owner, querier and helper on three hosts, TLS; the hits planted."""
    names, addresses, _ = hosts
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "data", "lambda_phage.fa")) as f:
        genome = "".join(line.strip() for line in f if not line.startswith(">"))[:6000]
    ref = str(tmp_path / "lambda_6k.fa")
    with open(ref, "w") as f:
        f.write(">lambda_6k first 6000 bases of NC_001416.1\n" + genome + "\n")
    changed = "A" if genome[5010] != "A" else "C"  # one mismatch at the read's 11th base
    reads = tmp_path / "reads.fa"
    reads.write_text(f">exact\n{genome[100:130]}\n>onemismatch\n{genome[5000:5010]}{changed}{genome[5011:5030]}\n"
                     f">absent\n{'ACGT' * 8}\n")
    exe = os.path.join(os.path.dirname(sys.executable), "securegenome")
    files = [[ref, "-"], ["-", str(reads)], ["-", "-"]]
    sam = tmp_path / "hits.sam"
    procs = [subprocess.Popen([*netns(names[pid]), exe, "search", *files[pid], "-k", "1", "--party-id", str(pid),
                               "--hosts", ",".join(addresses), "--tls-dir", str(keys / f"party_{pid}"),
                               *(["-o", str(sam)] if pid == 1 else [])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for pid in range(3)]
    for code, _, stderr, _ in finish(procs, limit=300):
        assert code == 0, stderr
    records = [line.split("\t") for line in sam.read_text().splitlines() if not line.startswith("@")]
    mapped = {(r[0], r[2], int(r[3])) for r in records if not int(r[1]) & 4}
    assert mapped == {("exact", "lambda_6k", 101), ("onemismatch", "lambda_6k", 5001)}
