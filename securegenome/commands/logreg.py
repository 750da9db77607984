"""``securegenome logreg``: logistic regression over rows held by several parties (secure or DP model)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..errors import InputError
from ._common import PARTY_HELP, add_party_options
from .ridge import DATA_HELP, add_data_options, add_output_options, finish, parse_features, print_model, \
    run_protocol

ORDER = 61

DEFAULT_TOL, DEFAULT_MAX_ITER, DEFAULT_DP_ITERATIONS = 1e-4, 30, 3  # as in regression.logistic (imported lazily)

DESCRIPTION = """\
Logistic regression P(y=1|x) = sigmoid(b0 + x.b) with penalty lam/2*|b|^2 on the sum of log-losses
(scikit-learn's LogisticRegression(C=1/lam)) on the union of the parties' rows.  Features are
standardised (pooled mean and SD, or --center/--scale given publicly; standardised values are clipped to
+-256 SDs); coefficients are printed in the original units.

Two modes:
  fully secure (default): Newton's method with the Hessian recomputed in secret shares every iteration;
    rows are secret-shared, the sigmoid is evaluated securely (error <= 1.3e-5).  Each iteration tests
    max|gradient|/n < --tol in shares and opens only that bit (so the number of iterations is revealed);
    it stops one Newton step after the test passes, or after --max-iter iterations (a warning).  Opened:
    the final coefficients, the convergence bits, and the pooled mean and SD of every feature (unless
    --center/--scale are given).
  --epsilon EPS: fast mode with a differentially private model at every iteration.  Each party clips
    its standardised rows to norm --clip and computes its gradient locally; only gradient sums enter the
    MPC, where Laplace noise calibrated to the summed objective is added before opening.  The Hessian
    bound is opened once with DP too; EPS is split evenly over the --dp-iterations + 1 releases.  Needs
    public --center and --scale (the secure moments would otherwise be opened exactly).
Always revealed: every party's row count.  See docs/regression.md for the leakage and DP calibration."""

EPILOG = f"""\
examples:
  securegenome logreg --data 0:a.csv --data 1:b.csv --data 2:c.csv --target y --lam 1 --tol 1e-4 \\
      --max-iter 30 --json model.json --ledger ledger.json
  securegenome logreg --data 0:a.csv --data 1:b.csv --data 2:c.csv --target y --epsilon 1.0 \\
      --center 14.1,19.3,... --scale 3.5,4.3,... --dp-iterations 5

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
    g.add_argument("--tol", type=float, default=DEFAULT_TOL, metavar="T",
                   help=f"stop when max|gradient of the summed loss|/rows < T, tested in shares (one opened "
                        f"bit per iteration; sklearn's tol; default {DEFAULT_TOL:g})")
    g.add_argument("--max-iter", type=int, default=DEFAULT_MAX_ITER, metavar="K",
                   help=f"at most K Newton iterations; a warning if the test has not passed (default "
                        f"{DEFAULT_MAX_ITER})")
    g.add_argument("--iterations", type=int, default=None, metavar="K", help=argparse.SUPPRESS)
    g.add_argument("--center", default=None, metavar="M1,M2,...", help="public per-feature means for standardising")
    g.add_argument("--scale", default=None, metavar="S1,S2,...", help="public per-feature SDs for standardising")
    g.add_argument("--frac-bits", type=int, default=None, metavar="F",
                   help="fixed-point fraction bits (default 24)")
    d = p.add_argument_group("differential privacy (fast mode)")
    d.add_argument("--epsilon", type=float, default=None, metavar="EPS",
                   help="total privacy budget of the DP model mode (> 0); without it the fit is fully secure")
    d.add_argument("--dp-iterations", type=int, default=DEFAULT_DP_ITERATIONS, metavar="K",
                   help=f"iterations of the DP mode, fixed in advance (default {DEFAULT_DP_ITERATIONS})")
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


def _deprecated_iterations(args) -> None:
    """``--iterations K`` (before the convergence test): still accepted, mapped to what it meant."""
    if args.iterations is None:
        return
    if args.epsilon is None:
        args.max_iter = args.iterations
        replacement = "--max-iter (the fully secure fit now stops on --tol)"
    else:
        args.dp_iterations = args.iterations
        replacement = "--dp-iterations"
    print(f"securegenome logreg: warning: --iterations is deprecated, use {replacement}; taken as "
          f"{replacement.split()[0]} {args.iterations}", file=sys.stderr)


def main(args):
    from ..regression.logistic import DEFAULT_FRAC_BITS, logistic_protocol

    if args.epsilon is not None and not args.epsilon > 0:
        raise InputError(f"--epsilon must be positive, not {args.epsilon:g}")
    _deprecated_iterations(args)
    kwargs = {"target": args.target, "lam": args.lam, "tol": args.tol, "max_iter": args.max_iter,
              "epsilon": args.epsilon, "dp_iterations": args.dp_iterations, "clip": args.clip,
              "center": _floats(args.center, "--center"), "scale": _floats(args.scale, "--scale"),
              "features": parse_features(args), "frac_bits": args.frac_bits or DEFAULT_FRAC_BITS}
    results = run_protocol(logistic_protocol, args, kwargs)
    model = results[0].value
    if args.epsilon is None:
        mode = "fully secure"
        steps = (f"{model['n_iter']} Newton iterations ("
                 + ("converged" if model["converged"] else "max-iter reached before tol") + f", tol={args.tol:g})")
    else:
        mode = f"DP model at every iteration, epsilon={args.epsilon:g}"
        steps = f"{model['n_iter']} DP iterations"
    print_model(f"logistic regression of {args.target!r} on {len(model['features'])} features ({mode}), "
                f"lam={args.lam:g}, {steps}, {model['n']} rows (per party: {model['sizes']})", model)
    if model["converged"] is False:
        print(f"securegenome logreg: warning: the gradient test (tol={args.tol:g}) had not passed after "
              f"--max-iter {args.max_iter} iterations; the model is not converged", file=sys.stderr)
    # the gradient norm itself is never opened (only the bit "below tol"), hence not reported
    return finish(args, "logreg", results, model, mode=mode, epsilon=args.epsilon, tol=args.tol,
                  history=[np.asarray(b).tolist() for b in model["history"]])
