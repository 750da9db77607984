"""securegenome: privacy-preserving genomics and clinical analytics with secure multi-party computation.

This top-level module stays light on purpose: it must not import MPyC, because MPyC configures its
runtime from ``sys.argv`` at import time and a party process sets that up first (see ``_party``).
"""

__version__ = "0.1.0"
