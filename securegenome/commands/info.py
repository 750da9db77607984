"""``securegenome info``: versions of the stack and whether gmpy2 accelerates MPyC."""

ORDER = 90


def register(sub):
    p = sub.add_parser("info", help="print versions of securegenome and its stack",
                       description="Print the versions of securegenome, Python, mpyc, gmpy2, numpy, biopython "
                       "and numba, and whether MPyC uses gmpy2 (2-3x faster).")
    p.set_defaults(func=main)


def versions() -> dict:
    import platform
    from importlib import metadata

    from .. import __version__

    out = {"securegenome": __version__, "python": platform.python_version()}
    for dist in ("mpyc", "gmpy2", "numpy", "biopython", "numba"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def gmpy2_active() -> bool:
    from ..core import mpc  # noqa: F401  (imports MPyC the controlled way)
    import mpyc.gmpy

    return mpyc.gmpy.mpz is not int


def main(args):
    for name, version in versions().items():
        print(f"{name:13s} {version}")
    print(f"{'gmpy2 active':13s} {'yes' if gmpy2_active() else 'no (install gmpy2 for 2-3x faster MPyC)'}")
    return 0
