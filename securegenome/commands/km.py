"""``securegenome km``: Kaplan-Meier curves of two groups over patients held by several parties."""

from __future__ import annotations

import argparse
import math

from ..errors import InputError
from ._common import PARTY_HELP, add_party_data_option, add_party_options, party_data_paths, run_summary, \
    session_options, write_json, write_ledger, write_transcript

ORDER = 40

DATA_HELP = """\
input (one CSV per party, header line with column names):
  --data I:PATH gives party I's own file.  With all parties on this machine give one --data per party;
  in a multi-host run (--party-id I --hosts ...) each party gives only its own --data I:PATH.
  Durations may be integers or decimals; they are put on the grid of --time-unit (rounded UP to the next
  multiple, and the output says so).  Events are 1 (observed) or 0 (censored).  The group column must
  hold exactly two labels over all parties (or name them with --groups A,B)."""

KM_DESCRIPTION = """\
Kaplan-Meier survival curves of two groups (e.g. treatments) over patients split across parties
(hospitals), without pooling records.  Each party counts its own events and censorings per group and
public time interval; the counts are summed in secret shares and opened.

What is revealed, to all parties:
  - the largest duration over all patients (the public time grid), unless --horizon fixes it;
  - per group and interval of --interval time units: the number of events and of censorings.
    The curve is the Kaplan-Meier estimate of the data coarsened to interval ends (exact at
    --interval 1).  With --epsilon those counts get discrete Laplace noise inside the MPC before
    opening (epsilon-DP for one patient: one patient changes one count by 1); --horizon and
    --groups are then required so that nothing else is opened or published.
Individual records and per-party counts are never revealed.  See docs/survival.md."""

KM_EPILOG = f"""\
example:
  securegenome km --data 0:a.csv --data 1:b.csv --data 2:c.csv --duration T --event E --group G \\
      --interval 30 --plot km.png --json km.json --ledger ledger.json
  securegenome km --data 0:a.csv --data 1:b.csv --data 2:c.csv --duration T --event E --group G \\
      --interval 30 --epsilon 1.0 --horizon 3650 --groups treated,control

{DATA_HELP}

{PARTY_HELP}"""


def register(sub):
    p = sub.add_parser("km", help="secure Kaplan-Meier curves of two groups (interval-aggregated or DP)",
                       description=KM_DESCRIPTION, epilog=KM_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(p)
    g = p.add_argument_group("curve")
    g.add_argument("--interval", type=int, default=1, metavar="W",
                   help="width of the public intervals, in time units (default 1: every time point)")
    g.add_argument("--plot", default=None, metavar="PNG", help="write both curves (interval steps) as a PNG")
    g.add_argument("--json", default=None, metavar="PATH",
                   help="write the published counts, curves, medians and run facts as JSON")
    from ..core.dp import add_dp_options

    add_dp_options(p, what="the per-interval event and censoring counts")
    add_party_options(p)
    p.set_defaults(func=main)


def add_data_options(p) -> None:
    g = p.add_argument_group("data")
    add_party_data_option(g)
    g.add_argument("--duration", default="T", metavar="COL", help="duration column (default T)")
    g.add_argument("--event", default="E", metavar="COL", help="event column, 1 = event, 0 = censored (default E)")
    g.add_argument("--group", default="group", metavar="COL", help="group column (default group)")
    g.add_argument("--groups", default=None, metavar="A,B",
                   help="the two group labels, in this order (default: the two labels found, sorted)")
    g.add_argument("--time-unit", type=float, default=1.0, metavar="U",
                   help="durations are rounded up to multiples of U (default 1)")
    g.add_argument("--horizon", type=float, default=None, metavar="T",
                   help="public end of follow-up: longer durations are censored at T, locally (default: the "
                        "maximum over all parties, opened); --groups with --epsilon: rows of other labels are left out")


def parse_groups(args):
    if args.groups is None:
        return None
    groups = [g.strip() for g in args.groups.split(",")]
    if len(groups) != 2 or not all(groups):
        raise InputError(f"--groups needs two labels separated by a comma, not {args.groups!r}")
    return groups


def table_options(args) -> dict:
    return {"duration_col": args.duration, "event_col": args.event, "group_col": args.group,
            "groups": parse_groups(args), "horizon": args.horizon, "time_unit": args.time_unit}


def binning_note(binned: bool, unit: float) -> str:
    if binned:
        return f"durations rounded up to multiples of the time unit {unit:g}"
    return f"durations used as given (all multiples of the time unit {unit:g})"


def main(args):
    from ..core.dp import accountant_from_args
    from ..survival import SecureKaplanMeierFitter

    options = session_options(args)
    paths = party_data_paths(args, options)
    accountant = accountant_from_args(args, dataset="survival records")
    if accountant is not None and args.delta:
        raise InputError("the DP curve uses the discrete Laplace mechanism (pure epsilon-DP): leave --delta at 0")
    session = {k: v for k, v in options.items() if k != "parties"}
    kmf = SecureKaplanMeierFitter().fit(paths, interval=args.interval, epsilon=args.epsilon,
                                        accountant=accountant, parties=options["parties"],
                                        **table_options(args), **session)
    report = kmf.to_dict()
    if kmf.accountant_ is not None:
        report["privacy_budget"] = kmf.accountant_.to_dict()
    print_report(report)
    if args.plot:
        kmf.plot(path=args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        write_json(args.json, {"command": "km", **report, "note": binning_note(report["durations_binned"],
                                                                                 report["time_unit"]),
                               **run_summary(kmf.results_)})
    if args.ledger:
        write_ledger(args.ledger, kmf.results_)
    write_transcript(args, kmf.results_)
    return 0


def print_report(r: dict) -> None:
    mode = (f"differentially private (epsilon={r['epsilon']:g}, discrete Laplace noise on every count)"
            if r["epsilon"] is not None else "interval-aggregated counts, opened exactly")
    print(f"Kaplan-Meier, {mode}; intervals of {r['interval']:g}; {binning_note(r['durations_binned'], r['time_unit'])}")
    for g in r["groups"]:
        median = r["median_survival_time"][g]
        n = sum(max(0, x) for x in r["events"][g]) + sum(max(0, x) for x in r["censored"][g])
        print(f"  group {g}: patients {n}, events {sum(max(0, x) for x in r['events'][g])}, median survival "
              + ("not reached" if median is None or (isinstance(median, float) and math.isinf(median))
                 else f"{median:g}"))
    print("interval_end\t" + "\t".join(f"S({g})\tat_risk({g})" for g in r["groups"]))
    for i, t in enumerate(r["timeline"]):
        print(f"{t:g}\t" + "\t".join(f"{r['survival'][g][i]:.6f}\t{r['at_risk'][g][i]}" for g in r["groups"]))
