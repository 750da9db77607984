"""Import MPyC with ``sys.argv`` under our control.

MPyC builds its runtime from ``sys.argv`` when ``mpyc.runtime`` is first imported, so options meant for
pytest or for our own CLI (``-W``, ``-h``, ``--log-level`` ...) would be misread.  We hide the real argv
during that import.  A party process started by :mod:`securegenome.core.session` passes the MPyC options
it needs (party index, peers, threshold) in the environment variable below.
"""

import json
import os
import sys

MPYC_ARGV_ENV = "SECUREGENOME_MPYC_ARGV"


def _import_runtime():
    mpyc_argv = json.loads(os.environ.get(MPYC_ARGV_ENV) or '["--no-log"]')
    saved = sys.argv
    sys.argv = [saved[0] if saved else "securegenome", *mpyc_argv]
    try:
        from mpyc.runtime import mpc
    finally:
        sys.argv = saved
    return mpc


mpc = _import_runtime()
