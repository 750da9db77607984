"""The session layer: 1 party in-process and 3 real processes; the opening function and its ledger."""

import json

import pytest

from securegenome import core
from securegenome.core import mpc
from securegenome.errors import InputError, PartyFailure


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
