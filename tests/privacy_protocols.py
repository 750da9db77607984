"""Protocols the privacy tests run in party processes: kept in a module with light imports, because every
party process imports the protocol's module (test modules pull in scipy, lifelines, sklearn ...)."""

import numpy as np

from securegenome import core
from securegenome.core import mpc


async def dp_open_split(values_by_party, repeats, label="test.noisy"):
    """dp_open of the sum of the parties' inputs, ``repeats`` times; each party's own view is recorded."""
    secint = mpc.SecInt(32)
    parts = mpc.input(secint.array(np.asarray(values_by_party[mpc.pid], dtype=int)))
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    for _ in range(repeats):
        await core.dp_open(total, sensitivity=1, epsilon=0.5, what=label, why="view test")


async def dp_open_two_splits(splits, repeats):
    """:func:`dp_open_split` for several splits of the inputs in one run, labelled ``test.noisy<i>``."""
    for i, values_by_party in enumerate(splits):
        await dp_open_split(values_by_party, repeats, label=f"test.noisy{i}")


# ---------------------------------------------------------------------------------------- send-path audit

import os
import sys
from collections import Counter

#: (file suffix, function) -> what its messages carry; the innermost such frame of a send classifies it
SENDERS = {
    ("securegenome/core/opening.py", "open"): "opening",
    ("mpyc/runtime.py", "output"): "opening",
    ("securegenome/core/smallfield.py", "_output"): "opening",
    ("securegenome/core/smallfield.py", "share_input"): "shares",
    ("securegenome/core/smallfield.py", "reduce_degree"): "shares",
    ("securegenome/core/shuffle.py", "_pass"): "shares",
    ("securegenome/core/shuffle.py", "_input_raw"): "shares",
    ("securegenome/core/shuffle.py", "_exchange_keys"): "keys",
    ("securegenome/core/dp.py", "_share_sum"): "shares",
    ("mpyc/runtime.py", "_distribute"): "shares",  # mpc.input
    ("mpyc/runtime.py", "_reshare"): "shares",
    ("securegenome/core/params.py", "_exchange"): "public",
    ("securegenome/genomics/search.py", "_load_inputs"): "error",
    # MPyC's transfer pickles (now: frames/JSON, core/wire.py); its callers are checked when it is called
    # (check_transfer): dp's noise shares and search's input-error exchange only
    ("mpyc/runtime.py", "transfer"): "transfer",
}
#: where a public value may be exchanged (core.agree / share_public / exchange_public), as documented in
#: docs/privacy.md ("What leaves a party"): the caller outside core/params.py
PUBLIC_SITES = {
    "core/session.py:_party_main", "core/memory.py:agree_budget",
    "genomics/search.py:secure_search", "genomics/bwt.py:bwt_protocol", "genomics/fmsearch.py:*",
    "genomics/fm/index.py:_input_owner_keys",
    "survival/tables.py:agree_groups", "survival/tables.py:public_grid", "survival/kaplan_meier.py:secure_km_counts",
    "survival/logrank.py:secure_logrank", "regression/_shared.py:agree_on_table", "regression/_shared.py:party_sizes",
}
#: MPyC functions that open masked values internally (statistically hiding, documented in docs/privacy.md)
MPYC_INTERNAL_OPENINGS = {
    "sgn", "np_sgn", "lsb", "np_lsb", "to_bits", "np_to_bits", "trunc", "np_trunc", "_mod", "_convert", "_div",
    "_is_zero", "_np_is_zero",        # x + r with r of l + sec_param bits: statistically hiding (2^-30 per value)
    "reciprocal", "np_reciprocal",    # x * r with r uniform non-zero: uniform (x != 0)
    "random_bits", "np_random_bits",  # r^2 for uniform r: hides r up to sign
    # public zero tests: only as MPyC calls them inside sgn/_mod (Toft's comparison, whose bit is masked by a
    # random sign); a call from our code is a violation (check_zero_test)
    "is_zero_public", "np_is_zero_public",
}


def _frames(start):
    frame = start
    while frame is not None:
        path = frame.f_code.co_filename.replace(os.sep, "/")
        yield path, frame.f_code.co_name
        frame = frame.f_back


def _ours(path):
    return "/securegenome/" in path or "/mpyc/" in path


def _site(path, name):
    tail = path.split("/securegenome/", 1)[-1] if "/securegenome/" in path else path.split("/mpyc/", 1)[-1]
    return f"{tail}:{name}"


