"""``securegenome ridge``: ridge regression over rows held by several parties (secure normal equations)."""

from __future__ import annotations

import argparse

from ..errors import InputError
from ._common import PARTY_HELP, add_party_data_option, add_party_options, party_data_paths, run_summary, \
    session_options, write_json, write_ledger, write_transcript

ORDER = 60

DATA_HELP = """\
input (one CSV per party, a header line with the column names):
  --data I:PATH gives party I's own file.  With all parties on this machine give one --data per party;
  in a multi-host run (--party-id I --hosts ...) each party gives only its own --data I:PATH.
  Every party's file must have the same feature columns (checked; by default all columns but the
  target, or name them with --features) and only numbers; files are streamed in chunks, so millions
  of rows are fine."""

DESCRIPTION = """\
Ridge regression y ~ b0 + x.b with penalty alpha*|b|^2 (scikit-learn's Ridge(alpha), intercept not
penalised) on the union of the parties' rows, without pooling them.  Each party streams its own CSV into
local sums (means, centred X'X, X'y); those are added in secret shares and the system
(X'X + alpha I) b = X'y is solved there by fixed-point LDL' (Cholesky without square roots).  The
secure part does not depend on the number of rows.

What is revealed, to all parties (see docs/regression.md):
  - the row count of every party (public sizes);
  - per column, the binary exponent of its largest |value| over all rows (public scaling);
  - whether some feature is constant over all rows, and whether the system is singular (errors);
  - the fitted coefficients and intercept.
Rows, per-party sums and everything else stay secret."""

EPILOG = f"""\
example:
  securegenome ridge --data 0:a.csv --data 1:b.csv --data 2:c.csv --target y --alpha 1.0 \\
      --json model.json --ledger ledger.json

{DATA_HELP}

{PARTY_HELP}"""


def register(sub):
    p = sub.add_parser("ridge", help="secure ridge regression over rows split across parties",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(p)
    g = p.add_argument_group("model")
    g.add_argument("--alpha", type=float, default=1.0, metavar="A", help="L2 penalty (>= 0, default 1.0)")
    g.add_argument("--frac-bits", type=int, default=None, metavar="F",
                   help="fixed-point fraction bits of the secure solve (default 40; the solution error is about "
                        "cond(X'X)*2^-F, so 24 suffices for well-conditioned data and is faster)")
    add_output_options(p)
    add_party_options(p)
    p.set_defaults(func=main)


def add_data_options(p) -> None:
    g = p.add_argument_group("data")
    add_party_data_option(g)
    g.add_argument("--target", required=True, metavar="COL", help="the target column")
    g.add_argument("--features", default=None, metavar="A,B,...",
                   help="feature columns, in this order (default: every column but the target)")


def add_output_options(p) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--json", default=None, metavar="PATH", help="write the model and run facts as JSON")


def parse_features(args):
    if args.features is None:
        return None
    names = [c.strip() for c in args.features.split(",") if c.strip()]
    if not names:
        raise InputError("--features needs column names separated by commas")
    return names


def run_protocol(protocol, args, kwargs: dict):
    """Run ``protocol`` with every local party's --data file; returns the local parties' results."""
    from .. import core

    options = session_options(args)
    paths = party_data_paths(args, options)
    return core.run(protocol, kwargs=kwargs, private={pid: {"table": path} for pid, path in paths.items()},
                    **options)


def print_model(title: str, model: dict) -> None:
    print(title)
    print(f"  {'intercept':24s} {model['intercept']: .8g}")
    for name, c in zip(model["features"], model["coef"]):
        print(f"  {name:24s} {c: .8g}")


def finish(args, command: str, results, model: dict, **extra) -> int:
    if args.json:
        write_json(args.json, {"command": command, **{k: v for k, v in model.items() if k != "history"},
                               **extra, **run_summary(results)})
    if args.ledger:
        write_ledger(args.ledger, results)
    write_transcript(args, results)  # --transcript: party 0's view at PATH, the others' at PATH.partyI
    return 0


def main(args):
    from ..regression.ridge import DEFAULT_FRAC_BITS, ridge_protocol

    kwargs = {"target": args.target, "alpha": args.alpha, "features": parse_features(args),
              "frac_bits": args.frac_bits or DEFAULT_FRAC_BITS}
    results = run_protocol(ridge_protocol, args, kwargs)
    model = results[0].value
    print_model(f"ridge regression of {model['target']!r} on {len(model['features'])} features, "
                f"alpha={model['alpha']:g}, {model['n']} rows (per party: {model['sizes']})", model)
    return finish(args, "ridge", results, model)
