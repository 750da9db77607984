"""Checkpoints and resume of sharded searches (genomics/checkpoint.py): a run that fails after some shards,
resumed, ends with the same output as an uninterrupted run; a changed input or option refuses to resume;
the parties skip only the shards all of them finished."""

import json
import os
import sys
import threading

import pytest

from securegenome.cli import main
from securegenome.errors import InputError
from securegenome.genomics import search, searchrun
from securegenome.genomics.oracle import kmismatch_hits
from test_sharding import adversarial_references, reads_across_boundaries, write_inputs


class Interrupted(Exception):
    """Stands for a failure (a lost party, a crash) after some shards finished."""


@pytest.fixture
def fail_at(monkeypatch):
    """``fail_at(i)``: the run stops with :class:`Interrupted` when it reaches shard i."""
    def arm(index):
        real = searchrun.run_shard

        def run_shard(shard, *args, **kwargs):
            if shard.index == index:
                raise Interrupted(f"stopped at shard {index}")
            return real(shard, *args, **kwargs)
        monkeypatch.setattr(searchrun, "run_shard", run_shard)
        return lambda: monkeypatch.setattr(searchrun, "run_shard", real)
    return arm


def inputs(shards):
    reference = adversarial_references()["multi_record"]
    return reference, reads_across_boundaries(reference, shards)


def cli(tmp_path, monkeypatch, ref, fq, out, *extra):
    argv = ["search", ref, fq, "-k", "2", "--engine", "scan", "-o", str(out), "--timeout", "300", *extra]
    monkeypatch.setattr(sys, "argv", ["securegenome", *argv])  # what SAM's @PG line records
    return main(argv)


def shard_files(root, pid):
    return sorted(f for f in os.listdir(os.path.join(root, f"party-{pid}")) if f.startswith("shard-"))


@pytest.mark.parametrize("engine", ["scan", "fm"])
def test_api_one_party_fail_resume_same_hits(tmp_path, fail_at, engine):
    reference, reads = inputs(3)
    ck = str(tmp_path / "ck")
    whole = search.search(reference, reads, 2, engine=engine, cap=64, shards=3)
    disarm = fail_at(2)
    with pytest.raises(Interrupted):
        search.search(reference, reads, 2, engine=engine, cap=64, shards=3, checkpoint=ck)
    disarm()
    assert shard_files(ck, 0) == ["shard-000000.json", "shard-000001.json"]
    stored = json.loads((tmp_path / "ck" / "party-0" / "shard-000001.json").read_text())
    assert set(stored) == {"run", "shard", "stats", "hits", "overflow"}  # the querier: its own hits
    got = search.search(reference, reads, 2, engine=engine, cap=64, shards=3, checkpoint=ck, resume=True)
    assert got == whole and got
    if engine == "scan":
        assert got == kmismatch_hits(reference, reads, 2)
    assert shard_files(ck, 0) == [f"shard-00000{i}.json" for i in range(3)]


