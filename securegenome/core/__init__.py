"""The shared secure-analytics core.

Everything two modules need lives here and knows nothing of DNA or patients:

- sessions (:func:`run`): 1 party in-process, m local processes, or one party of a multi-host run;
  :func:`raise_input_errors` stops every party on one party's bad input without sending its message;
- opening (:func:`open`) and the leakage ledger (:class:`Ledger`): the only way values leave shares; each
  receiver's view (the auditor's transcript, :func:`write_transcripts`);
- public parameters as JSON (:func:`agree`, :func:`share_public`, :func:`exchange_public`; never pickled:
  :mod:`.wire`), progress bars (:func:`progress`);
- secure shuffles, secret permutations, radix sort, compaction;
- the raw-share layer that domain protocols use in bulk (docs/core.md, "Raw shares"): int64 share arrays
  of GF(2^31-1) (:data:`SMALL`, :data:`SMALL_FIELD`) with :class:`KeyRing`, :func:`input_raw`,
  :func:`multiply`, :func:`multiply_sum`, :class:`SecretShuffle`, :class:`RawShares` (open raw shares), :func:`radix_destinations` (one round:
  :func:`digit_destinations`), :func:`key_bits`, :func:`key_sectype`, :func:`bits_of`, :func:`open_shuffled`,
  :func:`placed`, :func:`apply_permutation_raw`; wide integers as residues modulo several such primes
  (:mod:`.residues`: :class:`Residues`, :class:`Shared`); and :mod:`.smallfield`, Shamir sharing over GF(2^22-3) on int64 arrays for exact float64
  BLAS products.

``mpc`` is MPyC's runtime of this process, imported with ``sys.argv`` under our control.
"""

from ._mpyc import mpc
from . import wire
wire.install()  # MPyC's own messages: framed arrays and JSON, never unpickled (core/wire.py)
from .ledger import Ledger, Release, current_ledger, write_transcripts
from .opening import open
from .params import agree, exchange_public, share_public
from .progress import progress
from .session import PartyResult, raise_input_errors, run
from . import dp  # differential privacy: noise in shares, privacy budget
from .dp import PrivacyAccountant, dp_open
from .shuffle import shuffle  # secure shuffle, secret permutations, radix sort
from .permutation import apply_inverse_permutation, apply_permutation, compose_permutations, invert_permutation
from .sort import argsort, compact, sort
# the raw-share layer (docs/core.md, "Raw shares")
from . import smallfield
from .permutation import LEAKAGE as PERMUTATION_LEAKAGE, apply_inverse_permutation_raw, apply_permutation_raw, \
    open_shuffled, placed
from .shuffle import KeyRing, RawShares, SecretShuffle, input_raw, multiply, multiply_sum, raw_shares, \
    reshare_product, reshare_products, secure_array, shuffle_together
from .residues import Residues, ResidueShares, Shared
from .sort import DIGIT_BITS, FIELD as SMALL_FIELD, LEAKAGE as SORT_LEAKAGE, SMALL, bits_of, digit_destinations, \
    key_bits, key_sectype, radix_destinations, sort_destinations

__all__ = ["mpc", "Ledger", "Release", "current_ledger", "write_transcripts", "open", "agree", "exchange_public",
           "share_public", "wire", "progress",
           "PartyResult", "run", "raise_input_errors", "dp", "PrivacyAccountant", "dp_open",
           "shuffle", "apply_permutation", "apply_inverse_permutation", "invert_permutation",
           "compose_permutations", "argsort", "sort", "compact",
           "smallfield", "PERMUTATION_LEAKAGE", "open_shuffled", "placed", "KeyRing", "RawShares", "SecretShuffle", "input_raw",
           "multiply", "multiply_sum", "raw_shares", "secure_array", "shuffle_together", "SMALL_FIELD",
           "SORT_LEAKAGE", "SMALL", "bits_of", "key_bits", "key_sectype", "radix_destinations", "sort_destinations",
           "DIGIT_BITS", "digit_destinations", "reshare_product", "reshare_products", "apply_permutation_raw",
           "apply_inverse_permutation_raw", "Residues", "ResidueShares", "Shared"]
