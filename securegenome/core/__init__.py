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

__all__ = ["mpc", "Ledger", "Release", "current_ledger", "open", "agree", "share_public", "progress",
           "PartyResult", "run"]
