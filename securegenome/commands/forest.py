"""``securegenome forest``: a random forest of Gini trees over rows held by several parties."""

from __future__ import annotations

import argparse

from ._common import PARTY_HELP, add_party_options
from .tree import DATA_HELP, add_data_options, add_output_options, add_tree_options, data_kwargs, finish, \
    run_protocol

ORDER = 63

DESCRIPTION = """\
Train a random forest (scikit-learn's RandomForestClassifier: bootstrap samples, a random subset of
features per node, Gini trees) on the union of the parties' rows, without pooling them.  All trees grow
together, layer by layer, on one secret sort of every numeric column (see `securegenome tree`).  The
bootstrap counts and feature subsets are drawn from public randomness: --random-state, or a seed every
party contributes to.  They depend on row positions only, never on values.

What is revealed, to all parties (see docs/trees.md): the row count of every party, the schema, the seed,
the trees (structure, split features and thresholds, leaf classes) and the majority class of all training
rows (vote ties go to it); nothing else but uniformly random or statistically masked values."""

EPILOG = f"""\
example:
  securegenome forest --data 0:a.csv --data 1:b.csv --data 2:c.csv --target y --n-estimators 10 \\
      --max-depth 4 --json forest.json

{DATA_HELP}

{PARTY_HELP}"""


def register(sub):
    p = sub.add_parser("forest", help="secure random forest (Gini trees) over rows split across parties",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(p)
    g = p.add_argument_group("model")
    g.add_argument("--n-estimators", type=int, default=10, metavar="T", help="number of trees (default 10)")
    add_tree_options(g)
    g.add_argument("--max-features", default="sqrt", metavar="K",
                   help="features drawn per node: sqrt (default), log2, all, an integer or a fraction")
    g.add_argument("--no-bootstrap", action="store_true", help="every tree on all rows (no bootstrap)")
    g.add_argument("--random-state", type=int, default=None, metavar="SEED",
                   help="public seed of the draws (default: a fresh seed from all parties)")
    add_output_options(p)
    add_party_options(p)
    p.set_defaults(func=main)


def max_features(text: str):
    if text in ("sqrt", "log2"):
        return text
    if text == "all":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def main(args):
    from ..trees.data import Schema
    from ..trees.forest import forest_protocol
    from ..trees.model import Tree, export_text

    kwargs = {**data_kwargs(args), "n_estimators": args.n_estimators, "max_depth": args.max_depth,
              "min_samples_leaf": args.min_samples_leaf, "max_features": max_features(args.max_features),
              "bootstrap": not args.no_bootstrap, "random_state": args.random_state}
    results = run_protocol(forest_protocol, args, kwargs)
    model = results[0].value
    schema = Schema(**model["schema"])
    print(f"random forest of {args.n_estimators} trees of {args.target!r} on {len(schema.features)} features, "
          f"{sum(model['sizes'])} rows (per party: {model['sizes']}), seed {model['seed']}, vote ties to class "
          f"{schema.classes[model['majority']]!r}")
    for i, t in enumerate(model["trees"]):
        print(f"tree {i}:")
        print(export_text(Tree.from_dict(t), schema))
    return finish(args, "forest", results, model)
