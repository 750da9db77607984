"""Secure decision trees: our layer-wise learner against the approach of MPyC's demo np_id3gini, same run.

    python benchmarks/trees.py id3 [--datasets tennis,car,...]      # categorical ID3 data sets, 3 parties
    python benchmarks/trees.py numeric --rows 1000,10000 [--depth 4]  # numeric scaling, 10 attributes
    python benchmarks/trees.py forest --rows 10000 [--trees 10]     # random forest + accuracy vs sklearn

*Baseline* (re-implemented here from the description of MPyC's ``demos/np_id3gini.py``, not copied):
ID3 with the Gini criterion, node by node.  Every party secret-shares the one-hot encoding of its rows
(attribute values and class); a node is a secret 0/1 row-membership vector T; per node the class counts
S_C·T, a stop bit (node below ε·n rows or pure) that is opened, and for every remaining attribute A the
contingency table S_A·(T ⊙ S_C) whose Gini index is the fraction Σ_v (Σ_c x_vc²)/(α·x_v + 1), compared
as fractions by MPyC's secure argmax; the best attribute is opened and the node recurses into one child
per value (T ⊙ S_A[v]).  Leaves open their majority class.  Defaults as the demo: α = 8, ε = 0.05.

*Ours*: :mod:`securegenome.trees.secure` with every attribute categorical (binary splits on the sorted
category codes), max_depth = the depth of the baseline's tree, so both trees have the same depth; we
check our tree against the plaintext twin in the same run.

Results: ``benchmarks/results/trees_<mode>.json``; load (``uptime``) is recorded with every case.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

import numpy as np
import pandas as pd

from common import party_stats, write
from securegenome import core
from securegenome.core import memory, mpc

HERE = os.path.dirname(os.path.abspath(__file__))
ID3 = os.path.join(HERE, "..", "tests", "data", "id3")
TARGETS = {"tennis": "Play", "balance-scale": "Class Name", "car": "class", "SPECT": "Class", "KRKPA7": "Class",
           "tic-tac-toe": "Class", "house-votes-84": "class"}


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


async def with_cpu(*, protocol: str, **kwargs):
    """Run ``protocol`` ("module:function") and return its value with this party's CPU seconds (load on the
    shared machine inflates wall time much more than CPU time) and wall seconds of the protocol alone
    (without starting and connecting the party processes, about a second for either protocol)."""
    module, name = protocol.split(":")
    function = getattr(importlib.import_module(module), name)
    start, cpu = time.perf_counter(), time.process_time()
    value = await function(**kwargs)
    return {"value": value, "cpu_s": round(time.process_time() - cpu, 2),
            "protocol_s": round(time.perf_counter() - start, 3),
            "peak_gib": round(memory.peak_rss() / 2**30, 3)}


def timed_run(protocol: str, parties: int, private: dict, kwargs: dict):
    """One timed run: (party 0's value, wall seconds, per-party stats with CPU seconds)."""
    me = importlib.import_module("trees")
    start = time.perf_counter()
    results = core.run(me.with_cpu, parties=parties, private=private, kwargs={"protocol": protocol, **kwargs},
                       timeout=7200, peer_timeout=600)
    seconds = time.perf_counter() - start
    stats = {**party_stats(results), "cpu_seconds": {str(r.pid): r.value["cpu_s"] for r in results},
             "protocol_only_seconds": {str(r.pid): r.value["protocol_s"] for r in results},
             "peak_gib": {str(r.pid): r.value["peak_gib"] for r in results}}
    return results[0].value["value"], seconds, stats


# ---- the baseline: ID3 node by node (the np_id3gini approach) -------------------------------------------

async def id3_baseline(table, *, target: str, alpha: int = 8, epsilon: float = 0.05, bit_length: int = 0):
    """ID3 with Gini on secret-shared one-hot rows, one node at a time; returns the opened tree."""
    frame = pd.read_csv(table, dtype=str, keep_default_na=False) if isinstance(table, str) else table
    names = [c for c in frame.columns if c != target] + [target]
    values = []  # the public schema: union of every party's values per column
    for c in names:
        mine = sorted(set(frame[c]))
        everyone = [await core.share_public(mine if mpc.pid == i else None, sender=i) for i in range(len(mpc.parties))]
        values.append(sorted(set().union(*everyone)))
    sizes = [int(await core.share_public(len(frame) if mpc.pid == i else None, sender=i))
             for i in range(len(mpc.parties))]
    n = sum(sizes)
    secint = mpc.SecInt(bit_length or max(32, 12 * n.bit_length()))
    width = sum(len(v) for v in values)
    local = np.concatenate([np.array([[v == x for x in vals] for v in frame[c]], dtype=int).reshape(len(frame), -1)
                            for c, vals in zip(names, values)], axis=1) if len(frame) else np.zeros((0, width))
    blocks = [mpc.input(secint.array(local if mpc.pid == i else np.zeros((s, width), dtype=int)), senders=i)
              for i, s in enumerate(sizes) if s]
    rows = blocks[0] if len(blocks) == 1 else mpc.np_concatenate(blocks, axis=0)
    S, start = [], 0
    for vals in values:
        S.append(rows[:, start:start + len(vals)].T)  # (values, n)
        start += len(vals)
    C = len(names) - 1

    class Fraction:
        size = 2

        def __init__(self, a):
            self.a = a

        def __lt__(self, other):
            return self.a[..., 0] * other.a[..., 1] < self.a[..., 1] * other.a[..., 0]

    def gini(x):
        y = alpha * np.sum(x, axis=1) + 1
        D = mpc.prod(y.tolist())
        return mpc.np_fromlist([D * np.sum(np.sum(x * x, axis=1) / y), D])

    async def grow(T, remaining):
        counts = S[C] @ T
        label, top = counts.argmax(arg_unary=False)
        total = counts.sum()
        stop = (total <= int(epsilon * n)) + (top == total)
        if not remaining or not await mpc.is_zero_public(stop):  # (the demo opens this bit too)
            return int(await core.open(label, what="id3.leaf", why="baseline: leaf class"))
        TC = (T * S[C]).T
        scores = np.stack(tuple(gini(S[a] @ TC) for a in remaining))
        k = scores.argmax(key=Fraction, arg_unary=False, arg_only=True)
        a = remaining[int(await core.open(k, what="id3.attribute", why="baseline: split attribute"))]
        rest = [b for b in remaining if b != a]
        return a, [await grow(Tv, rest) for Tv in T * S[a]]

    return await grow(secint.array(np.ones(n, dtype=int)), list(range(C)))


def depth(tree) -> int:
    return 0 if isinstance(tree, int) else 1 + max(depth(t) for t in tree[1])


def size(tree) -> int:
    return 1 if isinstance(tree, int) else 1 + sum(size(t) for t in tree[1])


def split_frame(frame: pd.DataFrame, parties: int) -> list:
    return [frame.iloc[i::parties].reset_index(drop=True) for i in range(parties)]


def run_id3(parties: int, datasets: list[str]) -> list[dict]:
    from securegenome.trees import data, twin
    from securegenome.trees.model import Tree

    cases = []
    for name in datasets:
        frame = pd.read_csv(os.path.join(ID3, f"{name}.csv"), dtype=str, keep_default_na=False)
        target, parts = TARGETS[name], split_frame(frame, parties)
        private = {i: {"table": p} for i, p in enumerate(parts)}
        before = load()
        base, base_s, base_stats = timed_run("trees:id3_baseline", parties, private, {"target": target})
        d = depth(base)
        ours, ours_s, ours_stats = timed_run("securegenome.trees.secure:tree_protocol", parties, private,
                                             {"target": target, "categorical": "all", "max_depth": d})
        read = [data.read_table(p, target, None, "all") for p in parts]
        schema = data.schema_for(read)
        enc = [data.encoded(t, schema) for t in read]
        codes, y = np.concatenate([e[0] for e in enc]), np.concatenate([e[1] for e in enc])
        tree = Tree.from_dict(ours["tree"])
        same = tree == twin.grow(codes, y, len(schema.classes), max_depth=d)
        case = {"dataset": name, "rows": len(frame), "attributes": frame.shape[1] - 1, "parties": parties,
                "baseline_s": round(base_s, 2), "ours_s": round(ours_s, 2), "speedup": round(base_s / ours_s, 2),
                "speedup_protocol_only": round(max(base_stats["protocol_only_seconds"].values())
                                               / max(ours_stats["protocol_only_seconds"].values()), 2),
                "baseline_depth": d, "baseline_nodes": size(base), "ours_nodes": tree.node_count,
                "ours_equals_twin": bool(same), "accuracy_train": float((tree.predict_codes(codes) == y).mean()),
                "load_before": before, "load_after": load(),
                "baseline": base_stats, "ours": ours_stats}
        print(case, flush=True)
        cases.append(case)
    return cases


def numeric_table(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(n, d)) * 256) / 256
    y = ((X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + 0.5 * rng.normal(size=n)) > 0).astype(int)
    return X, y


