"""DNA for securegenome: the alphabet, FASTA/FASTQ I/O, plaintext oracles and a read simulator.

The secure protocols (``genomics.bwt``, ``genomics.search``) are imported from their own modules; this
package namespace only carries the plaintext building blocks they and the tests share.
"""

from .alphabet import BASES, N_CODE, AlphabetError, decode, encode, reverse_complement
from .io import SequenceRecord, iter_sequences, read_sequences, write_fasta, write_fastq, write_sequences
# the oracle's ``bwt`` function stays in ``genomics.oracle``: here the name ``bwt`` is the secure protocol
# module ``genomics.bwt`` (a package attribute and a submodule cannot share a name reliably)
from .oracle import FMIndex, Hit, backward_search, bwt_from_sa, exact_occurrences, kmismatch_hits, suffix_array
from .simulate import ReadTruth, parse_read_name, simulate_reads

__all__ = [
    "BASES", "N_CODE", "AlphabetError", "decode", "encode", "reverse_complement",
    "SequenceRecord", "iter_sequences", "read_sequences", "write_fasta", "write_fastq", "write_sequences",
    "FMIndex", "Hit", "backward_search", "bwt_from_sa", "exact_occurrences", "kmismatch_hits",
    "suffix_array",
    "ReadTruth", "parse_read_name", "simulate_reads",
]
