"""Exceptions that end a run with a one-line message instead of a traceback."""


class SecureGenomeError(Exception):
    """Base class: the CLI prints ``securegenome: error: <message>`` and exits non-zero."""


class InputError(SecureGenomeError, ValueError):
    """Bad user input: a file, record, column or option that cannot be used as given."""


class ParameterMismatch(SecureGenomeError):
    """The parties disagree on the public parameters of a run."""


class PartyFailure(SecureGenomeError):
    """A party process failed, was lost or timed out; the message names the party."""


class BudgetExceeded(SecureGenomeError):
    """A differentially private release would exceed the privacy budget; nothing was opened."""
