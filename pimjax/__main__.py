"""``python -m pimjax``: the ``pimjax`` command line (see :mod:`pimjax.cli`)."""

import sys

from pimjax.cli import main

if __name__ == "__main__":
    sys.exit(main())
