"""Entry point of one party process: ``python -m securegenome._party SPEC RESULT``.

The parent sets the MPyC options in the environment (see ``core._mpyc``) before this process imports
anything from MPyC, so the runtime comes up as the right party of the right run.
"""

import sys

from securegenome.core.session import execute_party

if __name__ == "__main__":
    sys.exit(execute_party(sys.argv[1], sys.argv[2]))
