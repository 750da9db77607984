"""A data set's privacy budget kept in a file by each party, across runs.

The file is JSON: the data set's total (ε, δ), fixed when the file is created, and every release charged so
far (label, ε, δ, ρ).  Each party keeps its own copy and loads it into the core's
:class:`~securegenome.core.PrivacyAccountant` before a run; a plan that does not fit is refused by that
party before any data are shared, and a plan that fits is written to the file *before* anything is opened
(a run that fails afterwards has still spent its budget: the conservative choice).
"""

from __future__ import annotations

import copy
import json
import os

from ..core.dp import PrivacyAccountant, Spend, gaussian_rho
from ..errors import BudgetExceeded, InputError
from ..files import write_atomically

FORMAT = "securegenome-budget/1"


def load(path: str, create_epsilon: float | None = None, create_delta: float = 0.0) -> PrivacyAccountant:
    """The accountant stored in ``path``; created with (``create_epsilon``, ``create_delta``) if the file
    does not exist (then ``create_epsilon`` is required)."""
    if not os.path.exists(path):
        if create_epsilon is None:
            raise InputError(f"{path}: no budget file; create it by giving the data set's total --budget EPS")
        return PrivacyAccountant(create_epsilon, create_delta, dataset=os.path.basename(path))
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("format") != FORMAT:
            raise ValueError("not a budget file")
        acc = PrivacyAccountant(data["epsilon"], data.get("delta", 0.0), dataset=data["dataset"])
        acc.history = [Spend(r["what"], float(r["epsilon"]), float(r["delta"]), r.get("rho"))
                       for r in data["releases"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a readable budget file ({exc})") from None
    if create_epsilon is not None and (create_epsilon, create_delta) != (acc.epsilon, acc.delta):
        raise InputError(f"{path}: the budget is already epsilon={acc.epsilon:g}, delta={acc.delta:g}; --budget "
                         f"only applies when the file is created")
    return acc


def save(path: str, acc: PrivacyAccountant) -> None:
    data = {"format": FORMAT, **acc.to_dict()}
    write_atomically(path, json.dumps(data, indent=1) + "\n")


def charged(acc: PrivacyAccountant, plan) -> PrivacyAccountant:
    """A copy of ``acc`` charged with every release of ``plan``; raises :class:`BudgetExceeded` (one line,
    naming the data set, the plan's total and what remains) if the plan does not fit."""
    trial = copy.deepcopy(acc)
    try:
        for r in plan.releases:
            rho = gaussian_rho(r.epsilon, r.delta) if r.delta > 0 else None
            trial.spend(r.epsilon, r.delta, r.label, rho=rho)
    except BudgetExceeded:
        total = sum(r.epsilon for r in plan.releases)
        raise BudgetExceeded(f"privacy budget of dataset '{acc.dataset}' exceeded: this query needs "
                             f"epsilon={total:g} but only epsilon={acc.remaining:g} remains of "
                             f"{acc.epsilon:g}; nothing was shared") from None
    return trial
