"""``python -m hybridgen``: the command line (see :mod:`hybridgen.cli`)."""

import sys

from hybridgen.cli import main

if __name__ == "__main__":
    sys.exit(main())
