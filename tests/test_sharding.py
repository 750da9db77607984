"""Reference sharding and memory plans: sharded output equals unsharded output, budgets are planned, not hoped for."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securegenome import core
from securegenome.cli import main
from securegenome.core.memory import GIB, MemoryPlanError
from securegenome.core import smallfield as sf
from securegenome.errors import InputError
from securegenome.genomics import fmsearch
from securegenome.genomics import SequenceRecord, search, sharding, write_fasta, write_fastq
from securegenome.genomics.fmsearch import fm_search_plain
from securegenome.genomics.oracle import kmismatch_hits
from securegenome.genomics.searchplan import ScanPlan, plan_search, scan_memory_plan, scan_peak_bytes
from test_search import lambda_codes, simulate


# ------------------------------------------------------------------------------------ the cut itself

@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=4), st.lists(st.integers(1, 12), min_size=1, max_size=4),
       st.integers(1, 40))
def test_every_window_lies_in_exactly_one_owning_shard(records, reads, shards):
    if max(records) < min(reads):
        return
    cut = sharding.cut(records, reads, shards)
    assert len(cut) == min(shards, sharding.max_shards(records, reads))
    for m in set(reads):
        for r, n in enumerate(records):
            for pos in range(n - m + 1):
                owners = [p for s in cut for p in s.pieces if p.record == r and p.first <= pos < p.last]
                assert len(owners) == 1
                piece = owners[0]
                assert piece.start <= pos and pos + m <= piece.stop  # the whole window is in the piece
    longest = max(reads)
    for s in cut:
        for p in s.pieces:
            assert p.stop - p.last == min(longest - 1, records[p.record] - p.last)  # overlap: longest read - 1


def test_cut_depends_only_on_public_sizes():
    a = sharding.cut([1000, 300], [50, 40], 4)
    assert a == sharding.cut((1000, 300), (40, 50), 4)  # read order does not matter either
    assert [s.index for s in a] == [0, 1, 2, 3]


# ------------------------------------------------------------------- sharded output = unsharded output

def adversarial_references():
    rng = np.random.default_rng(5)
    unit = rng.integers(0, 4, 37).astype(np.uint8)
    repeats = np.concatenate([unit] * 30)  # a tandem repeat: every read hits in many shards
    with_n = rng.integers(0, 4, 1200).astype(np.uint8)
    with_n[300:420] = 4  # an N run across a shard boundary
    with_n[700:703] = 4
    return {"repeats": [repeats], "n_runs": [with_n],
            "multi_record": [rng.integers(0, 4, 500).astype(np.uint8), rng.integers(0, 5, 45).astype(np.uint8),
                             rng.integers(0, 4, 20).astype(np.uint8), rng.integers(0, 4, 700).astype(np.uint8)]}


def reads_across_boundaries(reference, shards, m=30, rng=None):
    """Reads copied from windows that straddle every shard boundary (and with 1-2 substitutions)."""
    rng = rng or np.random.default_rng(2)
    longest = max(m, 30)
    cut = sharding.cut([len(r) for r in reference], [m, longest], shards)
    reads = []
    for s in cut[1:]:
        p = s.pieces[0]
        record = reference[p.record]
        for start in (max(0, p.first - m + 1), max(0, p.first - m // 2)):
            read = record[start:start + m].copy()
            if read.size < m:
                continue
            read[rng.integers(m)] = (read[rng.integers(m)] + 1) % 4
            reads.append(read)
    return reads + simulate(reference, 4, m, rng, max_errors=2, n_rate=0.02)


@pytest.mark.parametrize("case", ["repeats", "n_runs", "multi_record"])
@pytest.mark.parametrize("engine", ["scan", "fm"])
def test_sharded_equals_unsharded_adversarial(case, engine):
    reference = adversarial_references()[case]
    reads = reads_across_boundaries(reference, 5)
    k = 2
    whole = search.search(reference, reads, k, engine=engine, cap=64, shards=1)
    expected = kmismatch_hits(reference, reads, k) if engine == "scan" else fm_search_plain(
        reference, reads, k, cap=64)[0]
    assert whole == expected
    for shards in (2, 13) if engine == "scan" else (5,):  # fm: an index per shard, one sharded run is enough
        assert search.search(reference, reads, k, engine=engine, cap=64, shards=shards) == whole


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_sharded_equals_oracle_random(data):
    reference = [np.array(r, dtype=np.uint8) for r in data.draw(
        st.lists(st.lists(st.integers(0, 4), min_size=2, max_size=80), min_size=1, max_size=3))]
    longest = max(len(r) for r in reference)
    reads = [np.array(r, dtype=np.uint8) for r in data.draw(
        st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=min(longest, 10)), min_size=1, max_size=4))]
    k = data.draw(st.integers(0, min(len(r) for r in reads) - 1))
    shards = data.draw(st.integers(2, 9))
    assert search.search(reference, reads, k, engine="scan", shards=shards) == kmismatch_hits(reference, reads, k)


@pytest.mark.slow
def test_sharded_three_processes_two_workers_both_engines():
    reference = adversarial_references()["multi_record"]
    reads = reads_across_boundaries(reference, 3)
    expected = kmismatch_hits(reference, reads, 2)
    for engine in ("scan", "fm"):
        got = search.search(reference, reads, 2, engine=engine, cap=64, parties=3, shards=3, workers=2,
                            timeout=600)
        assert got == expected, engine


def write_inputs(tmp_path, reference, reads):
    ref, fq = tmp_path / "ref.fa", tmp_path / "reads.fq"
    write_fasta(str(ref), [SequenceRecord(f"chr{i} test", codes, None, "") for i, codes in enumerate(reference)])
    write_fastq(str(fq), [SequenceRecord(f"read{i}", codes, "I" * codes.size, "") for i, codes in enumerate(reads)])
    return str(ref), str(fq)


def without_pg(text):
    return [line for line in text.splitlines() if not line.startswith("@PG")]


@pytest.mark.parametrize("fmt", ["sam", "tsv"])
def test_cli_sharded_output_byte_identical(tmp_path, fmt):
    reference = adversarial_references()["multi_record"]
    ref, fq = write_inputs(tmp_path, reference, reads_across_boundaries(reference, 4))
    outputs = []
    for extra in ([], ["--shards", "4"]):
        out = tmp_path / f"out{len(outputs)}.{fmt}"
        assert main(["search", ref, fq, "-k", "2", "--parties", "1", "--engine", "scan", "-o", str(out),
                     *extra]) == 0
        outputs.append(out.read_text())
    if fmt == "tsv":  # TSV has no header line naming the command: byte for byte
        assert outputs[0] == outputs[1]
    else:  # SAM: every line but @PG, which records the command line itself
        assert without_pg(outputs[0]) == without_pg(outputs[1])
        assert sum(1 for line in outputs[0].splitlines() if not line.startswith("@")) > len(reference)


def test_cli_three_processes_sharded_json_reports_plan_and_peaks(tmp_path):
    reference = adversarial_references()["n_runs"]
    reads = reads_across_boundaries(reference, 3)
    ref, fq = write_inputs(tmp_path, reference, reads)
    out, js, ledger = tmp_path / "hits.tsv", tmp_path / "run.json", tmp_path / "ledger.json"
    assert main(["search", ref, fq, "-k", "2", "--engine", "scan", "--shards", "3", "--workers", "2", "-o",
                 str(out), "--json", str(js), "--ledger", str(ledger), "--timeout", "300"]) == 0
    summary = json.loads(js.read_text())
    assert summary["shards"] == 3 and summary["workers"] == 2 and summary["plan"]["shards"] == 3
    assert summary["plan"]["predicted_peak_gib"] > 0
    assert set(summary["peak_rss_bytes"]) == {"0", "1", "2"} and all(v > 0 for v in summary["peak_rss_bytes"].values())
    assert len(summary["shard_seconds"]) == 3
    assert summary["hits"] == len(kmismatch_hits(reference, reads, 2))
    releases = json.loads(ledger.read_text())["releases"]
    assert {r["what"] for r in releases} == {"search.window_tests"} and all(r["receivers"] == [1] for r in releases)


# ------------------------------------------------------------------------------------------- memory

def test_tiny_budget_runs_in_more_batches_with_the_same_hits():
    reference = [lambda_codes()[:20_000]]
    reads = simulate(reference, 8, 100, np.random.default_rng(4), max_errors=2)
    plan = ScanPlan((20_000,), (100,) * 8, 2, ("+", "-"))
    roomy, _ = scan_memory_plan(plan, 8 * GIB)
    tight_budget = scan_peak_bytes(scan_memory_plan(plan, 0)[0]) + (8 << 20)
    tight, memory_plan = scan_memory_plan(plan, tight_budget)
    assert memory_plan.fits(tight_budget) and len(tight.batches()) > len(roomy.batches())
    hits = search.search(reference, reads, 2, engine="scan", memory=tight_budget / GIB)
    assert hits == kmismatch_hits(reference, reads, 2) and hits


async def plan_or_stop(**kwargs):
    """The search under a budget; if no plan fits: the error, and what this party was opened or received."""
    try:
        await search.secure_search(**kwargs)
    except MemoryPlanError as exc:
        ledger = core.current_ledger()
        return str(exc), len(ledger.releases), len(ledger.transcript)
    return None


def test_no_plan_fits_every_party_stops_before_sharing_anything(run3):
    reference, reads = [lambda_codes()[:5000]], simulate([lambda_codes()[:5000]], 3, 50, np.random.default_rng(1))
    results = run3(plan_or_stop, kwargs={"k": 1, "memory_bytes": 1 << 20}, timeout=300,
                   private={0: {"reference": reference}, 1: {"reads": reads}})
    messages = {r.value[0] for r in results}
    assert len(messages) == 1  # the same one line everywhere
    [message] = messages
    assert "\n" not in message and "needs at least" in message and "GiB per party" in message
    assert all(r.value[1:] == (0, 0) for r in results)  # nothing opened, nothing received


def test_cli_tiny_memory_one_line_error(tmp_path, capsys):
    reference = adversarial_references()["n_runs"]
    ref, fq = write_inputs(tmp_path, reference, reads_across_boundaries(reference, 2))
    assert main(["search", ref, fq, "-k", "1", "--parties", "1", "--memory", "0.001", "-o",
                 str(tmp_path / "x.sam")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs at least" in err[0] and "raise --memory" in err[0]
    assert not (tmp_path / "x.sam").exists()


def test_predicted_peak_within_factor_of_measured():
    """Mid-size case (20 kbp of lambda, 32 reads of 100 bp, k = 2, 3 processes): the plan's predicted peak
    is an upper bound, at most 2.5x the largest measured peak RSS of a party."""
    reference = [lambda_codes()[:20_000]]
    reads = simulate(reference, 32, 100, np.random.default_rng(8), max_errors=2)
    private = {0: {"reference": reference}, 1: {"reads": reads}}
    results = core.run(search.secure_search, parties=3, timeout=600, private=private,
                       kwargs={"k": 2, "engine": "scan", "memory_bytes": 4 * GIB})
    predicted = results[0].value.stats["plan"]["predicted_peak_gib"] * GIB
    measured = max(r.value.stats["peak_rss"] for r in results)
    peaks = [round(r.value.stats["peak_rss"] / GIB, 3) for r in results]  # per party, to diagnose a miss
    assert measured <= predicted <= 2.5 * measured, (measured / GIB, predicted / GIB, peaks)


def test_auto_picks_only_plans_that_fit():
    plan = ScanPlan((1_000_000,), (100,) * 4_000, 0, ("+", "-"))
    roomy = plan_search(plan, "auto", budget=64 * GIB)
    assert roomy.engine == "fm"  # the cost model's pick with room to spare
    # below the fm engine's smallest plan (it narrows its chunks to fit a budget), only the scan fits
    fm_smallest = fmsearch.plan(1_000_000, [100] * 4_000, 0, 2, budget=1).peak_bytes
    tight = plan_search(plan, "auto", budget=fm_smallest - 1, shards=1)
    assert tight.engine == "scan" and tight.memory.fits(fm_smallest - 1)
    sharded = plan_search(plan, "auto", budget=fm_smallest - 1)  # automatic shards: whatever fits, fastest
    assert sharded.memory.fits(fm_smallest - 1)
    with pytest.raises(MemoryPlanError, match=r"needs at least [0-9.]+ GiB per party"):
        plan_search(plan, "auto", budget=1 << 20)


# ------------------------------------------------------------------------------------ field bounds

def test_scan_refuses_reads_beyond_its_field():
    """A read of P bases could have a window with P + e mismatches, which tests as e: refused in one line."""
    too_long = ScanPlan((sf.P + 10,), (sf.P,), 0, ("+",))
    with pytest.raises(InputError, match="too long for the scan engine"):
        too_long.check_field()
    with pytest.raises(InputError, match="too long for the scan engine"):
        plan_search(too_long, "scan")
    assert plan_search(too_long, "auto").engine == "fm"
    ScanPlan((sf.P + 10,), (sf.P - 1,), 0, ("+",)).check_field()  # the longest read it can test


def test_scan_bound_checked_in_the_protocol_before_sharing():
    rng = np.random.default_rng(0)
    reference = [rng.integers(0, 4, sf.P + 2).astype(np.uint8)]
    with pytest.raises(InputError, match="too long for the scan engine"):
        search.search(reference, [reference[0][:sf.P]], 0, engine="scan")


def test_workers_and_shards_checked():
    with pytest.raises(InputError, match="--workers"):
        search.search(["ACGTACGT"], ["ACG"], 0, parties=3, workers=0)
    with pytest.raises(InputError, match="--shards"):
        search.search(["ACGTACGT"], ["ACG"], 0, parties=3, shards=0)


def test_cli_multi_host_sharded_with_workers_on_consecutive_ports(tmp_path):
    """Three organisations, each `--shards 3 --workers 2`: worker w of party i on party i's port + w."""
    from test_search_cli import _multi_host

    reference = adversarial_references()["multi_record"]
    reads = reads_across_boundaries(reference, 3)
    ref, fq = write_inputs(tmp_path, reference, reads)
    out = _multi_host(tmp_path, {0: [ref, "-"], 1: ["-", fq], 2: ["-", "-"]},
                      extra=["-o", "hits.tsv", "--engine", "scan", "--shards", "3", "--workers", "2"])
    assert [code for code, _, _ in out] == [0, 0, 0], out
    whole = tmp_path / "whole.tsv"
    assert main(["search", ref, fq, "-k", "2", "--parties", "1", "--engine", "scan", "-o", str(whole)]) == 0
    assert (tmp_path / "hits.tsv").read_text() == whole.read_text()
