"""Test harness: run protocols with 1 party in-process and with real party processes on loopback.

MPyC reads ``sys.argv`` when it is imported; ``securegenome.core`` hides pytest's argv from it, so
importing the core here first is all it takes.  Every multi-process run picks its own free ports.
"""

import os

import pytest

from securegenome import core

os.environ.setdefault("SECUREGENOME_QUIET", "1")  # no progress bars in test output


def loopback_hosts(n: int = 3) -> str:
    """``--hosts`` for n parties on free loopback ports (the session layer's own port finder)."""
    from securegenome.core.session import _free_ports

    return ",".join(f"127.0.0.1:{port}" for port in _free_ports(n))


def _values(results):
    return [r.value for r in results]


@pytest.fixture(params=[True, False], ids=["sync", "async"])
def run1(request):
    """Run a protocol with 1 party in this process, in MPyC's synchronous and asynchronous modes."""
    def run(protocol, **kwargs):
        return core.run(protocol, parties=1, sync=request.param, **kwargs)
    return run


@pytest.fixture
def run3():
    """Run a protocol with 3 real processes on loopback (unique free ports per call)."""
    def run(protocol, parties=3, **kwargs):
        kwargs.setdefault("timeout", 600)
        return core.run(protocol, parties=parties, **kwargs)
    return run


@pytest.fixture
def values():
    """The protocol's return value of every party, in party order."""
    return _values
