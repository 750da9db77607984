"""Every message a party sends is classified (issue 15.9): shares, keys, an opening through ``core.open``,
an MPyC-internal masked opening, a documented public-value exchange, or an input-error exchange.

The test wraps MPyC's send path (``mpc._send_message``) and its ``output``/``transfer`` entry points in
every party process (tests/privacy_protocols.py), runs every protocol family once with 3 parties, and fails
on any message from an unknown sender, any ``mpc.output`` outside ``core.open`` (a value opened without the
ledger), any pickled ``mpc.transfer`` outside the two documented uses, and any public-value exchange from a
call site that docs/privacy.md does not list.  Two deliberately leaky protocols check that it can fail.
"""

import numpy as np
import pytest

from securegenome.genomics import bwt as B
from securegenome.genomics import search
from securegenome.regression import logistic, ridge
from securegenome.survival import kaplan_meier as km
from securegenome.survival import load_table
from securegenome.survival import logrank as lr

from privacy_protocols import PUBLIC_SITES, audited, dp_open_split, leaky_output, leaky_send


def _table(rng, n):
    return load_table({"T": rng.integers(1, 40, n), "E": rng.integers(0, 2, n), "G": ["a", "b"] * (n // 2)},
                      duration_col="T", event_col="E", group_col="G")


def _rows(rng, n):
    X = rng.normal(size=(n, 2))
    return X, (X @ [1.0, -1.0] + rng.normal(size=n) > 0).astype(float)


QUICK = {"search_scan", "search_fm", "bwt", "km_dp", "dp_open", "leaky_send", "leaky_output"}


@pytest.mark.parametrize("which", ["quick", pytest.param("all", marks=pytest.mark.slow)])
def test_every_message_is_a_share_a_key_an_opening_or_a_documented_public_value(run3, which):
    """The default run covers the core's own protocols (search, bwt, DP counts); the slow one adds the
    fixed-point ones (km with an opened horizon, logrank, ridge, logreg: MPyC's internal openings)."""
    rng = np.random.default_rng(1)
    steps = [("search_scan", search.secure_search, {"k": 1, "engine": "scan", "strand": "forward"}),
             ("search_fm", search.secure_search, {"k": 1, "engine": "fm", "cap": 4, "strand": "forward"}),
             ("bwt", B.bwt_protocol, {"reveal_to": [0]}),
             ("km", km.secure_km_counts, {"width": 10}),
             ("km_dp", km.secure_km_counts, {"width": 10, "horizon": 30, "groups": ["a", "b"], "epsilon": 1.0}),
             ("logrank", lr.secure_logrank, {}),
             ("ridge", ridge.ridge_protocol, {"target": "y", "frac_bits": 24}),
             ("logreg", logistic.logistic_protocol, {"target": "y", "max_iter": 2}),
             ("dp_open", dp_open_split, {"repeats": 1}),
             ("leaky_send", leaky_send, {}),
             ("leaky_output", leaky_output, {})]
    if which == "quick":
        steps = [step for step in steps if step[0] in QUICK]
    inputs = {pid: {"search_scan": {}, "search_fm": {}, "dp_open": {"values_by_party": [[1, 2]] * 3},
                    "bwt": {"segment": rng.integers(0, 4, 12)}, "km": {"table": _table(rng, 8)},
                    "logrank": {"table": _table(rng, 8)}, "ridge": {"table": _rows(rng, 10)},
                    "logreg": {"table": _rows(rng, 20)}, "leaky_send": {"secret": 1234},
                    "leaky_output": {"secret": 99}} for pid in range(3)}
    for pid in range(3):
        inputs[pid]["km_dp"] = inputs[pid]["km"]
    reference, reads = "TTACGTACGGATCCGATTACGAAC", ["ACGTACGG", "GATCCGAT"]
    for name in ("search_scan", "search_fm"):
        inputs[0][name] = {"reference": [reference]}
        inputs[1][name] = {"reads": reads}
    results = run3(audited, kwargs={"steps": steps}, private={pid: {"inputs": inputs[pid]} for pid in range(3)},
                   timeout=600)
    for r in results:
        reports = r.value
        for name, report in reports.items():
            if name.startswith("leaky"):
                continue
            assert report["violations"] == [], (r.pid, name, report["violations"])
            assert set(report["public_sites"]) <= PUBLIC_SITES, (name, report["public_sites"])
            assert report["kinds"].get("shares") or report["kinds"].get("public"), (name, report)
        # the audit can fail: a raw send of a private value, an opening that bypasses the ledger
        if r.pid == 0:
            assert any("no known sender" in v for v in reports["leaky_send"]["violations"])
            assert any("mpc.output outside core.open" in v for v in reports["leaky_output"]["violations"])
    # the openings happened (their shares go to the receivers)
    assert results[0].value["search_scan"]["kinds"].get("opening")  # shares sent to the querier
