"""TLS between parties: what encryption and authentication cost (issue 10).

Three local parties run the same protocol twice per size, over plain TCP (the baseline) and over TLS with
keys from ``securegenome keys``: party 0 secret-shares n integers, all parties multiply them pairwise with
a second shared vector (one resharing round) and open the n products.  Times are measured inside the
protocol (slowest party), so process start-up and connection set-up are excluded; the set-up cost
(TLS handshakes included) is reported separately from the whole run's wall time.

    python benchmarks/deployment.py [--sizes 1000 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from common import measure, party_stats, plot, write  # noqa: E402

from securegenome import core  # noqa: E402
from securegenome.core import mpc  # noqa: E402
from securegenome.core.tls import make_keys  # noqa: E402


async def products(n=1000):
    """Share two vectors, multiply them elementwise, open the products; returns the protocol's seconds."""
    secint = mpc.SecInt(32)
    start = time.perf_counter()
    x = mpc.input(secint.array(np.arange(n) % 1000), senders=0)  # only party 0's values count
    y = mpc.input(secint.array(np.arange(n) % 7), senders=1)
    opened = await core.open(x * y, why="benchmark output", what="products")
    return {"seconds": time.perf_counter() - start, "check": int(sum(opened))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    tls_dir = tempfile.mkdtemp(prefix="sg-bench-tls-")
    make_keys(tls_dir, 3)
    cases = []
    for n in args.sizes:
        row = {"n": n}
        for label, options in (("tcp", {}), ("tls", {"tls_dir": tls_dir})):
            runs = []

            def once():
                results = core.run(products, parties=3, kwargs={"n": n}, timeout=1800, **options)
                runs.append(results)
                return results

            wall = measure(once, repeats=args.repeats)
            protocol = [max(r.value["seconds"] for r in results) for results in runs]
            row[label] = {"protocol_median_s": statistics.median(protocol), "protocol_s": protocol,
                          "wall_median_s": wall["median_s"], "wall_s": wall["times_s"],
                          **party_stats(runs[-1])}
            print(f"n={n:>7} {label}: protocol {row[label]['protocol_median_s']:.3f} s, "
                  f"whole run {wall['median_s']:.2f} s", flush=True)
        row["protocol_ratio_tls_over_tcp"] = row["tls"]["protocol_median_s"] / row["tcp"]["protocol_median_s"]
        row["wall_ratio_tls_over_tcp"] = row["tls"]["wall_median_s"] / row["tcp"]["wall_median_s"]
        cases.append(row)
    path = write("deployment", cases, parties=3, repeats=args.repeats, baseline="plain TCP (no TLS), same run")
    plot("deployment", {label: ([c["n"] for c in cases], [c[label]["protocol_median_s"] for c in cases])
                        for label in ("tcp", "tls")}, xlabel="values n (share, multiply, open)")
    print(path)


if __name__ == "__main__":
    import deployment  # the protocol must be pickled by its importable name, not as __main__.products

    deployment.main()
