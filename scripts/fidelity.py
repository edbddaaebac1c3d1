"""The fidelity table: every headline number and trend of the five papers next to pimjax's.

The same as ``pimjax fidelity`` (:mod:`pimjax.apps.fidelity._cli`); options pass through:

    python scripts/fidelity.py [--write-docs] [--check] [--paper memory_slices] [--json]
"""

import sys

from pimjax.apps.fidelity._cli import main

if __name__ == "__main__":
    sys.exit(main())
