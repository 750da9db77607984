"""Fault detection times: kill -9 / kill -STOP one party of each protocol command (issue 20).

Runs the chaos matrix of ``tests/test_chaos.py`` (every protocol command, every party, both faults; 3 local
parties, ``--peer-timeout 3``, the fault at a random moment after all parties connected) and records, per
case, the seconds from the fault until the command exited, and whether every check held (exit status 2, the
lost party named, no process left, no output file).  One run per case (each is a different random moment).

    python benchmarks/chaos.py [--commands km ridge ...] [--faults kill stop]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from common import write  # noqa: E402
import test_chaos as chaos  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", nargs="+", default=list(chaos.COMMANDS))
    parser.add_argument("--faults", nargs="+", default=sorted(chaos.FAULTS))
    args = parser.parse_args(argv)
    cases = []
    for name in args.commands:
        for pid, role in chaos.COMMANDS[name][1].items():
            for fault in args.faults:
                load = os.getloadavg()[0]
                with tempfile.TemporaryDirectory(prefix="sg-chaos-") as tmp:
                    try:
                        result = chaos.inject(Path(tmp), name, pid, fault, seed=f"{name}{pid}{fault}")
                        chaos.check(result, pid, fault)
                        verdict = "ok"
                    except BaseException as exc:  # noqa: BLE001 -- recorded, the matrix goes on
                        result, verdict = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                case = {"command": name, "party": pid, "role": role, "fault": fault, "load_1min": round(load, 1),
                        "seconds_to_stop": None if result is None else round(result[2], 2), "verdict": verdict,
                        "message": None if result is None else result[1].strip().splitlines()[-1]}
                print(case, flush=True)
                cases.append(case)
    summary = {}
    for fault in args.faults:
        times = [c["seconds_to_stop"] for c in cases if c["fault"] == fault and c["seconds_to_stop"] is not None]
        if times:
            summary[fault] = {"median_s": statistics.median(times), "max_s": max(times), "cases": len(times)}
    path = write("chaos", cases, peer_timeout=chaos.PEER_TIMEOUT, summary=summary,
                 finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    print(path, summary)


if __name__ == "__main__":
    main()
