"""An outside oracle: both engines, sharded and not, give the hits of `bowtie -v k -a`; samtools reads our SAM.

bowtie (1.x) semantics we compare with: end-to-end ungapped alignment with at most k mismatches (-v k),
every alignment reported (-a), both strands, 0-based leftmost offset on the forward strand.  Where they
differ from ours by design, the test says so: bowtie never reports a window that overlaps an N in the
reference (we report it when N, counted as a mismatch, keeps it within k), so our hits over reference N's
are left out before comparing; an N in a read is a mismatch for both.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest

from securegenome.cli import main
from securegenome.genomics import SequenceRecord, read_sequences, search, write_fasta, write_fastq
from securegenome.genomics.oracle import Hit
from test_search import LAMBDA, simulate

BOWTIE = all(shutil.which(tool) for tool in ("bowtie", "bowtie-build"))
SAMTOOLS = shutil.which("samtools") is not None
pytestmark = pytest.mark.skipif(not BOWTIE, reason="bowtie/bowtie-build not installed (.ci/run installs them: "
                                                   "apt-get install bowtie samtools)")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A lambda-phage slice, a record with a tandem repeat and an N run, and simulated reads (both strands,
    0-2 substitutions, some N's), written as FASTA/FASTQ and indexed by bowtie-build."""
    folder = tmp_path_factory.mktemp("bowtie")
    rng = np.random.default_rng(11)
    unit = rng.integers(0, 4, 29).astype(np.uint8)
    second = np.concatenate([rng.integers(0, 4, 200), np.tile(unit, 12), rng.integers(0, 4, 300)]).astype(np.uint8)
    second[620:640] = 4
    reference = [read_sequences(LAMBDA)[0].codes[:6000], second]
    reads = simulate(reference, 24, 40, rng, max_errors=2, n_rate=0.01)
    reads.append(np.tile(unit, 2)[:40])  # hits the repeat on every copy
    ref, fq = folder / "ref.fa", folder / "reads.fq"
    write_fasta(str(ref), [SequenceRecord(f"rec{i}", codes, None, "") for i, codes in enumerate(reference)])
    write_fastq(str(fq), [SequenceRecord(f"read{i}", codes, "I" * codes.size, "") for i, codes in enumerate(reads)])
    subprocess.run(["bowtie-build", "-q", str(ref), str(folder / "idx")], check=True, capture_output=True)
    return {"folder": folder, "ref": str(ref), "reads_path": str(fq), "reference": reference, "reads": reads}


def bowtie_hits(case, k: int) -> list[Hit]:
    out = subprocess.run(["bowtie", "-v", str(k), "-a", "--quiet", "-x", str(case["folder"] / "idx"), "-q",
                          case["reads_path"]], check=True, capture_output=True, text=True).stdout
    hits = []
    for line in out.splitlines():
        name, strand, record, offset, *_, mismatches = line.split("\t")  # the last field may be empty
        count = len([m for m in mismatches.split(",") if m])
        hits.append(Hit(int(name[4:]), strand, int(record[3:]), int(offset), count))
    return sorted(set(hits), key=lambda h: (h.read, h.record, h.pos, h.strand))


def comparable(case, hits) -> list[Hit]:
    """Our hits without the windows that overlap an N of the reference (bowtie never reports those)."""
    out = []
    for h in hits:
        m = case["reads"][h.read].size
        if not (case["reference"][h.record][h.pos:h.pos + m] == 4).any():
            out.append(h)
    return out


@pytest.mark.parametrize("k", [0, 2])
@pytest.mark.parametrize("engine, shards", [("scan", 1), ("scan", 4), ("fm", 1), ("fm", 4)])
def test_engines_equal_bowtie(case, engine, shards, k):
    expected = bowtie_hits(case, k)
    assert expected
    got = search.search(case["reference"], case["reads"], k, engine=engine, cap=64, shards=shards)
    assert comparable(case, got) == expected


def test_three_processes_sharded_equal_bowtie(case):
    got = search.search(case["reference"], case["reads"], 2, engine="scan", parties=3, shards=3, workers=2,
                        timeout=600)
    assert comparable(case, got) == bowtie_hits(case, 2)


@pytest.mark.skipif(not SAMTOOLS, reason="samtools not installed (.ci/run installs it)")
def test_samtools_checks_our_sam(case, tmp_path):
    sam = tmp_path / "hits.sam"
    assert main(["search", case["ref"], case["reads_path"], "-k", "2", "--parties", "1", "--shards", "3", "--engine", "scan",
                 "-o", str(sam)]) == 0
    subprocess.run(["samtools", "quickcheck", "-v", str(sam)], check=True)
    view = subprocess.run(["samtools", "view", str(sam)], check=True, capture_output=True, text=True).stdout
    rows = [line.split("\t") for line in view.splitlines()]
    mapped = [r for r in rows if not int(r[1]) & 4]
    ours = sorted((int(r[0][4:]), "-" if int(r[1]) & 16 else "+", int(r[2][3:]), int(r[3]) - 1,
                   int(next(t for t in r[11:] if t.startswith("NM:i:"))[5:])) for r in mapped)
    assert [Hit(*h) for h in ours] == sorted(search.search(case["reference"], case["reads"], 2, engine="scan"),
                                             key=lambda h: (h.read, h.strand, h.record, h.pos))
    header = subprocess.run(["samtools", "view", "-H", str(sam)], check=True, capture_output=True, text=True).stdout
    assert "@SQ\tSN:rec0\tLN:6000" in header and "@SQ\tSN:rec1" in header
    assert len({r[0] for r in rows}) == len(case["reads"])  # every read once at least (mapped or FLAG 4)
    assert os.path.getsize(sam) > 0
