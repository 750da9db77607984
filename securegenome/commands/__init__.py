"""Sub-commands of the ``securegenome`` CLI: one module each, found by ``cli._command_modules``.

A module defines ``register(subparsers)`` (adding its parser with ``set_defaults(func=...)``) and may set
``ORDER`` (smaller first in ``--help``).  Helpers shared by the commands are in ``_common``.
"""
