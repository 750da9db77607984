"""The ``securegenome`` command line.

Each sub-command lives in its own module under :mod:`securegenome.commands` and provides
``register(subparsers)``; this module finds them, parses the arguments and turns every
:class:`~securegenome.errors.SecureGenomeError` into a one-line message and a non-zero exit.
MPyC never sees our argv (see ``core._mpyc``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .errors import SecureGenomeError

EPILOG = """\
examples:
  securegenome search data/lambda_phage.fa data/reads.fq -k 2 -o hits.sam   # 3 local parties
  securegenome bwt data/lambda_phage.fa -o lambda.bwt
  securegenome km --data 0:a.csv --data 1:b.csv --data 2:c.csv --duration T --event E --group G --interval 30
  securegenome ridge --data 0:a.csv --data 1:b.csv --data 2:c.csv --target y --alpha 1.0
  securegenome simulate-reads data/lambda_phage.fa -n 100 --length 100 -o reads.fq
  securegenome keys --parties 3 -o tls
  securegenome info

Every protocol command runs with all parties on this machine by default (--parties 3); add
--party-id I --hosts h0:p0,h1:p1,h2:p2 --tls-dir DIR (keys from `securegenome keys`) to run one party
of a multi-host run (docs/deployment.md).  `securegenome CMD --help`
explains each command, what it reveals and to whom.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="securegenome", description="Privacy-preserving genomics and clinical analytics with secure "
        "multi-party computation: several parties compute on data none of them may see.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"securegenome {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(sub)
    return parser


def _command_modules():
    found = [importlib.import_module(f"{commands.__name__}.{info.name}")
             for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_")]
    return sorted(found, key=lambda m: (getattr(m, "ORDER", 50), m.__name__))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SecureGenomeError as exc:
        print(f"securegenome: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("securegenome: interrupted; all parties stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
