"""``securegenome logreg``: logistic regression over rows held by several parties (secure or DP model)."""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import InputError
from ._common import PARTY_HELP, add_party_options
from .ridge import DATA_HELP, add_data_options, add_output_options, finish, parse_features, print_model, \
    run_protocol

ORDER = 61

DESCRIPTION = """\
Logistic regression P(y=1|x) = sigmoid(b0 + x.b) with penalty lam/2*|b|^2 on the sum of log-losses
(scikit-learn's LogisticRegression(C=1/lam)) on the union of the parties' rows, by Newton steps with the
fixed Hessian bound X'X/4 + lam*I (factored once).  Features are standardised (pooled mean and SD, or
--center/--scale given publicly); coefficients are printed in the original units.

Two modes:
  fully secure (default): rows are secret-shared, the sigmoid is evaluated securely (error <= 1.3e-5)
    and only the final coefficients are opened.  Also opened: the pooled mean and SD of every feature
    (unless --center/--scale are given).
  --epsilon EPS: fast mode with a differentially private model at every iteration.  Each party clips
    its standardised rows to norm --clip and computes its gradient locally; only gradient sums enter the
    MPC, where Laplace noise calibrated to the summed objective is added before opening.  The Hessian
    bound is opened once with DP too; EPS is split evenly over the iterations + 1 releases.  Needs
    public --center and --scale (the secure moments would otherwise be opened exactly).
Always revealed: every party's row count.  See docs/regression.md for the leakage and DP calibration."""

EPILOG = f"""\
examples:
  securegenome logreg --data 0:a.csv --data 1:b.csv --data 2:c.csv --target y --lam 1 --iterations 10 \\
      --json model.json --ledger ledger.json
  securegenome logreg --data 0:a.csv --data 1:b.csv --data 2:c.csv --target y --epsilon 1.0 \\
      --center 14.1,19.3,... --scale 3.5,4.3,... --iterations 5

{DATA_HELP}
  The target column holds 0 or 1.

{PARTY_HELP}"""


def register(sub):
    p = sub.add_parser("logreg", help="secure logistic regression over rows split across parties (or DP model)",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(p)
    g = p.add_argument_group("model")
    g.add_argument("--lam", type=float, default=1.0, metavar="L",
                   help="L2 penalty on the summed log-loss (sklearn C = 1/L; default 1.0)")
    g.add_argument("--iterations", type=int, default=10, metavar="K", help="Newton steps (default 10)")
    g.add_argument("--center", default=None, metavar="M1,M2,...", help="public per-feature means for standardising")
    g.add_argument("--scale", default=None, metavar="S1,S2,...", help="public per-feature SDs for standardising")
    g.add_argument("--frac-bits", type=int, default=None, metavar="F",
                   help="fixed-point fraction bits (default 24)")
    d = p.add_argument_group("differential privacy (fast mode)")
    d.add_argument("--epsilon", type=float, default=None, metavar="EPS",
                   help="total privacy budget of the DP model mode (> 0); without it the fit is fully secure")
    d.add_argument("--clip", type=float, default=None, metavar="R",
                   help="public bound on the norm of a standardised feature vector (default sqrt(#features))")
    add_output_options(p)
    add_party_options(p)
    p.set_defaults(func=main)


def _floats(text, option):
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"{option} needs numbers separated by commas, not {text!r}") from None


def main(args):
    from ..regression.logistic import DEFAULT_FRAC_BITS, logistic_protocol

    if args.epsilon is not None and not args.epsilon > 0:
        raise InputError(f"--epsilon must be positive, not {args.epsilon:g}")
    kwargs = {"target": args.target, "lam": args.lam, "iterations": args.iterations, "epsilon": args.epsilon,
              "clip": args.clip, "center": _floats(args.center, "--center"), "scale": _floats(args.scale, "--scale"),
              "features": parse_features(args), "frac_bits": args.frac_bits or DEFAULT_FRAC_BITS}
    results = run_protocol(logistic_protocol, args, kwargs)
    model = results[0].value
    mode = "fully secure" if args.epsilon is None else f"DP model at every iteration, epsilon={args.epsilon:g}"
    print_model(f"logistic regression of {args.target!r} on {len(model['features'])} features ({mode}), "
                f"lam={args.lam:g}, {args.iterations} iterations, {model['n']} rows (per party: {model['sizes']})",
                model)
    return finish(args, "logreg", results, model, mode=mode, epsilon=args.epsilon,
                  history=[np.asarray(b).tolist() for b in model["history"]])
