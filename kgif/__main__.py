"""``python -m kgif``: see :mod:`kgif.cli`."""

import sys

from kgif.cli import main

if __name__ == "__main__":
    sys.exit(main())
