"""Exceptions that end a run with a one-line message instead of a traceback.

What crosses between parties when one fails is never its message, only its **error code** -- one of the
fixed, data-free words of :data:`ERROR_CODES` -- and its party id: a message may quote a private value (a
record, a duration, a file name) and must stay on the party that owns the data.  Each class names its code;
:func:`error_code` gives the code of any exception.  A public-parameter mismatch is the one exception whose
text travels (it is about public values, and every party finds the same one).
"""

#: the codes a party may send its peers when it stops, with what a peer prints for each ("party 1 failed: ...")
ERROR_CODES = {
    "input": "its input is invalid",
    "memory": "its memory plan does not fit",
    "parameters": "the parties disagree on public parameters",
    "budget": "the privacy budget would be exceeded",
    "authentication": "a peer could not be authenticated",
    "lost-peer": "it lost another party",
    "refused": "it refused the run",
    "stopped": "it was stopped",
    "internal": "internal error",
}


class SecureGenomeError(Exception):
    """Base class: the CLI prints ``securegenome: error: <message>`` and exits non-zero."""

    code = "refused"


class InputError(SecureGenomeError, ValueError):
    """Bad user input: a file, record, column or option that cannot be used as given."""

    code = "input"


class RelayedInputError(InputError):
    """Another party's input is invalid: every party stops, but only the owner knows why.

    Carries no message from the owner (which may quote its data), only the party id.
    """

    def __init__(self, origin: int):
        super().__init__(f"party {origin} failed: {ERROR_CODES['input']} (the details are shown on party {origin} only)")
        self.origin = origin


class ParameterMismatch(SecureGenomeError):
    """The parties disagree on the public parameters of a run."""

    code = "parameters"


class PartyFailure(SecureGenomeError):
    """A party process failed, was lost or timed out; the message names the party."""

    code = "lost-peer"


class BudgetExceeded(SecureGenomeError):
    """A differentially private release would exceed the privacy budget; nothing was opened."""

    code = "budget"


def error_code(exc: BaseException) -> str:
    """The data-free code (a key of :data:`ERROR_CODES`) that peers learn when ``exc`` stops a party."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return "stopped"
    code = getattr(type(exc), "code", None)
    return code if code in ERROR_CODES else "internal"