def run_numeric(parties: int, rows: list[int], d: int, max_depth: int) -> list[dict]:
    from securegenome.trees import data, twin
    from securegenome.trees.model import Tree

    cases = []
    for n in rows:
        X, y = numeric_table(n, d, 0)
        parts = [(X[i::parties], y[i::parties]) for i in range(parties)]
        before = load()
        model, seconds, stats = timed_run("securegenome.trees.secure:tree_protocol", parties,
                                          {i: {"table": p} for i, p in enumerate(parts)},
                                          {"target": "y", "max_depth": max_depth, "frac_bits": 8, "value_bits": 16,
                                           "memory_bytes": memory.default_budget(parties)})
        read = [data.read_table(p, "y") for p in parts]
        schema = data.schema_for(read, frac_bits=8, value_bits=16)
        enc = [data.encoded(t, schema) for t in read]
        codes, yy = np.concatenate([e[0] for e in enc]), np.concatenate([e[1] for e in enc])
        same = Tree.from_dict(model["tree"]) == twin.grow(codes, yy, 2, max_depth=max_depth)
        case = {"rows": n, "attributes": d, "depth": max_depth, "parties": parties, "seconds": round(seconds, 2),
                "equals_twin": bool(same), "load_before": before, "load_after": load(),
                "memory_plan": model["memory_plan"], **stats}
        print(case, flush=True)
        cases.append(case)
    return cases


