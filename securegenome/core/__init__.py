"""The shared secure-analytics core.

Everything two modules need lives here and knows nothing of DNA or patients:

- sessions (:func:`run`): 1 party in-process, m local processes, or one party of a multi-host run;
- opening (:func:`open`) and the leakage ledger (:class:`Ledger`): the only way values leave shares;
- public parameters (:func:`agree`, :func:`share_public`), progress bars (:func:`progress`).

``mpc`` is MPyC's runtime of this process, imported with ``sys.argv`` under our control.
"""

from ._mpyc import mpc
from .ledger import Ledger, Release, current_ledger
from .opening import open
from .params import agree, share_public
from .progress import progress
from .session import PartyResult, run
from . import dp  # differential privacy: noise in shares, privacy budget
from .dp import PrivacyAccountant, dp_open
from .shuffle import shuffle  # secure shuffle, secret permutations, radix sort
from .permutation import apply_inverse_permutation, apply_permutation, compose_permutations, invert_permutation
from .sort import argsort, compact, sort

__all__ = ["mpc", "Ledger", "Release", "current_ledger", "open", "agree", "share_public", "progress",
           "PartyResult", "run", "dp", "PrivacyAccountant", "dp_open",
           "shuffle", "apply_permutation", "apply_inverse_permutation", "invert_permutation",
           "compose_permutations", "argsort", "sort", "compact"]
