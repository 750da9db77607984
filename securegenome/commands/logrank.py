"""``securegenome logrank``: the logrank test of two groups over patients held by several parties."""

from __future__ import annotations

import argparse

from ._common import PARTY_HELP, add_party_options, party_data_paths, run_summary, session_options, write_json, \
    write_ledger, write_transcript
from .km import DATA_HELP, add_data_options, binning_note, table_options

ORDER = 41

DESCRIPTION = """\
Logrank test (chi-square, 1 degree of freedom) comparing the survival of two groups over patients
split across parties (hospitals), without pooling records.  Each party tabulates its own events and
numbers at risk per group and time point; the tables are summed in secret shares and the statistic
is computed in shares with exact integer arithmetic and one reciprocal per time point, sized from the
number of patients (no fixed-point overflow at any N).

What is revealed, to all parties:
  - the largest duration over all patients (the public time grid), unless --horizon fixes it;
  - the total number of patients N (it sizes the secure types);
  - the chi-square statistic.  The p-value is computed from it in the clear, so it adds nothing.
Per-time tables, group sizes and individual records are never revealed.  See docs/survival.md."""

EPILOG = f"""\
example:
  securegenome logrank --data 0:a.csv --data 1:b.csv --data 2:c.csv --duration T --event E --group G \\
      --json logrank.json --ledger ledger.json

{DATA_HELP}

{PARTY_HELP}"""


def register(sub):
    p = sub.add_parser("logrank", help="secure logrank test of two groups (only the statistic is opened)",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(p)
    p.add_argument("--json", default=None, metavar="PATH", help="write the statistic, p-value and run facts as JSON")
    add_party_options(p)
    p.set_defaults(func=main)


def main(args):
    from ..survival import secure_logrank_test

    options = session_options(args)
    paths = party_data_paths(args, options)
    session = {k: v for k, v in options.items() if k != "parties"}
    result = secure_logrank_test(paths, parties=options["parties"], **table_options(args), **session)
    summary = result.summary_dict()
    binned = result.durations_binned
    print(f"logrank test, groups {summary['groups'][0]} vs {summary['groups'][1]}, {summary['n_patients']} "
          f"patients; {binning_note(binned, summary['time_unit'])}")
    print(f"test_statistic\t{result.test_statistic:.10g}")
    print(f"p_value\t{result.p_value:.10g}")
    print(f"degrees_of_freedom\t{result.degrees_of_freedom}")
    if args.json:
        write_json(args.json, {"command": "logrank", **summary, "note": binning_note(binned, summary["time_unit"]),
                               **run_summary(result.results)})
    if args.ledger:
        write_ledger(args.ledger, result.results)
    write_transcript(args, result.results)
    return 0