class SendAudit:
    """Wraps this party's MPyC send path and output/transfer entry points; classifies every message."""

    def __init__(self):
        self.kinds = Counter()
        self.violations = []
        self.public_sites = set()
        self.internal_openings = Counter()

    def classify_send(self, peer, data):
        for path, name in _frames(sys._getframe(2)):
            for (suffix, function), kind in SENDERS.items():
                if path.endswith(suffix) and name == function:
                    self.kinds[kind] += 1
                    return
        self.violations.append(f"a message to party {peer} from no known sender: "
                               + " <- ".join(_site(p, n) for p, n in _frames(sys._getframe(2)) if _ours(p) or
                                             "test" in p))

    def note_public_site(self):
        """At the call of core.params.exchange_public: who exchanges a public value."""
        for path, name in _frames(sys._getframe(2)):
            if "/securegenome/" in path and not path.endswith("core/params.py") and not name.startswith("<"):
                site = _site(path, name)
                file_wide = site.split(":")[0] + ":*"
                self.public_sites.add(file_wide if file_wide in PUBLIC_SITES else site)
                return

    def check_output(self):
        """At the call of mpc.output: from core.open, or from an MPyC-internal masked opening."""
        chain = []
        for path, name in _frames(sys._getframe(2)):
            if path.endswith("securegenome/core/opening.py") and name == "open":
                return
            if "/mpyc/" in path:
                if name in MPYC_INTERNAL_OPENINGS:
                    self.internal_openings[name] += 1
                    return
                chain.append(f"mpyc.{name}")
                continue
            if _ours(path) or "test" in path:
                chain.append(_site(path, name))
        self.violations.append("mpc.output outside core.open, from " + " <- ".join(chain))

    def check_zero_test(self):
        """At a call of mpc.is_zero_public: MPyC's own use only (our code opens through core.open)."""
        for path, name in _frames(sys._getframe(2)):
            if "/mpyc/" in path:
                return
            if "/securegenome/" in path or "test" in path:
                self.violations.append(f"mpc.is_zero_public (an opened bit) from {_site(path, name)}")
                return

    def check_transfer(self):
        for path, name in _frames(sys._getframe(2)):
            if (path.endswith("securegenome/core/dp.py") and name == "_share_sum") or \
                    (path.endswith("securegenome/genomics/search.py") and name == "_load_inputs"):
                return
            if "/mpyc/" in path and name == "shutdown":
                return
            if "/securegenome/" in path or "test" in path:
                self.violations.append(f"mpc.transfer (pickled objects) from {_site(path, name)}")
                return

    def install(self):
        from securegenome.core import params

        send, output, transfer = mpc._send_message, mpc.output, mpc.transfer
        exchange = params.exchange_public

        def audited_exchange(*args, **kwargs):
            self.note_public_site()
            return exchange(*args, **kwargs)

        def audited_send(peer, data):
            self.classify_send(peer, data)
            return send(peer, data)

        def audited_output(*args, **kwargs):
            self.check_output()
            return output(*args, **kwargs)

        def audited_transfer(*args, **kwargs):
            self.check_transfer()
            return transfer(*args, **kwargs)

        zero_tests = {a: getattr(mpc, a) for a in ("is_zero_public", "np_is_zero_public")}

        def audited_zero_test(original):
            def call(*args, **kwargs):
                self.check_zero_test()
                return original(*args, **kwargs)
            return call

        for a, original in zero_tests.items():
            setattr(mpc, a, audited_zero_test(original))

        mpc._send_message, mpc.output, mpc.transfer = audited_send, audited_output, audited_transfer
        params.exchange_public = audited_exchange

        def uninstall():
            for a in ("_send_message", "output", "transfer", "is_zero_public", "np_is_zero_public"):
                delattr(mpc, a)
            params.exchange_public = exchange
        return uninstall

    def report(self):
        return {"kinds": dict(self.kinds), "violations": self.violations, "public_sites": sorted(self.public_sites),
                "internal_openings": dict(self.internal_openings)}


async def audited(steps, inputs):
    """Run each (name, protocol, kwargs) step with this party's ``inputs[name]``; one audit report per step."""
    reports = {}
    for name, protocol, kwargs in steps:
        audit = SendAudit()
        uninstall = audit.install()
        try:
            await protocol(**kwargs, **inputs.get(name, {}))
        finally:
            uninstall()
        reports[name] = audit.report()
    return reports


async def leaky_send(secret=None):
    """A deliberately wrong protocol: sends a private value straight to a peer."""
    await core.agree(protocol="leaky")
    if mpc.pid == 0:
        mpc._send_message(1, str(secret).encode())
    if mpc.pid == 1:
        message = mpc._receive_message(0)
        if not isinstance(message, bytes):
            await message


async def leaky_output(secret=None):
    """A deliberately wrong protocol: opens a value with MPyC directly, outside core.open (no ledger)."""
    secint = mpc.SecInt(16)
    x = mpc.input(secint(secret or 0), senders=0)
    await mpc.output(x)
