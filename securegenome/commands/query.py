"""``securegenome query``: a SQL aggregate query over rows split across parties, answered with DP noise."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys

from ..errors import InputError
from ._common import PARTY_HELP, add_party_data_option, add_party_options, local_pids, party_data_paths, \
    run_summary, session_options, write_json, write_ledger, write_transcript

ORDER = 45

DESCRIPTION = """\
Answer one SQL aggregate query over the union of the parties' tables without pooling them, with
differential privacy.  Each party evaluates the WHERE clause, derived values, clipping and the GROUP BY
keys on its own rows; only the per-group counts and sums are secret-shared, added, and opened with noise
drawn inside the MPC (no party knows it).  Quantiles are selected inside the MPC from a noisy histogram
that is never opened.

Accepted SQL (docs/query.md): SELECT keys and aggregates FROM one table [WHERE condition] [GROUP BY keys];
aggregates COUNT(*), COUNT(x), SUM, AVG, VARIANCE/VAR_POP, STDDEV/STDDEV_POP, MEDIAN(x), QUANTILE(x, q),
PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x); conditions with = <> < <= > >=, IN, BETWEEN, IS NULL,
AND/OR/NOT; arithmetic, CLIP(x, lo, hi), WIDTH_BUCKET(x, lo, hi, n) (public bins).

Public declarations make the noise calibrated and the groups safe:
  --bounds COL:LOW:HIGH  every column that is summed, averaged or ranked (values are clipped to it);
  --domain COL:A,B,...   every GROUP BY column: all its cells are released, present or not.
A query that would need unknown bounds, reveal which groups exist, exceed the budget, or uses SQL
outside the list above is refused with one line before any party shares data.

