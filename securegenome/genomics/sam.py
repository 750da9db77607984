"""Writing search hits as SAM (what samtools and friends read) or as a plain TSV table.

SAM follows the specification (v1.6) for ungapped end-to-end hits: one primary line per mapped read (the
hit with the fewest mismatches, then the first by record, position, strand), every further hit as a
secondary alignment (FLAG 256), unmapped reads listed with FLAG 4; POS is 1-based, CIGAR ``<m>M``, and
for reverse-strand hits (FLAG 16) SEQ is reverse-complemented and QUAL reversed, as SAM requires.
Reads whose hits may be incomplete (the fm engine's cap was exceeded) carry the tag ``XO:i:1`` on every
line, explained by a ``@CO`` header line.
"""

from __future__ import annotations

import re

from .alphabet import decode, reverse_complement

SAM_VERSION = "1.6"
_REVERSE, _UNMAPPED, _SECONDARY = 16, 4, 256
_QNAME_BAD = re.compile(r"[^!-?A-~]")
_RNAME_BAD = re.compile(r"[^0-9A-Za-z!#$%&+./:;?@^_|~\-*=]")


def _token(name: str) -> str:
    return name.split()[0] if name.split() else "*"


def _qname(name: str) -> str:
    token = name.split()[0] if name.split() else "*"
    return _QNAME_BAD.sub("_", token)[:254] or "*"


def _rname(name: str) -> str:
    token = name.split()[0] if name.split() else "ref"
    token = _RNAME_BAD.sub("_", token)
    return token if token[0] not in "*=" else "_" + token[1:]


def _by_read(hits, n_reads: int) -> list[list]:
    out = [[] for _ in range(n_reads)]
    for h in hits:
        out[h.read].append(h)
    return out


def sam_text(records, reads, hits, *, program: str = "securegenome", version: str = "", command: str = "",
             overflow=(), cap: int | None = None) -> str:
    """The SAM file for ``hits`` of ``reads`` ((name, codes, quality) triples) on ``records`` ((name, length)).

    ``overflow``: indices of reads whose hits may be incomplete (a read strand or seed with more exact
    occurrences than the fm engine's ``cap``): every line of such a read gets ``XO:i:1``."""
    rnames = [_rname(name) for name, _ in records]
    overflow = set(overflow)
    lines = [f"@HD\tVN:{SAM_VERSION}\tSO:unsorted\tGO:query"]
    lines += [f"@SQ\tSN:{rname}\tLN:{length}" for rname, (_, length) in zip(rnames, records)]
    pg = f"@PG\tID:{program}\tPN:{program}"
    if version:
        pg += f"\tVN:{version}"
    if command:
        pg += "\tCL:" + command.replace("\t", " ").replace("\n", " ")
    lines.append(pg)
    if overflow:
        limit = "the cap" if cap is None else f"--cap {cap}"
        lines.append(f"@CO\tXO:i:1 marks reads with a read strand (k = 0) or seed (k > 0) that has more exact "
                     f"occurrences than {limit} of the fm engine: their hits may be incomplete (the hits "
                     "listed are true hits); rerun them with --engine scan or a larger --cap")
    for i, ((name, codes, quality), read_hits) in enumerate(zip(reads, _by_read(hits, len(reads)))):
        qname, seq, qual = _qname(name), decode(codes) or "*", quality or "*"
        tag = "\tXO:i:1" if i in overflow else ""
        if not read_hits:
            lines.append(f"{qname}\t{_UNMAPPED}\t*\t0\t0\t*\t*\t0\t0\t{seq}\t{qual}{tag}")
            continue
        primary = min(read_hits, key=lambda h: (h.mismatches, h.record, h.pos, h.strand))
        for h in sorted(read_hits, key=lambda h: (h is not primary, h.record, h.pos, h.strand)):
            flag = (_REVERSE if h.strand == "-" else 0) | (0 if h is primary else _SECONDARY)
            s, q = seq, qual
            if h.strand == "-":
                s = decode(reverse_complement(codes))
                q = qual[::-1] if quality else "*"
            lines.append(f"{qname}\t{flag}\t{rnames[h.record]}\t{h.pos + 1}\t255\t{len(codes)}M\t*\t0\t0\t"
                         f"{s}\t{q}\tNM:i:{h.mismatches}{tag}")
    return "\n".join(lines) + "\n"


TSV_HEADER = "#read\tstrand\trecord\tpos\tmismatches"


def tsv_text(records, reads, hits) -> str:
    """One line per hit: read name, strand, record name, 0-based leftmost position, mismatches;
    sorted by read order, then record, position and strand."""
    lines = [TSV_HEADER]
    for h in sorted(hits, key=lambda h: (h.read, h.record, h.pos, h.strand)):
        lines.append(f"{_token(reads[h.read][0])}\t{h.strand}\t{_token(records[h.record][0])}\t{h.pos}\t"
                     f"{h.mismatches}")
    return "\n".join(lines) + "\n"
