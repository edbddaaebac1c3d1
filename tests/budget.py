"""How much each test does: the quick default or the thorough run.

The default run (``python -m pytest``, what the README and CI run) keeps every property and
every bit-exact comparison but draws few hypothesis examples where each example compiles a new
program, and runs one representative of each costly parametrized family; the rest of each
family is marked ``slow``. The thorough run draws the full counts:

    PIMJAX_TEST_THOROUGH=1 python -m pytest -m "slow or not slow"
"""

from __future__ import annotations

import os

THOROUGH = os.environ.get("PIMJAX_TEST_THOROUGH", "").lower() not in ("", "0", "false")
"""True when ``PIMJAX_TEST_THOROUGH`` is set (to anything but 0/false)."""


def examples(quick: int, thorough: int) -> int:
    """Hypothesis ``max_examples``: ``quick`` by default, ``thorough`` in the thorough run."""
    return thorough if THOROUGH else quick


def quick_subset(values, keep, *, ids=None):
    """``values`` as ``pytest.param``s, those not in ``keep`` marked ``slow``.

    For a parametrized family whose members test one property on different configurations:
    the default run keeps the representatives ``keep`` (values, compared with ``==``; a tuple
    value stands for several arguments), ``-m slow`` runs the rest. ``ids``: a function of a
    value, or None for pytest's own.
    """
    import pytest

    out = []
    for v in values:
        args = v if isinstance(v, tuple) else (v,)
        kw = {} if ids is None else {"id": ids(v)}
        marks = () if any(v == k for k in keep) else (pytest.mark.slow,)
        out.append(pytest.param(*args, marks=marks, **kw))
    return out
