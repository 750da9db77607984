"""Entry point of one party process: ``python -m securegenome._party SPEC RESULT``.

The parent sets the MPyC options in the environment (see ``core._mpyc``) before this process imports
anything from MPyC, so the runtime comes up as the right party of the right run.

A party never outlives the process that started it: on Linux the kernel sends it SIGKILL when the parent
dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread watches the parent's pid.  Ctrl-C in a terminal
reaches the whole process group: the party ignores it and the parent stops every party itself.
"""

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    expected = int(os.environ.get("SECUREGENOME_PARENT_PID") or 0)
    if not expected:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != expected:  # the parent died before we could ask to follow it
        os._exit(1)
    if not armed:
        def watch():
            while os.getppid() == expected:
                time.sleep(0.5)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from securegenome.core.session import execute_party

    code = execute_party(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter clean-up: no stray asyncio warnings about cancelled MPyC tasks


if __name__ == "__main__":
    main()
