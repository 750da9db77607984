"""``securegenome tree-predict``: predictions of a tree or forest kept secret, on query rows kept secret."""

from __future__ import annotations

import argparse
import json
import re

from ..errors import InputError
from ._common import PARTY_HELP, add_party_options, local_pids, session_options, write_json, write_ledger, \
    run_summary, write_transcript

ORDER = 64

DESCRIPTION = """\
Predict with a decision tree or random forest that one party holds (the model owner: the --json file of
`securegenome tree` or `securegenome forest`) on query rows that another party holds (the querier), so
that the querier does not see the model and the owner does not see the queries.  The trees are secret-
shared, padded to complete trees of the deepest tree's depth, and evaluated in shares; only the querier
learns the result: per query row the class votes of the trees (one tree: the predicted class).

What is revealed (see docs/trees.md): to the querier, its rows' votes and predictions; to all parties,
the schema (column, category and class names), the number of trees, the depth of the deepest tree, a
forest's tie class and the number of query rows; besides that only statistically masked comparison
operands and uniformly random bits."""

EPILOG = f"""\
example (party 0 owns the model, party 2 asks):
  securegenome tree --data 0:a.csv --data 1:b.csv --data 2:c.csv --target y --json tree.json
  securegenome tree-predict --model 0:tree.json --queries 2:new_rows.csv --json predictions.json

--queries is a CSV file with the model's feature columns (a header line; other columns are ignored).

{PARTY_HELP}"""


def register(sub):
    p = sub.add_parser("tree-predict", help="predict with a secret tree/forest on secret query rows",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("inputs")
    g.add_argument("--model", required=True, metavar="I:PATH",
                   help="party I owns the model: the --json output of `securegenome tree` or `forest`")
    g.add_argument("--queries", required=True, metavar="J:PATH", help="party J asks: a CSV of query rows")
    o = p.add_argument_group("output")
    o.add_argument("--json", default=None, metavar="PATH", help="the querier writes votes and predictions as JSON")
    add_party_options(p)
    p.set_defaults(func=main)


def party_path(text: str, option: str) -> tuple[int, str]:
    m = re.fullmatch(r"(\d+):(.+)", text)
    if not m:
        raise InputError(f"{option} must be I:PATH (party I's file), got {text!r}")
    return int(m.group(1)), m.group(2)


def read_model(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            model = json.load(f)
    except (OSError, ValueError) as exc:
        raise InputError(f"--model {path}: cannot read JSON ({getattr(exc, 'strerror', None) or exc})") from None
    if "schema" not in model or not ("tree" in model or "trees" in model):
        raise InputError(f"--model {path}: not the --json output of `securegenome tree` or `forest`")
    return model


def main(args):
    from .. import core
    from ..trees.data import Schema
    from ..trees.predict import predict_protocol

    owner, model_path = party_path(args.model, "--model")
    querier, query_path = party_path(args.queries, "--queries")
    options = session_options(args)
    for option, pid in (("--model", owner), ("--queries", querier)):
        if not 0 <= pid < options["parties"]:
            raise InputError(f"{option}: party {pid} is not one of 0..{options['parties'] - 1}")
    here = local_pids(options)
    private = {pid: {} for pid in here}
    if owner in here:
        private[owner]["model"] = read_model(model_path)
    if querier in here:
        private[querier]["queries"] = query_path
    results = core.run(predict_protocol, kwargs={"owner": owner, "querier": querier}, private=private, **options)
    if args.ledger:
        write_ledger(args.ledger, results)
    write_transcript(args, results, querier)
    mine = [r for r in results if r.pid == querier]
    if not mine:
        print(f"done: party {querier} received the predictions")
        return 0
    value = mine[0].value
    classes = Schema(**value["schema"]).classes
    predicted = [classes[c] for c in value["predictions"]]
    print(f"{value['rows']} query rows, {value['trees']} tree(s) of depth {value['depth']} kept secret; "
          f"predictions (party {querier} only):")
    for i, (label, votes) in enumerate(zip(predicted, value["votes"])):
        print(f"  row {i + 1}: {label}" + (f"  (votes {votes})" if value["trees"] > 1 else ""))
    if args.json:
        write_json(args.json, {"command": "tree-predict", "predictions": predicted, "votes": value["votes"],
                               "classes": classes, **run_summary(results)})
    return 0