@pytest.mark.parametrize("fmt", ["sam", "tsv"])
def test_cli_one_party_resume_byte_identical_and_refusals(tmp_path, monkeypatch, capsys, fail_at, fmt):
    reference, reads = inputs(4)
    ref, fq = write_inputs(tmp_path, reference, reads)
    whole, out, ck = tmp_path / f"whole.{fmt}", tmp_path / f"out.{fmt}", str(tmp_path / "ck")
    js = tmp_path / "run.json"
    one = ["--parties", "1", "--shards", "4", "--json", str(js)]
    assert cli(tmp_path, monkeypatch, ref, fq, out, *one) == 0  # uninterrupted, the same command line
    out.rename(whole)
    disarm = fail_at(3)
    with pytest.raises(Interrupted):
        cli(tmp_path, monkeypatch, ref, fq, out, *one, "--checkpoint", ck)
    disarm()
    assert not out.exists() and len(shard_files(ck, 0)) == 3
    capsys.readouterr()

    # without --resume an existing checkpoint is an error
    assert cli(tmp_path, monkeypatch, ref, fq, out, *one, "--checkpoint", ck) == 2
    assert "add --resume" in capsys.readouterr().err

    # a changed option refuses, naming the parameter
    assert cli(tmp_path, monkeypatch, ref, fq, out, *one, "--strand", "forward", "--checkpoint", ck, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot resume: party 0: the parameters differ" in err[0] and "strand" in err[0]
    assert cli(tmp_path, monkeypatch, ref, fq, out, "--parties", "1", "--shards", "3", "--checkpoint", ck,
               "--resume") == 2
    assert "shard_plan" in capsys.readouterr().err

    # a changed input (same sizes: only its digest can tell) refuses
    changed = tmp_path / "changed.fq"
    text = open(fq).read().splitlines()
    text[1] = "".join("A" if c != "A" else "C" for c in text[1])
    changed.write_text("\n".join(text) + "\n")
    assert cli(tmp_path, monkeypatch, ref, str(changed), out, *one, "--checkpoint", ck, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "party 0: its inputs differ from its checkpoint's" in err[0]
    assert not out.exists() and len(shard_files(ck, 0)) == 3  # nothing run, nothing overwritten

    # the same command resumes: only the last shard runs; byte-identical output
    assert cli(tmp_path, monkeypatch, ref, fq, out, *one, "--checkpoint", ck, "--resume") == 0
    assert out.read_bytes() == whole.read_bytes()
    assert json.loads(js.read_text())["resumed_shards"] == 3


def test_resume_needs_checkpoint_and_a_usable_directory(tmp_path, capsys):
    assert main(["search", "r.fa", "q.fq", "-k", "1", "--resume"]) == 2
    assert "--resume needs --checkpoint" in capsys.readouterr().err
    reference, reads = inputs(3)
    ref, fq = write_inputs(tmp_path, reference, reads)
    assert main(["search", ref, fq, "-k", "1", "--parties", "1", "--shards", "3", "--checkpoint", ref]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot use" in err[0]


def finish_workers():
    """Wait for the shards other workers were running when the run failed (a real command would exit)."""
    for t in threading.enumerate():
        if "(work)" in t.name:
            t.join(timeout=600)


def test_three_processes_two_workers_resume_and_parties_agree_on_the_intersection(tmp_path, monkeypatch, fail_at):
    reference, reads = inputs(3)
    ref, fq = write_inputs(tmp_path, reference, reads)
    whole, out, ck, js = tmp_path / "whole.sam", tmp_path / "out.sam", str(tmp_path / "ck"), tmp_path / "run.json"
    three = ["--shards", "3", "--workers", "2", "--json", str(js)]
    assert cli(tmp_path, monkeypatch, ref, fq, out, *three) == 0  # uninterrupted, the same command line
    out.rename(whole)
    disarm = fail_at(2)  # worker 0 fails at its second shard, worker 1 finishes shard 1
    with pytest.raises(Interrupted):
        cli(tmp_path, monkeypatch, ref, fq, out, *three, "--checkpoint", ck)
    finish_workers()
    disarm()
    for pid in range(3):
        assert shard_files(ck, pid) == ["shard-000000.json", "shard-000001.json"]
    marker = json.loads((tmp_path / "ck" / "party-2" / "shard-000000.json").read_text())
    assert "hits" not in marker and "overflow" not in marker  # a helper keeps only that the shard finished
    assert "hits" in json.loads((tmp_path / "ck" / "party-1" / "shard-000000.json").read_text())

    assert cli(tmp_path, monkeypatch, ref, fq, out, *three, "--checkpoint", ck, "--resume") == 0
    assert out.read_bytes() == whole.read_bytes()
    assert json.loads(js.read_text())["resumed_shards"] == 2

    # party 2 lost its marker of shard 0: every party runs shard 0 again, the others are skipped
    os.remove(tmp_path / "ck" / "party-2" / "shard-000000.json")
    out.unlink()
    assert cli(tmp_path, monkeypatch, ref, fq, out, *three, "--checkpoint", ck, "--resume") == 0
    assert out.read_bytes() == whole.read_bytes()
    assert json.loads(js.read_text())["resumed_shards"] == 2
    assert shard_files(ck, 2) == [f"shard-00000{i}.json" for i in range(3)]


@pytest.mark.slow
def test_three_processes_changed_reference_refuses_naming_the_owner(tmp_path, monkeypatch, capsys):
    reference, reads = inputs(3)
    ref, fq = write_inputs(tmp_path, reference, reads)
    ck = str(tmp_path / "ck")
    assert cli(tmp_path, monkeypatch, ref, fq, tmp_path / "a.sam", "--shards", "3", "--checkpoint", ck) == 0
    changed = [r.copy() for r in reference]
    changed[0][10] = (changed[0][10] + 1) % 4
    (tmp_path / "other").mkdir()
    ref2, _ = write_inputs(tmp_path / "other", changed, reads)
    capsys.readouterr()
    assert cli(tmp_path, monkeypatch, ref2, fq, tmp_path / "b.sam", "--shards", "3", "--checkpoint", ck,
               "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot resume: party 0: its inputs differ" in err[-1]
    assert not (tmp_path / "b.sam").exists()


def test_api_in_memory_inputs_digest_detects_a_changed_base(tmp_path):
    reference, reads = inputs(3)
    ck = str(tmp_path / "ck")
    search.search(reference, reads, 1, shards=3, checkpoint=ck)
    changed = [r.copy() for r in reference]
    changed[-1][0] = (changed[-1][0] + 1) % 4
    with pytest.raises(InputError, match="its inputs differ"):
        search.search(changed, reads, 1, shards=3, checkpoint=ck, resume=True)


@pytest.mark.slow
def test_multi_host_kill_a_party_then_resume_each_organisation_its_own_directory(tmp_path):
    """3 separate commands (--party-id, --hosts), each with its own --checkpoint; party 2 is killed (-9) after
    its first shard; all three resumed: the TSV equals an uninterrupted run's."""
    import subprocess
    import time

    from conftest import loopback_hosts

    reference, reads = inputs(4)
    ref, fq = write_inputs(tmp_path, reference, reads)
    assert main(["search", ref, fq, "-k", "2", "--engine", "scan", "--parties", "1", "--shards", "4",
                 "-o", str(tmp_path / "whole.tsv")]) == 0
    files = {0: [ref, "-"], 1: ["-", fq], 2: ["-", "-"]}

    def start(*extra, timeout="600"):
        hosts = loopback_hosts(3)
        env = dict(os.environ, SECUREGENOME_QUIET="1")
        return [subprocess.Popen([sys.executable, "-m", "securegenome", "search", *files[pid], "-k", "2",
                                  "--engine", "scan", "--shards", "4", "-o", "hits.tsv", "--party-id", str(pid),
                                  "--hosts", hosts, "--timeout", timeout, "--no-tls",
                                  "--checkpoint", str(tmp_path / f"org{pid}"), *extra],
                                 cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                for pid in range(3)]

    # --timeout: if party 2 dies between two shard sessions, the others wait for it to connect until then
    procs = start(timeout="90")
    helper = tmp_path / "org2" / "party-2"
    deadline = time.time() + 300
    while time.time() < deadline and not (helper.is_dir() and shard_files(tmp_path / "org2", 2)):
        time.sleep(0.2)
    time.sleep(2)  # most likely inside the next shard's session
    procs[2].kill()
    codes = [p.wait(timeout=300) for p in procs]
    for p in procs:
        p.stderr.close()
    assert all(code != 0 for code in codes) and not (tmp_path / "hits.tsv").exists()
    assert 1 <= len(shard_files(tmp_path / "org2", 2)) < 4

    procs = start("--resume")
    out = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert [code for code, _ in out] == [0, 0, 0], out
    assert (tmp_path / "hits.tsv").read_bytes() == (tmp_path / "whole.tsv").read_bytes()