What is revealed, to all parties (see docs/query.md): per aggregate, its noisy per-group counts/sums
(ledger label query.noisy_aggregate) or the bin of each group's quantile (query.noisy_quantile), each
with its share of --epsilon; nothing else."""

EPILOG = f"""\
examples:
  securegenome query --data 0:a.csv --data 1:b.csv --data 2:c.csv \\
      "SELECT grp, COUNT(*) AS n, AVG(age) AS mean_age FROM t WHERE age > 50 GROUP BY grp" \\
      --epsilon 1 --bounds age:0:120 --domain grp:A,B --json result.json
  securegenome query ... "SELECT WIDTH_BUCKET(age, 0, 120, 12) AS decade, COUNT(*) FROM t GROUP BY decade" ...
  securegenome query ... --budget-file 0:b0.json --budget-file 1:b1.json --budget-file 2:b2.json --budget 3
      (each party's budget file: created with the data set's total epsilon 3, then charged per query;
       a query that does not fit any party's remaining budget is refused before anything is shared)

input (one CSV per party, a header line with the column names):
  --data I:PATH gives party I's own file (one per party here; in a multi-host run only its own).

{PARTY_HELP}"""


def register(sub):
    p = sub.add_parser("query", help="SQL aggregates over rows split across parties, with differential privacy",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sql", metavar="SQL", help="one SELECT ... FROM t [WHERE ...] [GROUP BY ...] (quote it)")
    g = p.add_argument_group("data")
    add_party_data_option(g)
    g.add_argument("--bounds", action="append", default=[], metavar="COL:LOW:HIGH",
                   help="public bounds of a numeric column (repeat per column)")
    g.add_argument("--domain", action="append", default=[], metavar="COL:A,B,...",
                   help="public categories of a group key column (repeat per column)")
    g.add_argument("--schema", default=None, metavar="JSON",
                   help='bounds and domains from a file: {"bounds": {"age": [0, 120]}, "domains": {"grp": ["A", "B"]}}')
    g.add_argument("--quantile-bins", type=int, default=None, metavar="B",
                   help="quantiles are selected among B equal bins of their bounds (default 128); "
                        "fewer bins suit small groups (less noise in total), more give a finer answer")
    g = p.add_argument_group("differential privacy")
    g.add_argument("--epsilon", type=float, required=True, metavar="EPS",
                   help="epsilon of this query, split equally over its aggregates (smaller = more private)")
    g.add_argument("--delta", type=float, default=0.0, metavar="DELTA",
                   help="delta of this query (default 0; > 0 uses discrete Gaussian noise for counts and sums)")
    g.add_argument("--budget-file", action="append", default=[], metavar="[I:]PATH",
                   help="party I's budget file for this data set (bare PATH: the one party run here); "
                        "checked and charged by that party before anything is shared")
    g.add_argument("--budget", type=float, default=None, metavar="EPS",
                   help="the data set's total epsilon, when the budget file is created")
    g.add_argument("--budget-delta", type=float, default=0.0, metavar="DELTA",
                   help="the data set's total delta, when the budget file is created (default 0)")
    g = p.add_argument_group("output")
    g.add_argument("--explain", action="store_true",
                   help="print the plan (every release, its sensitivity and epsilon share) and stop")
    g.add_argument("--json", default=None, metavar="PATH",
                   help="write the result table (rows keyed by the SELECT aliases) and run facts as JSON")
    add_party_options(p)
    p.set_defaults(func=main)


def parse_value(text: str):
    """A category as given on the command line: an integer, a number, or text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def declarations(args) -> tuple[dict, dict]:
    """(bounds, domains) from --schema, then --bounds/--domain (which win)."""
    bounds, domains = {}, {}
    if args.schema:
        try:
            with open(args.schema, encoding="utf-8") as f:
                schema = json.load(f)
            bounds.update({k: tuple(v) for k, v in schema.get("bounds", {}).items()})
            domains.update({k: list(v) for k, v in schema.get("domains", {}).items()})
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise InputError(f"{args.schema}: not a readable schema file ({exc})") from None
    for item in args.bounds:
        m = re.fullmatch(r"(.+):([^:]+):([^:]+)", item)
        try:
            bounds[m.group(1)] = (float(m.group(2)), float(m.group(3)))
        except (AttributeError, ValueError):
            raise InputError(f"--bounds {item!r}: give COLUMN:LOW:HIGH, e.g. age:0:120") from None
    for item in args.domain:
        name, _, values = item.rpartition(":")
        if not name or not values:
            raise InputError(f"--domain {item!r}: give COLUMN:A,B,..., e.g. sex:1,2")
        domains[name] = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
    return bounds, domains


def budget_paths(args, options: dict) -> dict[int, str]:
    """{party id: budget file} for the parties run here, from --budget-file [I:]PATH."""
    wanted = local_pids(options)
    paths = {}
    for item in args.budget_file:
        m = re.fullmatch(r"(\d+):(.+)", item)
        if m:
            paths[int(m.group(1))] = m.group(2)
        elif len(wanted) == 1:
            paths[wanted[0]] = item
        else:
            raise InputError("--budget-file: give I:PATH for each party run here (each party keeps its own file)")
    if paths and sorted(paths) != wanted:
        raise InputError(f"--budget-file: give one file for each party run here ({', '.join(map(str, wanted))})")
    if args.budget is not None and not paths:
        raise InputError("--budget needs --budget-file (the file that keeps the data set's budget)")
    return paths


def main(args):
    from ..query import SecureFrame, sql_results
    from ..query.frame import check_tables, explain, run_plan
    from ..query.plan import QUANTILE_BINS

    options = session_options(args)
    paths = party_data_paths(args, options)
    budgets = budget_paths(args, options)
    bounds, domains = declarations(args)
    frame = SecureFrame(paths, bounds=bounds, domains=domains)
    result = sql_results(args.sql, frame, quantile_bins=args.quantile_bins or QUANTILE_BINS)
    check_tables([result])
    if not (math.isfinite(args.epsilon) and args.epsilon > 0):
        raise InputError(f"--epsilon must be a positive number, not {args.epsilon:g}")
    plan_text = explain([result], args.epsilon, args.delta, parties=options["parties"])
    if args.explain:
        print(plan_text)
        return 0
    tables, results = run_plan([result], args.epsilon, args.delta, budget_files=budgets, budget=args.budget,
                               budget_delta=args.budget_delta, **options)
    table = tables[0]
    print(table.to_string(index=False))
    spent = results[0].value["budget"]
    print(f"query: {len(table)} rows, epsilon={args.epsilon:g}, delta={args.delta:g}"
          + (f"; budget: spent epsilon={spent['spent_epsilon']:g} of {spent['epsilon']:g}" if spent else ""),
          file=sys.stderr)
    if args.json:
        write_json(args.json, {"command": "query", "sql": args.sql, "epsilon": args.epsilon, "delta": args.delta,
                               "columns": list(table.columns), "rows": records(table), "plan": plan_text,
                               "budget": spent, **run_summary(results)})
    if args.ledger:
        write_ledger(args.ledger, results)
    write_transcript(args, results)  # --transcript: party 0's view at PATH, the others' at PATH.partyI
    return 0


def records(table) -> list[dict]:
    """The table's rows as {column: value}, with NaN as null (valid JSON)."""
    out = []
    for row in table.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else
                        v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return out
