"""Options and helpers shared by the protocol commands."""

from __future__ import annotations

import argparse
import json
import platform
import re

from ..errors import InputError
from ..files import write_atomically  # noqa: F401  (re-exported for the commands)

PARTY_HELP = """\
parties:
  By default all parties run on this machine as separate processes talking over loopback TCP.
  For a multi-host run every organisation runs the same command on its own host with its own
  inputs and --party-id I --hosts h0:p0,h1:p1,h2:p2 --tls-dir DIR, DIR holding its key and
  certificates from `securegenome keys` (see docs/deployment.md)."""


def add_party_options(parser: argparse.ArgumentParser, default_parties: int = 3) -> None:
    """--parties/--threshold/--party-id/--hosts/--timeout/--ledger/--transcript, the same for every protocol
    command."""
    g = parser.add_argument_group("parties")
    g.add_argument("--parties", type=int, default=default_parties, metavar="M",
                   help=f"number of parties, all on this machine (default {default_parties}; 1 runs in-process)")
    g.add_argument("--threshold", type=int, default=None, metavar="T",
                   help="corruption threshold t < M/2 (default (M-1)//2); 0 with M > 1 is refused (no secrecy)")
    g.add_argument("--insecure-threshold-0", action="store_true",
                   help="allow --threshold 0 with several parties, for tests only: every share is the secret "
                        "itself (warned, and recorded in the ledger)")
    g.add_argument("--party-id", type=int, default=None, metavar="I",
                   help="run only party I of a multi-host run (needs --hosts)")
    g.add_argument("--hosts", default=None, metavar="H0:P0,H1:P1,...",
                   help="host:port of every party, in party order, for a multi-host run")
    g.add_argument("--parties-file", default=None, metavar="FILE",
                   help="instead of --hosts: a file with one host:port per line, in party order ('#' comments)")
    g.add_argument("--tls-dir", default=None, metavar="DIR",
                   help="this party's key and certificates from `securegenome keys` (needed with --hosts)")
    g.add_argument("--no-tls", action="store_true",
                   help="run a multi-host run without TLS: only on a network you trust (traffic is readable)")
    g.add_argument("--peer-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="a party that shows no sign of life this long (frozen, host down, network cut) is lost; "
                        "the run stops (default 30; a party that is only busy computing still answers)")
    g.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop all parties if the run takes longer than this")
    g.add_argument("--ledger", default=None, metavar="PATH",
                   help="write the leakage ledger (every value opened, to whom and why) as JSON")
    g.add_argument("--transcript", default=None, metavar="PATH",
                   help="write the auditor's transcript: every value this party received through an opening, "
                        "in order, as a JSON list of {what, to, values}; in a local run the result party's "
                        "view goes to PATH, party I's to PATH with .partyI before the extension")


def add_memory_option(group) -> None:
    """``--memory GIB``: the memory budget of each party process, which the protocol plans within."""
    group.add_argument("--memory", default=None, metavar="GIB",
                       help="memory budget per party process in GiB (default: 70%% of this host's available "
                            "memory shared by the party processes run here); all parties plan with the "
                            "smallest budget any of them gives, and stop before sharing anything if no plan fits")


def memory_budget(args) -> int | None:
    """``--memory`` in bytes, or None for the default (:func:`securegenome.core.memory.default_budget`)."""
    from ..core.memory import parse_gib

    return None if getattr(args, "memory", None) is None else parse_gib(args.memory)


def session_options(args) -> dict:
    """Keyword arguments for :func:`securegenome.core.run` from the parsed party options."""
    hosts = None
    if args.hosts and args.parties_file:
        raise InputError("give either --hosts or --parties-file, not both")
    if args.parties_file:
        from ..core.session import read_parties_file

        hosts = read_parties_file(args.parties_file)
    elif args.hosts:
        hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    if hosts and args.party_id is None:
        raise InputError("--hosts needs --party-id (which of the parties this machine runs)")
    if not hosts and args.party_id is not None:
        raise InputError("--party-id needs --hosts or --parties-file (host:port of every party)")
    if hosts is None and args.parties < 1:
        raise InputError("--parties must be at least 1")
    return {"parties": len(hosts) if hosts else args.parties, "threshold": args.threshold,
            "hosts": hosts, "party_id": args.party_id, "timeout": args.timeout,
            "tls_dir": args.tls_dir, "no_tls": args.no_tls, "peer_timeout": args.peer_timeout,
            "insecure_threshold_0": args.insecure_threshold_0}


def add_party_data_option(group) -> None:
    """``--data I:PATH`` (repeatable): the CSV file of party I, for the commands on tabular data."""
    group.add_argument("--data", action="append", default=[], metavar="I:PATH", required=True,
                       help="party I's CSV file (repeat per party)")


def party_data_paths(args, options: dict) -> dict[int, str]:
    """{party id: path} from ``--data I:PATH`` for exactly the parties run here (a bare PATH is party i)."""
    paths = {}
    for i, item in enumerate(args.data):
        m = re.fullmatch(r"(\d+):(.+)", item)
        pid, path = (int(m.group(1)), m.group(2)) if m else (i, item)
        if pid in paths:
            raise InputError(f"--data given twice for party {pid}")
        paths[pid] = path
    wanted = local_pids(options)
    if sorted(paths) != wanted:
        raise InputError(f"give --data I:PATH for exactly the parties run here "
                         f"({', '.join(map(str, wanted))}); got parties {', '.join(map(str, sorted(paths)))}")
    return paths


def local_pids(options: dict) -> list[int]:
    """Party ids whose inputs and outputs are handled by this process."""
    if options["hosts"]:
        return [options["party_id"]]
    return list(range(options["parties"]))


def write_json(path, obj) -> None:
    write_atomically(path, json.dumps(obj, indent=1, default=_jsonable) + "\n")


def write_ledger(path, results) -> None:
    """The ledger as the parties run here recorded it (identical releases on every party)."""
    first = results[0]
    write_json(path, {"parties_reporting": [r.pid for r in results], **first.ledger.to_dict()})


def write_transcript(args, results, result_party: int | None = None) -> None:
    """``--transcript PATH``: each local party's view (:func:`securegenome.core.ledger.write_transcripts`)."""
    if getattr(args, "transcript", None):
        from ..core.ledger import write_transcripts

        write_transcripts(args.transcript, results, result_party)


def run_summary(results, **extra) -> dict:
    """The machine-readable part every --json output shares."""
    return {"machine": platform.node(), "parties": len(results),
            "wall_seconds": max(r.seconds for r in results),
            "bytes_sent": {str(r.pid): r.bytes_sent for r in results}, **extra}


def _jsonable(x):
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, (set, tuple)):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
