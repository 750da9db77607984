"""``securegenome tree``: a Gini decision tree over rows held by several parties (only the tree is opened)."""

from __future__ import annotations

import argparse

from ..errors import InputError
from ._common import PARTY_HELP, add_memory_option, add_party_data_option, add_party_options, local_pids, \
    memory_budget, party_data_paths, run_summary, session_options, write_json, write_ledger

ORDER = 62

DATA_HELP = """\
input (one CSV per party, a header line with the column names):
  --data I:PATH gives party I's own file.  With all parties on this machine give one --data per party;
  in a multi-host run (--party-id I --hosts ...) each party gives only its own --data I:PATH.
  Every party's file must have the same columns.  Columns of numbers are numeric (split as
  'x <= t', t on a fixed-point grid of --frac-bits fraction bits); other columns, and those named by
  --categorical, are categorical (split as 'x in {first categories in sorted order}').  Category and
  class names are exchanged between the parties as a schema, like a shared header."""

DESCRIPTION = """\
Train a decision tree with the Gini criterion (scikit-learn's DecisionTreeClassifier(criterion="gini"):
the same splits on the same data) on the union of the parties' rows, without pooling them.  The tree
grows layer by layer: every numeric column is sorted once by an oblivious radix sort, and per layer the
class counts of every candidate split of every node come from prefix sums in that secret order; the best
split of each node is found by a secret first-maximum tournament.

What is revealed, to all parties (see docs/trees.md):
  - the row count of every party and the schema (column, category and class names);
  - the tree: per node whether it splits, the split feature and threshold, the class of every leaf;
  - uniformly random or statistically masked values (shuffled permutations, masked keys and bits).
Node sizes, class counts and impurities stay secret."""

EPILOG = f"""\
example:
  securegenome tree --data 0:a.csv --data 1:b.csv --data 2:c.csv --target diagnosis --max-depth 4 \\
      --json tree.json --ledger ledger.json

{DATA_HELP}

{PARTY_HELP}"""


def register(sub):
    p = sub.add_parser("tree", help="secure decision tree (Gini) over rows split across parties",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(p)
    g = p.add_argument_group("model")
    add_tree_options(g)
    add_output_options(p)
    add_party_options(p)
    p.set_defaults(func=main)


def add_data_options(p) -> None:
    g = p.add_argument_group("data")
    add_party_data_option(g)
    g.add_argument("--target", required=True, metavar="COL", help="the class column")
    g.add_argument("--features", default=None, metavar="A,B,...",
                   help="feature columns, in this order (default: every column but the target)")
    g.add_argument("--categorical", default=None, metavar="A,B,...|all",
                   help="columns to treat as categorical even if they hold numbers ('all': every feature)")
    g.add_argument("--frac-bits", type=int, default=16, metavar="F",
                   help="fraction bits of the fixed-point grid of numeric values (default 16)")
    g.add_argument("--value-bits", type=int, default=32, metavar="B",
                   help="bits of a numeric value's code: |x| * 2^F must stay below 2^(B-1) (default 32)")


def add_tree_options(g) -> None:
    g.add_argument("--max-depth", type=int, default=None, metavar="D",
                   help="maximal depth (default: grow until leaves are pure or cannot split)")
    g.add_argument("--min-samples-leaf", type=int, default=1, metavar="L",
                   help="minimal number of rows in a leaf (default 1)")
    add_memory_option(g)


def add_output_options(p) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--json", default=None, metavar="PATH", help="write the model and run facts as JSON")


def names(text):
    if text is None:
        return None
    if text == "all":
        return "all"
    items = [c.strip() for c in text.split(",") if c.strip()]
    if not items:
        raise InputError("give column names separated by commas")
    return items


def data_kwargs(args) -> dict:
    return {"target": args.target, "features": names(args.features), "categorical": names(args.categorical),
            "frac_bits": args.frac_bits, "value_bits": args.value_bits}


def run_protocol(protocol, args, kwargs: dict):
    """Run ``protocol`` with every local party's --data file; returns the local parties' results."""
    from .. import core
    from ..core.memory import default_budget

    options = session_options(args)
    paths = party_data_paths(args, options)
    budget = memory_budget(args) or default_budget(len(local_pids(options)))
    return core.run(protocol, kwargs={**kwargs, "memory_bytes": budget},
                    private={pid: {"table": path} for pid, path in paths.items()}, **options)


def finish(args, command: str, results, model: dict) -> int:
    if args.json:
        write_json(args.json, {"command": command, **model, **run_summary(results)})
    if args.ledger:
        write_ledger(args.ledger, results)
    return 0


def main(args):
    from ..trees.data import Schema
    from ..trees.model import Tree, export_text
    from ..trees.secure import tree_protocol

    kwargs = {**data_kwargs(args), "max_depth": args.max_depth, "min_samples_leaf": args.min_samples_leaf}
    results = run_protocol(tree_protocol, args, kwargs)
    model = results[0].value
    tree, schema = Tree.from_dict(model["tree"]), Schema(**model["schema"])
    print(f"decision tree of {args.target!r} on {len(schema.features)} features, depth {tree.max_depth}, "
          f"{tree.node_count} nodes, {sum(model['sizes'])} rows (per party: {model['sizes']})")
    print(export_text(tree, schema))
    return finish(args, "tree", results, model)