def run_forest(parties: int, rows: list[int], d: int, trees: int, max_depth: int) -> list[dict]:
    from sklearn.ensemble import RandomForestClassifier

    from securegenome.trees import forest
    from securegenome.trees.data import Schema
    from securegenome.trees.model import Tree

    cases = []
    for n in rows:
        X, y = numeric_table(n + n // 3, d, 1)
        X_train, y_train, X_test, y_test = X[:n], y[:n], X[n:], y[n:]
        parts = [(X_train[i::parties], y_train[i::parties]) for i in range(parties)]
        before = load()
        model, seconds, stats = timed_run("securegenome.trees.forest:forest_protocol", parties,
                                          {i: {"table": p} for i, p in enumerate(parts)},
                                          {"target": "y", "n_estimators": trees, "max_depth": max_depth,
                                           "random_state": 0, "frac_bits": 8, "value_bits": 16,
                                           "memory_bytes": memory.default_budget(parties)})
        schema = Schema(**model["schema"])
        codes = schema.encode_features({f"x{j}": X_test[:, j] for j in range(d)})
        votes = forest.vote(np.array([Tree.from_dict(t).predict_codes(codes) for t in model["trees"]]), 2)
        ours = float((forest.decide(votes, model["majority"]) == y_test).mean())
        sk = np.mean([RandomForestClassifier(n_estimators=trees, max_depth=max_depth, random_state=s)
                      .fit(X_train, y_train).score(X_test, y_test) for s in range(5)])
        case = {"rows": n, "attributes": d, "trees": trees, "depth": max_depth, "parties": parties,
                "seconds": round(seconds, 2), "accuracy": ours, "sklearn_accuracy_mean5": float(sk),
                "load_before": before, "load_after": load(), "memory_plan": model["memory_plan"], **stats}
        print(case, flush=True)
        cases.append(case)
    return cases


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["id3", "numeric", "forest"])
    p.add_argument("--parties", type=int, default=3)
    p.add_argument("--datasets", default="tennis,balance-scale,SPECT,house-votes-84,tic-tac-toe,car")
    p.add_argument("--rows", default="1000,10000")
    p.add_argument("--attributes", type=int, default=10)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--trees", type=int, default=10)
    p.add_argument("--name", default=None, help="result file name (default trees_<mode>)")
    args = p.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")])  # party processes
    os.environ.setdefault("SECUREGENOME_QUIET", "1")
    rows = [int(r) for r in args.rows.split(",")]
    if args.mode == "id3":
        cases = run_id3(args.parties, args.datasets.split(","))
    elif args.mode == "numeric":
        cases = run_numeric(args.parties, rows, args.attributes, args.depth)
    else:
        cases = run_forest(args.parties, rows, args.attributes, args.trees, args.depth)
    print(write(args.name or f"trees_{args.mode}", cases))


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
