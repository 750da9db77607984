"""Exceptions that end a run with a one-line message instead of a traceback."""


class SecureGenomeError(Exception):
    """Base class: the CLI prints ``securegenome: error: <message>`` and exits non-zero."""


class InputError(SecureGenomeError, ValueError):
    """Bad user input: a file, record, column or option that cannot be used as given."""


class RelayedInputError(InputError):
    """Another party's input error, re-raised here so that every party stops with the same message."""

    def __init__(self, message: str, origin: int):
        super().__init__(f"{message} (reported by party {origin})")
        self.message, self.origin = message, origin


class ParameterMismatch(SecureGenomeError):
    """The parties disagree on the public parameters of a run."""


class PartyFailure(SecureGenomeError):
    """A party process failed, was lost or timed out; the message names the party."""


class BudgetExceeded(SecureGenomeError):
    """A differentially private release would exceed the privacy budget; nothing was opened."""
